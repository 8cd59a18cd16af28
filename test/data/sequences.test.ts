import { describe, expect, it } from 'vitest';
import { DatasetBuilder } from '../../src/data/builder.js';
import { SequenceSampler, allocSequenceBatch } from '../../src/data/sequences.js';

/** Two episodes: 3 rows (terminated) then 7 rows (timeout); obs = [row, -row], action = [10·row], reward = row. */
function twoEpisodes() {
  const b = new DatasetBuilder(2, 1);
  for (let i = 0; i < 10; i++) b.add({ obs: [i, -i], nextObs: [i + 1, -(i + 1)], action: [10 * i], reward: i, terminal: i === 2, timeout: i === 9 });
  return b.build();
}

describe('SequenceSampler (CORL dt.py SequenceDataset)', () => {
  it('takes K rows from a start inside an episode, pads past its end with mask 0, scales returns-to-go, counts timesteps within the episode', () => {
    const ds = twoEpisodes();
    const s = new SequenceSampler(ds, { batchSize: 256, length: 4, seed: 3, returnScale: 0.5 });
    const b = s.sample(allocSequenceBatch(256, 4, 2, 1));
    const rtg = [0 + 1 + 2, 1 + 2, 2, 3 + 4 + 5 + 6 + 7 + 8 + 9, 4 + 5 + 6 + 7 + 8 + 9, 5 + 6 + 7 + 8 + 9, 6 + 7 + 8 + 9, 7 + 8 + 9, 8 + 9, 9];
    const seenStarts = new Set<number>();
    for (let i = 0; i < 256; i++) {
      const row0 = b.observations[i * 4 * 2]!;
      const epStart = row0 < 3 ? 0 : 3;
      const epEnd = row0 < 3 ? 3 : 10;
      seenStarts.add(row0);
      for (let k = 0; k < 4; k++) {
        const row = row0 + k;
        const j = i * 4 + k;
        if (row < epEnd) {
          expect([b.observations[j * 2], b.observations[j * 2 + 1], b.actions[j], b.mask[j]]).toEqual([row, -row, 10 * row, 1]);
          expect(b.returnsToGo[j]).toBeCloseTo(0.5 * rtg[row]!, 6);
        } else {
          expect([b.observations[j * 2], b.observations[j * 2 + 1], b.actions[j], b.returnsToGo[j], b.mask[j]]).toEqual([0, 0, 0, 0, 0]);
        }
        expect(b.timesteps[j]).toBe(BigInt(row - epStart));
      }
    }
    // every row of both episodes is a possible start
    expect([...seenStarts].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('draws episodes in proportion to their length and starts uniformly within them, deterministically per seed', () => {
    const ds = twoEpisodes();
    const s = new SequenceSampler(ds, { batchSize: 1000, length: 2, seed: 11, returnScale: 1 });
    const b = allocSequenceBatch(1000, 2, 2, 1);
    const counts = new Array(10).fill(0);
    for (let r = 0; r < 20; r++) {
      s.sample(b);
      for (let i = 0; i < 1000; i++) counts[b.observations[i * 4]!]++;
    }
    // each of the 10 rows starts a sequence with probability 1/10 (episode ∝ length, start uniform)
    for (const c of counts) expect(Math.abs(c - 2000)).toBeLessThan(200);
    const again = new SequenceSampler(ds, { batchSize: 1000, length: 2, seed: 11, returnScale: 1 }).sample(allocSequenceBatch(1000, 2, 2, 1));
    const first = new SequenceSampler(ds, { batchSize: 1000, length: 2, seed: 11, returnScale: 1 }).sample(allocSequenceBatch(1000, 2, 2, 1));
    expect(again.observations).toEqual(first.observations);
  });

  it('clips timesteps to the embedding table and refuses a batch of another shape', () => {
    const ds = twoEpisodes();
    const s = new SequenceSampler(ds, { batchSize: 64, length: 4, seed: 1, returnScale: 1, maxTimestep: 2 });
    const b = s.sample(allocSequenceBatch(64, 4, 2, 1));
    expect(Math.max(...Array.from(b.timesteps, Number))).toBe(2);
    expect(() => s.sample(allocSequenceBatch(64, 5, 2, 1))).toThrow(/length 4/);
  });
});
