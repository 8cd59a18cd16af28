import { describe, expect, it } from 'vitest';
import { DatasetBuilder } from '../../src/data/builder.js';
import { type allocDataset, episodes, validateDataset, withInfo } from '../../src/data/dataset.js';
import { DataError } from '../../src/data/errors.js';
import { locomotionRewardTransform, normalizeObservations, observationStats, scaleRewards } from '../../src/data/normalization.js';
import { monteCarloReturns, returnsToGo } from '../../src/data/returns.js';
import { MixSampler, UniformSampler } from '../../src/data/samplers.js';
import { Rng } from '../../src/util/rng.js';
import { synthetic } from './helpers.js';

function fromRewards(rewards: number[], ends: ('T' | 'O' | '')[]): ReturnType<typeof allocDataset> {
  const b = new DatasetBuilder(1, 1);
  rewards.forEach((r, i) => b.add({ obs: [i], nextObs: [i + 1], action: [0], reward: r, terminal: ends[i] === 'T', timeout: ends[i] === 'O' }));
  return b.build();
}

describe('Rng', () => {
  it('is deterministic per seed and roughly uniform/normal', () => {
    const a = new Rng(7),
      b = new Rng(7),
      c = new Rng(8);
    const xs = Array.from({ length: 5 }, () => a.uniform());
    expect(Array.from({ length: 5 }, () => b.uniform())).toEqual(xs);
    expect(c.uniform()).not.toBe(xs[0]);
    const r = new Rng(1);
    let s = 0,
      s2 = 0;
    for (let i = 0; i < 20000; i++) {
      const z = r.normal();
      s += z;
      s2 += z * z;
    }
    expect(Math.abs(s / 20000)).toBeLessThan(0.03);
    expect(Math.abs(s2 / 20000 - 1)).toBeLessThan(0.05);
    const counts = new Array(5).fill(0);
    for (let i = 0; i < 10000; i++) counts[r.int(5)]++;
    for (const k of counts) expect(Math.abs(k - 2000)).toBeLessThan(200);
  });
});

describe('DatasetBuilder and episodes', () => {
  it('grows without losing rows and splits episodes at terminals, timeouts and id changes', () => {
    const b = new DatasetBuilder(2, 1, { capacity: 1 });
    for (let i = 0; i < 1000; i++) b.add({ obs: [i, -i], nextObs: [i + 1, 0], action: [i], reward: 1, terminal: i === 9, timeout: i === 19 });
    expect(b.size).toBe(1000);
    expect(b.capacity).toBeGreaterThanOrEqual(1000);
    expect(b.observations[2 * 999]).toBe(999);
    const eps = episodes(b);
    expect(eps.map((e) => [e.start, e.end, e.terminated, e.truncated])).toEqual([
      [0, 10, true, false],
      [10, 20, false, true],
      [20, 1000, false, false],
    ]);
    expect(eps[2]!.id).toBe(2);
    expect(eps[0]!.return).toBe(10);
  });

  it('refuses NaN/Inf and wrong dimensions, naming the row, and keeps stored rows', () => {
    const b = new DatasetBuilder(2, 1);
    b.add({ obs: [0, 0], nextObs: [0, 0], action: [0], reward: 0 });
    expect(() => b.add({ obs: [NaN, 0], nextObs: [0, 0], action: [0], reward: 0 })).toThrow(/row 1.*not finite/);
    expect(() => b.add({ obs: [0], nextObs: [0, 0], action: [0], reward: 0 })).toThrow(/expects obs 2/);
    expect(b.size).toBe(1);
    const ds = synthetic(20);
    const bad = { ...ds, rewards: ds.rewards.slice() };
    bad.rewards[13] = Infinity;
    expect(() => validateDataset(bad, 'x.h5')).toThrow(/x\.h5: row 13: rewards contains Inf/);
    const c = new DatasetBuilder(3, 2);
    expect(() => c.append(bad)).toThrow(DataError);
    expect(c.size).toBe(0);
  });
});

describe('returns', () => {
  // Two episodes: [1, 2, 3] terminal, then [1, 1] cut by a timeout. gamma 0.5.
  const ds = fromRewards([1, 2, 3, 1, 1], ['', '', 'T', '', 'O']);

  it('returns-to-go restart at each episode', () => {
    expect(Array.from(returnsToGo(ds))).toEqual([6, 5, 3, 2, 1]);
  });

  it('Monte-Carlo returns match a hand computation, including truncation', () => {
    // terminal episode: G2 = 3, G1 = 2 + .5*3 = 3.5, G0 = 1 + .5*3.5 = 2.75
    // truncated episode, Cal-QL default (tail 0): G4 = 1, G3 = 1.5
    expect(Array.from(monteCarloReturns(ds, { gamma: 0.5 }))).toEqual([2.75, 3.5, 3, 1.5, 1]);
    // infinite-horizon tail r_last/(1-gamma) = 2 for the truncated episode only: G4 = 1 + .5*2 = 2, G3 = 2
    expect(Array.from(monteCarloReturns(ds, { gamma: 0.5, truncation: 'infinite-horizon' }))).toEqual([2.75, 3.5, 3, 2, 2]);
  });

  it('sparse failure episodes get r_neg / (1 - gamma)', () => {
    const s = fromRewards([-1, -1, -1, -1, 0], ['', '', 'O', '', 'T']);
    const g = monteCarloReturns(s, { gamma: 0.9, sparseFailureReward: -1 });
    expect(Array.from(g.subarray(0, 3)).map((x) => +x.toFixed(4))).toEqual([-10, -10, -10]);
    expect(Array.from(g.subarray(3))).toEqual([-1, 0]);
    expect(() => monteCarloReturns(s, { gamma: 1 })).toThrow(/gamma/);
  });
});

describe('normalization', () => {
  it('computes CORL-style statistics and reward scaling', () => {
    const b = new DatasetBuilder(2, 1);
    [
      [1, 10],
      [3, 10],
      [5, 10],
    ].forEach((o, i) => b.add({ obs: o, nextObs: o, action: [0], reward: i, timeout: i === 1 }));
    const st = observationStats(b, 1e-3);
    expect(st.mean[0]).toBeCloseTo(3);
    expect(st.std[0]).toBeCloseTo(Math.sqrt(8 / 3) + 1e-3, 5);
    expect(st.std[1]).toBeCloseTo(1e-3);
    const n = normalizeObservations(b, st);
    expect(n.observations[0]).toBeCloseTo(-2 / st.std[0]!, 5);
    expect(b.observations[0]).toBe(1); // original untouched
    expect(Array.from(scaleRewards(b, { scale: 2, bias: -1 }))).toEqual([-1, 1, 3]);
    // episodes: [0, 1] return 1, [2] return 2 → scale 1000 / (2 - 1)
    expect(locomotionRewardTransform(b)).toEqual({ scale: 1000, bias: 0 });
  });
});

describe('samplers', () => {
  it('uniform sampler is seeded, fills preallocated buffers, copies rows faithfully', () => {
    const ds = withInfo(synthetic(500), 'mc_return', monteCarloReturns(synthetic(500), { gamma: 0.99 }));
    const s1 = new UniformSampler(ds, { batchSize: 64, seed: 3, info: ['mc_return'] });
    const s2 = new UniformSampler(ds, { batchSize: 64, seed: 3, info: ['mc_return'] });
    const b1 = s1.sample();
    const obs = b1.observations;
    expect(s1.sample()).toBe(b1);
    expect(b1.observations).toBe(obs);
    s2.sample();
    const b2 = s2.sample();
    expect(Array.from(b2.indices)).toEqual(Array.from(b1.indices));
    for (let b = 0; b < 64; b++) {
      const i = b1.indices[b]!;
      expect(b1.observations[b * 3]).toBe(i);
      expect(b1.nextObservations[b * 3]).toBe(i + 1);
      expect(b1.rewards[b]).toBe(ds.rewards[i]);
      expect(b1.terminals[b]).toBe(ds.terminals[i]);
      expect(b1.info.mc_return![b]).toBe(ds.info.mc_return!.data[i]);
    }
    expect(() => new UniformSampler(synthetic(5), { batchSize: 4, seed: 0, info: ['mc_return'] })).toThrow(/mc_return/);
  });

  it('mixing sampler keeps its ratio and follows a growing online dataset', () => {
    const off = synthetic(300, 3, 2, 10, 1);
    const on = new DatasetBuilder(3, 2);
    on.append(synthetic(10, 3, 2, 10, 2));
    const mix = new MixSampler(off, on, { batchSize: 256, seed: 5, offlineRatio: 0.5 });
    let offCount = 0;
    for (let k = 0; k < 20; k++) {
      const b = mix.sample();
      for (let i = 0; i < b.size; i++) offCount += b.source[i] === 0 ? 1 : 0;
      expect(b.indices.subarray(128).every((i) => i < on.size)).toBe(true);
      on.append(synthetic(10, 3, 2, 10, 3 + k));
    }
    expect(offCount).toBe(20 * 128);
    const b = mix.sample();
    expect(Math.max(...b.indices.subarray(128))).toBeGreaterThan(150); // new online rows are drawn
    const r = new MixSampler(off, on, { batchSize: 10, seed: 0, offlineRatio: 0.25 });
    expect(r.offlineCount).toBe(3);
    expect(() => new MixSampler(off, new DatasetBuilder(3, 2), { batchSize: 4, seed: 0, offlineRatio: 0.5 }).sample()).toThrow(/online dataset.*no transitions/);
  });
});
