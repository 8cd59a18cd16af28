/**
 * Each algorithm learns: trained on the seeded 'pendulum-medium' recipe (swing-up controller with
 * heavy action noise and 30% random episodes; behaviour return ≈ −700, normalized ≈ 50) for a
 * short run, its greedy policy must clear a threshold well above a random policy (normalized 0,
 * return ≈ −1276). SAC learns online. Small networks (2x64) and 1 thread keep this under CI's
 * budget; runs are deterministic for a given ORT build.
 */
import { describe, expect, it } from 'vitest';
import { makeEnv } from '../../simulators/index.js';
import { pickSettings } from '../../src/algos/index.js';
import { evaluateLearner, train } from '../../src/train/index.js';
import { generateRecipe } from '../../src/train/datasets.js';
import { trainOnlineSac } from '../../src/train/online-sac.js';

const task = { obsDim: 3, actDim: 1, maxAction: 2, maxEpisodeSteps: 200 };
const small = { hidden: [64, 64], actorHidden: [64, 64], criticHidden: [64, 64], actorLr: 3e-4, alphaLr: 3e-4, nActions: 4 };

// On a dataset CORL has no config for (pendulum) IQL, CQL and Cal-QL use raw rewards by default;
// with pendulum's −16..0 rewards their critics need far more than 4000 steps (IQL measured 45.1
// with raw rewards), so these short runs rescale rewards as CORL's IQL does on hopper-medium (and α_cql = 1).
const cases: { algo: string; steps: number; minNormalized: number; rewardNormalization?: 'episode-return-range'; config?: object }[] = [
  { algo: 'bc', steps: 4000, minNormalized: 20 },
  { algo: 'td3bc', steps: 4000, minNormalized: 25 },
  { algo: 'iql', steps: 4000, minNormalized: 55, rewardNormalization: 'episode-return-range' },
  { algo: 'cql', steps: 4000, minNormalized: 55, rewardNormalization: 'episode-return-range', config: { cqlAlpha: 1 } },
  { algo: 'calql', steps: 4000, minNormalized: 55, rewardNormalization: 'episode-return-range', config: { cqlAlpha: 1 } },
];

describe('offline algorithms learn pendulum swing-up from noisy data', async () => {
  const dataset = await generateRecipe('pendulum-medium', 0);
  for (const c of cases) {
    it(`${c.algo}: normalized score ≥ ${c.minNormalized} after ${c.steps} steps`, async () => {
      const env = await makeEnv('pendulum');
      const r = await train({
        algo: c.algo,
        dataset,
        datasetId: 'pendulum-medium',
        task,
        steps: c.steps,
        seed: 0,
        config: pickSettings(c.algo, { ...small, maxSteps: c.steps, ...c.config }),
        rewardNormalization: c.rewardNormalization,
        session: { threads: 1 },
      });
      const res = await evaluateLearner(env, r, 10, 777);
      env.close();
      r.learner.dispose();
      expect(r.diverged).toBeUndefined();
      expect(res.normalized).toBeGreaterThanOrEqual(c.minNormalized);
    }, 300_000);
  }
});

describe('SAC learns pendulum online', () => {
  it('reaches a return above −400 within 8000 environment steps', async () => {
    const env = await makeEnv('pendulum');
    const evalEnv = await makeEnv('pendulum');
    const r = await trainOnlineSac({
      env,
      evalEnv,
      steps: 8000,
      startSteps: 1000,
      learningStarts: 500,
      evalEvery: 8000,
      evalEpisodes: 5,
      threads: 1,
      config: { actorHidden: [64, 64], criticHidden: [64, 64] },
    });
    expect(r.replay.size).toBe(8000);
    expect(r.evals.at(-1)!.result.mean).toBeGreaterThan(-400);
  }, 300_000);
});

/**
 * D4RL-style on MuJoCo: a small 'hopper-medium' recipe (30k transitions from the shipped ARS
 * medium policy with σ = 0.1 action noise; behaviour return ≈ 1245, normalized ≈ 38). Measured on
 * the dev VM: TD3+BC 65.9 and IQL 68.3 after 4000 steps (2x64, 1 thread); the bar is set above
 * the behaviour policy, so passing means the algorithm improves on its data.
 * TD3+BC runs here with α = 2.5 / |A|: at CORL's α = 2.5 (behaviour-cloning term a mean over the
 * action dimensions) this small run is still in its Q-driven phase after 4000 steps — measured
 * 2026-11-29, seed 0, evaluations at 4k/8k/12k/16k/20k steps: 1.2, 2.2, 2.8, 27.1, 30.6 (α = 2.5/3:
 * 63.1, 69.6, 59.4, 24.8, 25.8).
 */
describe('TD3+BC and IQL on a small hopper-medium dataset', async () => {
  const dataset = await generateRecipe('hopper-medium', 0, { transitions: 30_000 });
  const hopper = { obsDim: 11, actDim: 3, maxAction: 1, maxEpisodeSteps: 1000 };
  for (const algo of ['td3bc', 'iql']) {
    it(`${algo}: normalized score ≥ 45 after 4000 steps (behaviour ≈ 38)`, async () => {
      const env = await makeEnv('hopper');
      const config = pickSettings(algo, { hidden: [64, 64], maxSteps: 4000, ...(algo === 'td3bc' ? { alpha: 2.5 / hopper.actDim } : {}) });
      const r = await train({ algo, dataset, datasetId: 'hopper-medium', task: hopper, steps: 4000, seed: 0, config, session: { threads: 1 } });
      const res = await evaluateLearner(env, r, 5, 777);
      env.close();
      r.learner.dispose();
      expect(r.diverged).toBeUndefined();
      expect(res.normalized).toBeGreaterThanOrEqual(45);
    }, 300_000);
  }
});
