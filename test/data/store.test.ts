import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetBuilder } from '../../src/data/builder.js';
import { scanMcap } from '../../src/data/formats/mcap-io.js';
import { createStore, openStore } from '../../src/data/formats/mcap-store.js';
import { appendDecoded, decodeTransitionBatch, encodeTransitionBatch } from '../../src/data/formats/transition-codec.js';
import { o2oFileDescriptorSet, o2oType, PROTO_PATH } from '../../src/data/schema/proto.js';
import { nextObservationsOf } from '../../src/data/next-obs.js';
import { expectSameDataset, synthetic } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'o2o-store-'));
const children: { kill(sig: NodeJS.Signals): boolean }[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});
let n = 0;
const fresh = (): string => join(root, `ds${n++}`);
const hasProtoc = spawnSync('protoc', ['--version']).status === 0;

describe('TransitionBatch codec', () => {
  it('agrees with protobufjs in both directions', () => {
    const ds = synthetic(37, 4, 2);
    const bytes = encodeTransitionBatch(ds, 5, 30, { robotId: 'r1', firstSequence: 2 ** 40 + 3, policyVersion: 'v7', timeUnixNs: 1.7e18 });
    const T = o2oType('TransitionBatch');
    const obj = T.toObject(T.decode(bytes), { longs: Number }) as Record<string, unknown>;
    expect(obj.robot_id).toBe('r1');
    expect(obj.first_sequence).toBe(2 ** 40 + 3);
    expect(obj.count).toBe(25);
    expect((obj.observations as number[]).slice(0, 4)).toEqual(Array.from(ds.observations.subarray(20, 24)));
    expect(obj.terminals as boolean[]).toEqual(Array.from(ds.terminals.subarray(5, 30), (v) => v === 1));
    expect(obj.episode_ids).toEqual(Array.from(ds.episodeIds.subarray(5, 30)));
    expect((obj.info as { name: string }[])[0]!.name).toBe('extra');
    // protobufjs-encoded bytes decode with the fast decoder
    const again = T.encode(T.fromObject(obj)).finish();
    const b = new DatasetBuilder(4, 2, { infoDims: { extra: 1 } });
    const d = decodeTransitionBatch(again);
    appendDecoded(b, d);
    expect(d.firstSequence).toBe(2 ** 40 + 3);
    expect(Array.from(nextObservationsOf(b.build()))).toEqual(Array.from(nextObservationsOf(ds, 5, 30)));
    expect(Array.from(b.build().info.extra!.data)).toEqual(Array.from(ds.info.extra!.data.subarray(5, 30)));
  });

  it('rejects truncated and inconsistent messages with the position', () => {
    const bytes = encodeTransitionBatch(synthetic(10), 0, 10);
    expect(() => decodeTransitionBatch(bytes.subarray(0, bytes.length - 7), 'x')).toThrow(/x: malformed TransitionBatch .*runs past the end.*repair/);
  });
});

describe('native MCAP store', () => {
  it('round-trips bit-exactly through segments, appends keep episodes apart', async () => {
    const dir = fresh();
    const ds = synthetic(5000, 5, 3, 100);
    const st = createStore(dir, { obsDim: 5, actDim: 3, envId: 'test-v0', infoDims: { extra: 1 }, refScores: { random: 0, expert: 100 } });
    await st.append(ds, { batchRows: 700 });
    await st.append(ds);
    const r = await openStore(dir).read({ verifyChecksums: true });
    expect(r.dataset.size).toBe(10000);
    const first = { ...r.dataset, size: 5000 };
    expectSameDataset(first, ds, { info: false });
    expect(r.dataset.episodeIds[5000]).toBe(50); // shifted past stored episodes
    expect(Array.from(r.dataset.info.extra!.data.subarray(0, 5000))).toEqual(Array.from(ds.info.extra!.data));
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(m.counts).toEqual({ transitions: 10000, episodes: 100, segments: 2 });
    expect(m.segments[0].sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(r.dataset.meta.refScores).toEqual({ random: 0, expert: 100 });
  });

  it('embeds o2o.proto as a FileDescriptorSet that protoc decodes with', async () => {
    if (!hasProtoc) return expect.soft(hasProtoc, 'protoc missing (apt-get install -y protobuf-compiler); skipped').toBe(true);
    const dir = fresh();
    const st = createStore(dir, { obsDim: 3, actDim: 2 });
    await st.append(synthetic(20));
    const file = join(dir, 'seg-0000.mcap');
    let msg: Uint8Array | undefined;
    let schema: Uint8Array | undefined;
    scanMcap(file, { onMessage: (m) => ((msg = m.data), (schema = m.schema?.data), expect(m.schema?.encoding).toBe('protobuf')) });
    writeFileSync(join(dir, 'fds.bin'), schema!);
    writeFileSync(join(dir, 'msg.bin'), msg!);
    const viaSchema = spawnSync('protoc', [`--descriptor_set_in=${join(dir, 'fds.bin')}`, '--decode=o2o.TransitionBatch', 'o2o.proto'], { input: msg });
    expect(viaSchema.stderr.toString()).toBe('');
    const out = viaSchema.stdout.toString();
    expect(out).toContain('robot_id: "local"');
    expect(out).toContain('count: 20');
    expect(out).toMatch(/observations: 19\n/);
    const viaProto = spawnSync('protoc', ['-I', join(PROTO_PATH, '..'), '--decode=o2o.TransitionBatch', 'o2o.proto'], { input: msg });
    expect(viaProto.stdout.toString()).toBe(out);
    expect(o2oFileDescriptorSet().length).toBeGreaterThan(500);
  });

  it('recovers every complete chunk after SIGKILL, no duplicates, and appends continue', async () => {
    const dir = fresh();
    createStore(dir, { obsDim: 3, actDim: 2 });
    // `node --import tsx` (what `npx tsx` runs) in one process, so SIGKILL hits the writer itself.
    const child = spawn(process.execPath, ['--import', 'tsx', join(process.cwd(), 'test/data/append-child.ts'), dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', () => resolve());
      child.on('exit', (c) => reject(new Error(`child exited ${c}: ${err}`)));
    });
    const partial = join(dir, 'seg-0000.mcap.partial');
    while (statSync(partial).size < 300_000) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));

    const st = openStore(dir);
    const r1 = await st.read();
    const k = r1.dataset.size;
    expect(k).toBeGreaterThan(0);
    expect(k % 100).toBe(0);
    for (let i = 0; i < k; i++) expect(r1.dataset.observations[3 * i]).toBe(i);
    expect(r1.partials[0]!.transitions).toBe(k);
    expect(r1.nextSequence['robot-a']).toBe(k);

    // the next append continues after the recovered rows (dead writer's lock is taken over)
    const app = await st.openAppender({ robotId: 'robot-a' });
    expect(app.nextSequence).toBe(k);
    const more = new DatasetBuilder(3, 2);
    for (let i = k; i < k + 250; i++) more.add({ obs: [i, 1, 2], nextObs: [i + 1, 1, 2], action: [0, 0], reward: 1 });
    await app.append(more);
    await app.close();
    // replaying an already-stored batch is refused
    const app2 = await st.openAppender({ robotId: 'robot-a' });
    expect(await app2.appendEncoded(encodeTransitionBatch(more, 0, 10, { robotId: 'robot-a', firstSequence: k }))).toBe(false);
    await app2.abort();

    const rep = await st.repair();
    expect(rep.repaired).toHaveLength(1);
    expect(existsSync(partial)).toBe(false);
    const r2 = await openStore(dir).read({ verifyChecksums: true });
    expect(r2.dataset.size).toBe(k + 250);
    for (let i = 0; i < k + 250; i++) expect(r2.dataset.observations[3 * i]).toBe(i);
    expect(r2.partials).toHaveLength(0);
    expect(openStore(dir).manifest.counts.transitions).toBe(k + 250);
  });

  it('names file, chunk and byte on CRC errors and truncation, and a failed append stores nothing', async () => {
    const dir = fresh();
    const st = createStore(dir, { obsDim: 3, actDim: 2 });
    await st.append(synthetic(3000), { batchRows: 1000, compression: 'none' });
    const seg = join(dir, 'seg-0000.mcap');
    const bytes = readFileSync(seg);
    const manifestBefore = readFileSync(join(dir, 'manifest.json'), 'utf8');
    // flip one byte inside the second chunk's payload
    const corrupt = Buffer.from(bytes);
    const info = scanMcap(seg, { onMessage: () => undefined });
    expect(info.chunks).toBe(3);
    corrupt[Math.floor(bytes.length / 2)]! ^= 0xff;
    writeFileSync(seg, corrupt);
    await expect(openStore(dir).read()).rejects.toThrow(/seg-0000\.mcap: byte \d+: chunk 1: CRC mismatch; .*o2o dataset repair/);
    writeFileSync(seg, bytes.subarray(0, Math.floor(bytes.length * 0.8)));
    await expect(openStore(dir).read()).rejects.toThrow(/seg-0000\.mcap: byte \d+: .*(cut off|runs past|without a DataEnd)/);
    writeFileSync(seg, bytes);

    const bad = synthetic(10);
    const obs = bad.observations.slice();
    obs[3 * 7 + 1] = NaN;
    await expect(st.append({ ...bad, observations: obs })).rejects.toThrow(/row 7: observations contains NaN/);
    await expect(st.append(synthetic(10, 4, 2))).rejects.toThrow(/obsDim 4.*same environment spec/);
    expect(readFileSync(join(dir, 'manifest.json'), 'utf8')).toBe(manifestBefore);
    expect(readdirSync(dir).sort()).toEqual(['manifest.json', 'seg-0000.mcap']);
    expect((await openStore(dir).read()).dataset.size).toBe(3000);
  });

  it('a partial cut mid-chunk keeps the complete chunks; garbage manifests are reported', async () => {
    const dir = fresh();
    const st = createStore(dir, { obsDim: 3, actDim: 2 });
    await st.append(synthetic(3000), { batchRows: 1000 });
    const seg = join(dir, 'seg-0000.mcap');
    const full = readFileSync(seg);
    // simulate a crash: a partial holding the first two chunks and half of the third
    let third = 0;
    scanMcap(seg, {
      onMessage: (m) => {
        if (m.chunkIndex === 2) third = m.chunkOffset;
      },
    });
    writeFileSync(join(dir, 'seg-0001.mcap.partial'), full.subarray(0, third + 500));
    const r = await openStore(dir).read();
    expect(r.partials[0]).toMatchObject({ transitions: 0, chunks: 2, droppedBytes: 500 });
    expect(r.dataset.size).toBe(3000); // same robot/sequences: the replayed batches are deduplicated
    expect(r.duplicateBatches).toBe(2);
    appendFileSync(join(dir, 'manifest.json'), '}}');
    expect(() => openStore(dir)).toThrow(/manifest\.json: manifest is not valid JSON/);
    truncateSync(join(dir, 'manifest.json'), 0);
  });
});
