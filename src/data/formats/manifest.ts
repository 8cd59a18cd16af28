/**
 * The dataset folder's manifest.json: spec, counts, reference scores and one entry per finalized
 * segment with its sha256. Written atomically (temp file, fsync, rename): a crash leaves either
 * the old or the new manifest, never a torn one.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataError } from '../errors.js';
import { writeFileDurably } from '../../util/durable.js';

export const MANIFEST = 'manifest.json';
export const MANIFEST_FORMAT = 'o2o-dataset';

export interface SegmentEntry {
  /** File name inside the dataset folder, e.g. 'seg-0003.mcap'. */
  file: string;
  transitions: number;
  /** Episode ids of the first and last row (an episode may continue into the next segment). */
  firstEpisodeId: number;
  lastEpisodeId: number;
  /** Number of episode starts inside the segment (id changes, counting the first row). */
  episodeStarts: number;
  bytes: number;
  sha256: string;
  compression: string;
  /** Next transition sequence number per robot after this segment. */
  nextSequence: Record<string, number>;
  /** Episodes per robot (robot_id of the batches); absent in segments written before 2026-11-29. */
  episodesByRobot?: Record<string, RobotEpisodes>;
}

/** A robot's episodes in one segment: ids of its first and last row, and how many start here. */
export interface RobotEpisodes {
  first: number;
  last: number;
  starts: number;
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  version: 1;
  envId: string;
  obsDim: number;
  actDim: number;
  infoDims: Record<string, number>;
  behaviorPolicy: string;
  refScores?: { random: number; expert: number };
  createdAt: string;
  updatedAt: string;
  counts: { transitions: number; episodes: number; segments: number };
  segments: SegmentEntry[];
}

export function readManifest(dir: string): Manifest {
  const path = join(dir, MANIFEST);
  const rebuild = `run 'o2o dataset repair ${dir}' to rebuild it from the segments (the damaged file is kept as ${MANIFEST}.damaged)`;
  if (!existsSync(path)) {
    const segs = existsSync(dir) ? readdirSync(dir).filter((f) => /^seg-\d{4,}\.mcap(\.partial)?$/.test(f)).length : 0;
    if (segs > 0)
      throw new DataError(`no ${MANIFEST}, but the folder holds ${segs} segment file(s)`, { file: dir }, `run 'o2o dataset repair ${dir}' to rebuild it from the segments`);
    throw new DataError(`no ${MANIFEST} here; this is not an o2o dataset folder`, { file: dir }, "create one with 'o2o dataset import' or createStore()");
  }
  let m: Manifest;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch (e) {
    throw new DataError(`manifest is not valid JSON (${(e as Error).message})`, { file: path }, rebuild);
  }
  if (m === null || typeof m !== 'object') throw new DataError('manifest is not a JSON object', { file: path }, rebuild);
  if (m.format === MANIFEST_FORMAT && (m.version !== 1 || !(m.obsDim > 0) || !(m.actDim > 0) || !Array.isArray(m.segments))) {
    throw new DataError(`manifest lacks a valid version, obsDim, actDim or segments`, { file: path }, rebuild);
  }
  if (m.format !== MANIFEST_FORMAT || m.version !== 1 || !(m.obsDim > 0) || !(m.actDim > 0) || !Array.isArray(m.segments)) {
    throw new DataError(
      `manifest has format '${String(m.format)}' version ${String(m.version)}; expected ${MANIFEST_FORMAT} v1 with obsDim, actDim, segments`,
      { file: path },
      'this folder was written by another tool or version',
    );
  }
  return m;
}

/** Recompute totals from the segment list. */
export function recount(m: Manifest): void {
  let transitions = 0;
  let episodes = 0;
  let lastId = -1;
  // per robot: an episode that continues into the next segment is counted once
  const lastOf = new Map<string, number>();
  for (const s of m.segments) {
    transitions += s.transitions;
    if (s.transitions === 0) continue;
    if (s.episodesByRobot) {
      for (const [robot, e] of Object.entries(s.episodesByRobot)) {
        episodes += e.starts - (lastOf.get(robot) === e.first ? 1 : 0);
        lastOf.set(robot, e.last);
      }
    } else episodes += s.episodeStarts - (s.firstEpisodeId === lastId ? 1 : 0);
    lastId = s.lastEpisodeId;
  }
  m.counts = { transitions, episodes, segments: m.segments.length };
  m.updatedAt = new Date().toISOString();
}

export function writeManifest(dir: string, m: Manifest): void {
  writeFileDurably(join(dir, MANIFEST), `${JSON.stringify(m, null, 2)}\n`);
}
