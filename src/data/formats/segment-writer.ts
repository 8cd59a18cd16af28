/**
 * Writing segments: SegmentFile (one MCAP being written, one chunk per TransitionBatch) and
 * SegmentAppender (appends to a new seg-NNNN.mcap.partial of a store, renames it on close).
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { McapWriter } from '@mcap/core';
import { fsyncDir } from '../../util/durable.js';
import { DatasetBuilder } from '../builder.js';
import { checkFinite, type Dataset, sliceDataset } from '../dataset.js';
import { checkNextObservations } from '../next-obs.js';
import { DataError } from '../errors.js';
import { o2oFileDescriptorSet } from '../schema/proto.js';
import { FdWritable, compressChunkFn, type Compression } from './mcap-io.js';
import type { Manifest, RobotEpisodes, SegmentEntry } from './manifest.js';
import type { DatasetStore } from './mcap-store.js';
import { appendDecoded, decodeTransitionBatch, encodeTransitionBatch } from './transition-codec.js';

export const TRANSITIONS_TOPIC = '/o2o/transitions';
export const TRANSITION_SCHEMA = 'o2o.TransitionBatch';

export interface AppenderOptions {
  /** robot_id written into every batch (default 'local'). */
  robotId?: string;
  compression?: Compression;
  /** zstd level (default 1: float data barely compresses, speed matters more). */
  level?: number;
  /** Transitions per message/chunk (default 4096). */
  batchRows?: number;
  policyVersion?: string;
}

/** One MCAP segment being written (McapWriter over a file descriptor, hashed as it is written). */
export class SegmentFile {
  private readonly writable: FdWritable;
  private readonly hash = createHash('sha256');
  private readonly writer: McapWriter;
  private channel = 0;
  private seq = 0;
  transitions = 0;
  firstEpisodeId = -1;
  lastEpisodeId = -1;
  episodeStarts = 0;
  readonly nextSequence: Record<string, number> = {};

  constructor(
    readonly fd: number,
    private readonly m: Manifest,
    compression: Compression = 'zstd',
    level = 1,
  ) {
    const hash = this.hash;
    const w = new FdWritable(fd);
    this.writable = w;
    const inner = w.write.bind(w);
    w.write = async (b: Uint8Array) => {
      hash.update(b);
      await inner(b);
    };
    this.writer = new McapWriter({ writable: w, chunkSize: 1, compressChunk: compressChunkFn(compression, level) });
  }

  async start(): Promise<void> {
    await this.writer.start({ profile: '', library: 'o2o' });
    const meta = new Map([
      ['env_id', this.m.envId],
      ['obs_dim', String(this.m.obsDim)],
      ['act_dim', String(this.m.actDim)],
    ]);
    await this.writer.addMetadata({ name: 'o2o.dataset', metadata: meta });
    const schemaId = await this.writer.registerSchema({ name: TRANSITION_SCHEMA, encoding: 'protobuf', data: o2oFileDescriptorSet() });
    this.channel = await this.writer.registerChannel({ topic: TRANSITIONS_TOPIC, messageEncoding: 'protobuf', schemaId, metadata: meta });
  }

  /** Episode ids per robot: first and last seen, and episode starts (id changes) in this segment. */
  readonly episodesByRobot: Record<string, RobotEpisodes> = {};

  /** Write one encoded TransitionBatch as its own chunk; `ids` are its episode ids. */
  async add(data: Uint8Array, logTime: bigint, robotId: string, firstSequence: number, ids: ArrayLike<number>): Promise<void> {
    const n = ids.length;
    // episodes are counted per robot: the batches of several robots interleave in a fleet's store
    let r = this.episodesByRobot[robotId];
    for (let i = 0; i < n; i++) {
      const id = ids[i]!;
      if (!r) r = this.episodesByRobot[robotId] = { first: id, last: id, starts: 1 };
      else if (id !== r.last) r.starts++;
      r.last = id;
      if (this.firstEpisodeId < 0) this.firstEpisodeId = id;
      this.lastEpisodeId = id;
    }
    this.episodeStarts = Object.values(this.episodesByRobot).reduce((t, e) => t + e.starts, 0);
    await this.writer.addMessage({ channelId: this.channel, sequence: this.seq++, logTime, publishTime: logTime, data });
    this.transitions += n;
    this.nextSequence[robotId] = firstSequence + n;
  }

  /** Add an encoded batch whose episode ids are not at hand (decodes them). */
  async addDecoding(data: Uint8Array, logTime: bigint): Promise<void> {
    const d = decodeTransitionBatch(data);
    const b = new DatasetBuilder(d.obsDim, d.actDim, { capacity: d.count, validate: false });
    appendDecoded(b, d);
    await this.add(data, logTime, d.robotId, d.firstSequence, b.episodeIds.subarray(0, d.count));
  }

  async finish(file: string): Promise<SegmentEntry> {
    await this.writer.end();
    fsyncSync(this.fd);
    closeSync(this.fd);
    return {
      file,
      transitions: this.transitions,
      firstEpisodeId: Math.max(0, this.firstEpisodeId),
      lastEpisodeId: Math.max(0, this.lastEpisodeId),
      episodeStarts: this.episodeStarts,
      bytes: Number(this.writable.position()),
      sha256: this.hash.digest('hex'),
      compression: 'zstd',
      nextSequence: this.nextSequence,
      episodesByRobot: this.episodesByRobot,
    };
  }
}

/** Writes one new segment; see DatasetStore.openAppender. */
export class SegmentAppender {
  private closed = false;

  private constructor(
    private readonly store: DatasetStore,
    readonly file: string,
    private readonly seg: SegmentFile,
    private readonly nextSeq: Record<string, number>,
    /** First episode id not used by stored data. */
    public nextEpisodeId: number,
    private readonly opts: AppenderOptions,
  ) {}

  /** @internal */
  static async start(store: DatasetStore, index: number, nextSeq: Record<string, number>, nextEp: number, opts: AppenderOptions): Promise<SegmentAppender> {
    const file = `seg-${String(index).padStart(4, '0')}.mcap`;
    const fd = openSync(join(store.dir, `${file}.partial`), 'wx');
    const seg = new SegmentFile(fd, store.manifest, opts.compression ?? 'zstd', opts.level ?? 1);
    await seg.start();
    return new SegmentAppender(store, file, seg, { ...nextSeq }, nextEp, opts);
  }

  get robotId(): string {
    return this.opts.robotId ?? 'local';
  }
  /** Sequence number the next appended transition gets. */
  get nextSequence(): number {
    return this.nextSeq[this.robotId] ?? 0;
  }

  /** Append rows [start, end) of `ds`, adding `episodeOffset` to their episode ids. */
  async append(ds: Dataset, start = 0, end = ds.size, episodeOffset = 0): Promise<void> {
    const m = this.store.manifest;
    if (ds.obsDim !== m.obsDim || ds.actDim !== m.actDim) {
      throw new DataError(
        `data has obsDim ${ds.obsDim}, actDim ${ds.actDim}; the dataset has ${m.obsDim}, ${m.actDim}`,
        { file: this.store.dir },
        'append data of the same environment spec',
      );
    }
    const rows = this.opts.batchRows ?? 4096;
    let src = ds;
    if (episodeOffset !== 0) {
      const ids = new Uint32Array(end - start);
      for (let i = start; i < end; i++) ids[i - start] = ds.episodeIds[i]! + episodeOffset;
      src = { ...sliceDataset(ds, start, end, { copy: false }), episodeIds: ids };
      end -= start;
      start = 0;
    }
    validateRows(src, start, end, this.store.dir);
    if (this.closed) throw new DataError('appender is closed', { file: this.file }, 'open a new appender');
    for (let s = start; s < end; s += rows) {
      const e = Math.min(end, s + rows);
      const now = Date.now();
      const seq = this.nextSequence;
      const bytes = encodeTransitionBatch(src, s, e, { robotId: this.robotId, firstSequence: seq, policyVersion: this.opts.policyVersion ?? '', timeUnixNs: now * 1e6 });
      await this.seg.add(bytes, BigInt(now) * 1000000n, this.robotId, seq, src.episodeIds.subarray(s, e));
      this.nextSeq[this.robotId] = seq + (e - s);
    }
    if (end > start) this.nextEpisodeId = Math.max(this.nextEpisodeId, src.episodeIds[end - 1]! + 1);
  }

  /**
   * Append one already-encoded TransitionBatch (e.g. received over MQTT) without re-encoding.
   * Returns false (and writes nothing) if its sequence numbers were already stored.
   */
  async appendEncoded(bytes: Uint8Array): Promise<boolean> {
    if (this.closed) throw new DataError('appender is closed', { file: this.file }, 'open a new appender');
    const d = decodeTransitionBatch(bytes, `${this.file}.partial`);
    const m = this.store.manifest;
    if (d.obsDim !== m.obsDim || d.actDim !== m.actDim) {
      throw new DataError(
        `batch has obs_dim ${d.obsDim}, act_dim ${d.actDim}; the dataset has ${m.obsDim}, ${m.actDim}`,
        { file: this.store.dir },
        'send transitions of the dataset spec',
      );
    }
    const check = new DatasetBuilder(d.obsDim, d.actDim, { capacity: d.count, validate: true });
    appendDecoded(check, d, `batch from '${d.robotId}' seq ${d.firstSequence}`); // NaN/Inf, flags
    const next = this.nextSeq[d.robotId] ?? 0;
    if (d.robotId !== '' && d.firstSequence < next) return false;
    await this.seg.add(bytes, BigInt(Date.now()) * 1000000n, d.robotId, d.firstSequence, check.episodeIds.subarray(0, d.count));
    this.nextSeq[d.robotId] = d.firstSequence + d.count;
    return true;
  }

  /** fsync what was appended so far: after this returns, a crash or power loss keeps it. */
  sync(): void {
    if (this.closed) throw new DataError('appender is closed', { file: this.file }, 'open a new appender');
    fsyncSync(this.seg.fd);
  }

  /** Finish the MCAP, fsync, rename the partial to seg-NNNN.mcap and register it. */
  async close(): Promise<SegmentEntry> {
    if (this.closed) throw new DataError('appender already closed', { file: this.file }, 'open a new appender');
    this.closed = true;
    try {
      const entry = await this.seg.finish(this.file);
      entry.compression = this.opts.compression ?? 'zstd';
      renameSync(join(this.store.dir, `${this.file}.partial`), join(this.store.dir, this.file));
      fsyncDir(this.store.dir);
      this.store.register(entry);
      return entry;
    } finally {
      this.store.releaseLock();
    }
  }

  /** Stop writing after a failure: the partial keeps its complete chunks (repair finalizes it). */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      closeSync(this.seg.fd);
    } catch {
      /* already closed */
    }
    const partial = join(this.store.dir, `${this.file}.partial`);
    if (this.seg.transitions === 0 && existsSync(partial)) unlinkSync(partial);
    this.store.releaseLock();
  }
}

function validateRows(ds: Dataset, s: number, e: number, where: string): void {
  const n = e - s;
  const o = ds.obsDim;
  const a = ds.actDim;
  try {
    checkFinite(ds.observations.subarray(s * o), o, n, 'observations', where);
    checkFinite(ds.actions.subarray(s * a), a, n, 'actions', where);
    checkFinite(ds.rewards.subarray(s), 1, n, 'rewards', where);
    for (const [k, c] of Object.entries(ds.info)) checkFinite(c.data.subarray(s * c.dim), c.dim, n, `info.${k}`, where);
  } catch (err) {
    if (err instanceof DataError && err.row !== undefined) {
      throw new DataError(`${err.message.split('; ')[0]!.replace(/^.*row \d+: /, '')}`, { file: where, row: err.row + s }, err.fix);
    }
    throw err;
  }
  checkNextObservations(ds, where, s, e); // reports dataset rows itself
  for (let i = s; i < e; i++) {
    if (ds.terminals[i]! > 1 || ds.timeouts[i]! > 1) throw new DataError('terminal/timeout flag is not 0 or 1', { file: where, row: i }, 'store flags as 0/1');
  }
}

export { fsyncDir };
