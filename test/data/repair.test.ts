import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/dataset.js';
import { nextObservationsOf } from '../../src/data/next-obs.js';
import { formatRepairReport, repairDataset } from '../../src/data/commands.js';
import { scanMcap } from '../../src/data/formats/mcap-io.js';
import { createStore, openStore } from '../../src/data/formats/mcap-store.js';
import { expectSameDataset, synthetic } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'o2o-repair-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(root, `ds${n++}`);
const re = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);

/** 3000 rows in 6 batches of 500 (one chunk each) in seg-0000.mcap; returns chunk offsets. */
async function sixChunks(compression: 'zstd' | 'none' = 'zstd'): Promise<{ dir: string; seg: string; ds: Dataset; offs: number[]; bytes: Buffer }> {
  const dir = fresh();
  const ds = synthetic(3000, 3, 2, 100);
  const st = createStore(dir, { obsDim: 3, actDim: 2, envId: 'toy-v0', infoDims: { extra: 1 } });
  await st.append(ds, { batchRows: 500, compression });
  const seg = join(dir, 'seg-0000.mcap');
  const offs: number[] = [];
  scanMcap(seg, { onMessage: (m) => void (offs[m.chunkIndex] = m.chunkOffset) });
  expect(offs).toHaveLength(6);
  return { dir, seg, ds, offs, bytes: readFileSync(seg) };
}

/** Rows `rows` of `ds`, column by column (next observations included). */
function rowsOf(ds: Dataset, rows: number[]): Record<string, number[]> {
  const o = ds.obsDim;
  const a = ds.actDim;
  const col = (f: (i: number) => ArrayLike<number>): number[] => rows.flatMap((i) => Array.from(f(i)));
  return {
    observations: col((i) => ds.observations.subarray(i * o, (i + 1) * o)),
    nextObservations: col((i) => nextObservationsOf(ds, i, i + 1)),
    actions: col((i) => ds.actions.subarray(i * a, (i + 1) * a)),
    rewards: col((i) => [ds.rewards[i]!]),
    terminals: col((i) => [ds.terminals[i]!]),
    timeouts: col((i) => [ds.timeouts[i]!]),
    episodeIds: col((i) => [ds.episodeIds[i]!]),
    extra: col((i) => [ds.info.extra!.data[i]!]),
  };
}

async function expectRows(dir: string, ds: Dataset, rows: number[]): Promise<void> {
  const r = await openStore(dir).read({ verifyChecksums: true });
  expect(r.dataset.size).toBe(rows.length);
  expect(rowsOf(r.dataset, range(0, r.dataset.size))).toEqual(rowsOf(ds, rows));
  expect(r.partials).toHaveLength(0);
  expect(openStore(dir).manifest.counts.transitions).toBe(rows.length);
}

describe('repair of damaged finalized segments', () => {
  it('a flipped byte in a zstd chunk: read names file/chunk/byte, repair keeps every other batch and names the lost one', async () => {
    const { dir, seg, ds, offs, bytes } = await sixChunks();
    const bad = Buffer.from(bytes);
    bad[offs[2]! + 9 + 44 + 200]! ^= 0x55; // inside chunk 2's compressed records (header: 44 bytes with 'zstd')
    writeFileSync(seg, bad);
    await expect(openStore(dir).read()).rejects.toThrow(new RegExp(`${re(seg)}: byte ${offs[2]}: chunk 2: .*; .*run 'o2o dataset repair ${re(dir)}'`));

    const rep = await repairDataset(dir);
    expect(rep.salvaged).toHaveLength(1);
    expect(rep.salvaged[0]).toMatchObject({ segment: 'seg-0000.mcap', keptAs: 'seg-0000.mcap.damaged', keptTransitions: 2500, keptBatches: 5, lostTransitions: 500 });
    expect(rep.salvaged[0]!.dropped).toEqual([
      expect.objectContaining({ file: 'seg-0000.mcap', chunkIndex: 2, offset: offs[2], resynced: false, robotId: 'local', firstSequence: 1000, transitions: 500 }),
    ]);
    expect(readFileSync(join(dir, 'seg-0000.mcap.damaged')).equals(bad)).toBe(true); // nothing destroyed
    expect(readdirSync(dir).filter((f) => f.endsWith('.repair'))).toEqual([]);
    await expectRows(dir, ds, [...range(0, 1000), ...range(1500, 3000)]);
    const text = formatRepairReport(dir, rep);
    expect(text).toMatch(new RegExp(`dropped chunk 2 at byte ${offs[2]} .*500 transitions of robot 'local', sequence 1000–1499`));
    expect(text).toMatch(/2500 transitions/);
    // repaired: a second repair has nothing to do
    expect(await repairDataset(dir)).toEqual({ repaired: [], removedEmpty: [], removedStale: [], registered: [], salvaged: [], recounted: [] });
  });

  it('an uncompressed chunk with a CRC mismatch: the lost batch is named from its own header', async () => {
    const { dir, seg, ds, offs, bytes } = await sixChunks('none');
    const bad = Buffer.from(bytes);
    bad[offs[3]! + 9 + 40 + 400]! ^= 0x01; // an observation byte of chunk 3
    writeFileSync(seg, bad);
    await expect(openStore(dir).read()).rejects.toThrow(new RegExp(`byte ${offs[3]}: chunk 3: CRC mismatch; .*o2o dataset repair ${re(dir)}`));
    const rep = await repairDataset(dir);
    expect(rep.salvaged[0]!.dropped).toEqual([
      expect.objectContaining({ chunkIndex: 3, offset: offs[3], known: 'header', robotId: 'local', firstSequence: 1500, transitions: 500 }),
    ]);
    await expectRows(dir, ds, [...range(0, 1500), ...range(2000, 3000)]);
  });

  it('broken framing (a chunk length overwritten, garbage inserted, bytes cut out): every later intact chunk is salvaged', async () => {
    const { dir, seg, ds, offs, bytes } = await sixChunks();
    // 1. chunk 2's length field overwritten: it runs past the end of the file
    const a = Buffer.from(bytes);
    a.fill(0xff, offs[2]! + 1, offs[2]! + 9);
    writeFileSync(seg, a);
    await expect(openStore(dir).read()).rejects.toThrow(/seg-0000\.mcap: byte \d+: .*chunk 2.*runs past the end.*o2o dataset repair/);
    let rep = await repairDataset(dir);
    expect(rep.salvaged[0]!.dropped).toEqual([
      expect.objectContaining({ chunkIndex: 2, offset: offs[2], resynced: true, known: 'sequence gap', firstSequence: 1000, transitions: 500 }),
    ]);
    await expectRows(dir, ds, [...range(0, 1000), ...range(1500, 3000)]);

    // 2. 777 bytes of garbage inserted in the middle of chunk 4 (of the repaired segment)
    const offs2: number[] = [];
    scanMcap(seg, { onMessage: (m) => void (offs2[m.chunkIndex] = m.chunkOffset) });
    const cur = readFileSync(seg);
    const garbage = Buffer.alloc(777, 0);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 131 + 7) & 0xff;
    const mid = offs2[3]! + 300; // batch at sequence 2000
    writeFileSync(seg, Buffer.concat([cur.subarray(0, mid), garbage, cur.subarray(mid)]));
    await expect(openStore(dir).read()).rejects.toThrow(/seg-0000\.mcap: byte \d+: .*o2o dataset repair/);
    rep = await repairDataset(dir);
    expect(rep.salvaged[0]).toMatchObject({ keptAs: 'seg-0000.mcap.damaged.1', keptTransitions: 2000, lostTransitions: 500 });
    expect(rep.salvaged[0]!.dropped).toEqual([expect.objectContaining({ chunkIndex: 3, offset: offs2[3], known: 'sequence gap', firstSequence: 2000, transitions: 500 })]);
    await expectRows(dir, ds, [...range(0, 1000), ...range(1500, 2000), ...range(2500, 3000)]);
  });

  it('bytes cut out of the middle: the chunks after the cut are salvaged', async () => {
    const { dir, seg, ds, offs, bytes } = await sixChunks();
    writeFileSync(seg, Buffer.concat([bytes.subarray(0, offs[1]! + 1000), bytes.subarray(offs[2]! + 2000)])); // end of chunk 1 … start of chunk 2
    await expect(openStore(dir).read()).rejects.toThrow(/seg-0000\.mcap: byte \d+: .*o2o dataset repair/);
    const rep = await repairDataset(dir);
    expect(rep.salvaged[0]).toMatchObject({ keptTransitions: 2000, lostTransitions: 1000 });
    expect(rep.salvaged[0]!.dropped).toEqual([
      expect.objectContaining({ chunkIndex: 1, offset: offs[1], resynced: true, robotId: 'local', firstSequence: 500, transitions: 1000 }),
    ]);
    await expectRows(dir, ds, [...range(0, 500), ...range(1500, 3000)]);
  });

  it('a partial damaged in the middle keeps the intact chunks after the damage', async () => {
    const { dir, seg, ds, offs, bytes } = await sixChunks();
    // a crashed writer's partial (cut inside chunk 5), with chunk 1 rotten as well
    const part = Buffer.from(bytes.subarray(0, offs[5]! + 700));
    part[offs[1]! + 9 + 44 + 100]! ^= 0x10;
    unlinkSync(seg);
    writeFileSync(`${seg}.partial`, part);
    const before = await openStore(dir).read();
    expect(before.dataset.size).toBe(500); // reading stops at the first bad chunk
    const rep = await repairDataset(dir);
    expect(rep.repaired).toHaveLength(1);
    expect(rep.repaired[0]).toMatchObject({ partial: 'seg-0000.mcap.partial', segment: 'seg-0000.mcap', transitions: 2000, keptAs: 'seg-0000.mcap.partial.damaged' });
    expect(rep.repaired[0]!.dropped).toEqual([
      expect.objectContaining({ chunkIndex: 1, offset: offs[1], robotId: 'local', firstSequence: 500, transitions: 500 }),
      expect.objectContaining({ chunkIndex: 5, offset: offs[5], bytes: 700 }),
    ]);
    expect(existsSync(`${seg}.partial`)).toBe(false);
    expect(readFileSync(`${seg}.partial.damaged`).equals(part)).toBe(true);
    await expectRows(dir, ds, [...range(0, 500), ...range(1000, 2500)]);
  });
});

describe('rebuilding manifest.json', () => {
  async function twoSegments(): Promise<{ dir: string; ds: Dataset; manifest: string }> {
    const dir = fresh();
    const st = createStore(dir, { obsDim: 3, actDim: 2, envId: 'toy-v0', infoDims: { extra: 1 }, behaviorPolicy: 'ars', refScores: { random: -1, expert: 5 } });
    await st.append(synthetic(1200, 3, 2, 100), { batchRows: 500 });
    await st.append(synthetic(700, 3, 2, 70, 1), { batchRows: 300, robotId: 'robot-b' });
    const ds = (await openStore(dir).read()).dataset;
    return { dir, ds, manifest: readFileSync(join(dir, 'manifest.json'), 'utf8') };
  }
  const same = (a: string, b: string): void => {
    const strip = (t: string): unknown => {
      const m = JSON.parse(t) as Record<string, unknown>;
      delete m.updatedAt;
      return m;
    };
    expect(strip(a)).toEqual(strip(b));
  };

  it('a deleted manifest: openStore says to run repair, repair rebuilds it and the data reads back the same', async () => {
    const { dir, ds, manifest } = await twoSegments();
    unlinkSync(join(dir, 'manifest.json'));
    expect(() => openStore(dir)).toThrow(new RegExp(`no manifest\\.json, but the folder holds 2 segment file\\(s\\); run 'o2o dataset repair ${re(dir)}'`));
    const rep = await repairDataset(dir);
    expect(rep.manifest).toMatchObject({ reason: 'manifest.json was missing', obsDim: 3, actDim: 2, envId: 'toy-v0', infoDims: { extra: 1 } });
    expect(rep.registered).toEqual(['seg-0000.mcap', 'seg-0001.mcap']);
    expect(formatRepairReport(dir, rep)).toMatch(/manifest\.json was missing: rebuilt it from the segments[\s\S]*1900 transitions, 22 episodes in 2 segments/);
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    const old = JSON.parse(manifest) as Record<string, unknown>;
    expect(m.counts).toEqual(old.counts);
    expect(m.segments).toEqual(old.segments);
    const r = await openStore(dir).read({ verifyChecksums: true });
    expectSameDataset(r.dataset, ds, { info: true });
    expect(r.nextSequence).toEqual({ local: 1200, 'robot-b': 700 });
  });

  it('a truncated manifest: rebuilt (fields that survive in the text are kept), the old one kept as .damaged', async () => {
    const { dir, ds, manifest } = await twoSegments();
    const cut = manifest.slice(0, manifest.indexOf('"counts"') + 5);
    writeFileSync(join(dir, 'manifest.json'), cut);
    expect(() => openStore(dir)).toThrow(new RegExp(`manifest is not valid JSON .*; run 'o2o dataset repair ${re(dir)}'`));
    const rep = await repairDataset(dir);
    expect(rep.manifest).toMatchObject({ keptAs: 'manifest.json.damaged', envId: 'toy-v0' });
    expect(rep.manifest!.reason).toMatch(/^manifest\.json was corrupt \(manifest is not valid JSON/);
    expect(readFileSync(join(dir, 'manifest.json.damaged'), 'utf8')).toBe(cut);
    same(readFileSync(join(dir, 'manifest.json'), 'utf8'), manifest); // behaviorPolicy, refScores, createdAt read back from the text
    expectSameDataset((await openStore(dir).read({ verifyChecksums: true })).dataset, ds, { info: true });
  });

  it('a manifest cut before the spec, with a damaged segment: the spec comes from the segments', async () => {
    const { dir, ds } = await twoSegments();
    writeFileSync(join(dir, 'manifest.json'), '{"format": "o2o-dat');
    const seg = join(dir, 'seg-0001.mcap');
    const b = readFileSync(seg);
    let first = 0;
    scanMcap(seg, { onMessage: (m) => void (m.chunkIndex === 0 ? (first = m.chunkOffset) : 0) });
    const bad = Buffer.from(b);
    bad[first + 9 + 44 + 50]! ^= 0x40; // robot-b's first batch (300 rows; its chunk also holds the schema and channel)
    writeFileSync(seg, bad);
    const rep = await repairDataset(dir);
    expect(rep.manifest).toMatchObject({ obsDim: 3, actDim: 2, envId: 'toy-v0', infoDims: { extra: 1 } });
    expect(rep.manifest!.notes.join('\n')).toMatch(/behaviorPolicy and refScores are not stored in segments/);
    expect(rep.salvaged).toEqual([expect.objectContaining({ segment: 'seg-0001.mcap', keptTransitions: 400 })]);
    expect(rep.salvaged[0]!.dropped).toEqual([expect.objectContaining({ chunkIndex: 0, offset: first })]);
    await expectRows(dir, ds, [...range(0, 1200), ...range(1500, 1900)]);
  });
});
