import { describe, expect, it } from 'vitest';
import { DatasetBuilder } from '../../src/data/builder.js';
import { ChunkSampler, allocChunkBatch } from '../../src/data/chunks.js';

/** Episode A: rows 0–2 (terminated); episode B: rows 3–22 (timeout). obs = [row, 10·row], action = [−row]. */
function twoEpisodes() {
  const b = new DatasetBuilder(2, 1);
  for (let i = 0; i < 23; i++) b.add({ obs: [i, 10 * i], nextObs: [i + 1, 10 * (i + 1)], action: [-i], reward: 0, terminal: i === 2, timeout: i === 22 });
  return b.build();
}

describe('ChunkSampler (diffusion_policy SequenceSampler: pad_before = nObs − 1, pad_after = nAction − 1, edge padding)', () => {
  it('every window is horizon consecutive steps of one episode, edge-padded; the first nObs give the observations', () => {
    const s = new ChunkSampler(twoEpisodes(), { batchSize: 2000, nObs: 2, horizon: 6, nAction: 3, seed: 1 });
    const b = s.sample();
    const startsA = new Map<number, number>();
    const startsB = new Map<number, number>();
    for (let i = 0; i < b.size; i++) {
      const acts = Array.from(b.actions.subarray(i * 6, i * 6 + 6), (x) => -x);
      const inA = acts[acts.length - 1]! <= 2;
      const [lo, hi] = inA ? [0, 2] : [3, 22];
      // reconstruct the window's start from its actions: rows are begin+k clamped into [lo, hi]
      const begin = acts[1]! === lo && acts[0]! === lo ? lo - 1 : acts[0]!;
      for (let k = 0; k < 6; k++) expect(acts[k]).toBe(Math.min(hi, Math.max(lo, begin + k)));
      for (let k = 0; k < 2; k++) expect([b.observations[(i * 2 + k) * 2], b.observations[(i * 2 + k) * 2 + 1]]).toEqual([acts[k]!, 10 * acts[k]!]);
      const m = inA ? startsA : startsB;
      m.set(begin - lo, (m.get(begin - lo) ?? 0) + 1);
    }
    // A (3 steps) is shorter than a window: its only start is −1. B (20 steps): starts −1 … 16.
    expect([...startsA.keys()]).toEqual([-1]);
    expect([...startsB.keys()].sort((x, y) => x - y)).toEqual(Array.from({ length: 18 }, (_, k) => k - 1));
    // windows are drawn uniformly: A has 1 of the 19
    const nA = startsA.get(-1)!;
    expect(Math.abs(nA / 2000 - 1 / 19)).toBeLessThan(0.02);
  });

  it('is deterministic per seed and refuses impossible shapes and foreign batches', () => {
    const ds = twoEpisodes();
    const a = new ChunkSampler(ds, { batchSize: 8, nObs: 2, horizon: 6, nAction: 3, seed: 5 }).sample();
    const b = new ChunkSampler(ds, { batchSize: 8, nObs: 2, horizon: 6, nAction: 3, seed: 5 }).sample();
    expect(a.actions).toEqual(b.actions);
    expect(() => new ChunkSampler(ds, { batchSize: 8, nObs: 2, horizon: 4, nAction: 4, seed: 0 })).toThrow(/nObs − 1 \+ nAction ≤ horizon/);
    const s = new ChunkSampler(ds, { batchSize: 8, nObs: 2, horizon: 6, nAction: 3, seed: 0 });
    expect(() => s.sample(allocChunkBatch(8, 2, 8, 2, 1))).toThrow(/allocChunkBatch/);
  });
});
