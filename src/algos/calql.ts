/**
 * Cal-QL: Calibrated Offline RL Pre-Training for Efficient Online Fine-Tuning
 * (Nakamoto et al., NeurIPS 2023). CQL whose conservative regularizer only pushes down
 * policy-action Q-values that exceed a reference value — the Monte-Carlo return of the behaviour
 * policy from that state (eq. 5.1): Q(s, a_π) ← max(Q(s, a_π), G_MC(s)).
 * Online transitions carry no MC return: give them NO_MC_BOUND, which leaves their Q-values
 * unbounded. Defaults: CORL cal_ql.py.
 *
 * With dense positive rewards (locomotion) the MC returns start far above the freshly initialized
 * Q-values, so the bound replaces every policy-action term for the first thousands of updates and
 * the critic is not conservative yet: measured on hopper-medium (5k updates, 2x64) Cal-QL scored
 * 0.1 (2 seeds) at reward scale 1 and 43.1 (seed 0) at 0.01 (CQL: 56.8, 2 seeds). Scale such rewards down (TrainOptions
 * rewardNormalization { scale, bias }) or pretrain longer; see BENCHMARKS.md, Results.
 */
import type { SessionOptions } from '../engine/index.js';
import { CQL, CQL_DEFAULTS, type CqlConfig } from './cql.js';
import type { TaskSpec } from './learner.js';

/** mc_return for transitions without one (online data): max(Q, −1e30) = Q. */
export const NO_MC_BOUND = -1e30;

export const CALQL_DEFAULTS: CqlConfig = {
  ...CQL_DEFAULTS,
  calibrated: true,
  cqlAlpha: 5.0, // CORL cal_ql: cql_alpha 5 (Cal-QL paper, locomotion-style dense rewards)
  actorLr: 1e-4, // CORL cal_ql: policy_lr 1e-4
  alphaLr: 1e-4,
  criticLr: 3e-4,
};

export async function createCalQL(task: TaskSpec, config: Partial<CqlConfig> = {}, seed = 0, opts?: SessionOptions): Promise<CQL> {
  return CQL.create(task, { ...CALQL_DEFAULTS, ...config, calibrated: true }, seed, opts);
}
