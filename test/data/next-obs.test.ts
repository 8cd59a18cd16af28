import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetBuilder, type TransitionInput } from '../../src/data/builder.js';
import { datasetBytes, sliceDataset, validateDataset, type Dataset } from '../../src/data/dataset.js';
import { exportD4rl, importD4rl } from '../../src/data/formats/hdf5.js';
import { createStore, openStore } from '../../src/data/formats/mcap-store.js';
import { encodeTransitionBatch } from '../../src/data/formats/transition-codec.js';
import { FinalObservations, nextObsBytes, nextObsRow, withExplicitNext, withImplicitNext } from '../../src/data/next-obs.js';
import { normalizeObservations, observationStats } from '../../src/data/normalization.js';
import { MixSampler, UniformSampler, type Batch } from '../../src/data/samplers.js';
import { Rng } from '../../src/util/rng.js';
import { expectSameDataset } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'o2o-next-obs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/**
 * Recorded-rollout transitions: inside an episode the next observation is the following row's
 * observation. Episodes end alternately in a terminal, a timeout, and an episode-id change with no
 * flag; `odd` rows get a next observation that differs from the following row (a sensor glitch),
 * one of them only in the sign of a zero.
 */
function rollouts(n: number, o = 3, a = 2, epLen = 7, odd: number[] = []): TransitionInput[] {
  const rng = new Rng(5);
  const rows: TransitionInput[] = [];
  let obs = Array.from({ length: o }, () => rng.normal());
  for (let i = 0; i < n; i++) {
    const t = i % epLen;
    const ep = Math.floor(i / epLen);
    const last = t === epLen - 1;
    const next = Array.from({ length: o }, () => rng.normal());
    if (i === 3) next[1] = 0; // the following row's observation gets -0 below
    const row: TransitionInput = {
      obs,
      nextObs: next,
      action: Array.from({ length: a }, () => rng.uniform(-1, 1)),
      reward: rng.normal(),
      terminal: last && ep % 3 === 0,
      timeout: last && ep % 3 === 1,
      episodeId: ep,
      info: { mc: [i] },
    };
    rows.push(row);
    obs = last ? Array.from({ length: o }, () => rng.normal()) : next.slice();
    if (odd.includes(i)) row.nextObs = next.map((v, k) => (k === 0 ? v + 1e-3 : v));
    if (i === 3) obs[1] = -0;
  }
  return rows;
}

function build(rows: TransitionInput[], mode: 'auto' | 'implicit' | 'explicit' = 'auto', o = 3, a = 2): DatasetBuilder {
  const b = new DatasetBuilder(o, a, { capacity: 4, infoDims: { mc: 1 }, nextObservations: mode });
  for (const r of rows) b.add(r);
  return b;
}

function expectSameBatch(x: Batch, y: Batch): void {
  for (const k of ['observations', 'actions', 'rewards', 'nextObservations', 'terminals', 'timeouts', 'indices', 'source'] as const) {
    expect(Array.from(x[k]), k).toEqual(Array.from(y[k]));
  }
  expect(Array.from(x.info.mc!)).toEqual(Array.from(y.info.mc!));
}

/** Next observation of each row equals the recorded one, bit for bit. */
function expectNextAsRecorded(ds: Dataset, rows: TransitionInput[]): void {
  const out = new Float32Array(ds.obsDim);
  for (let i = 0; i < rows.length; i++) {
    nextObsRow(ds, i, out);
    const want = Float32Array.from(rows[i]!.nextObs);
    for (let k = 0; k < ds.obsDim; k++) expect(Object.is(out[k], want[k]), `row ${i} dim ${k}`).toBe(true);
  }
}

describe('implicit next observations', () => {
  const rows = rollouts(60, 3, 2, 7, [10, 24]);

  it('store only episode ends, the last row and rows whose next observation differs', () => {
    const ds = build(rows).build();
    expect(ds.nextObservations).toBeNull();
    const f = ds.finalObservations!;
    const stored = Array.from({ length: f.count }, (_, k) => f.rowAt(k));
    // episode ends (terminal 6, timeout 13, id change 20, ...), glitches 10 and 24, -0 row 3, last row 59
    const ends = Array.from({ length: 8 }, (_, e) => 7 * e + 6);
    expect(stored).toEqual([3, ...ends.slice(0, 2), 10, ...ends.slice(2, 3), 24, ...ends.slice(3), 59].sort((x, y) => x - y));
    validateDataset(ds);
    expectNextAsRecorded(ds, rows);
  });

  it('sample the same batches as explicit next observations, episode ends included', () => {
    const imp = build(rows).build();
    const expl = build(rows, 'explicit').build();
    expect(expl.nextObservations).not.toBeNull();
    expectSameDataset(imp, expl, { info: true });
    expectSameDataset(withExplicitNext(imp), expl);
    expect(withImplicitNext(expl).finalObservations!.count).toBe(imp.finalObservations!.count);
    const si = new UniformSampler(imp, { batchSize: 64, seed: 3, info: ['mc'] });
    const se = new UniformSampler(expl, { batchSize: 64, seed: 3, info: ['mc'] });
    let terminal = 0;
    let timeout = 0;
    for (let k = 0; k < 20; k++) {
      const bi = si.sample();
      expectSameBatch(bi, se.sample());
      for (let b = 0; b < 64; b++) {
        terminal += bi.terminals[b]!;
        timeout += bi.timeouts[b]!;
        // the next observation in the batch is the recorded one
        const want = Float32Array.from(rows[bi.indices[b]!]!.nextObs);
        expect(Array.from(bi.nextObservations.subarray(b * 3, b * 3 + 3))).toEqual(Array.from(want));
      }
    }
    expect(terminal).toBeGreaterThan(0);
    expect(timeout).toBeGreaterThan(0);
  });

  it('mix sampling from a growing implicit builder matches an explicit one', () => {
    const off = build(rows).build();
    const onImp = new DatasetBuilder(3, 2, { infoDims: { mc: 1 } });
    const onExp = new DatasetBuilder(3, 2, { infoDims: { mc: 1 }, nextObservations: 'explicit' });
    const mi = new MixSampler(off, onImp, { batchSize: 16, seed: 1, offlineRatio: 0.5, info: ['mc'] });
    const me = new MixSampler(withExplicitNext(off), onExp, { batchSize: 16, seed: 1, offlineRatio: 0.5, info: ['mc'] });
    for (const r of rows) {
      onImp.add(r);
      onExp.add(r);
      expectSameBatch(mi.sample(), me.sample());
    }
  });

  it('slices, appends, normalizes and maps observations like the explicit form', () => {
    const imp = build(rows).build();
    const expl = withExplicitNext(imp);
    for (const [s, e] of [
      [0, 60],
      [2, 5],
      [8, 13],
      [20, 21],
      [40, 60],
      [59, 60],
    ] as const) {
      const si = sliceDataset(imp, s, e);
      validateDataset(si);
      expectSameDataset(si, sliceDataset(expl, s, e));
      expectSameDataset(sliceDataset(imp, s, e, { copy: false }), sliceDataset(expl, s, e));
    }
    // append implicit and explicit sources in pieces, into implicit and explicit builders
    for (const mode of ['auto', 'explicit'] as const) {
      for (const src of [imp, expl]) {
        const b = new DatasetBuilder(3, 2, { infoDims: { mc: 1 }, nextObservations: mode });
        b.append(src, 0, 9);
        b.append(src, 9, 30);
        b.append(src, 30, 60);
        expect(b.nextObservations === null).toBe(mode === 'auto');
        validateDataset(b);
        expectSameDataset(b.build({ compact: true }), expl, { info: true });
      }
    }
    const stats = observationStats(imp);
    expectSameDataset(normalizeObservations(imp, stats), normalizeObservations(expl, stats));
    // the online learner's way: append a range, then normalize that range in place
    const norm = normalizeObservations(expl, stats);
    for (const mode of ['auto', 'explicit'] as const) {
      const b = new DatasetBuilder(3, 2, { infoDims: { mc: 1 }, nextObservations: mode });
      for (const [s, e] of [
        [0, 4],
        [4, 5],
        [5, 31],
        [31, 60],
      ] as const) {
        b.append(expl, s, e);
        b.mapObservations(s, e, (v, p) => {
          for (let k = 0; k < 3; k++) v[p + k] = (v[p + k]! - stats.mean[k]!) / stats.std[k]!;
        });
      }
      expectSameDataset(b, norm);
    }
  });

  it('encode to the same TransitionBatch bytes as the explicit form', () => {
    const imp = build(rows).build();
    const expl = withExplicitNext(imp);
    for (const [s, e] of [
      [0, 60],
      [5, 27],
      [13, 14],
    ] as const) {
      expect(Buffer.from(encodeTransitionBatch(imp, s, e)).equals(Buffer.from(encodeTransitionBatch(expl, s, e)))).toBe(true);
    }
  });
});

describe('next observations that are not the following row', () => {
  it('are kept exactly, with or without the implicit form, through the store and D4RL files', async () => {
    // every row's next observation differs from the following row's observation (e.g. a D4RL
    // file whose next_observations were recorded separately), plus -0 / +0 and last-bit cases
    const n = 600;
    const rng = new Rng(9);
    const rows: TransitionInput[] = [];
    for (let i = 0; i < n; i++) {
      const obs = [i, rng.normal(), 0];
      const next = [i + 1, rng.normal(), i % 2 ? -0 : 0];
      rows.push({ obs, nextObs: next, action: [rng.uniform(-1, 1)], reward: rng.normal(), timeout: i % 100 === 99, episodeId: Math.floor(i / 100) });
    }
    // the following row's obs[2] is +0 where next[2] is -0; one row differs in its last bit only
    rows[200]!.nextObs = [201, rng.normal(), 0];
    rows[201]!.obs = [201, rows[200]!.nextObs[1]!, 0];
    rows[300]!.nextObs = [301, 1, 0];
    rows[301]!.obs = [301, 1 + 2 ** -23, 0];
    const auto = new DatasetBuilder(3, 1);
    const forced = new DatasetBuilder(3, 1, { nextObservations: 'implicit' });
    for (const r of rows) {
      auto.add(r);
      forced.add(r);
    }
    expect(auto.nextObservations).not.toBeNull(); // most rows need theirs: an explicit column
    expect(forced.nextObservations).toBeNull();
    expect(forced.finalObservations!.has(200)).toBe(false); // the one matching row stays implicit
    expect(forced.finalObservations!.has(300)).toBe(true);
    for (const ds of [auto.build(), forced.build({ compact: true })]) {
      validateDataset(ds);
      expectNextAsRecorded(ds, rows);
      const dir = join(root, `store-${ds.nextObservations ? 'x' : 'i'}`);
      await (await createStore(dir, { obsDim: 3, actDim: 1 })).append(ds);
      const back = (await openStore(dir).read()).dataset;
      expectNextAsRecorded(back, rows);
      expectSameDataset(back, ds);
      const file = join(root, `d4rl-${ds.nextObservations ? 'x' : 'i'}.hdf5`);
      await exportD4rl(ds, file);
      const imported = (await importD4rl(file)).dataset;
      expectNextAsRecorded(imported, rows);
      expectSameDataset(imported, ds);
    }
  });

  it('a D4RL file with contiguous rows imports implicit and exports the same next_observations', async () => {
    const rows = rollouts(300, 3, 2, 50, [17]);
    const expl = build(rows, 'explicit').build();
    const file = join(root, 'contiguous.hdf5');
    await exportD4rl(expl, file);
    const { dataset } = await importD4rl(file);
    expect(dataset.nextObservations).toBeNull();
    // D4RL files carry no episode ids (they come from the flags): compare the observations
    expect(Array.from(dataset.observations)).toEqual(Array.from(expl.observations));
    expectNextAsRecorded(dataset, rows);
    const again = join(root, 'contiguous-again.hdf5');
    await exportD4rl(dataset, again);
    expectSameDataset((await importD4rl(again)).dataset, dataset);
  });

  it('validation names a broken implicit table', () => {
    const ds = build(rollouts(20)).build();
    const f = ds.finalObservations!;
    const rowsOf = Array.from({ length: f.count }, (_, k) => f.rowAt(k));
    const noLast = FinalObservations.from(3, rowsOf.slice(0, -1), f.data.slice(0, (f.count - 1) * 3));
    expect(() => validateDataset({ ...ds, finalObservations: noLast }, 'x')).toThrow(/x: row 19: the last row has no stored next observation/);
    const nan = f.withValues(f.data.slice());
    nan.data[3 * 1 + 2] = NaN;
    expect(() => validateDataset({ ...ds, finalObservations: nan }, 'x')).toThrow(new RegExp(`row ${f.rowAt(1)}: next_observations contains NaN at column 2`));
    expect(() => validateDataset({ ...ds, nextObservations: new Float32Array(60) })).toThrow(/both/);
    expect(() => validateDataset({ ...ds, finalObservations: null })).toThrow(/neither/);
  });
});

describe('memory', () => {
  it('contiguous data holds next observations in a small fraction of an explicit column', () => {
    const o = 17;
    const n = 20_000;
    const b = new DatasetBuilder(o, 6, { capacity: n + 1, validate: false });
    const rng = new Rng(2);
    b.reserve(n + 1);
    rng.fillNormal(b.observations.subarray(0, (n + 1) * o));
    for (let i = 999; i < n; i += 1000) b.timeouts[i] = 1;
    for (let i = 0; i < n; i++) b.episodeIds[i] = Math.floor(i / 1000);
    b.commit(n, b.observations.subarray(o, (n + 1) * o));
    const imp = b.build();
    const expl = withExplicitNext(imp);
    expect(imp.finalObservations!.count).toBe(20); // one per 1000-step episode
    const nextExplicit = 4 * n * o;
    expect(nextObsBytes(expl)).toBe(nextExplicit);
    expect(nextObsBytes(imp)).toBeLessThan(0.01 * nextExplicit);
    // the whole dataset: the next-observation column was half of the float bytes for obs 17
    expect(datasetBytes(expl) - datasetBytes(imp)).toBeGreaterThan(0.99 * nextExplicit);
    expect(datasetBytes(imp)).toBeLessThan(0.61 * datasetBytes(expl)); // 102 vs 170 bytes a row
    expectSameDataset(imp, expl);
  });
});
