import { DatasetBuilder, type Dataset, UniformSampler, monteCarloReturns, normalizeObservations, observationStats, withInfo } from '../../src/data/index.js';
import { Session } from '../../src/engine/index.js';
import type { Learner } from '../../src/algos/index.js';
import { policyGraph } from '../../src/nn/index.js';
import { makeEnv } from '../../simulators/index.js';
import { evaluate } from '../../src/train/evaluate.js';
import { Rng } from '../../src/util/rng.js';

/** Energy-pumping swing-up with a PD catch near the top: returns about −180 on Pendulum-v1. */
export function swingUp(o: ArrayLike<number>): number {
  const c = o[0]!;
  const s = o[1]!;
  const w = o[2]!;
  if (c > 0.9) return Math.max(-2, Math.min(2, (-15 * s - 20 * Math.atan2(s, c) - 6 * w) / 3));
  const e = 0.5 * w * w + 15 * c;
  return e < 15 ? (w >= 0 ? 2 : -2) : w >= 0 ? -0.5 : 0.5;
}

/**
 * A 'medium-replay'-like pendulum dataset: the swing-up controller with Gaussian action noise,
 * and a share of episodes that act uniformly at random (actions in env units, [−2, 2]).
 */
export async function pendulumDataset(episodes: number, seed: number, randomShare = 0.3, noise = 0.6): Promise<Dataset> {
  const env = await makeEnv('pendulum');
  const rng = new Rng(seed);
  const b = new DatasetBuilder(3, 1, { capacity: episodes * 200 });
  for (let ep = 0; ep < episodes; ep++) {
    const random = rng.uniform() < randomShare;
    let obs = env.reset(seed * 1000 + ep);
    for (;;) {
      const u = random ? rng.uniform(-2, 2) : Math.max(-2, Math.min(2, swingUp(obs) + noise * rng.normal()));
      const r = env.step([u]);
      b.add({ obs, action: [u], reward: r.reward, nextObs: r.obs, terminal: r.terminated, timeout: r.truncated });
      obs = r.obs;
      if (r.terminated || r.truncated) break;
    }
  }
  env.close();
  return b.build({ compact: true });
}

/** Trains `learner` on the (normalized) dataset, then returns its greedy policy's mean return. */
export async function trainAndEvaluate(learner: Learner, ds: Dataset, steps: number, opts: { mcGamma?: number; episodes?: number } = {}): Promise<{ mean: number; diverged: number }> {
  const stats = observationStats(ds);
  let data = normalizeObservations(ds, stats);
  const info: string[] = [];
  if (opts.mcGamma !== undefined) {
    data = withInfo(data, 'mc_return', monteCarloReturns(data, { gamma: opts.mcGamma }));
    info.push('mc_return');
  }
  const sampler = new UniformSampler(data, { batchSize: learner.batchSize, seed: 5, info });
  let diverged = 0;
  for (let i = 0; i < steps; i++) if (learner.update(sampler.sample()).diverged) diverged++;
  const a = learner.actor();
  const session = await Session.create(policyGraph(a.spec, a.layout, a.params, { obsMean: stats.mean, obsStd: stats.std }), { threads: 1 });
  const env = await makeEnv('pendulum');
  const res = evaluate(env, (obs) => {
    const act = session.run({ obs }).action as Float32Array;
    return [act[0]! * 2];
  }, opts.episodes ?? 10, 777);
  env.close();
  session.dispose();
  return { mean: res.mean, diverged };
}
