/**
 * Diffusion Policy (src/algos/diffusion.ts): it trains (the noise-prediction loss falls), the EMA
 * follows the weights with diffusion_policy's decay, and the exported DDIM sampler — k denoising
 * steps unrolled in one graph — equals the float64 DDIM sampler run on the same noise model.
 */
import { describe, expect, it } from 'vitest';
import { type DiffusionConfig, type DiffusionPolicy, createLearner, diffusionLayout, noiseModel, timestepTable } from '../../src/algos/index.js';
import { alphasCumprod, ddimSample, ddimSigma, ddimSteps, emaDecay, squaredCosineBetas } from '../../src/algos/diffusion-schedule.js';
import { DatasetBuilder, allocChunkBatch } from '../../src/data/index.js';
import { Graph, Session } from '../../src/engine/index.js';
import { servingGraph } from '../../src/nn/index.js';
import { makeEnv } from '../../simulators/index.js';
import { evaluateLearner, taskOf, train } from '../../src/train/index.js';
import { generateRecipe } from '../../src/train/datasets.js';
import { Rng } from '../../src/util/rng.js';

const task = { obsDim: 3, actDim: 2, maxAction: 2 };
const small: Partial<DiffusionConfig> = {
  batchSize: 32,
  nObs: 2,
  horizon: 4,
  nAction: 2,
  width: 32,
  layers: 2,
  timeEmbedding: 8,
  diffusionSteps: 20,
  inferenceSteps: 5,
  warmupSteps: 0,
  lr: 1e-3,
};

/** Bimodal chunks: given the observation's sign, the chunk is a constant +1.5 or −1.5 per step. */
function batch(rng: Rng) {
  const b = allocChunkBatch(32, 2, 4, 3, 2);
  for (let i = 0; i < 32; i++) {
    const side = rng.uniform() < 0.5 ? 1 : -1;
    for (let k = 0; k < 6; k++) b.observations[i * 6 + k] = rng.normal() * 0.1 + (k % 3 === 0 ? side : 0);
    b.actions.fill(1.5 * side, i * 8, i * 8 + 8);
  }
  return b;
}

/** The reach-around learning check: a narrower network and a short run (measured: 38 of 40 episodes; BC at 3k updates: 0 of 40). */
const DP_SMALL: Partial<DiffusionConfig> = { width: 128 };
const DP_STEPS = 4000;
const DP_MIN = 0.85;

describe('Diffusion Policy', () => {
  it('learns to predict the noise (loss falls), and the EMA follows the weights with the diffusion_policy decay', async () => {
    const l = (await createLearner('diffusion', task, small, 0, { threads: 1 })) as DiffusionPolicy;
    const rng = new Rng(1);
    const losses: number[] = [];
    for (let s = 0; s < 300; s++) losses.push(l.update(batch(rng)).metrics.loss!);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-50))).toBeLessThan(0.6 * mean(losses.slice(0, 20)));
    // EMA after 300 updates: decay(300) ≈ 0.986: close to, not equal to, the weights
    const net = l.store.value('net') as Float32Array;
    const ema = l.store.value('ema') as Float32Array;
    let diff = 0;
    let norm = 0;
    for (let i = 0; i < net.length; i++) {
      diff += (net[i]! - ema[i]!) ** 2;
      norm += net[i]! ** 2;
    }
    expect(Math.sqrt(diff / norm)).toBeGreaterThan(1e-5);
    expect(Math.sqrt(diff / norm)).toBeLessThan(0.2);
    expect(emaDecay(300)).toBeCloseTo(1 - 300 ** -0.75, 12);
    l.dispose();
  });

  it('the exported sampler (DDIM unrolled in one graph, EMA weights) equals the float64 DDIM sampler on the same noise model', async () => {
    const l = (await createLearner('diffusion', task, small, 3, { threads: 1 })) as DiffusionPolicy;
    const rng = new Rng(2);
    for (let s = 0; s < 20; s++) l.update(batch(rng));
    // η = 0: deterministic DDIM, the noise input is the initial chunk alone
    const policy = l.policy(5, 0, 1);
    expect(policy.interface).toMatchObject({ kind: 'chunked', contextLength: 2, chunkLength: 3, actionHorizon: 2 });
    expect(policy.interface.extraInputs![0]!.shape).toEqual([4, 2]);
    const served = await Session.create(servingGraph(policy), { threads: 1, name: 'served' });
    // the noise model alone, on the exported (EMA) weights, as an ε function for the reference
    const cfg = { ...(small as DiffusionConfig) };
    const layout = diffusionLayout(task, cfg);
    const named = layout.unravel(policy.weights.net!.values);
    const g = new Graph();
    const views = Object.fromEntries(layout.specs.map((s) => [s.name, g.constant(Float32Array.from(named[s.name]!), s.shape)]));
    const xIn = g.input('x', [1, 8]);
    const tIn = g.input('temb', [1, 8]);
    const oIn = g.input('obs', [1, 6]);
    g.output('eps', noiseModel(g, cfg, views, xIn, tIn, oIn));
    const epsSession = await Session.create(g, { threads: 1, name: 'eps' });
    const table = timestepTable(20, 8);
    const obs = Float32Array.of(0.9, 0.1, -0.2, 1.1, 0, 0.05);
    const noise = Float32Array.from({ length: 8 }, () => rng.normal());
    const steps = ddimSteps(alphasCumprod(squaredCosineBetas(20)), 5);
    expect(steps.map((s) => s.t)).toEqual([16, 12, 8, 4, 0]);
    const eps = (x: Float64Array, t: number) => epsSession.run({ x: Float32Array.from(x), temb: table.slice(t * 8, t * 8 + 8), obs }).eps as Float32Array;
    // the served chunk starts at the current step: the denoised horizon without its first nObs − 1 = 1 step
    const want = ddimSample(Float64Array.from(noise), steps, eps)
      .map((v) => v * task.maxAction)
      .slice(2);
    const got = served.run({ obs: obs, noise }).action as Float32Array;
    expect(got.length).toBe(6);
    for (let i = 0; i < 6; i++) expect(got[i]).toBeCloseTo(want[i]!, 4);

    // η = 1 (DDPM's variance on the 5-step sub-sequence): the noise input carries the initial chunk
    // and one more per step; the same draws in the reference give the same chunk
    const stochastic = l.policy(5, 1, 1);
    expect(stochastic.interface.extraInputs![0]!.shape).toEqual([4 * 6, 2]);
    const servedEta = await Session.create(servingGraph(stochastic), { threads: 1, name: 'served-eta' });
    const noise6 = Float32Array.from({ length: 48 }, () => rng.normal());
    const z = [1, 2, 3, 4, 5].map((j) => Float64Array.from(noise6.subarray(j * 8, (j + 1) * 8)));
    const wantEta = ddimSample(Float64Array.from(noise6.subarray(0, 8)), steps, eps, 1, 1, z)
      .map((v) => v * task.maxAction)
      .slice(2);
    const gotEta = servedEta.run({ obs, noise: noise6 }).action as Float32Array;
    for (let i = 0; i < 6; i++) expect(gotEta[i]).toBeCloseTo(wantEta[i]!, 4);
    // the added noise matters: the same initial chunk with other step draws gives another chunk
    const other = Float32Array.from(noise6);
    for (let i = 8; i < 48; i++) other[i] = -other[i]!;
    const gotOther = servedEta.run({ obs, noise: other }).action as Float32Array;
    expect(Math.max(...Array.from(gotOther, (v, i) => Math.abs(v - wantEta[i]!)))).toBeGreaterThan(1e-3);
    // temperature 0.5 (Decision Diffuser's low-temperature sampling): the graph scales the initial
    // chunk and every step's draw by 0.5, as the reference does
    const cool = await Session.create(servingGraph(l.policy(5, 1, 0.5)), { threads: 1, name: 'served-cool' });
    const wantCool = ddimSample(Float64Array.from(noise6.subarray(0, 8)), steps, eps, 1, 1, z, 0.5)
      .map((v) => v * task.maxAction)
      .slice(2);
    const gotCool = cool.run({ obs, noise: noise6 }).action as Float32Array;
    for (let i = 0; i < 6; i++) expect(gotCool[i]).toBeCloseTo(wantCool[i]!, 4);
    expect(Math.max(...Array.from(gotCool, (v, i) => Math.abs(v - wantEta[i]!)))).toBeGreaterThan(1e-3);
    // the reference's temperature is a scale on its draws and nothing else
    const halfZ = z.map((zj) => Float64Array.from(zj, (v) => 0.5 * v));
    const scaled = ddimSample(
      Float64Array.from(noise6.subarray(0, 8), (v) => 0.5 * v),
      steps,
      eps,
      1,
      1,
      halfZ,
    ).slice(2);
    for (let i = 0; i < 6; i++) expect(scaled[i]! * task.maxAction).toBeCloseTo(wantCool[i]!, 9);
    cool.dispose();
    // σ vanishes at the last step (ᾱ_prev = 1) and is DDPM's posterior std at η = 1
    expect(ddimSigma(steps[4]!, 1)).toBe(0);
    const s0 = steps[0]!;
    expect(ddimSigma(s0, 1) ** 2).toBeCloseTo(((1 - s0.alphaBarPrev) / (1 - s0.alphaBar)) * (1 - s0.alphaBar / s0.alphaBarPrev), 12);
    servedEta.dispose();
    served.dispose();
    epsSession.dispose();
    l.dispose();
  });

  it('samples the data’s spread at temperature 1 and about half of it at 0.5, around the same mean (low-temperature sampling)', async () => {
    // Unimodal noisy chunks: every action is 0.8·sign(o₀) + N(0, 0.3²), as an expert with added action noise
    const l = (await createLearner('diffusion', task, { ...small, lr: 3e-3 }, 5, { threads: 1 })) as DiffusionPolicy;
    const rng = new Rng(11);
    const noisy = () => {
      const b = allocChunkBatch(32, 2, 4, 3, 2);
      for (let i = 0; i < 32; i++) {
        const side = rng.uniform() < 0.5 ? 1 : -1;
        for (let k = 0; k < 6; k++) b.observations[i * 6 + k] = rng.normal() * 0.1 + (k % 3 === 0 ? side : 0);
        for (let k = 0; k < 8; k++) b.actions[i * 8 + k] = 0.8 * side + 0.3 * rng.normal();
      }
      return b;
    };
    for (let s = 0; s < 3000; s++) l.update(noisy());
    const obs = Float32Array.of(1, 0, 0, 1, 0, 0);
    // The full 20-step chain (DDPM at η = 1): a coarse DDIM sub-sequence narrows the spread by itself
    // (5 of 20 steps: 0.17 at temperature 1), which would hide what the temperature does.
    const spread = async (temperature: number) => {
      const session = await Session.create(servingGraph(l.policy(20, 1, temperature)), { threads: 1, name: `t${temperature}` });
      const draws = new Rng(99);
      const xs: number[] = [];
      for (let n = 0; n < 400; n++) {
        const noise = Float32Array.from({ length: 4 * 21 * 2 }, () => draws.normal());
        xs.push(...(session.run({ obs, noise }).action as Float32Array));
      }
      session.dispose();
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      return { mean, std: Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length) };
    };
    // measured: std 0.23 at temperature 1 (the data's 0.3), 0.11 at 0.5; both means 0.80
    const warm = await spread(1);
    const cool = await spread(0.5);
    l.dispose();
    expect(warm.mean).toBeCloseTo(0.8, 1);
    expect(cool.mean).toBeCloseTo(0.8, 1);
    expect(warm.std).toBeGreaterThan(0.2);
    expect(warm.std).toBeLessThan(0.4);
    expect(cool.std / warm.std).toBeGreaterThan(0.35);
    expect(cool.std / warm.std).toBeLessThan(0.6);
  }, 120_000);

  it('decays its learning rate over the whole run when trained (diffusion_policy), unless maxSteps is set', async () => {
    const b = new DatasetBuilder(3, 2);
    for (let i = 0; i < 40; i++) b.add({ obs: [i % 7, 0, 1], nextObs: [(i + 1) % 7, 0, 1], action: [0.5, -0.5], reward: 0, terminal: i % 10 === 9 });
    const run = (config: Partial<DiffusionConfig>) =>
      train({ algo: 'diffusion', dataset: b.build(), task: { ...task, maxEpisodeSteps: 10 }, steps: 6, config: { ...small, batchSize: 4, ...config }, session: { threads: 1 } });
    const r = await run({});
    expect((r.learner.checkpoint().config as DiffusionConfig).maxSteps).toBe(6);
    // the last update's lr is the cosine's tail, ½(1 + cos(π·5/6))·lr, not the constant lr
    const scheduledLr = (r.learner as unknown as { scheduledLr(t: number): number }).scheduledLr(5);
    expect(scheduledLr).toBeCloseTo(small.lr! * 0.5 * (1 + Math.cos((Math.PI * 5) / 6)), 12);
    r.learner.dispose();
    const fixed = await run({ maxSteps: 1000 });
    expect((fixed.learner.checkpoint().config as DiffusionConfig).maxSteps).toBe(1000);
    fixed.learner.dispose();
  });

  it('dodges on reach-around-demos, where BC regresses to the average of the two sides and mostly hits the obstacle', async () => {
    const dataset = await generateRecipe('reach-around-demos', 0);
    const env = await makeEnv('reach-around');
    const spec = taskOf(env.spec);
    const common = { dataset, datasetId: 'reach-around-demos', task: spec, seed: 0, session: { threads: 2 } };
    // Smaller and shorter than BENCHMARKS.md's runs (paper sizes, 15k updates: 99 % against BC's 25–54 %).
    const dp = await train({ ...common, algo: 'diffusion', steps: DP_STEPS, config: DP_SMALL });
    const bc = await train({ ...common, algo: 'bc', steps: 3000 });
    const dodge = await evaluateLearner(env, dp, 40, 10_000);
    const average = await evaluateLearner(env, bc, 40, 10_000);
    dp.learner.dispose();
    bc.learner.dispose();
    env.close();
    expect(dodge.successRate).toBeGreaterThanOrEqual(DP_MIN);
    expect(average.successRate).toBeLessThanOrEqual(0.5);
  }, 600_000);

  it('refuses an η or a temperature outside [0, 1]', async () => {
    await expect(createLearner('diffusion', task, { ...small, eta: 1.5 }, 0, { threads: 1 })).rejects.toThrow(/eta must lie in \[0, 1\], got 1.5/);
    await expect(createLearner('diffusion', task, { ...small, temperature: -0.1 }, 0, { threads: 1 })).rejects.toThrow(/temperature must lie in \[0, 1\], got -0.1/);
  });
});
