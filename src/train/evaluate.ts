import type { Env } from '../../simulators/index.js';
import { Session } from '../engine/index.js';
import { rollout } from '../eval/index.js';
import { servingGraph } from '../nn/index.js';
import { PolicyRuntime } from '../serve/index.js';
import { TrainError, type TrainedPolicyView } from './trainer.js';

export interface EvalResult {
  returns: number[];
  lengths: number[];
  mean: number;
  std: number;
  /** D4RL normalized score: 100 · (R − R_random) / (R_expert − R_random). */
  normalized: number;
  /** Fraction of episodes whose last step reported `info.success`; absent for tasks that report no success. */
  successRate?: number;
}

/** The success rate of episodes' final `info.success` flags, or nothing when the env reports none. */
function successRateOf(finals: readonly (boolean | undefined)[]): { successRate?: number } {
  if (!finals.some((s) => s !== undefined)) return {};
  return { successRate: finals.filter((s) => s === true).length / finals.length };
}

export type PolicyFn = (obs: Float32Array) => ArrayLike<number>;

/** Runs `episodes` full episodes with seeds seed, seed+1, ...; the policy sees raw observations. */
export function evaluate(env: Env, policy: PolicyFn, episodes: number, seed: number): EvalResult {
  const returns: number[] = [];
  const lengths: number[] = [];
  const finals: (boolean | undefined)[] = [];
  for (let ep = 0; ep < episodes; ep++) {
    let obs = env.reset(seed + ep);
    let total = 0;
    let len = 0;
    for (;;) {
      const r = env.step(policy(obs));
      total += r.reward;
      len++;
      obs = r.obs;
      if (r.terminated || r.truncated) {
        finals.push(r.info.success);
        break;
      }
    }
    returns.push(total);
    lengths.push(len);
  }
  const mean = returns.reduce((a, b) => a + b, 0) / episodes;
  const std = Math.sqrt(returns.reduce((a, b) => a + (b - mean) ** 2, 0) / episodes);
  return { returns, lengths, mean, std, normalized: normalizedScore(env, mean), ...successRateOf(finals) };
}

export function normalizedScore(env: Env, ret: number): number {
  const { random, expert } = env.spec.refScores;
  return (100 * (ret - random)) / (expert - random);
}

/** A deterministic-policy session for a learner's current policy (its serving graph, normalization baked in). */
export async function policySession(view: TrainedPolicyView): Promise<Session> {
  const policy = view.learner.policy();
  if (policy.interface.kind !== 'mlp')
    throw new TrainError(
      `${view.learner.algo}: a '${policy.interface.kind}' policy needs its context: evaluate it with evaluateLearner (a PolicyRuntime through src/eval's rollout)`,
    );
  const g = servingGraph(policy, view.obsStats ? { obsMean: view.obsStats.mean, obsStd: view.obsStats.std } : {});
  return Session.create(g, { threads: 1, name: 'policy' });
}

/**
 * Evaluates a learner's current greedy policy in `env`. A sequence policy (Decision Transformer)
 * or a chunked one (Diffusion Policy) runs as a server runs it — a PolicyRuntime on its exported
 * graph, through the one rollout loop (src/eval) that feeds it rewards and episode starts: the DT
 * conditioned on its card's target return, the chunked policy replanning every action horizon
 * (noise from a fixed seed).
 */
export async function evaluateLearner(env: Env, view: TrainedPolicyView, episodes: number, seed: number): Promise<EvalResult> {
  const policy = view.learner.policy();
  if (policy.interface.kind !== 'mlp') {
    const rt = PolicyRuntime.fromServingGraph(policy, { obsMean: view.obsStats?.mean, obsStd: view.obsStats?.std, name: `${view.learner.algo}-policy` });
    try {
      const r = rollout(env, rt, episodes, seed);
      const mean = r.returns.reduce((a, b) => a + b, 0) / episodes;
      const std = Math.sqrt(r.returns.reduce((a, b) => a + (b - mean) ** 2, 0) / episodes);
      const success = r.successes ? { successRate: r.successes.filter(Boolean).length / r.successes.length } : {};
      return { returns: r.returns, lengths: r.lengths, mean, std, normalized: normalizedScore(env, mean), ...success };
    } finally {
      rt.dispose();
    }
  }
  const s = await policySession(view);
  try {
    return evaluate(env, (obs) => s.run({ obs }).action as Float32Array, episodes, seed);
  } finally {
    s.dispose();
  }
}
