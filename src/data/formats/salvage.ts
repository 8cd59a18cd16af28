/**
 * Salvage for the native store (used by DatasetStore.repair and `o2o dataset repair`):
 * - `salvageSegment`: every intact chunk of a damaged segment or partial, and an exact account of
 *   each dropped chunk (index, byte offset, bytes, and the batch it held when that is knowable:
 *   from its own readable header, or from the gap in the robot's sequence numbers around it);
 * - `writeSalvaged` / `replaceKeepingOriginal`: the new segment is written to a new file, fsynced,
 *   and renamed over the damaged one only then; the original stays as `<name>.damaged`;
 * - `rebuildManifestIfNeeded`: a lost or corrupt manifest.json is rebuilt from the segments (spec
 *   from the 'o2o.dataset' metadata record, info columns from the batches; DatasetStore.repair
 *   then registers every segment, which recounts).
 */
import { closeSync, copyFileSync, existsSync, fsyncSync, linkSync, openSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { DataError } from '../errors.js';
import { o2oFileDescriptorSet } from '../schema/proto.js';
import { type McapDamage, type ScanResult, scanMcap } from './mcap-io.js';
import { MANIFEST, MANIFEST_FORMAT, type Manifest, type SegmentEntry, readManifest, writeManifest } from './manifest.js';
import { SegmentFile, TRANSITIONS_TOPIC, TRANSITION_SCHEMA, fsyncDir } from './segment-writer.js';
import { decodeTransitionBatch } from './transition-codec.js';

const SEG_RE = /^seg-(\d{4,})\.mcap(\.partial)?$/;

/** A chunk (or damaged byte range) that repair could not keep. */
export interface DroppedChunk {
  file: string;
  /** Position among the file's chunks (-1: a damaged non-chunk record). */
  chunkIndex: number;
  offset: number;
  bytes: number;
  reason: string;
  /** The record framing was broken there and the next chunk was found by searching. */
  resynced: boolean;
  /** What the lost batch held: from its own header ('header'), from the gap in the robot's
   * sequence numbers between the kept batches around it ('sequence gap'), or not known. */
  known: 'header' | 'sequence gap' | 'unknown';
  robotId?: string;
  firstSequence?: number;
  transitions?: number;
}

export interface KeptBatch {
  data: Uint8Array;
  logTime: bigint;
  robotId: string;
  firstSequence: number;
  count: number;
  /** Decoded column layout (for rebuilding a manifest). */
  obsDim: number;
  actDim: number;
  info: { name: string; dim: number }[];
}

export interface SegmentSalvage {
  file: string;
  kept: KeptBatch[];
  dropped: DroppedChunk[];
  scan: ScanResult;
  /** Damage other than the cut-off tail a crash leaves at the end of a partial. */
  midFileDamage: boolean;
}

/** Report entry for a finalized segment that was rewritten with its intact chunks. */
export interface SalvagedSegment {
  segment: string;
  /** Where the damaged original was kept. */
  keptAs: string;
  keptTransitions: number;
  keptBatches: number;
  /** Transitions lost in total when known (the manifest's count minus what was kept). */
  lostTransitions?: number;
  dropped: DroppedChunk[];
}

export interface ManifestRebuild {
  reason: string;
  /** The corrupt manifest was kept under this name. */
  keptAs?: string;
  obsDim: number;
  actDim: number;
  envId: string;
  infoDims: Record<string, number>;
  notes: string[];
}

/** The channel and schema every o2o segment has (assumed when chunk 0, which holds them, is lost). */
function fallbackChannel(): NonNullable<Parameters<typeof scanMcap>[1]['fallbackChannel']> {
  return {
    channel: { id: 0, schemaId: 1, topic: TRANSITIONS_TOPIC, messageEncoding: 'protobuf', metadata: new Map() },
    schema: { id: 1, name: TRANSITION_SCHEMA, encoding: 'protobuf', data: o2oFileDescriptorSet() },
  };
}

/** Read every intact chunk of a segment or partial (never throws for damage). */
export function salvageSegment(dir: string, file: string, opts: { partial?: boolean } = {}): SegmentSalvage {
  const path = join(dir, file);
  type Ev = { kept: KeptBatch } | { drop: DroppedChunk };
  const events: Ev[] = [];
  const dropOf = (d: McapDamage): DroppedChunk => {
    const drop: DroppedChunk = { file, chunkIndex: d.chunkIndex, offset: d.offset, bytes: d.bytes, reason: d.reason, resynced: d.resynced, known: 'unknown' };
    for (const m of d.messages) {
      const h = peekBatchHeader(m);
      if (h.robotId === undefined && h.firstSequence === undefined) continue;
      Object.assign(drop, { known: 'header', robotId: h.robotId ?? '', firstSequence: h.firstSequence ?? 0 }, h.count !== undefined ? { transitions: h.count } : {});
    }
    return drop;
  };
  const scan = scanMcap(path, {
    salvage: true,
    fallbackChannel: fallbackChannel(),
    onDamage: (d) => events.push({ drop: dropOf(d) }),
    onMessage: (msg) => {
      if (msg.channel.topic !== TRANSITIONS_TOPIC || msg.schema?.name !== TRANSITION_SCHEMA) return;
      try {
        const d = decodeTransitionBatch(msg.data, path);
        events.push({
          kept: {
            data: msg.data,
            logTime: msg.logTime,
            robotId: d.robotId,
            firstSequence: d.firstSequence,
            count: d.count,
            obsDim: d.obsDim,
            actDim: d.actDim,
            info: d.info.map((c) => ({ name: c.name, dim: c.dim })),
          },
        });
      } catch (e) {
        if (!(e instanceof DataError)) throw e;
        events.push({
          drop: { file, chunkIndex: msg.chunkIndex, offset: msg.chunkOffset, bytes: msg.data.length, reason: e.message.replace(/;.*$/, ''), resynced: false, known: 'unknown' },
        });
      }
    },
  });
  // Infer unreadable batches from the sequence gap between the kept batches around them.
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (!('drop' in e) || e.drop.known !== 'unknown') continue;
    let a = i - 1;
    while (a >= 0 && !('kept' in events[a]!)) a--;
    let b = i + 1;
    while (b < events.length && !('kept' in events[b]!)) b++;
    const prev = a >= 0 ? (events[a] as { kept: KeptBatch }).kept : undefined;
    const next = b < events.length ? (events[b] as { kept: KeptBatch }).kept : undefined;
    if (!prev || !next || prev.robotId !== next.robotId) continue;
    const between = events.slice(a + 1, b).filter((x) => 'drop' in x && x.drop.chunkIndex >= 0).length;
    const start = prev.firstSequence + prev.count;
    if (between === 1 && next.firstSequence > start)
      Object.assign(e.drop, { known: 'sequence gap', robotId: prev.robotId, firstSequence: start, transitions: next.firstSequence - start });
  }
  const kept = events.flatMap((e) => ('kept' in e ? [e.kept] : []));
  const dropped = events.flatMap((e) => ('drop' in e ? [e.drop] : []));
  // A crash cuts a partial at its end: damage after the last kept chunk that runs to the end.
  let lastKept = -1;
  events.forEach((e, i) => ('kept' in e ? (lastKept = i) : undefined));
  const midFileDamage = events.some((e, i) => 'drop' in e && !(opts.partial && i > lastKept && e.drop.offset + e.drop.bytes >= scan.fileBytes));
  return { file, kept, dropped, scan, midFileDamage };
}

/** Lenient read of a TransitionBatch's leading fields (robot_id 1, first_sequence 2, count 5). */
function peekBatchHeader(b: Uint8Array): { robotId?: string; firstSequence?: number; count?: number } {
  const out: { robotId?: string; firstSequence?: number; count?: number } = {};
  let p = 0;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (let k = 0; k < 10 && p < b.length; k++) {
      const x = b[p++]!;
      v += (x & 127) * mul;
      if (x < 128) return v;
      mul *= 128;
    }
    throw new Error('bad varint');
  };
  try {
    while (p < b.length) {
      const tag = varint();
      const f = Math.floor(tag / 8);
      const w = tag & 7;
      if (w === 0) {
        const v = varint();
        if (f === 2) out.firstSequence = v;
        else if (f === 5) out.count = v;
      } else if (w === 2) {
        const len = varint();
        if (p + len > b.length) break;
        if (f === 1) out.robotId = new TextDecoder('utf-8', { fatal: true }).decode(b.subarray(p, p + len));
        p += len;
      } else if (w === 1) p += 8;
      else if (w === 5) p += 4;
      else break;
    }
  } catch {
    /* keep what was read */
  }
  return out;
}

/** Write the kept batches as a new segment `<target>.repair` (fsynced); returns its entry. */
export async function writeSalvaged(dir: string, target: string, m: Manifest, kept: KeptBatch[]): Promise<{ tmp: string; entry: SegmentEntry }> {
  const tmp = join(dir, `${target}.repair`);
  const out = new SegmentFile(openSync(tmp, 'w'), m);
  await out.start();
  for (const k of kept) await out.addDecoding(k.data, k.logTime);
  return { tmp, entry: await out.finish(target) };
}

/** A name in `dir` starting with `base` that is not taken (base, base.1, base.2, …). */
export function freeName(dir: string, base: string): string {
  let name = base;
  for (let i = 1; existsSync(join(dir, name)); i++) name = `${base}.${i}`;
  return name;
}

/** Keep `file` as `<file>.damaged` (a hard link, else a fsynced copy), then atomically rename the
 * durable `tmp` over `file`: at every moment `file` is either the original or the salvaged one. */
export function replaceKeepingOriginal(dir: string, file: string, tmp: string): string {
  const keptAs = freeName(dir, `${file}.damaged`);
  keepCopy(join(dir, file), join(dir, keptAs));
  renameSync(tmp, join(dir, file));
  fsyncDir(dir);
  return keptAs;
}

function keepCopy(src: string, dst: string): void {
  try {
    linkSync(src, dst);
  } catch {
    copyFileSync(src, dst);
    const fd = openSync(dst, 'r+');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
  fsyncDir(join(dst, '..'));
}

/**
 * If `dir` holds segments but manifest.json is missing, unreadable or invalid, write a new one with
 * the spec read from the segments and no segments listed (DatasetStore.repair registers them).
 * A corrupt manifest is kept as manifest.json.damaged. Returns undefined when nothing was wrong.
 */
export function rebuildManifestIfNeeded(dir: string): ManifestRebuild | undefined {
  const path = join(dir, MANIFEST);
  let reason: string;
  let oldText = '';
  if (existsSync(path)) {
    try {
      readManifest(dir);
      return undefined;
    } catch (e) {
      if (!(e instanceof DataError)) throw e;
      oldText = readFileSync(path, 'utf8');
      let parsed: unknown;
      try {
        parsed = JSON.parse(oldText);
      } catch {
        parsed = undefined;
      }
      const fmt = parsed && typeof parsed === 'object' ? (parsed as { format?: unknown }).format : undefined;
      if (fmt !== undefined && fmt !== MANIFEST_FORMAT) throw e; // another tool's folder: leave it alone
      reason = `${MANIFEST} was corrupt (${e.message.replace(/^[^:]*: /, '').replace(/;.*$/, '')})`;
    }
  } else reason = `${MANIFEST} was missing`;
  const segs = readdirSync(dir)
    .filter((f) => SEG_RE.test(f))
    .sort((a, b) => Number(a.endsWith('.partial')) - Number(b.endsWith('.partial')) || a.localeCompare(b));
  if (segs.length === 0) return undefined; // not a dataset folder: openStore says so

  let spec: { obsDim: number; actDim: number; envId: string; from: string } | undefined;
  let infoDims: Record<string, number> | undefined;
  for (const f of segs) {
    const s = salvageSegment(dir, f);
    const md = s.scan.metadata.get('o2o.dataset');
    if (!spec && md && Number(md.get('obs_dim')) > 0 && Number(md.get('act_dim')) > 0) {
      spec = { obsDim: Number(md.get('obs_dim')), actDim: Number(md.get('act_dim')), envId: md.get('env_id') ?? '', from: f };
    }
    const b = s.kept[0];
    if (b && !infoDims) {
      infoDims = Object.fromEntries(b.info.map((c) => [c.name, c.dim]));
      if (spec && (b.obsDim !== spec.obsDim || b.actDim !== spec.actDim)) {
        throw new DataError(
          `batches have obs_dim ${b.obsDim}, act_dim ${b.actDim} but the segment metadata says ${spec.obsDim}, ${spec.actDim}`,
          { file: join(dir, f) },
          'the folder mixes datasets; move segments of other datasets elsewhere and run repair again',
        );
      }
      spec ??= { obsDim: b.obsDim, actDim: b.actDim, envId: '', from: `${f} (batch dims; its metadata record was lost)` };
    }
    if (spec && infoDims) break;
  }
  if (!spec) {
    throw new DataError(`${reason} and no segment has a readable 'o2o.dataset' record or batch`, { file: dir }, 'restore manifest.json from a backup');
  }
  const notes = [`obsDim ${spec.obsDim}, actDim ${spec.actDim}, envId '${spec.envId}' from ${spec.from}`, `info columns ${JSON.stringify(infoDims ?? {})} from the stored batches`];
  const old = oldFields(oldText);
  const now = new Date().toISOString();
  const m: Manifest = {
    format: MANIFEST_FORMAT,
    version: 1,
    envId: spec.envId,
    obsDim: spec.obsDim,
    actDim: spec.actDim,
    infoDims: infoDims ?? {},
    behaviorPolicy: old.behaviorPolicy ?? '',
    ...(old.refScores ? { refScores: old.refScores } : {}),
    createdAt: old.createdAt ?? now,
    updatedAt: now,
    counts: { transitions: 0, episodes: 0, segments: 0 },
    segments: [],
  };
  const recovered = Object.keys(old);
  notes.push(
    recovered.length
      ? `${recovered.join(', ')} read from what was left of the old manifest`
      : 'behaviorPolicy and refScores are not stored in segments: set them again if they were used',
  );
  let keptAs: string | undefined;
  if (existsSync(path)) {
    keptAs = freeName(dir, `${MANIFEST}.damaged`);
    keepCopy(path, join(dir, keptAs));
  }
  writeManifest(dir, m);
  fsyncDir(dir);
  return { reason, ...(keptAs ? { keptAs } : {}), obsDim: m.obsDim, actDim: m.actDim, envId: m.envId, infoDims: m.infoDims, notes };
}

/** Fields that segments do not hold, read (leniently) from a damaged manifest's text. */
function oldFields(text: string): { behaviorPolicy?: string; createdAt?: string; refScores?: { random: number; expert: number } } {
  const out: { behaviorPolicy?: string; createdAt?: string; refScores?: { random: number; expert: number } } = {};
  const str = (k: string): string | undefined => {
    const m = new RegExp(`"${k}"\\s*:\\s*("(?:[^"\\\\]|\\\\.)*")`).exec(text);
    try {
      return m ? (JSON.parse(m[1]!) as string) : undefined;
    } catch {
      return undefined;
    }
  };
  const bp = str('behaviorPolicy');
  if (bp) out.behaviorPolicy = bp;
  const ca = str('createdAt');
  if (ca) out.createdAt = ca;
  const rs = /"refScores"\s*:\s*\{\s*"random"\s*:\s*(-?[\d.eE+-]+)\s*,\s*"expert"\s*:\s*(-?[\d.eE+-]+)\s*\}/.exec(text);
  if (rs && Number.isFinite(Number(rs[1])) && Number.isFinite(Number(rs[2]))) out.refScores = { random: Number(rs[1]), expert: Number(rs[2]) };
  return out;
}
