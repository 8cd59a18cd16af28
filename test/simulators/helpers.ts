import type { Rng } from '../../src/util/rng.js';
import type { Env } from '../../simulators/index.js';

export interface Rollout {
  obs: Float32Array[];
  rewards: number[];
  terminated: boolean;
  truncated: boolean;
}

/** One episode with a uniform-random policy drawn from `rng` (or the given action function). */
export function rollout(env: Env, seed: number | undefined, rng: Rng, policy?: (obs: Float32Array) => ArrayLike<number>): Rollout {
  const out: Rollout = { obs: [env.reset(seed)], rewards: [], terminated: false, truncated: false };
  const { actDim, actLow, actHigh } = env.spec;
  for (;;) {
    const last = out.obs[out.obs.length - 1];
    const a = policy ? policy(last) : Array.from({ length: actDim }, (_, i) => rng.uniform(actLow[i], actHigh[i]));
    const r = env.step(a);
    out.obs.push(r.obs);
    out.rewards.push(r.reward);
    if (r.terminated || r.truncated) {
      out.terminated = r.terminated;
      out.truncated = r.truncated;
      return out;
    }
  }
}

export const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
export const mean = (xs: number[]): number => sum(xs) / xs.length;
