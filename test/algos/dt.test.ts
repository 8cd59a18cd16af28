/**
 * Decision Transformer (src/algos/dt.ts): the served policy equals the trained model, padding
 * never leaks into the loss, chained updates equal single ones, checkpoints resume exactly, and
 * it learns hopper-medium beyond its behaviour policy.
 */
import { describe, expect, it } from 'vitest';
import { makeEnv } from '../../simulators/index.js';
import { type DecisionTransformer, type DtConfig, createLearner, dtForward, dtLayout } from '../../src/algos/index.js';
import { DT_ALGO } from '../../src/algos/dt.js';
import { DatasetBuilder, type SequenceBatch, allocSequenceBatch } from '../../src/data/index.js';
import { Graph, Session } from '../../src/engine/index.js';
import { servingGraph } from '../../src/nn/index.js';
import { evaluateLearner, taskOf, train } from '../../src/train/index.js';
import { generateRecipe } from '../../src/train/datasets.js';
import { Rng } from '../../src/util/rng.js';

const task = { obsDim: 3, actDim: 2, maxAction: 1 };
const small: Partial<DtConfig> = { batchSize: 4, contextLength: 4, embeddingDim: 16, layers: 2, heads: 2, episodeLength: 50, warmupSteps: 0, lr: 1e-3, targetReturn: 10 };

function randomBatch(seed: number, cfg = small): SequenceBatch {
  const rng = new Rng(seed);
  const b = allocSequenceBatch(cfg.batchSize!, cfg.contextLength!, task.obsDim, task.actDim);
  rng.fillNormal(b.observations);
  rng.fillUniform(b.actions, -0.9, 0.9);
  rng.fillUniform(b.returnsToGo, 0, 2);
  for (let i = 0; i < b.size; i++) {
    const start = rng.int(40);
    for (let k = 0; k < b.length; k++) b.timesteps[i * b.length + k] = BigInt(start + k);
  }
  b.mask.fill(1);
  return b;
}

describe('Decision Transformer', () => {
  it("the served policy (left-padded window, padding masked) gives the trained model's action at every episode step", async () => {
    const l = (await createLearner('dt', task, small, 3, { threads: 1 })) as DecisionTransformer;
    for (let s = 0; s < 3; s++) expect(l.update(randomBatch(s)).diverged).toBe(false);
    const K = small.contextLength!;
    const policy = l.policy();
    expect(policy.interface).toMatchObject({ kind: 'sequence', contextLength: K, chunkLength: 1 });
    expect(policy.interface.extraInputs.map((x) => [x.name, x.role])).toEqual([
      ['actions', 'actions'],
      ['returns_to_go', 'returns-to-go'],
      ['timesteps', 'timesteps'],
      ['mask', 'mask'],
    ]);
    const served = await Session.create(servingGraph(policy), { threads: 1, name: 'served' });
    // The model as trained (no padding argument, no dropout), over one unpadded window of K steps.
    const g = new Graph();
    const layout = dtLayout(task, small as DtConfig);
    const named = layout.unravel(policy.weights.dt!.values);
    const views = Object.fromEntries(layout.specs.map((s) => [s.name, g.constant(Float32Array.from(named[s.name]!), s.shape)]));
    const inputs = {
      states: g.input('states', [1, K, task.obsDim]),
      actions: g.input('actions', [1, K, task.actDim]),
      returnsToGo: g.input('rtg', [1, K]),
      timesteps: g.input('timesteps', [1, K], 'int64'),
    };
    g.output(
      'pred',
      dtForward(g, task, { ...(small as DtConfig), attentionDropout: 0, residualDropout: 0, embeddingDropout: 0 }, views, {
        ...inputs,
        returnsToGo: g.mul(inputs.returnsToGo, 0.001),
      }),
    );
    const trained = await Session.create(g, { threads: 1, name: 'trained' });
    // An episode of 6 steps: at step t the trained model sees steps 0..t (right-padded when t < K,
    // the last K when t ≥ K); the server sees the same steps left-padded.
    const rng = new Rng(9);
    const T = 6;
    const obs = Array.from({ length: T }, () => Array.from({ length: task.obsDim }, () => rng.normal()));
    const acts = Array.from({ length: T }, () => Array.from({ length: task.actDim }, () => rng.uniform(-1, 1)));
    const rtg = Array.from({ length: T }, (_, t) => 100 - 7 * t);
    for (let t = 0; t < T; t++) {
      const first = Math.max(0, t - K + 1);
      const n = t - first + 1;
      const right = { states: new Float32Array(K * 3), actions: new Float32Array(K * 2), rtg: new Float32Array(K), timesteps: new BigInt64Array(K) };
      const left = {
        obs: new Float32Array(K * 3),
        actions: new Float32Array(K * 2),
        returns_to_go: new Float32Array(K),
        timesteps: new BigInt64Array(K),
        mask: new Float32Array(K),
      };
      for (let j = 0; j < n; j++) {
        const step = first + j;
        const L = K - n + j;
        right.states.set(obs[step]!, j * 3);
        left.obs.set(obs[step]!, L * 3);
        if (step < t) {
          right.actions.set(acts[step]!, j * 2);
          left.actions.set(acts[step]!, L * 2);
        }
        right.rtg[j] = rtg[step]!;
        left.returns_to_go[L] = rtg[step]!;
        right.timesteps[j] = BigInt(step);
        left.timesteps[L] = BigInt(step);
        left.mask[L] = 1;
      }
      // padding on the right: junk values must not matter (causal); on the left: masked
      for (let j = n; j < K; j++) right.states.fill(5, j * 3, j * 3 + 3);
      for (let L = 0; L < K - n; L++) left.obs.fill(-5, L * 3, L * 3 + 3);
      const want = (trained.run(right).pred as Float32Array).slice((n - 1) * 2, n * 2);
      const got = served.run(left).action as Float32Array;
      for (let i = 0; i < 2; i++) expect(got[i]).toBeCloseTo(want[i]!, 5);
    }
    served.dispose();
    trained.dispose();
    l.dispose();
  });

  it('padded steps never reach the loss: a batch that differs only in them gives the same update', async () => {
    const a = randomBatch(1);
    const b = randomBatch(1);
    const K = small.contextLength!;
    for (let i = 0; i < a.size; i++) {
      // the last two steps of every window are padding
      for (let k = K - 2; k < K; k++) {
        a.mask[i * K + k] = 0;
        b.mask[i * K + k] = 0;
        b.observations.fill(3, (i * K + k) * 3, (i * K + k + 1) * 3);
        b.actions.fill(-0.5, (i * K + k) * 2, (i * K + k + 1) * 2);
        b.returnsToGo[i * K + k] = 9;
      }
    }
    const la = await createLearner('dt', task, small, 0, { threads: 1 });
    const lb = await createLearner('dt', task, small, 0, { threads: 1 });
    const ra = la.update(a);
    const rb = lb.update(b);
    expect(rb.metrics.loss).toBeCloseTo(ra.metrics.loss!, 6);
    expect(rb.metrics.grad_norm).toBeCloseTo(ra.metrics.grad_norm!, 5);
    // and the mask does count: unmasking those steps changes the loss
    const lc = await createLearner('dt', task, small, 0, { threads: 1 });
    b.mask.fill(1);
    expect(Math.abs(lc.update(b).metrics.loss! - ra.metrics.loss!)).toBeGreaterThan(1e-4);
    for (const l of [la, lb, lc]) l.dispose();
  });

  it('chained updates (updatesPerRun 2) equal single ones, and a checkpoint resumes exactly (parameters, dropout draws, lr schedule)', async () => {
    const cfg = { ...small, warmupSteps: 3 };
    const one = await createLearner('dt', task, cfg, 5, { threads: 1 });
    const two = await createLearner('dt', task, { ...cfg, updatesPerRun: 2 }, 5, { threads: 1 });
    const batches = [0, 1, 2, 3].map((s) => randomBatch(10 + s));
    const r1 = batches.map((b) => one.update(b).metrics.loss!);
    const r2 = [...two.updateMany(batches.slice(0, 2)), ...two.updateMany(batches.slice(2))].map((r) => r.metrics.loss!);
    r2.forEach((x, i) => expect(x).toBeCloseTo(r1[i]!, 5));
    const p1 = one.policy().weights.dt!.values;
    const p2 = two.policy().weights.dt!.values;
    let maxDiff = 0;
    for (let i = 0; i < p1.length; i++) maxDiff = Math.max(maxDiff, Math.abs(p1[i]! - p2[i]!));
    expect(maxDiff).toBeLessThan(1e-5);
    // resume: a learner restored from `one`'s checkpoint continues as `one` does
    const resumed = await createLearner('dt', task, cfg, 99, { threads: 1 });
    resumed.restore(one.checkpoint());
    const next = randomBatch(20);
    expect(resumed.update(next).metrics.loss).toBe(one.update(next).metrics.loss);
    for (const l of [one, two, resumed]) l.dispose();
  });

  it('its descriptor: CORL defaults, sequence batches with scaled returns-to-go, settings of other algorithms refused', async () => {
    expect(DT_ALGO.defaults).toMatchObject({
      embeddingDim: 128,
      layers: 3,
      heads: 1,
      contextLength: 20,
      batchSize: 64,
      lr: 1e-4,
      weightDecay: 1e-4,
      clipGrad: 0.25,
      warmupSteps: 10_000,
      rewardScale: 0.001,
    });
    expect(DT_ALGO.batch({ ...DT_ALGO.defaults, contextLength: 8 })).toEqual({ columns: [{ name: 'return_to_go', scale: 0.001 }], sequenceLength: 8 });
    await expect(createLearner('dt', task, { hidden: [8] } as never)).rejects.toThrow(/unknown setting 'hidden' for dt/);
  });
});

describe('Decision Transformer target return', () => {
  it("without the task's expert return, the trainer conditions the policy on the dataset's best episode", async () => {
    const b = new DatasetBuilder(3, 2);
    // two episodes: returns 3 (1+2) and 12 (3+4+5)
    [1, 2, 3, 4, 5].forEach((r, i) => b.add({ obs: [i, 0, 0], nextObs: [i + 1, 0, 0], action: [0, 0], reward: r, terminal: i === 1 || i === 4 }));
    const r = await train({
      algo: 'dt',
      dataset: b.build(),
      task: { ...task, maxEpisodeSteps: 10 },
      steps: 1,
      config: { ...small, batchSize: 2, targetReturn: null },
      session: { threads: 1 },
    });
    expect(r.learner.policy().interface.extraInputs.find((x) => x.role === 'returns-to-go')?.default).toBe(12);
    r.learner.dispose();
  });
});

describe('Decision Transformer on a small hopper-medium dataset', async () => {
  const dataset = await generateRecipe('hopper-medium', 0, { transitions: 30_000 });
  it('beats the behaviour policy (normalized ≈ 38) after 400 steps, conditioned on the expert return', async () => {
    const env = await makeEnv('hopper');
    // A smaller model than CORL's (64 wide, 2 layers) and a short warm-up keep this under a minute.
    const config = { embeddingDim: 64, layers: 2, warmupSteps: 100 };
    const r = await train({ algo: 'dt', dataset, datasetId: 'hopper-medium', task: taskOf(env.spec), steps: 400, seed: 0, config, session: { threads: 1 } });
    // the served target is the task's expert reference return
    expect(r.learner.policy().interface.extraInputs.find((x) => x.role === 'returns-to-go')?.default).toBe(env.spec.refScores.expert);
    const res = await evaluateLearner(env, r, 10, 10_000);
    env.close();
    r.learner.dispose();
    expect(res.normalized).toBeGreaterThanOrEqual(45);
  }, 300_000);
});
