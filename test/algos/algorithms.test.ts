import { describe, expect, it } from 'vitest';
import {
  ALGO_DESCRIPTORS,
  ALGOS,
  CQL,
  type GraphLearner,
  type Learner,
  NO_MC_BOUND,
  batchNeeds,
  createCalQL,
  createLearner,
  networkSettings,
  pickSettings,
  settingsOf,
} from '../../src/algos/index.js';
import { DatasetBuilder, UniformSampler, allocBatch } from '../../src/data/index.js';
import { Graph, Session, params } from '../../src/engine/index.js';
import { actorLayout, policyGraph, sampleTanhGaussian, tanhGaussianLogProb, type ActorSpec } from '../../src/nn/index.js';
import { Rng } from '../../src/util/rng.js';

const task = { obsDim: 3, actDim: 2, maxAction: 1 };
const small = { hidden: [16, 16], actorHidden: [16, 16], criticHidden: [16, 16], batchSize: 8, nActions: 3 };
/** The actor's parameters in the learner's serving graph. */
const actorParams = (l: Learner): Float32Array => l.policy().weights.actor!.values;

function randomBatch(seed: number, mc = 0) {
  const rng = new Rng(seed);
  const b = allocBatch(8, 3, 2, { mc_return: 1 });
  rng.fillNormal(b.observations);
  rng.fillUniform(b.actions, -1, 1);
  rng.fillNormal(b.rewards);
  rng.fillNormal(b.nextObservations);
  b.terminals.fill(0);
  b.terminals[3] = 1;
  b.info.mc_return!.fill(mc);
  return b;
}

/** A 3→8→(2 means, 2 log-stds) tanh-Gaussian sampled at 4 states: the graph, its views and sample. */
function tanhGaussianGraph(maxAction: number) {
  const spec: ActorSpec = { kind: 'tanh-gaussian', obsDim: 3, actDim: 2, hidden: [8], maxAction };
  const layout = actorLayout(spec);
  const g = new Graph('float32');
  const { views } = params(g, layout);
  const obs = g.input('obs', [4, 3]);
  const eps = g.input('eps', [4, 2]);
  const { action, logProb } = sampleTanhGaussian(g, spec, views, obs, eps);
  g.output('action', action);
  return { spec, layout, g, views, obs, logProb };
}

describe('tanh-Gaussian policy', () => {
  it('log-probability of a reparameterized sample matches the change-of-variables formula', async () => {
    const { layout, g, views, obs, logProb } = tanhGaussianGraph(1);
    g.output('logp', logProb);
    // mean/log-std head for the reference computation
    g.output('head', g.gemm(g.relu(g.gemm(obs, views['l0.weight']!, {}, views['l0.bias'])), views['l1.weight']!, {}, views['l1.bias']));
    const s = await Session.create(g, { threads: 1 });
    const rng = new Rng(3);
    s.set('actor', layout.init(1));
    const o = rng.fillNormal(new Float32Array(12));
    const e = rng.fillNormal(new Float32Array(8));
    const out = s.run({ obs: o, eps: e });
    const head = out.head as Float32Array;
    for (let r = 0; r < 4; r++) {
      let lp = 0;
      for (let k = 0; k < 2; k++) {
        const mu = head[r * 4 + k]!;
        const logStd = Math.min(2, Math.max(-20, head[r * 4 + 2 + k]! - 1)); // CORL: multiplier 1, offset −1
        const u = mu + Math.exp(logStd) * e[r * 2 + k]!;
        const a = Math.tanh(u);
        expect((out.action as Float32Array)[r * 2 + k]).toBeCloseTo(a, 5);
        lp += -0.5 * e[r * 2 + k]! ** 2 - logStd - 0.5 * Math.log(2 * Math.PI) - Math.log(1 - a * a);
      }
      expect((out.logp as Float32Array)[r]).toBeCloseTo(lp, 3);
    }
  });

  it('log-probability of given actions (BC warm-up) equals that of the same actions sampled, with action scaling', async () => {
    const { spec, layout, g, views, obs, logProb } = tanhGaussianGraph(2);
    g.output('logp', g.sub(logProb, 2 * Math.log(2))); // density of a = 2 tanh(u): one log 2 per dimension
    g.output('given', tanhGaussianLogProb(g, spec, views, obs, g.input('act', [4, 2])));
    const s = await Session.create(g, { threads: 1 });
    const rng = new Rng(5);
    s.set('actor', layout.init(2));
    const o = rng.fillNormal(new Float32Array(12));
    const e = rng.fillNormal(new Float32Array(8), 0, 0.5);
    const first = s.run({ obs: o, eps: e, act: new Float32Array(8) });
    const a = Float32Array.from(first.action as Float32Array);
    const lp = Float32Array.from(first.logp as Float32Array);
    const again = s.run({ obs: o, eps: e, act: a });
    for (let r = 0; r < 4; r++) expect((again.given as Float32Array)[r]).toBeCloseTo(lp[r]!, 3);
  });
});

describe('CQL behaviour-cloning warm-up (bcSteps)', () => {
  it('moves the policy towards the dataset actions (300 BC updates: mean-action error < 0.02, 4x below plain CQL)', async () => {
    // Dataset actions are a fixed function of the state; BC should make the policy mean track it.
    const rng = new Rng(11);
    const b = new DatasetBuilder(3, 2);
    for (let i = 0; i < 512; i++) {
      const o = [rng.normal(), rng.normal(), rng.normal()];
      b.add({
        obs: o,
        action: [0.8 * Math.tanh(o[0]!), -0.5 * Math.tanh(o[1]!)],
        reward: rng.normal(),
        nextObs: [rng.normal(), rng.normal(), rng.normal()],
        timeout: i % 50 === 49,
      });
    }
    const ds = b.build();
    const meanError = async (bcSteps: number): Promise<{ err: number; steps: number }> => {
      const l = await CQL.create(task, { ...small, batchSize: 64, actorLr: 3e-3, bcSteps }, 0, { threads: 1 });
      const s = new UniformSampler(ds, { batchSize: 64, seed: 2 });
      for (let i = 0; i < 300; i++) l.update(s.sample());
      const snap = l.actor();
      const sess = await Session.create(policyGraph(snap.spec, snap.layout, snap.params), { threads: 1 });
      const act = sess.run({ obs: ds.observations.slice(0, ds.size * 3) }).action as Float32Array;
      let err = 0;
      for (let i = 0; i < ds.size * 2; i++) err += (act[i]! - ds.actions[i]!) ** 2;
      sess.dispose();
      const steps = l.steps;
      l.dispose();
      return { err: err / (ds.size * 2), steps };
    };
    const bc = await meanError(1000);
    const none = await meanError(0);
    expect(bc.steps).toBe(300);
    expect(bc.err).toBeLessThan(0.02);
    expect(none.err).toBeGreaterThan(4 * bc.err);
  });
});

describe('Cal-QL calibration', () => {
  it('without MC bounds it is exactly CQL (same seed, same batch)', async () => {
    const cql = await CQL.create(task, { ...small, cqlAlpha: 5 }, 1, { threads: 1 });
    // Cal-QL with CQL's other settings (CQL's init, one target action, no clipping).
    const cal = await createCalQL(
      task,
      { ...small, cqlAlpha: 5, actorLr: 3e-5, alphaLr: 3e-5, networkInit: 'orthogonal-critic', maxTargetBackup: false, clipDiffMin: -Infinity },
      1,
      { threads: 1 },
    );
    const a = cql.update(randomBatch(9, NO_MC_BOUND));
    const b = cal.update(randomBatch(9, NO_MC_BOUND));
    expect(b.metrics.cql_diff).toBeCloseTo(a.metrics.cql_diff!, 5);
    expect(b.metrics.critic_loss).toBeCloseTo(a.metrics.critic_loss!, 4);
  });

  it('policy-action Q-values in the conservative term are lower-bounded by the MC return', async () => {
    const cal = await createCalQL(task, small, 2, { threads: 1 });
    const cql = await CQL.create(task, { ...small, cqlAlpha: 5 }, 2, { threads: 1 });
    const bounded = cal.update(randomBatch(4, 50));
    const plain = cql.update(randomBatch(4, 50));
    // max over the batch of (MC − Q used) is ≤ 0: the bound holds for every sampled action.
    expect(bounded.metrics.calql_bound_violation).toBeLessThanOrEqual(0);
    // A fresh critic predicts Q ≈ 0, far below G = 50: the bound lifts the log-sum-exp to ≈ 50.
    expect(bounded.metrics.cql_diff).toBeGreaterThan(45);
    expect(plain.metrics.cql_diff).toBeLessThan(10);
  });
});

describe('CQL online phase (cqlAlphaOnline)', () => {
  it('startOnline() switches α_cql: the update equals one from a learner built with that α', async () => {
    const offline = await CQL.create(task, { ...small, cqlAlpha: 5 }, 3, { threads: 1 });
    const switching = await CQL.create(task, { ...small, cqlAlpha: 5, cqlAlphaOnline: 0.5 }, 3, { threads: 1 });
    const online = await CQL.create(task, { ...small, cqlAlpha: 0.5 }, 3, { threads: 1 });
    const [a, b] = [offline.update(randomBatch(5)), switching.update(randomBatch(5))];
    expect(b.metrics.critic_loss).toBe(a.metrics.critic_loss); // offline phase: cqlAlpha
    switching.startOnline();
    online.restore(switching.checkpoint()); // the same weights, optimizer state and noise stream
    const [c, d] = [switching.update(randomBatch(6)), online.update(randomBatch(6))];
    expect(c.metrics.critic_loss).toBe(d.metrics.critic_loss);
    expect(Math.abs(c.metrics.critic_loss! - offline.update(randomBatch(6)).metrics.critic_loss!)).toBeGreaterThan(1e-3);
  });
});

// Algorithms trained on transitions; the Decision Transformer and Diffusion Policy have their own tests.
const TRANSITION_ALGOS = ALGOS.filter((a) => batchNeeds(a).sequenceLength === 1 && !batchNeeds(a).chunk);

describe('updatesPerRun: several updates chained in one session.run', () => {
  for (const algo of TRANSITION_ALGOS) {
    it(`${algo}: 4 updates as 2 chained runs of 2 equal 4 single updates (same seed, same batches)`, async () => {
      const one = await createLearner(algo, task, { ...pickSettings(algo, small), updatesPerRun: 1 }, 5, { threads: 1 });
      const two = await createLearner(algo, task, { ...pickSettings(algo, small), updatesPerRun: 2 }, 5, { threads: 1 });
      expect(two.updatesPerRun).toBe(2);
      const singles = [0, 1, 2, 3].map((i) => one.update(randomBatch(i, 1)));
      const chained = [...two.updateMany([randomBatch(0, 1), randomBatch(1, 1)]), ...two.updateMany([randomBatch(2, 1), randomBatch(3, 1)])];
      expect(two.steps).toBe(4);
      chained.forEach((r, i) => {
        expect(Object.keys(r.metrics).sort()).toEqual(Object.keys(singles[i]!.metrics).sort());
        for (const [k, v] of Object.entries(singles[i]!.metrics)) expect(r.metrics[k]).toBeCloseTo(v, 4);
      });
      const [p1, p2] = [actorParams(one), actorParams(two)];
      const scale = Math.max(...Array.from(p1, Math.abs));
      p1.forEach((v, i) => expect(Math.abs(v - p2[i]!)).toBeLessThan(1e-5 * scale));
      expect(two.flopsPerUpdate()).toBeCloseTo(one.flopsPerUpdate(), 6);
      // update() on a chained learner runs its one-update graph (the trainer's shorter last run)
      const [r1, r2] = [one.update(randomBatch(4, 1)), two.update(randomBatch(4, 1))];
      expect(two.steps).toBe(5);
      for (const [k, v] of Object.entries(r1.metrics)) expect(r2.metrics[k]).toBeCloseTo(v, 4);
      one.dispose();
      two.dispose();
    });

    it(`${algo}: single updates on a chained learner are bit-identical to a learner with updatesPerRun 1`, async () => {
      const one = await createLearner(algo, task, { ...pickSettings(algo, small), updatesPerRun: 1 }, 6, { threads: 1 });
      const four = await createLearner(algo, task, { ...pickSettings(algo, small), updatesPerRun: 4 }, 6, { threads: 1 });
      for (let i = 0; i < 3; i++) expect(four.update(randomBatch(i, 1)).metrics).toEqual(one.update(randomBatch(i, 1)).metrics);
      expect(four.steps).toBe(3);
      expect(four.checkpoint().state).toEqual(one.checkpoint().state);
      one.dispose();
      four.dispose();
    });
  }
});

describe('a NaN inside a chained run', () => {
  it('drops the whole run: every result says diverged, steps and parameters stay at the last good run', async () => {
    const l = await createLearner('td3bc', task, { ...pickSettings('td3bc', small), updatesPerRun: 2 }, 1, { threads: 1 });
    l.updateMany([randomBatch(0, 1), randomBatch(1, 1)]);
    const before = Float32Array.from(actorParams(l));
    const bad = randomBatch(3, 1);
    bad.rewards[2] = Number.NaN;
    const rs = l.updateMany([randomBatch(2, 1), bad]);
    expect(rs.map((r) => r.diverged)).toEqual([true, true]);
    expect(Number.isFinite(rs[1]!.metrics.critic_loss!)).toBe(false);
    expect(l.steps).toBe(2);
    expect(Array.from(actorParams(l))).toEqual(Array.from(before));
    expect(() => l.updateMany([randomBatch(4, 1)])).toThrow(/got 1 batches, the learner runs 2 updates per run/);
  });
});

describe('checkpoints resume bit-for-bit', () => {
  for (const algo of TRANSITION_ALGOS) {
    it(`${algo}: restore(checkpoint) then update == the uninterrupted next update`, async () => {
      const a = await createLearner(algo, task, pickSettings(algo, small), 5, { threads: 1 });
      for (let i = 0; i < 3; i++) a.update(randomBatch(i, 1));
      const ckpt = a.checkpoint();
      const next = a.update(randomBatch(3, 1));
      const after = actorParams(a);

      const b = await createLearner(algo, task, pickSettings(algo, small), 99, { threads: 1 }); // other seed: restore must overwrite all
      b.restore(structuredClone(ckpt));
      const again = b.update(randomBatch(3, 1));
      expect(again.metrics).toEqual(next.metrics);
      expect(Array.from(actorParams(b))).toEqual(Array.from(after));
      expect(b.steps).toBe(a.steps);
      a.dispose();
      b.dispose();
    });
  }
});

describe('each algorithm accepts only its own settings (its descriptor)', () => {
  it("a setting of another algorithm is refused, naming this algorithm's settings and who has it", async () => {
    await expect(createLearner('td3bc', task, { expectile: 0.9 } as never)).rejects.toThrow(
      "unknown setting 'expectile' for td3bc; settings are: actorLr, alpha, batchSize, criticLr, discount, hidden, noiseClip, policyFreq, policyNoise, tau, updatesPerRun ('expectile' is a setting of iql)",
    );
    await expect(createLearner('bc', task, small)).rejects.toThrow(
      /unknown settings 'actorHidden', 'criticHidden', 'nActions' for bc; settings are: actorLr, batchSize, hidden, updatesPerRun/,
    );
    // Cal-QL's switches belong to Cal-QL: plain CQL refuses them, and Cal-QL cannot be un-calibrated.
    await expect(createLearner('cql', task, { calibrateOnline: 'offline-rows' } as never)).rejects.toThrow(/unknown setting 'calibrateOnline' for cql; .*is a setting of calql/);
    await expect(createLearner('calql', task, { calibrated: false } as never)).rejects.toThrow(/unknown setting 'calibrated' for calql/);
  });

  it('a value of the wrong kind is refused, naming the kind and the default', async () => {
    await expect(createLearner('iql', task, { expectile: '0.9' } as never)).rejects.toThrow(/iql: setting 'expectile' must be a number \(default 0.7\), got "0.9"/);
    await expect(createLearner('bc', task, { hidden: 64 } as never)).rejects.toThrow(/bc: setting 'hidden' must be a list of numbers/);
    await expect(createLearner('cql', task, { ...pickSettings('cql', small), cqlAlphaOnline: null })).resolves.toBeDefined();
  });

  it('an unknown algorithm is refused with the known ones and the closest', async () => {
    await expect(createLearner('iqll', task)).rejects.toThrow(/unknown algorithm 'iqll'; choose one of bc, td3bc, iql, cql, calql, dt, diffusion, sac \(did you mean 'iql'\?\)/);
  });

  // the sequence and chunk models have their own tests: test/algos/dt.test.ts, diffusion.test.ts
  for (const d of ALGO_DESCRIPTORS.filter((x) => x.batch(x.defaults).sequenceLength === 1 && !x.batch(x.defaults).chunk)) {
    it(`${d.name}: the descriptor's settings, network sizes and batch needs are the learner's`, async () => {
      expect(ALGOS.filter((n) => n === d.name)).toHaveLength(1);
      const l = (await createLearner(d.name, task, { ...networkSettings(d.name, [8]), batchSize: 8, ...pickSettings(d.name, { nActions: 2 }) }, 0, { threads: 1 })) as GraphLearner;
      expect(l.algo).toBe(d.name);
      expect(l.actorSpec?.hidden).toEqual([8]);
      // Every setting is recorded in the checkpoint's config (so a resumed run knows what it ran with).
      expect(Object.keys(l.checkpoint().config as object)).toEqual(expect.arrayContaining(settingsOf(d.name)));
      // The batch needs are honest: a batch with only what the descriptor declares trains.
      const needs = batchNeeds(d.name);
      expect(needs.sequenceLength).toBe(1);
      const b = randomBatch(1);
      if (!needs.columns.some((c) => c.name === 'mc_return')) delete (b.info as Record<string, unknown>).mc_return;
      expect(l.update(b).diverged).toBe(false);
      l.dispose();
    });
  }

  it('Cal-QL batches carry Monte-Carlo returns discounted as its TD target', () => {
    expect(batchNeeds('calql').columns).toEqual([{ name: 'mc_return', gamma: 0.99 }]);
    expect(batchNeeds('calql', { discount: 0.9 }).columns).toEqual([{ name: 'mc_return', gamma: 0.9 }]);
    expect(batchNeeds('cql').columns).toEqual([]);
  });
});

describe('bad batches are refused', () => {
  it('a batch of the wrong width or size names the mismatch', async () => {
    const l = await createLearner('bc', task, pickSettings('bc', small), 0, { threads: 1 });
    expect(() => l.update(allocBatch(8, 4, 2))).toThrow(/batch has obs 4 \/ act 2, the task has 3 \/ 2/);
    expect(() => l.update(allocBatch(16, 3, 2))).toThrow(/batch has 16 rows, the learner was built for 8/);
  });
  it('a setting no algorithm has (a typo) is refused with the known ones and the closest', async () => {
    await expect(createLearner('calql', task, { ...pickSettings('calql', small), cqlAlphaOnlien: 1 } as never)).rejects.toThrow(
      /unknown setting 'cqlAlphaOnlien' for calql; settings are: .*cqlAlphaOnline.*did you mean 'cqlAlphaOnline'\?/,
    );
    expect(() => pickSettings('bc', { hiden: [8] })).toThrow(/unknown setting 'hiden': no algorithm has it \(did you mean 'hidden'\?\)/);
  });

  it('Cal-QL without mc_return in the batch says how to provide it', async () => {
    const l = await createCalQL(task, small, 0, { threads: 1 });
    const ds = new DatasetBuilder(3, 2);
    ds.add({ obs: [0, 0, 0], action: [0, 0], reward: 0, nextObs: [0, 0, 0], terminal: true });
    expect(() => l.update(new UniformSampler(ds.build(), { batchSize: 8, seed: 0 }).sample())).toThrow(/lacks 'mc_return'/);
  });
});
