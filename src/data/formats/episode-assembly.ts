/**
 * Intact episodes from a fleet's batch log. A learner stores batches as they arrive, so the
 * batches of robots collecting at the same time interleave in a segment, and every robot numbers
 * its episodes from 0. Reading assembles them: each (robot_id, episode id) becomes one contiguous
 * episode with an id of its own, in the order the episodes first appear, and the rows of each
 * robot stay in sequence order. Nothing in a file changes; the store keeps the log as written
 * (which is what lets it acknowledge a batch the moment it is fsynced).
 */
import { DatasetBuilder } from '../builder.js';
import type { Dataset } from '../dataset.js';
import type { RobotEpisodes } from './manifest.js';

/** Rows [start, start + count) of the loaded dataset came from one batch of `robot`. */
export interface BatchRun {
  robot: string;
  start: number;
  count: number;
}

interface Piece {
  start: number;
  end: number;
}

/**
 * Returns the dataset with every (robot, episode) contiguous and ids 0, 1, ... in order of first
 * appearance, or null when every episode is already contiguous and no two robots share an
 * episode id (imports, single robots, appends that shifted their ids) — then nothing is copied.
 */
export function assembleEpisodes(ds: Dataset, runs: readonly BatchRun[]): Dataset | null {
  // an episode continues only while its robot stays on that id; an id a robot returns to later
  // (a robot restarted without its spool state, an append that reused ids) is a new episode
  const current = new Map<string, { id: number; pieces: Piece[] }>();
  const episodes: Piece[][] = [];
  let contiguous = true;
  let shared = false; // two robots use the same episode id
  const owner = new Map<number, string>();
  let lastPieces: Piece[] | null = null;
  for (const r of runs) {
    let s = r.start;
    const end = r.start + r.count;
    while (s < end) {
      const id = ds.episodeIds[s]!;
      let e = s + 1;
      while (e < end && ds.episodeIds[e] === id) e++;
      const cur = current.get(r.robot);
      if (cur && cur.id === id) {
        if (cur.pieces !== lastPieces) contiguous = false; // another robot's rows came in between
        const last = cur.pieces[cur.pieces.length - 1]!;
        if (last.end === s) last.end = e;
        else cur.pieces.push({ start: s, end: e });
        lastPieces = cur.pieces;
      } else {
        const o = owner.get(id);
        if (o === undefined) owner.set(id, r.robot);
        else if (o !== r.robot) shared = true;
        const pieces = [{ start: s, end: e }];
        episodes.push(pieces);
        current.set(r.robot, { id, pieces });
        lastPieces = pieces;
      }
      s = e;
    }
  }
  if (contiguous && !shared) return null;
  const out = new DatasetBuilder(ds.obsDim, ds.actDim, {
    capacity: Math.max(1, ds.size),
    infoDims: Object.fromEntries(Object.entries(ds.info).map(([k, c]) => [k, c.dim])),
    meta: ds.meta,
    validate: false,
  });
  let id = 0;
  for (const pieces of episodes) {
    for (const p of pieces) {
      const s = out.size;
      out.append(ds, p.start, p.end);
      out.episodeIds.fill(id, s, out.size);
    }
    id++;
  }
  return out.build();
}

/** Per robot: ids of its first and last row and its episode starts (id changes) — the manifest's counts. */
export function robotEpisodes(ds: Dataset, runs: readonly BatchRun[]): Record<string, RobotEpisodes> {
  const out: Record<string, RobotEpisodes> = {};
  for (const r of runs) {
    let e = out[r.robot];
    for (let i = r.start; i < r.start + r.count; i++) {
      const id = ds.episodeIds[i]!;
      if (!e) e = out[r.robot] = { first: id, last: id, starts: 1 };
      else if (id !== e.last) e.starts++;
      e.last = id;
    }
  }
  return out;
}
