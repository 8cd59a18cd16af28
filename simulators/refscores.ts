/**
 * How the reference scores in the specs are measured: mean undiscounted return over `episodes`
 * episodes (reset seeds seed, seed+1, ...) of a uniform-random policy (actions drawn from a
 * separate Rng(seed)) or of any given policy. `bench/sim.ts` prints these for every task.
 */
import { Rng } from '../src/util/rng.js';
import type { Env } from './env.js';

export interface ReturnStats {
  mean: number;
  std: number;
  meanLength: number;
  episodes: number;
}

export function measureReturns(env: Env, episodes: number, seed = 0, policy?: (obs: Float32Array) => ArrayLike<number>): ReturnStats {
  const rng = new Rng(seed);
  const { actDim, actLow, actHigh } = env.spec;
  const act = new Float32Array(actDim);
  const random = (): Float32Array => {
    for (let i = 0; i < actDim; i++) act[i] = rng.uniform(actLow[i], actHigh[i]);
    return act;
  };
  const returns: number[] = [];
  let steps = 0;
  for (let ep = 0; ep < episodes; ep++) {
    let obs = env.reset(seed + ep);
    let ret = 0;
    for (;;) {
      const r = env.step(policy ? policy(obs) : random());
      ret += r.reward;
      steps++;
      obs = r.obs;
      if (r.terminated || r.truncated) break;
    }
    returns.push(ret);
  }
  const mean = returns.reduce((a, b) => a + b, 0) / episodes;
  const std = Math.sqrt(returns.reduce((a, b) => a + (b - mean) ** 2, 0) / episodes);
  return { mean, std, meanLength: steps / episodes, episodes };
}
