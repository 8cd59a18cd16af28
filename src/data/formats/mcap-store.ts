/**
 * Native dataset store: a folder of MCAP segments holding o2o.TransitionBatch protobuf messages
 * (channel '/o2o/transitions', schema = o2o.proto as a FileDescriptorSet, zstd chunks) plus
 * manifest.json. Segments are immutable once closed:
 *   append → seg-NNNN.mcap.partial (one chunk per batch, each reaches the OS when written)
 *   close  → end the MCAP, fsync, rename to seg-NNNN.mcap, then update the manifest.
 * A reader keeps every complete chunk of a partial left by a crash; `repair` rewrites a partial
 * into a finalized segment (new file, fsync, rename) and removes the partial only afterwards, and
 * rewrites a damaged finalized segment with its intact chunks (the original kept as *.damaged).
 * Batches carry (robot_id, first_sequence): a batch whose sequence was already stored is skipped
 * on read and refused on append, so nothing is ever stored or loaded twice.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatasetBuilder } from '../builder.js';
import type { Dataset, DatasetMeta } from '../dataset.js';
import { DataError, type ProgressFn } from '../errors.js';
import { pidAlive } from '../../util/pid-lock.js';
import { ready, scanMcap } from './mcap-io.js';
import { readManifest, recount, writeManifest, MANIFEST_FORMAT, type Manifest, type SegmentEntry } from './manifest.js';
import { type DecodedBatch, appendDecoded, decodeTransitionBatch } from './transition-codec.js';
import { type BatchRun, assembleEpisodes, robotEpisodes } from './episode-assembly.js';
import { type DroppedChunk, type ManifestRebuild, type SalvagedSegment, freeName, replaceKeepingOriginal, salvageSegment, writeSalvaged } from './salvage.js';
import { type AppenderOptions, SegmentAppender, TRANSITIONS_TOPIC, TRANSITION_SCHEMA, fsyncDir } from './segment-writer.js';

export { SegmentAppender, TRANSITIONS_TOPIC, TRANSITION_SCHEMA, type AppenderOptions };

const SEG_RE = /^seg-(\d{4,})\.mcap(\.partial)?$/;
const LOCK = 'append.lock';

export interface StoreSpec {
  obsDim: number;
  actDim: number;
  envId?: string;
  behaviorPolicy?: string;
  refScores?: { random: number; expert: number };
  infoDims?: Record<string, number>;
}

/** Create an empty dataset folder (the folder may exist but must not hold a dataset). */
export function createStore(dir: string, spec: StoreSpec): DatasetStore {
  if (existsSync(join(dir, 'manifest.json'))) {
    throw new DataError('a dataset already exists here', { file: dir }, 'choose a new folder, or open it with openStore() to append');
  }
  mkdirSync(dir, { recursive: true });
  const now = new Date().toISOString();
  const m: Manifest = {
    format: MANIFEST_FORMAT,
    version: 1,
    envId: spec.envId ?? '',
    obsDim: spec.obsDim,
    actDim: spec.actDim,
    infoDims: spec.infoDims ?? {},
    behaviorPolicy: spec.behaviorPolicy ?? '',
    ...(spec.refScores ? { refScores: spec.refScores } : {}),
    createdAt: now,
    updatedAt: now,
    counts: { transitions: 0, episodes: 0, segments: 0 },
    segments: [],
  };
  writeManifest(dir, m);
  return new DatasetStore(dir, m);
}

export function openStore(dir: string): DatasetStore {
  return new DatasetStore(dir, readManifest(dir));
}

export interface PartialReport {
  file: string;
  transitions: number;
  chunks: number;
  /** Bytes after the last good record (lost in the crash). */
  droppedBytes: number;
  stopReason?: string;
}

export interface StoreReadResult {
  dataset: Dataset;
  segments: { file: string; transitions: number; registered: boolean }[];
  partials: PartialReport[];
  /** Next sequence number per robot (where an appender continues). */
  nextSequence: Record<string, number>;
  nextEpisodeId: number;
  /** Batches skipped because their sequence numbers were already loaded. */
  duplicateBatches: number;
  /** Robots (robot_id of the batches) and how many transitions each contributed. */
  robots: Record<string, number>;
  /** Episodes were reassembled: batches of several robots interleaved (a fleet's online store). */
  assembled: boolean;
}

export interface RepairReport {
  /** Partials finalized; `dropped` lists damaged ranges skipped (a crash's cut-off tail included),
   * `keptAs` the name the partial was kept under if it was damaged before its end. */
  repaired: { partial: string; segment: string; transitions: number; droppedBytes: number; dropped: DroppedChunk[]; keptAs?: string }[];
  /** Finalized segments rewritten with their intact chunks. */
  salvaged: SalvagedSegment[];
  /** Set by repairDataset when manifest.json was rebuilt from the segments. */
  manifest?: ManifestRebuild;
  removedEmpty: string[];
  removedStale: string[];
  registered: string[];
  /** Segments whose episode counts were recomputed per robot (stores written before 2026-11-29). */
  recounted: string[];
}

const openAppenders = new Set<string>();

export class DatasetStore {
  constructor(
    readonly dir: string,
    public manifest: Manifest,
  ) {}

  /** Segment files on disk: finalized ones, leftover partials (crash), and stale partials whose
   * finalized twin exists (a repair that was interrupted before removing them). */
  files(): { finalized: string[]; partials: string[]; stale: string[]; next: number } {
    const finalized: string[] = [];
    const partials: string[] = [];
    let next = 0;
    const names = readdirSync(this.dir).sort();
    for (const f of names) {
      const m = SEG_RE.exec(f);
      if (!m) continue;
      next = Math.max(next, Number(m[1]) + 1);
      (m[2] ? partials : finalized).push(f);
    }
    const stale = partials.filter((p) => finalized.includes(p.replace(/\.partial$/, '')));
    return { finalized, partials: partials.filter((p) => !stale.includes(p)), stale, next };
  }

  /** Load every finalized segment and every complete chunk of leftover partials. */
  async read(opts: { progress?: ProgressFn; verifyChecksums?: boolean; includePartials?: boolean } = {}): Promise<StoreReadResult> {
    await ready();
    const m = this.manifest;
    const { finalized, partials } = this.files();
    const builder = new DatasetBuilder(m.obsDim, m.actDim, {
      capacity: Math.max(1, m.counts.transitions),
      infoDims: m.infoDims,
      meta: storeMeta(m),
      validate: false,
    });
    const res: StoreReadResult = { dataset: builder, segments: [], partials: [], nextSequence: {}, nextEpisodeId: 0, duplicateBatches: 0, robots: {}, assembled: false };
    const runs: BatchRun[] = [];
    const total = m.counts.transitions;
    for (const f of finalized) {
      const entry = m.segments.find((s) => s.file === f);
      if (opts.verifyChecksums && entry) this.verifySegment(entry);
      const before = builder.size;
      this.readSegment(f, builder, res, false, runs);
      if (entry && builder.size - before !== entry.transitions) {
        throw new DataError(
          `segment holds ${builder.size - before} transitions, manifest says ${entry.transitions}`,
          { file: join(this.dir, f) },
          "the folder was modified by hand; run 'o2o dataset repair' to re-register segments",
        );
      }
      res.segments.push({ file: f, transitions: builder.size - before, registered: !!entry });
      opts.progress?.(builder.size, Math.max(total, builder.size), 'read');
    }
    if (opts.includePartials ?? true) {
      for (const f of partials) {
        const before = builder.size;
        const scan = this.readSegment(f, builder, res, true, runs);
        res.partials.push({
          file: f,
          transitions: builder.size - before,
          chunks: scan.chunks,
          droppedBytes: scan.fileBytes - scan.goodBytes,
          ...(scan.stopReason ? { stopReason: scan.stopReason } : {}),
        });
      }
    }
    res.dataset = builder.build();
    // a fleet's batches interleave: every (robot, episode) becomes one contiguous episode
    const whole = assembleEpisodes(res.dataset, runs);
    if (whole) {
      res.dataset = whole;
      res.assembled = true;
    }
    res.nextEpisodeId = builder.size ? maxEpisodeId(res.dataset) + 1 : 0;
    return res;
  }

  /**
   * Every stored TransitionBatch as written, segment by segment (complete chunks of partials
   * too), duplicates not skipped: what an audit compares, batch by batch, with what robots sent.
   */
  async forEachBatch(fn: (batch: DecodedBatch, file: string) => void, opts: { includePartials?: boolean } = {}): Promise<void> {
    await ready();
    const { finalized, partials } = this.files();
    for (const f of [...finalized, ...((opts.includePartials ?? true) ? partials : [])]) {
      const path = join(this.dir, f);
      scanMcap(path, {
        recover: f.endsWith('.partial'),
        onMessage: (msg) => {
          if (msg.channel.topic === TRANSITIONS_TOPIC && msg.schema?.name === TRANSITION_SCHEMA) fn(decodeTransitionBatch(msg.data, `${path} (chunk ${msg.chunkIndex})`), f);
        },
      });
    }
  }

  private readSegment(f: string, builder: DatasetBuilder, res: StoreReadResult, recover: boolean, runs?: BatchRun[]): ReturnType<typeof scanMcap> {
    const path = join(this.dir, f);
    return scanMcap(path, {
      recover,
      onMessage: (msg) => {
        if (msg.channel.topic !== TRANSITIONS_TOPIC || msg.schema?.name !== TRANSITION_SCHEMA) return;
        const where = `${path} (chunk ${msg.chunkIndex} at byte ${msg.chunkOffset})`;
        const d = decodeTransitionBatch(msg.data, where);
        const next = res.nextSequence[d.robotId] ?? 0;
        if (d.robotId !== '' && d.firstSequence < next) {
          res.duplicateBatches++;
          return;
        }
        runs?.push({ robot: d.robotId, start: builder.size, count: d.count });
        appendDecoded(builder, d, where);
        res.nextSequence[d.robotId] = d.firstSequence + d.count;
        res.robots[d.robotId] = (res.robots[d.robotId] ?? 0) + d.count;
      },
    });
  }

  private verifySegment(e: SegmentEntry): void {
    const path = join(this.dir, e.file);
    const h = createHash('sha256').update(readFileSync(path)).digest('hex');
    if (h !== e.sha256) {
      throw new DataError(
        `sha256 ${h.slice(0, 12)}… does not match the manifest (${e.sha256.slice(0, 12)}…)`,
        { file: path },
        'the segment changed after it was written; restore it from a backup',
      );
    }
  }

  /** Open a writer for a new segment. One appender per store at a time (append.lock holds the pid). */
  async openAppender(opts: AppenderOptions = {}): Promise<SegmentAppender> {
    await ready();
    const lock = join(this.dir, LOCK);
    if (openAppenders.has(this.dir)) throw new DataError('an appender is already open on this dataset in this process', { file: this.dir }, 'close it first');
    if (existsSync(lock)) {
      const pid = Number(readFileSync(lock, 'utf8'));
      if (pid !== process.pid && pidAlive(pid)) {
        throw new DataError(
          `process ${pid} is appending to this dataset`,
          { file: lock },
          'wait for it to finish, or stop it; a lock of a dead process is taken over automatically',
        );
      }
    }
    writeFileSync(lock, String(process.pid));
    openAppenders.add(this.dir);
    try {
      // Sequence numbers and episode ids continue after everything stored, partials included.
      const state = await this.read();
      return await SegmentAppender.start(this, this.files().next, state.nextSequence, state.nextEpisodeId, opts);
    } catch (e) {
      this.releaseLock();
      throw e;
    }
  }

  /** @internal */
  releaseLock(): void {
    openAppenders.delete(this.dir);
    try {
      unlinkSync(join(this.dir, LOCK));
    } catch {
      /* already gone */
    }
  }

  /** Append a whole dataset as one new segment. Episode ids are shifted past the stored ones
   * unless `keepEpisodeIds`. Returns the new segment entry. */
  async append(ds: Dataset, opts: AppenderOptions & { keepEpisodeIds?: boolean; progress?: ProgressFn } = {}): Promise<SegmentEntry> {
    const app = await this.openAppender(opts);
    try {
      const step = 65536;
      const offset = opts.keepEpisodeIds ? 0 : app.nextEpisodeId;
      for (let s = 0; s < ds.size; s += step) {
        await app.append(ds, s, Math.min(ds.size, s + step), offset);
        opts.progress?.(Math.min(ds.size, s + step), ds.size, 'append');
      }
      return await app.close();
    } catch (e) {
      await app.abort();
      throw e;
    }
  }

  /** @internal Register a closed segment in the manifest. */
  register(e: SegmentEntry): void {
    const m: Manifest = JSON.parse(JSON.stringify(this.manifest)) as Manifest;
    m.segments = m.segments.filter((s) => s.file !== e.file);
    m.segments.push(e);
    m.segments.sort((a, b) => a.file.localeCompare(b.file));
    recount(m);
    writeManifest(this.dir, m);
    this.manifest = m;
  }

  /**
   * Repair the folder; nothing is rewritten in place (new file, fsync, rename):
   * - a finalized segment with damaged chunks (bad CRC, bad zstd data, broken framing) is rewritten
   *   with every intact chunk; the original is kept as seg-NNNN.mcap.damaged; the manifest entry is
   *   replaced; each dropped chunk is reported (index, byte offset, bytes, batch when knowable);
   * - leftover partials are finalized the same way (every intact chunk, also after damage in the
   *   middle) and removed only afterwards (kept as *.damaged if damaged before their end);
   * - stale partials are removed; finalized segments the manifest does not list (or lists with
   *   another count) are (re-)registered. See rebuildManifestIfNeeded for a lost manifest.
   */
  async repair(progress?: ProgressFn): Promise<RepairReport> {
    await ready();
    const lock = join(this.dir, LOCK);
    if (existsSync(lock)) {
      const pid = Number(readFileSync(lock, 'utf8'));
      if (pidAlive(pid)) throw new DataError(`process ${pid} is appending to this dataset`, { file: lock }, 'repair after the writer has stopped');
    }
    const rep: RepairReport = { repaired: [], removedEmpty: [], removedStale: [], registered: [], salvaged: [], recounted: [] };
    const { finalized, partials, stale } = this.files();
    const total = finalized.length + partials.length;
    let done = 0;
    for (const f of finalized) {
      const s = salvageSegment(this.dir, f);
      const entry = this.manifest.segments.find((e) => e.file === f);
      if (s.dropped.length === 0) {
        if (!entry || entry.transitions !== s.kept.reduce((a, k) => a + k.count, 0)) {
          this.register(summarizeSegment(this.dir, f, this.manifest));
          rep.registered.push(f);
        } else if (!entry.episodesByRobot) {
          // written before episodes were counted per robot (a fleet's interleaved batches were miscounted)
          this.register(summarizeSegment(this.dir, f, this.manifest));
          rep.recounted.push(f);
        }
        progress?.(++done, total, 'repair');
        continue;
      }
      const { tmp, entry: fresh } = await writeSalvaged(this.dir, f, this.manifest, s.kept);
      const keptAs = replaceKeepingOriginal(this.dir, f, tmp);
      if (fresh.transitions > 0) this.register(fresh);
      else this.unregister(f);
      rep.salvaged.push({
        segment: f,
        keptAs,
        keptTransitions: fresh.transitions,
        keptBatches: s.kept.length,
        ...(entry ? { lostTransitions: entry.transitions - fresh.transitions } : {}),
        dropped: s.dropped,
      });
      progress?.(++done, total, 'repair');
    }
    for (const f of stale) {
      unlinkSync(join(this.dir, f));
      rep.removedStale.push(f);
    }
    for (const f of partials) {
      const src = join(this.dir, f);
      const target = f.replace(/\.partial$/, '');
      const s = salvageSegment(this.dir, f, { partial: true });
      const keepOriginal = (): string | undefined => {
        if (!s.midFileDamage) return undefined;
        const keptAs = freeName(this.dir, `${f}.damaged`);
        renameSync(src, join(this.dir, keptAs));
        return keptAs;
      };
      if (s.kept.length === 0) {
        const keptAs = keepOriginal();
        if (!keptAs) unlinkSync(src);
        fsyncDir(this.dir);
        rep.removedEmpty.push(f);
        progress?.(++done, total, 'repair');
        continue;
      }
      const { tmp, entry } = await writeSalvaged(this.dir, target, this.manifest, s.kept);
      renameSync(tmp, join(this.dir, target));
      fsyncDir(this.dir);
      this.register(entry);
      const keptAs = keepOriginal();
      if (!keptAs) unlinkSync(src);
      fsyncDir(this.dir);
      rep.repaired.push({
        partial: f,
        segment: target,
        transitions: entry.transitions,
        droppedBytes: s.scan.fileBytes - s.scan.goodBytes,
        dropped: s.dropped,
        ...(keptAs ? { keptAs } : {}),
      });
      progress?.(++done, total, 'repair');
    }
    return rep;
  }

  /** @internal Remove a segment from the manifest (repair of a segment with nothing left). */
  private unregister(file: string): void {
    const m: Manifest = JSON.parse(JSON.stringify(this.manifest)) as Manifest;
    m.segments = m.segments.filter((s) => s.file !== file);
    recount(m);
    writeManifest(this.dir, m);
    this.manifest = m;
  }
}

function summarizeSegment(dir: string, f: string, m: Manifest): SegmentEntry {
  const tmp = new DatasetStore(dir, m);
  const b = new DatasetBuilder(m.obsDim, m.actDim, { validate: false });
  const res: StoreReadResult = { dataset: b, segments: [], partials: [], nextSequence: {}, nextEpisodeId: 0, duplicateBatches: 0, robots: {}, assembled: false };
  const runs: BatchRun[] = [];
  (tmp as unknown as { readSegment(f: string, b: DatasetBuilder, r: StoreReadResult, rec: boolean, runs: BatchRun[]): unknown }).readSegment(f, b, res, false, runs);
  const episodesByRobot = robotEpisodes(b, runs);
  const path = join(dir, f);
  return {
    file: f,
    transitions: b.size,
    firstEpisodeId: b.size ? b.episodeIds[0]! : 0,
    lastEpisodeId: b.size ? b.episodeIds[b.size - 1]! : 0,
    episodeStarts: Object.values(episodesByRobot).reduce((t, e) => t + e.starts, 0),
    episodesByRobot,
    bytes: statSync(path).size,
    sha256: createHash('sha256').update(readFileSync(path)).digest('hex'),
    compression: 'zstd',
    nextSequence: res.nextSequence,
  };
}

function maxEpisodeId(ds: Dataset): number {
  let max = 0;
  for (let i = 0; i < ds.size; i++) if (ds.episodeIds[i]! > max) max = ds.episodeIds[i]!;
  return max;
}

/** NaN/Inf and flag checks on rows [s, e) before anything is written. */
function storeMeta(m: Manifest): DatasetMeta {
  return { envId: m.envId, behaviorPolicy: m.behaviorPolicy, ...(m.refScores ? { refScores: m.refScores } : {}) };
}
