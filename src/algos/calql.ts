/**
 * Cal-QL: Calibrated Offline RL Pre-Training for Efficient Online Fine-Tuning
 * (Nakamoto et al., NeurIPS 2023). CQL whose conservative regularizer only pushes down
 * policy-action Q-values that exceed a reference value — the Monte-Carlo return of the behaviour
 * policy from that state (eq. 5.1): Q(s, a_π) ← max(Q(s, a_π), G_MC(s)).
 * Online transitions carry no MC return: give them NO_MC_BOUND, which leaves their Q-values
 * unbounded. When fine-tuning starts (Learner.startOnline()) the bound is switched off for every
 * row, as CORL's `switch_calibration()`; `calibrateOnline: 'offline-rows'` keeps it on the rows
 * that have a Monte-Carlo return.
 *
 * Defaults: CORL cal_ql.py with the settings all ten of its configs share (antmaze-*, and
 * door/hammer/pen/relocate-cloned): policy_lr 1e-4, qf_lr 3e-4, orthogonal_init (every layer,
 * gain √2), cql_max_target_backup true, cql_clip_diff_min −200, no state normalization (see
 * referencePreprocessing). cql_alpha differs between them: 10 in CORL's TrainConfig, 5 in the
 * antmaze configs, 1 in the adroit configs; ours is 5, the antmaze configs' value. The critics
 * have 3 hidden layers (the adroit configs; antmaze uses 5).
 *
 * With dense positive rewards (locomotion) the MC returns start far above the freshly initialized
 * Q-values, so the bound replaces every policy-action term for the first thousands of updates and
 * the critic is not conservative yet; BENCHMARKS.md, Results, has the measurements.
 */
import type { SessionOptions } from '../engine/index.js';
import { CQL, CQL_DEFAULTS, type CqlConfig } from './cql.js';
import { type AlgoDescriptor, without } from './descriptor.js';
import type { TaskSpec } from './learner.js';
import { corlConfigFile, datasetKey } from './preprocessing.js';

export { NO_MC_BOUND } from './cql.js';

export const CALQL_DEFAULTS: CqlConfig = {
  ...CQL_DEFAULTS,
  calibrated: true,
  calibrateOnline: 'off', // CORL cal_ql.py: switch_calibration() at the first online step
  cqlAlpha: 5.0, // CORL cal_ql antmaze configs (TrainConfig: 10; adroit configs: 1)
  actorLr: 1e-4, // CORL cal_ql configs: policy_lr 1e-4 (TrainConfig: 3e-5)
  alphaLr: 1e-4, // CORL tunes α with policy_lr
  criticLr: 3e-4, // qf_lr
  networkInit: 'orthogonal', // cal_ql.py orthogonal_init: every Linear orthogonal √2, zero bias
  maxTargetBackup: true, // cql_max_target_backup: true in every cal_ql config
  clipDiffMin: -200, // cql_clip_diff_min: -200 in every cal_ql config
  clipDiffMax: Infinity, // cql_clip_diff_max: .inf
};

export async function createCalQL(task: TaskSpec, config: Partial<CqlConfig> = {}, seed = 0, opts?: SessionOptions): Promise<CQL> {
  return CQL.create(task, { ...CALQL_DEFAULTS, ...config, calibrated: true }, seed, opts);
}

export const CALQL_ALGO: AlgoDescriptor<Omit<CqlConfig, 'calibrated'>, 'calql'> = {
  name: 'calql',
  title: 'Calibrated Q-Learning (CQL with a Monte-Carlo lower bound), for offline-to-online fine-tuning',
  paper: 'Nakamoto, Zhai, Singh, Sobol Mark, Ma, Finn, Kumar & Levine, 2023, "Cal-QL: Calibrated Offline RL Pre-Training for Efficient Online Fine-Tuning", NeurIPS',
  defaultsFrom: 'CORL algorithms/finetune/cal_ql.py (the settings its ten configs share)',
  defaults: without(CALQL_DEFAULTS, 'calibrated'),
  // Every row carries its discounted Monte-Carlo return (online rows: NO_MC_BOUND).
  batch: (config) => ({ columns: [{ name: 'mc_return', gamma: config.discount }], sequenceLength: 1 }),
  // States raw (normalize: false in all its configs); rewards raw (adroit configs); antmaze: r × 10 − 5.
  preprocessing: (datasetId) => {
    const key = datasetId ? datasetKey(datasetId) : null;
    if (key?.env === 'antmaze') return { normalizeObservations: false, reward: { scale: 10, bias: -5 }, source: corlConfigFile('finetune/cal_ql', key) };
    return {
      normalizeObservations: false,
      reward: 'none',
      source: 'CORL configs/finetune/cal_ql/*: normalize false, normalize_reward false (adroit; TrainConfig says normalize true, no config uses it)',
    };
  },
  networks: (hidden) => ({ actorHidden: hidden, criticHidden: hidden }),
  create: (task, config, seed, opts) => createCalQL(task, config, seed, opts),
};
