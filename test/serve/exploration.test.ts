import { describe, expect, it } from 'vitest';
import { mlpPolicy } from '../../src/nn/index.js';
import {
  ArtifactError,
  ExplorationConfigError,
  type ExplorationConfig,
  exportPolicy,
  outlineOnnx,
  PolicyRuntime,
  readCard,
  robotSeed,
  sealArtifact,
  type SafetyConfig,
  verifyArtifact,
} from '../../src/serve/index.js';
import { exportRandom, extraBytesPerCall, randomActor, referenceAction, referenceHead } from './fixtures.js';

const OBS = [0.3, -0.2, 0.5, 0.1, -0.4];

function open(spec: NonNullable<Parameters<typeof exportRandom>[0]>['spec'], exploration: ExplorationConfig | null, safety: SafetyConfig = {}) {
  const res = exportRandom({ spec, seed: 3 });
  const rt = PolicyRuntime.open({ bytes: res.bytes, source: 'p.onnx' }, { exploration, safety });
  return { rt, res };
}

function moments(xs: number[][], dim: number): { mean: number; std: number } {
  const v = xs.map((x) => x[dim]!);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return { mean, std: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length) };
}

describe('exploration: sampled actions for online data collection', () => {
  it('a tanh-Gaussian policy exports its distribution, and exploring act() samples tanh(loc + σε) with the network’s own loc and σ', () => {
    const spec = { kind: 'tanh-gaussian' as const, maxAction: 1.5 };
    const { rt, res } = open(spec, { seed: 7 });
    expect(res.card.distribution).toEqual({ kind: 'tanh-gaussian', loc: 'action_loc', logStd: 'action_log_std', scale: 1.5 });
    expect(rt.status().exploration).toBe('tanh-gaussian');
    // Float64 reference straight from the weights: loc = μ, log σ = clip(raw − 1, −20, 2).
    const head = referenceHead(randomActor(spec, 3), OBS);
    const loc = head.slice(0, 2);
    const sigma = head.slice(2, 4).map((r) => Math.exp(Math.min(2, Math.max(-20, r - 1))));
    const pre: number[][] = [];
    for (let i = 0; i < 4000; i++) {
      const a = rt.act(OBS);
      for (const v of a) expect(Math.abs(v)).toBeLessThanOrEqual(1.5);
      pre.push(Array.from(a, (v) => Math.atanh(v / 1.5)));
    }
    for (let d = 0; d < 2; d++) {
      const m = moments(pre, d);
      // 4000 samples: the standard error of the mean is σ/63, of the std about σ/89.
      expect(Math.abs(m.mean - loc[d]!)).toBeLessThan(5 * (sigma[d]! / 63));
      expect(Math.abs(m.std - sigma[d]!)).toBeLessThan(5 * (sigma[d]! / 89));
    }
    // Exploration off: the mode, as before.
    rt.setExploration(null);
    expect(rt.status().exploration).toBe('off');
    const mode = rt.act(OBS);
    const ref = referenceAction(randomActor(spec, 3), OBS);
    for (let d = 0; d < 2; d++) expect(Math.abs(mode[d]! - ref[d]!)).toBeLessThan(1e-5);
    rt.dispose();
  });

  it('a Gaussian (IQL) policy samples around its mean with its learned std, clipped to the action bounds', () => {
    const actor = randomActor({ kind: 'gaussian', maxAction: 1 }, 3);
    actor.layout.unravel(actor.params).log_std!.set([Math.log(0.1), Math.log(2)]);
    const res = exportPolicy({ policy: mlpPolicy(actor), card: { name: 'iql', version: 'v1', task: 'test', algorithm: 'iql' } });
    expect(res.card.distribution?.kind).toBe('gaussian');
    const rt = PolicyRuntime.open({ bytes: res.bytes, source: 'iql.onnx' }, { exploration: { seed: 1 } });
    const mean = referenceHead(actor, OBS).map(Math.tanh);
    const xs: number[][] = [];
    for (let i = 0; i < 4000; i++) xs.push(Array.from(rt.act(OBS)));
    // Dimension 0: σ = 0.1, clipping negligible (|mean| < 0.7).
    expect(Math.abs(mean[0]!)).toBeLessThan(0.7);
    const m = moments(xs, 0);
    expect(Math.abs(m.mean - mean[0]!)).toBeLessThan(5 * (0.1 / 63));
    expect(Math.abs(m.std - 0.1)).toBeLessThan(5 * (0.1 / 89));
    // Dimension 1: σ = 2, so most samples leave [−1, 1] and are clipped onto its ends.
    const ends = xs.filter((x) => x[1] === 1 || x[1] === -1).length;
    expect(ends / xs.length).toBeGreaterThan(0.5);
    expect(Math.min(...xs.map((x) => x[1]!))).toBe(-1);
    expect(Math.max(...xs.map((x) => x[1]!))).toBe(1);
    // The clips the sampler makes are exploration's own, not safety events.
    expect(rt.status().faults.clipped).toBe(0);
    rt.dispose();
  });

  it('a deterministic policy gets Gaussian noise of noiseStd × half its action range (TD3)', () => {
    const spec = { kind: 'deterministic' as const, maxAction: 1.5 };
    const { rt, res } = open(spec, { seed: 2, noiseStd: 0.1 });
    expect(res.card.distribution).toBeUndefined();
    expect(rt.status().exploration).toBe('noise');
    const ref = referenceAction(randomActor(spec, 3), OBS);
    const xs: number[][] = [];
    for (let i = 0; i < 4000; i++) xs.push(Array.from(rt.act(OBS)));
    for (let d = 0; d < 2; d++) {
      const m = moments(xs, d);
      expect(Math.abs(m.mean - ref[d]!)).toBeLessThan(5 * (0.15 / 63));
      expect(Math.abs(m.std - 0.15)).toBeLessThan(5 * (0.15 / 89));
    }
    rt.dispose();
  });

  it('the same seed replays the same actions; robots of a fleet get different seeds', () => {
    const a = open({ kind: 'tanh-gaussian' }, { seed: 11 }).rt;
    const b = open({ kind: 'tanh-gaussian' }, { seed: 11 }).rt;
    const c = open({ kind: 'tanh-gaussian' }, { seed: 12 }).rt;
    const x = Array.from(a.act(OBS));
    expect(Array.from(b.act(OBS))).toEqual(x);
    expect(Array.from(c.act(OBS))).not.toEqual(x);
    expect(robotSeed(0, 'sim-0')).not.toBe(robotSeed(0, 'sim-1'));
    for (const rt of [a, b, c]) rt.dispose();
  });

  it('the safety filter still has the last word: rate limits hold, bad observations give the safe action', () => {
    const { rt } = open({ kind: 'tanh-gaussian' }, { seed: 3, temperature: 3 }, { maxDelta: 0.05, safeAction: 'zero' });
    let prev = Array.from(rt.act(OBS));
    for (let i = 0; i < 200; i++) {
      const a = Array.from(rt.act(OBS));
      for (let d = 0; d < 2; d++) expect(Math.abs(a[d]! - prev[d]!)).toBeLessThanOrEqual(0.05 + 1e-6);
      prev = a;
    }
    expect(rt.status().faults.rateLimited).toBeGreaterThan(100);
    const before = Array.from(rt.act([NaN, 0, 0, 0, 0]));
    expect(rt.status().faults.nonFiniteObs).toBe(1);
    expect(before.every((v, d) => Math.abs(v - prev[d]!) <= 0.05 + 1e-6)).toBe(true); // zero, approached at the rate limit
    rt.dispose();
  });

  it('bad settings and malformed cards are refused with the fix', () => {
    expect(() => open({ kind: 'tanh-gaussian' }, { temperature: -1 })).toThrow(ExplorationConfigError);
    expect(() => open({ kind: 'deterministic' }, { noiseStd: NaN })).toThrow(/noiseStd must be a finite number/);
    const res = exportRandom({ spec: { kind: 'tanh-gaussian' }, seed: 3 });
    const card = readCard(res.bytes)!;
    // The same graph sealed with a broken distribution entry: refused when loaded.
    const plain = res.bytes.subarray(0, outlineOnnx(res.bytes, 'p').metadata[0]!.start);
    const forged = sealArtifact(plain, { ...card, distribution: { kind: 'beta', loc: 'action_loc', logStd: 'action_log_std', scale: 1 } } as never);
    expect(() => verifyArtifact({ bytes: forged.bytes, source: 'forged.onnx' })).toThrow(ArtifactError);
    expect(() => verifyArtifact({ bytes: forged.bytes, source: 'forged.onnx' })).toThrow(/'distribution' is not/);
    // A card naming an output the graph lacks is refused at load, with the outputs it has.
    const missing = sealArtifact(plain, { ...card, distribution: { ...card.distribution!, loc: 'mu' } });
    expect(() => PolicyRuntime.open({ bytes: missing.bytes, source: 'missing.onnx' })).toThrow(/no output named 'mu'/);
    expect(() => verifyArtifact({ bytes: res.bytes, source: 'ok' })).not.toThrow();
  });

  it('exploring act() allocates nothing beyond the raw ORT run', () => {
    const { rt } = open({ kind: 'tanh-gaussian' }, { seed: 5 });
    const m = rt.model;
    const obs = Float32Array.from(OBS);
    // Against the raw run with the same fetches (action and distribution).
    const extra = extraBytesPerCall(
      () => m.inferDistribution(),
      (i) => {
        obs[0] = i * 1e-4;
        rt.act(obs);
      },
    );
    expect(extra).toBeLessThan(100);
    rt.dispose();
  });
});
