/**
 * Fidelity to the reference implementations (CORL td3_bc.py, any_percent_bc.py, cql.py,
 * cal_ql.py): each loss of one update is recomputed here in float64 from the learner's weights
 * before the update, the same batch and the same noise, written from the reference's formulas and
 * independently of src/ (plain loops, the textbook tanh-Gaussian density), and compared with what
 * our graph computes.
 */
import { describe, expect, it } from 'vitest';
import { BC, CALQL_DEFAULTS, CQL, CQL_DEFAULTS, NO_MC_BOUND, TD3BC, createCalQL, type CqlConfig, type GraphLearner } from '../../src/algos/index.js';
import { allocBatch, type Batch } from '../../src/data/index.js';
import type { ParamLayout } from '../../src/engine/index.js';
import { actorLayout, criticLayout } from '../../src/nn/index.js';
import { Rng } from '../../src/util/rng.js';

type Vec = number[];
type Named = Record<string, Float32Array>;

/** y = x W + b per layer (W stored [in, out] row-major), relu between, `out` after the last. */
function mlp64(w: Named, prefix: string, x: Vec, layers: number, out: 'none' | 'tanh'): Vec {
  let h = x;
  for (let l = 0; l < layers; l++) {
    const W = w[`${prefix}l${l}.weight`]!;
    const b = w[`${prefix}l${l}.bias`]!;
    const n = b.length;
    const y: Vec = Array.from({ length: n }, (_, j) => b[j]!);
    for (let i = 0; i < h.length; i++) for (let j = 0; j < n; j++) y[j]! += h[i]! * W[i * n + j]!;
    h = l < layers - 1 ? y.map((v) => Math.max(0, v)) : out === 'tanh' ? y.map(Math.tanh) : y;
  }
  return h;
}

const rows = (a: Float32Array, width: number): Vec[] => Array.from({ length: a.length / width }, (_, i) => Array.from(a.subarray(i * width, (i + 1) * width)));
const mean = (v: Vec): number => v.reduce((s, x) => s + x, 0) / v.length;
const logSumExp = (v: Vec): number => {
  const m = Math.max(...v);
  return m + Math.log(v.reduce((s, x) => s + Math.exp(x - m), 0));
};

function batch(seed: number, B: number, O: number, A: number, maxAction: number, mc: (i: number) => number): Batch {
  const rng = new Rng(seed);
  const b = allocBatch(B, O, A, { mc_return: 1 });
  rng.fillNormal(b.observations);
  rng.fillUniform(b.actions, -maxAction, maxAction);
  rng.fillNormal(b.rewards);
  rng.fillNormal(b.nextObservations);
  b.terminals.fill(0);
  b.terminals[1] = 1;
  for (let i = 0; i < B; i++) b.info.mc_return![i] = mc(i);
  return b;
}

function state(l: GraphLearner, group: string, layout: ParamLayout): Named {
  return layout.unravel(Float32Array.from(l.checkpoint().state[group]!));
}

/** The noise the learner's next update will draw, by input name (same generator state, same order). */
function nextNoise(l: GraphLearner): Record<string, Float32Array> {
  const rng = new Rng(0);
  rng.setState(l.checkpoint().rng);
  const out: Record<string, Float32Array> = {};
  const graph = (l as unknown as { graphs: { noise: { name: string; kind: string; size: number }[] }[] }).graphs[0]!;
  for (const n of graph.noise) {
    const buf = new Float32Array(n.size);
    if (n.kind === 'normal') rng.fillNormal(buf);
    else rng.fillUniform(buf, -1, 1);
    out[n.name] = buf;
  }
  return out;
}

describe('TD3+BC and BC: the behaviour-cloning term is the mean over batch × action dimensions (CORL F.mse_loss)', () => {
  const task = { obsDim: 4, actDim: 3, maxAction: 2 };
  const H = [8, 8];

  it('TD3+BC actor loss = −λ mean Q1(s, π(s)) + mean_(b,j) (π(s)_j − a_j)², λ = α / mean|Q1|, with the critic after its step', async () => {
    const l = await TD3BC.create(task, { hidden: H, batchSize: 6, policyFreq: 1, alpha: 2.5 }, 3, { threads: 1 });
    const aL = actorLayout(l.actorSpec);
    const cL = criticLayout(l.criticSpec);
    const actor = state(l, 'actor', aL);
    const b = batch(5, 6, 4, 3, 2, () => 0);
    const r = l.update(b);
    const critic = state(l, 'critic', cL); // CORL: the actor loss reads the critic just updated
    const s = rows(b.observations, 4);
    const a = rows(b.actions, 3);
    const pi = s.map((x) => mlp64(actor, '', x, 3, 'tanh').map((v) => 2 * v));
    const q1 = s.map((x, i) => mlp64(critic, 'q0.', [...x, ...pi[i]!], 3, 'none')[0]!);
    const lambda = 2.5 / mean(q1.map(Math.abs));
    const bc = mean(pi.flatMap((p, i) => p.map((v, j) => (v - a[i]![j]!) ** 2)));
    const ref = -lambda * mean(q1) + bc;
    expect(r.metrics.actor_loss).toBeCloseTo(ref, 4);
    // The summed form (ours before) is off by (|A| − 1) · bc: this test tells them apart.
    expect(Math.abs(ref - (-lambda * mean(q1) + 3 * bc))).toBeGreaterThan(0.1);
  });

  it('BC loss = mean_(b,j) (π(s)_j − a_j)²', async () => {
    const l = await BC.create(task, { hidden: H, batchSize: 6 }, 4, { threads: 1 });
    const actor = state(l, 'actor', actorLayout(l.actorSpec));
    const b = batch(6, 6, 4, 3, 2, () => 0);
    const r = l.update(b);
    const a = rows(b.actions, 3);
    const ref = mean(rows(b.observations, 4).flatMap((x, i) => mlp64(actor, '', x, 3, 'tanh').map((v, j) => (2 * v - a[i]![j]!) ** 2)));
    expect(r.metrics.actor_loss).toBeCloseTo(ref, 5);
  });
});

// ---- CQL / Cal-QL ----------------------------------------------------------------------------

const T = { obsDim: 3, actDim: 2, maxAction: 1 };
const B = 6;
const N = 3;
const small = { actorHidden: [8, 8], criticHidden: [8, 8], batchSize: B, nActions: N };

/** CORL cal_ql.py `_q_loss` (cql.py's when calibrating is false), in float64: qf_loss and the mean gap. */
function cqlReference(l: CQL, b: Batch, cfg: CqlConfig, calibrating: boolean): { criticLoss: number; cqlDiff: number } {
  const { obsDim: O, actDim: A } = T;
  const aL = actorLayout(l.specs.actor);
  const cL = criticLayout(l.specs.critic);
  const actor = state(l, 'actor', aL);
  const critic = state(l, 'critic', cL);
  const target = state(l, 'critic_target', cL);
  const logAlpha = l.checkpoint().state.log_alpha![0]!;
  const alpha = Math.exp(logAlpha) * cfg.alphaMultiplier;
  const noise = nextNoise(l);
  const layersA = cfg.actorHidden.length + 1;
  const layersQ = cfg.criticHidden.length + 1;
  const Q = (w: Named, k: number, s: Vec, a: Vec): number => mlp64(w, `q${k}.`, [...s, ...a], layersQ, 'none')[0]!;
  /** a = tanh(u), u ~ N(μ, σ): log π(a) = log N(u; μ, σ) − Σ log(1 − tanh²u). */
  const sample = (s: Vec, eps: Vec): { a: Vec; logp: number } => {
    const out = mlp64(actor, '', s, layersA, 'none');
    let logp = 0;
    const a: Vec = [];
    for (let j = 0; j < A; j++) {
      const mu = out[j]!;
      const logStd = Math.min(2, Math.max(-20, out[A + j]! - 1));
      const sd = Math.exp(logStd);
      const u = mu + sd * eps[j]!;
      logp += -0.5 * ((u - mu) / sd) ** 2 - Math.log(sd) - 0.5 * Math.log(2 * Math.PI) - Math.log(1 - Math.tanh(u) ** 2);
      a.push(Math.tanh(u));
    }
    return { a, logp };
  };
  const obs = rows(b.observations, O);
  const act = rows(b.actions, A);
  const next = rows(b.nextObservations, O);
  const eps = (name: string): Vec[] => rows(noise[name]!, A);
  const epsNext = eps('noise.next_pi');
  // TD target.
  const y = obs.map((_, i) => {
    let tq: number;
    if (cfg.maxTargetBackup) {
      const cands = Array.from({ length: N }, (_, j) => {
        const p = sample(next[i]!, epsNext[i * N + j]!);
        return { q: Math.min(Q(target, 0, next[i]!, p.a), Q(target, 1, next[i]!, p.a)), logp: p.logp };
      });
      const best = cands.reduce((m, c) => (c.q > m.q ? c : m));
      tq = cfg.backupEntropy ? best.q - alpha * best.logp : best.q;
    } else {
      const p = sample(next[i]!, epsNext[i]!);
      tq = Math.min(Q(target, 0, next[i]!, p.a), Q(target, 1, next[i]!, p.a));
      if (cfg.backupEntropy) tq -= alpha * p.logp;
    }
    return b.rewards[i]! + (1 - b.terminals[i]!) * cfg.discount * tq;
  });
  const rand = eps('uniform.cql_random');
  const cur = eps('noise.cql_current');
  const nxt = eps('noise.cql_next');
  let td = 0;
  const diffs: number[] = [];
  for (let k = 0; k < 2; k++) {
    const qData = obs.map((s, i) => Q(critic, k, s, act[i]!));
    td += mean(qData.map((q, i) => (q - y[i]!) ** 2));
    const gaps = obs.map((s, i) => {
      const cat: Vec = [];
      const bound = b.info.mc_return![i]!;
      for (let j = 0; j < N; j++) {
        const r = i * N + j;
        cat.push(Q(critic, k, s, rand[r]!) - Math.log(0.5 ** A));
        const pc = sample(s, cur[r]!);
        const pn = sample(next[i]!, nxt[r]!);
        let qc = Q(critic, k, s, pc.a);
        let qn = Q(critic, k, s, pn.a);
        if (calibrating) {
          qc = Math.max(qc, bound);
          qn = Math.max(qn, bound);
        }
        cat.push(qn - pn.logp, qc - pc.logp);
      }
      const ood = cfg.temperature * logSumExp(cat.map((v) => v / cfg.temperature));
      return Math.min(cfg.clipDiffMax, Math.max(cfg.clipDiffMin, ood - qData[i]!));
    });
    diffs.push(mean(gaps));
  }
  return { criticLoss: td + cfg.cqlAlpha * (diffs[0]! + diffs[1]!), cqlDiff: (diffs[0]! + diffs[1]!) / 2 };
}

function expectClose(ours: number, ref: number): void {
  expect(Math.abs(ours - ref)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(ref)));
}

describe("CQL and Cal-QL defaults are CORL's", () => {
  it('Cal-QL: every cal_ql config has cql_max_target_backup true, cql_clip_diff_min −200, orthogonal_init; CQL: cql.py has neither', () => {
    expect(CALQL_DEFAULTS).toMatchObject({
      maxTargetBackup: true,
      clipDiffMin: -200,
      clipDiffMax: Infinity,
      networkInit: 'orthogonal',
      calibrateOnline: 'off',
      actorLr: 1e-4,
      criticLr: 3e-4,
    });
    expect(CQL_DEFAULTS).toMatchObject({ maxTargetBackup: false, clipDiffMin: -Infinity, clipDiffMax: Infinity, networkInit: 'orthogonal-critic', cqlAlpha: 10, actorLr: 3e-5 });
  });
});

describe('CQL and Cal-QL: one update against a float64 transcription of CORL _q_loss', () => {
  // Q-values of fresh 8x8 critics are ≈ 0.1: MC returns of ±0.3 bound some sampled actions and not others.
  const mc = (i: number): number => [0.3, -0.3, 0.05, NO_MC_BOUND, 0.1, 0.2][i]!;
  const cases: { name: string; make: () => Promise<CQL>; calibrating: boolean; online?: boolean }[] = [
    { name: 'CQL, CORL cql.py defaults (one target action, no clipping)', make: () => CQL.create(T, small, 11, { threads: 1 }), calibrating: false },
    { name: 'Cal-QL, CORL cal_ql defaults (max-target backup, clip −200, bound on)', make: () => createCalQL(T, small, 12, { threads: 1 }), calibrating: true },
    {
      name: 'Cal-QL with a clip that bites (clipDiffMin −0.05, clipDiffMax 0.2)',
      make: () => createCalQL(T, { ...small, clipDiffMin: -0.05, clipDiffMax: 0.2 }, 13, { threads: 1 }),
      calibrating: true,
    },
    { name: 'Cal-QL, max-target backup with the entropy term', make: () => createCalQL(T, { ...small, backupEntropy: true }, 14, { threads: 1 }), calibrating: true },
    {
      name: 'Cal-QL after startOnline(): bound off for every row (CORL switch_calibration)',
      make: () => createCalQL(T, small, 15, { threads: 1 }),
      calibrating: false,
      online: true,
    },
    {
      name: "Cal-QL after startOnline() with calibrateOnline 'offline-rows'",
      make: () => createCalQL(T, { ...small, calibrateOnline: 'offline-rows' }, 16, { threads: 1 }),
      calibrating: true,
      online: true,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const l = await c.make();
      if (c.online) l.startOnline();
      l.update(batch(20, B, 3, 2, 1, mc)); // one update first: Adam moments and targets are no longer trivial
      const b = batch(21, B, 3, 2, 1, mc);
      const ref = cqlReference(l, b, l.cfg, c.calibrating);
      const r = l.update(b);
      expectClose(r.metrics.critic_loss!, ref.criticLoss);
      expectClose(r.metrics.cql_diff!, ref.cqlDiff);
    });
  }

  it('each option moves the loss: max-target backup, clipping and the calibration switch change critic_loss as their formulas say', async () => {
    const base = await createCalQL(T, small, 30, { threads: 1 });
    const b = batch(22, B, 3, 2, 1, mc);
    const cfg = base.cfg;
    const on = cqlReference(base, b, cfg, true);
    const off = cqlReference(base, b, cfg, false);
    const noBackup = cqlReference(base, b, { ...cfg, maxTargetBackup: false }, true);
    const clipped = cqlReference(base, b, { ...cfg, clipDiffMax: 0.05 }, true);
    expect(Math.abs(on.criticLoss - off.criticLoss)).toBeGreaterThan(1e-3);
    expect(Math.abs(on.criticLoss - noBackup.criticLoss)).toBeGreaterThan(1e-4);
    expect(clipped.cqlDiff).toBeLessThanOrEqual(0.05 + 1e-12);
    expect(Math.abs(on.criticLoss - clipped.criticLoss)).toBeGreaterThan(1e-3);
    expectClose(base.update(b).metrics.critic_loss!, on.criticLoss);
  });
});

describe('Cal-QL switch to online (CORL switch_calibration)', () => {
  const big = (): number => 50; // far above a fresh critic's Q ≈ 0: the bound lifts the gap to ≈ 50
  it('startOnline() turns the Monte-Carlo bound off for the offline rows too (default calibrateOnline: off)', async () => {
    const l = await createCalQL(T, small, 40, { threads: 1 });
    expect(l.cfg.calibrateOnline).toBe('off');
    expect(l.update(batch(1, B, 3, 2, 1, big)).metrics.cql_diff).toBeGreaterThan(45);
    l.startOnline();
    expect(l.calibrating).toBe(false);
    expect(l.update(batch(2, B, 3, 2, 1, big)).metrics.cql_diff).toBeLessThan(10);
  });
  it("calibrateOnline 'offline-rows' keeps the bound on rows with a Monte-Carlo return", async () => {
    const l = await createCalQL(T, { ...small, calibrateOnline: 'offline-rows' }, 41, { threads: 1 });
    l.startOnline();
    expect(l.calibrating).toBe(true);
    expect(l.update(batch(2, B, 3, 2, 1, big)).metrics.cql_diff).toBeGreaterThan(45);
    expect(l.update(batch(3, B, 3, 2, 1, () => NO_MC_BOUND)).metrics.cql_diff).toBeLessThan(10);
  });
  it('an unknown calibrateOnline is refused', async () => {
    await expect(createCalQL(T, { ...small, calibrateOnline: 'sometimes' as never }, 0)).rejects.toThrow(/calibrateOnline must be 'off' or 'offline-rows'/);
  });
});

describe('network initialisation as the references', () => {
  /** W [in, out]: the shorter side's vectors are orthogonal with norm `gain`. */
  function expectOrthogonal(w: Float32Array, fanIn: number, fanOut: number, gain: number): void {
    const [count, len, at] = fanIn >= fanOut ? [fanOut, fanIn, (v: number, k: number) => w[k * fanOut + v]!] : [fanIn, fanOut, (v: number, k: number) => w[v * fanOut + k]!];
    for (let p = 0; p < count; p++) {
      for (let q = p; q < count; q++) {
        let dot = 0;
        for (let k = 0; k < len; k++) dot += at(p, k) * at(q, k);
        expect(dot).toBeCloseTo(p === q ? gain * gain : 0, 4);
      }
    }
  }
  const layers = (layout: ParamLayout): { name: string; w: Float32Array; b: Float32Array; fanIn: number; fanOut: number }[] => {
    const named = layout.unravel(layout.init(7));
    return layout.specs
      .filter((s) => s.name.endsWith('.weight'))
      .map((s) => ({ name: s.name, w: named[s.name]!, b: named[s.name.replace(/weight$/, 'bias')]!, fanIn: s.shape[0]!, fanOut: s.shape[1]! }));
  };

  it('Cal-QL (cal_ql.py orthogonal_init): every layer of the actor and the critics, output layers included, orthogonal with gain √2 and zero bias', async () => {
    const l = await createCalQL({ obsDim: 5, actDim: 2, maxAction: 1 }, { actorHidden: [16, 16], criticHidden: [16, 16], batchSize: 4, nActions: 2 }, 0, { threads: 1 });
    const all = [...layers(actorLayout(l.specs.actor)), ...layers(criticLayout(l.specs.critic))];
    expect(all.length).toBe(9); // actor 3 layers, critics 2 × 3
    for (const x of all) {
      expectOrthogonal(x.w, x.fanIn, x.fanOut, Math.SQRT2);
      expect(Array.from(x.b).every((v) => v === 0)).toBe(true);
    }
  });

  it('CQL (cql.py orthogonal_init): critic hidden orthogonal √2, critic output orthogonal 1e-2, the actor not orthogonal', async () => {
    const l = await CQL.create({ obsDim: 5, actDim: 2, maxAction: 1 }, { actorHidden: [16, 16], criticHidden: [16, 16], batchSize: 4, nActions: 2 }, 0, { threads: 1 });
    for (const x of layers(criticLayout(l.specs.critic))) expectOrthogonal(x.w, x.fanIn, x.fanOut, x.name.includes('l2.') ? 1e-2 : Math.SQRT2);
    const a0 = layers(actorLayout(l.specs.actor))[0]!;
    expect(Array.from(a0.b).some((v) => v !== 0)).toBe(true); // PyTorch's default: U(±1/√fan_in) bias
  });
});
