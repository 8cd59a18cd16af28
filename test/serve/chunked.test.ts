/**
 * Serving a 'chunked' policy (Diffusion Policy, ACT): PolicyRuntime keeps each robot's action
 * queue. The toy chunk is a checkable function of the observation history, the chunk row and the
 * noise (chunk-fixtures.ts), so matching its float64 model proves which step gets which chunk
 * element, when the runtime plans, the noise it draws, the ensembling weights, resets and swaps.
 */
import { describe, expect, it } from 'vitest';
import { PolicyRuntime, type RuntimeOptions, type StepInfo } from '../../src/serve/index.js';
import { ACT, chunkInterface, exportChunk, foreignChunkBytes, foreignChunkDescription, H, K, noiseDraws, refChunk } from './chunk-fixtures.js';
import { exportRandom, extraBytesPerCall } from './fixtures.js';

const open = (opts: RuntimeOptions = {}, iface = chunkInterface(), version?: string, scale?: number) =>
  PolicyRuntime.open({ bytes: exportChunk({ iface, version, scale }).bytes, source: 'chunk.onnx' }, opts);
const obsAt = (i: number): number[] => [0.1 * i, -0.2 + 0.05 * i, 1 + (i % 3)];
const near = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5) => Array.from(a).every((v, i) => Math.abs(v - b[i]!) <= tol);

/** The contract in float64: the history (first observation repeated), a plan every `h` steps, noise drawn per plan. */
class Reference {
  hist: number[][] = [];
  plan: number[][] = [];
  at = 0;
  plans = 0;
  constructor(
    readonly h: number,
    readonly draw: (() => number[]) | null,
    readonly scale = 1,
  ) {}
  reset(): void {
    this.hist = [];
    this.plan = [];
    this.at = 0;
  }
  step(obs: number[]): number[] {
    this.hist = this.hist.length === 0 ? Array.from({ length: K }, () => obs) : [...this.hist.slice(1), obs];
    if (this.at >= this.plan.length) {
      this.plan = refChunk(this.hist, this.draw ? this.draw() : null, this.scale).slice(0, this.h);
      this.at = 0;
      this.plans++;
    }
    return this.plan[this.at++]!;
  }
}

describe('PolicyRuntime serves a chunked policy from a per-robot action queue', () => {
  it('opens (no longer refused) and says its queue', () => {
    const rt = open();
    expect(rt.policyInterface).toEqual(chunkInterface());
    expect(rt.status()).toMatchObject({ actDim: ACT, episodeStep: -1, chunk: { actionHorizon: 3, chunkLength: H, queued: 0, replans: 0, temporalEnsembling: null } });
    rt.dispose();
  });

  it('step t executes element t mod h of the chunk planned at the last multiple of h; it plans exactly every h steps', () => {
    for (const h of [1, 3, H]) {
      const rt = open({ chunking: { actionHorizon: h, seed: 7 } });
      const ref = new Reference(h, noiseDraws(7));
      const info: StepInfo = { episodeStart: true };
      for (let t = 0; t < 13; t++) {
        const a = rt.act(obsAt(t), info);
        info.episodeStart = false;
        expect(near(a, ref.step(obsAt(t))), `h ${h} step ${t}`).toBe(true);
        expect(rt.status().chunk!.replans).toBe(Math.floor(t / h) + 1);
        expect(rt.status().chunk!.queued).toBe(h - 1 - (t % h));
      }
      rt.dispose();
    }
  });

  it("the default action horizon is the interface's, else the chunk length", () => {
    const a = open();
    const b = open({}, chunkInterface(null));
    expect([a.status().chunk!.actionHorizon, b.status().chunk!.actionHorizon]).toEqual([3, H]);
    expect(() => open({ chunking: { actionHorizon: H + 1 } })).toThrow(/action horizon/);
    a.dispose();
    b.dispose();
  });

  it('noise: drawn from the robot seed, deterministic for a fixed seed, different across seeds', () => {
    const run = (seed: number) => {
      const rt = open({ chunking: { seed } });
      const out: number[] = [];
      for (let t = 0; t < 9; t++) out.push(...rt.act(obsAt(t), { episodeStart: t === 0 }));
      rt.dispose();
      return out;
    };
    expect(run(3)).toEqual(run(3));
    expect(run(3)).not.toEqual(run(4));
  });

  it('temporal ensembling: a plan every step, the overlapping predictions averaged with exp(−m·i), i = 0 the oldest (float64 reference)', () => {
    const m = 0.5;
    const rt = open({ chunking: { temporalEnsembling: m, seed: 11 } });
    const draw = noiseDraws(11);
    const chunks: number[][][] = [];
    let hist: number[][] = [];
    const info: StepInfo = { episodeStart: true };
    for (let t = 0; t < 10; t++) {
      hist = hist.length === 0 ? Array.from({ length: K }, () => obsAt(t)) : [...hist.slice(1), obsAt(t)];
      chunks.push(refChunk(hist, draw()));
      const want = [0, 0];
      let wsum = 0;
      const first = Math.max(0, t - H + 1); // chunks planned at first..t predict step t; i = 0 the oldest
      for (let s = first; s <= t; s++) {
        const w = Math.exp(-m * (s - first));
        wsum += w;
        for (let i = 0; i < ACT; i++) want[i]! += w * chunks[s]![t - s]![i]!;
      }
      const a = rt.act(obsAt(t), info);
      info.episodeStart = false;
      expect(
        near(
          a,
          want.map((v) => v / wsum),
        ),
        `step ${t}`,
      ).toBe(true);
    }
    expect(rt.status().chunk).toMatchObject({ replans: 10, actionHorizon: 1, temporalEnsembling: m });
    rt.dispose();
  });

  it('the safety filter applies to every executed action; the rate limit holds across chunk boundaries', () => {
    const maxDelta = 0.05;
    const rt = open({ chunking: { actionHorizon: 3, seed: 1 }, safety: { maxDelta } });
    const ref = new Reference(3, noiseDraws(1));
    let prev: number[] | null = null;
    for (let t = 0; t < 12; t++) {
      const raw = ref.step(obsAt(5 * t)); // big jumps at each plan
      const a = Array.from(rt.act(obsAt(5 * t), { episodeStart: t === 0 }));
      const want = prev ? raw.map((v, i) => Math.min(Math.max(v, prev![i]! - maxDelta), prev![i]! + maxDelta)) : raw;
      expect(near(a, want), `step ${t}`).toBe(true);
      prev = a;
    }
    expect(rt.status().faults.rateLimited).toBeGreaterThan(3);
    rt.dispose();
  });

  it('reset() and episodeStart empty the queue and the history: the next step plans from its own observation', () => {
    const rt = open({ chunking: { seed: 2 } });
    const ref = new Reference(3, noiseDraws(2));
    const info: StepInfo = { episodeStart: true };
    for (let t = 0; t < 4; t++) {
      expect(near(rt.act(obsAt(t), info), ref.step(obsAt(t)))).toBe(true);
      info.episodeStart = false;
    }
    expect(rt.status().chunk!.queued).toBe(2);
    rt.reset();
    ref.reset();
    for (let t = 20; t < 25; t++) expect(near(rt.act(obsAt(t), info), ref.step(obsAt(t))), `step ${t}`).toBe(true);
    expect(rt.status()).toMatchObject({ episodeStep: 4, chunk: { replans: 4 } });
    info.episodeStart = true;
    ref.reset();
    expect(near(rt.act(obsAt(40), info), ref.step(obsAt(40)))).toBe(true);
    expect(rt.status()).toMatchObject({ episodeStep: 0, chunk: { queued: 2, replans: 5 } });
    rt.dispose();
  });

  it('a refused observation drops its step’s action (the queue stays aligned with time); a repeat re-sends the current action', () => {
    const rt = open({ chunking: { seed: 5 }, safety: { safeAction: 'zero' } });
    const ref = new Reference(3, noiseDraws(5));
    const info: StepInfo = { episodeStart: true };
    const a0 = Array.from(rt.act(obsAt(0), info));
    expect(near(a0, ref.step(obsAt(0)))).toBe(true);
    info.episodeStart = false;
    expect(Array.from(rt.act([Number.NaN, 0, 0], info))).toEqual([0, 0]);
    ref.at++; // step 1's action was dropped
    expect(near(rt.act(obsAt(2), info), ref.step(obsAt(2)))).toBe(true);
    info.repeat = true;
    const again = Array.from(rt.act(obsAt(2), info));
    expect(near(again, ref.plan[2]!)).toBe(true);
    info.repeat = false;
    expect(near(rt.act(obsAt(3), info), ref.step(obsAt(3)))).toBe(true); // step 3 plans: its history holds steps 2 and 3
    expect(rt.status().chunk!.replans).toBe(2);
    rt.dispose();
  });

  it('steps: n (observations the control timer did not see) advance the queue by n; past the plan, the step plans', () => {
    const rt = open({ chunking: { actionHorizon: 4, seed: 6 } });
    const ref = new Reference(4, noiseDraws(6));
    const info: StepInfo = { episodeStart: true };
    expect(near(rt.act(obsAt(0), info), ref.step(obsAt(0)))).toBe(true);
    info.episodeStart = false;
    info.steps = 2; // step 2: row 2 of the plan
    const row2 = ref.plan[2]!;
    expect(near(rt.act(obsAt(2), info), row2)).toBe(true);
    expect(rt.status()).toMatchObject({ episodeStep: 2, chunk: { queued: 1, replans: 1 } });
    info.steps = 3; // step 5: past the plan's 4 rows: a new plan
    rt.act(obsAt(5), info);
    expect(rt.status()).toMatchObject({ episodeStep: 5, chunk: { queued: 3, replans: 2 } });
    rt.dispose();
  });

  it('a hot swap takes effect at the next plan: the old policy’s queued actions finish first', () => {
    const rt = open({ chunking: { seed: 9 } }, chunkInterface(), 'chunk-v1');
    const draw = noiseDraws(9);
    const oldRef = new Reference(3, draw);
    const info: StepInfo = { episodeStart: true };
    expect(near(rt.act(obsAt(0), info), oldRef.step(obsAt(0)))).toBe(true); // plan 1 (old), step 0
    info.episodeStart = false;
    const swapped = rt.swap({ bytes: exportChunk({ version: 'chunk-v2', scale: -2 }).bytes, source: 'v2.onnx' });
    expect(swapped).toMatchObject({ ok: true, version: 'chunk-v2' });
    expect(rt.status().chunk!.queued).toBe(2);
    // Steps 1 and 2: the old plan's rows 1 and 2.
    for (let t = 1; t < 3; t++) expect(near(rt.act(obsAt(t), info), oldRef.step(obsAt(t))), `step ${t}`).toBe(true);
    // Step 3: the new policy plans, from the history the old one left and the same noise stream.
    const newRef = new Reference(3, draw, -2);
    newRef.hist = oldRef.hist;
    for (let t = 3; t < 7; t++) expect(near(rt.act(obsAt(t), info), newRef.step(obsAt(t))), `step ${t}`).toBe(true);
    expect(rt.status().swaps).toBe(1);
    rt.dispose();
  });

  it('a swap to another kind is safe: an mlp serves at the next act(), and back to chunked plans afresh', () => {
    const rt = open({ chunking: { seed: 9 }, safety: { maxDelta: 10 } });
    rt.act(obsAt(0), { episodeStart: true });
    expect(rt.swap({ bytes: exportRandom({ spec: { obsDim: 3, actDim: ACT } }).bytes, source: 'mlp.onnx' }).ok).toBe(true);
    expect(rt.status().chunk).toBeNull();
    expect(Array.from(rt.act(obsAt(1))).every(Number.isFinite)).toBe(true);
    expect(rt.swap({ bytes: exportChunk().bytes, source: 'back.onnx' }).ok).toBe(true);
    rt.act(obsAt(2), { episodeStart: false });
    expect(rt.status().chunk).toMatchObject({ replans: 1, queued: 2 });
    rt.dispose();
  });

  it('2b: a foreign export returning [horizon, act_dim] serves with its interface described (no card)', () => {
    const rt = PolicyRuntime.open({ bytes: foreignChunkBytes(), source: 'act.onnx', description: foreignChunkDescription(4) }, { trust: { allowUnverified: true } });
    const ref = new Reference(4, null);
    for (let t = 0; t < 9; t++) expect(near(rt.act(obsAt(t), { episodeStart: t === 0 }), ref.step(obsAt(t))), `step ${t}`).toBe(true);
    expect(rt.status().chunk).toMatchObject({ actionHorizon: 4, replans: 3 });
    rt.dispose();
  });

  it('act() allocates nothing: between plans a queue pop plus the filter, a plan no more than the raw ORT run (receding horizon and ensembling)', () => {
    for (const chunking of [{ actionHorizon: H }, { temporalEnsembling: 0.01 }]) {
      const rt = open({ chunking, safety: { maxDelta: 0.05, staleAfterMs: 1000 } });
      const m = rt.model;
      const every = chunking.actionHorizon ?? 1;
      let k = 0;
      const obs = new Float32Array(3);
      const info: StepInfo = { episodeStart: false, now: 0, obsTime: 0 };
      const extra = extraBytesPerCall(
        () => {
          if (k++ % every === 0) m.infer();
        },
        (i) => {
          obs[0] = i * 1e-4;
          info.episodeStart = i % (10 * every) === 0;
          rt.act(obs, info);
        },
      );
      expect(extra, JSON.stringify(chunking)).toBeLessThan(100);
      rt.dispose();
    }
  });
});
