/**
 * Library side of `o2o dataset info | import | export | repair | stats`. Each function takes plain
 * options, returns data (the CLI prints it) and reports progress through an optional callback.
 */
import { readFileSync } from 'node:fs';
import { episodes, type Dataset } from './dataset.js';
import { DataError, type ProgressFn } from './errors.js';
import { exportD4rl, exportMinari, importD4rl, importMinari } from './formats/hdf5.js';
import type { Manifest } from './formats/manifest.js';
import { ready } from './formats/mcap-io.js';
import { createStore, openStore, type PartialReport, type RepairReport } from './formats/mcap-store.js';
import { type DroppedChunk, rebuildManifestIfNeeded } from './formats/salvage.js';
import { importRosbag2 } from './formats/rosbag2.js';
import { observationStats } from './normalization.js';

export type ExternalFormat = 'd4rl' | 'minari' | 'rosbag2';

export interface DatasetInfo {
  dir: string;
  manifest: Manifest;
  /** Leftover *.partial segments (a writer crashed); `repair` finalizes them. */
  partials: string[];
  /** Finalized segments on disk that the manifest does not list. */
  unregistered: string[];
}

export function datasetInfo(dir: string): DatasetInfo {
  const st = openStore(dir);
  const f = st.files();
  return { dir, manifest: st.manifest, partials: f.partials, unregistered: f.finalized.filter((s) => !st.manifest.segments.some((e) => e.file === s)) };
}

export interface ImportOptions {
  format: ExternalFormat;
  /** Source file (.hdf5 / .mcap). */
  input: string;
  /** Dataset folder; created if it has no manifest, appended to otherwise. */
  dir: string;
  envId?: string;
  behaviorPolicy?: string;
  refScores?: { random: number; expert: number };
  /** rosbag2 only: YAML mapping text or a path to it. */
  mapping?: string;
  progress?: ProgressFn;
}

export interface ImportSummary {
  transitions: number;
  episodes: number;
  segment: string;
  notes: string[];
}

export async function importDataset(o: ImportOptions): Promise<ImportSummary> {
  const meta = { envId: o.envId, behaviorPolicy: o.behaviorPolicy };
  let ds: Dataset;
  let notes: string[] = [];
  if (o.format === 'd4rl') ({ dataset: ds, notes } = await importD4rl(o.input, { meta, progress: o.progress }));
  else if (o.format === 'minari') ({ dataset: ds, notes } = await importMinari(o.input, { meta, progress: o.progress }));
  else if (o.format === 'rosbag2') {
    if (!o.mapping) throw new DataError('rosbag2 import needs a topic mapping', { file: o.input }, 'pass --mapping mapping.yaml (see src/data/formats/rosbag2.ts)');
    const text = /\n/.test(o.mapping) ? o.mapping : readFileSync(o.mapping, 'utf8');
    ds = (await importRosbag2(o.input, text, { meta, progress: o.progress })).dataset;
  } else throw new DataError(`unknown format '${String(o.format)}'`, {}, 'use d4rl, minari or rosbag2');
  const infoDims = Object.fromEntries(Object.entries(ds.info).map(([k, c]) => [k, c.dim]));
  let st;
  try {
    st = openStore(o.dir);
  } catch {
    st = createStore(o.dir, { obsDim: ds.obsDim, actDim: ds.actDim, envId: o.envId, behaviorPolicy: o.behaviorPolicy, refScores: o.refScores, infoDims });
  }
  const seg = await st.append(ds, { robotId: `import:${o.format}`, progress: o.progress });
  return { transitions: ds.size, episodes: episodes(ds).length, segment: seg.file, notes };
}

export interface ExportOptions {
  format: 'd4rl' | 'minari';
  dir: string;
  output: string;
  overwrite?: boolean;
  progress?: ProgressFn;
}

export async function exportDataset(o: ExportOptions): Promise<{ transitions: number; episodes: number; notes: string[] }> {
  const r = await openStore(o.dir).read({ progress: o.progress });
  const notes = r.partials.length ? [`included ${r.partials.reduce((a, p) => a + p.transitions, 0)} transitions recovered from ${r.partials.length} partial segment(s)`] : [];
  if (o.format === 'd4rl') await exportD4rl(r.dataset, o.output, { overwrite: o.overwrite });
  else {
    const m = await exportMinari(r.dataset, o.output, { overwrite: o.overwrite });
    if (m.inconsistentRows) notes.push(`${m.inconsistentRows} rows had next_observation != following observation; Minari cannot store those next observations`);
  }
  return { transitions: r.dataset.size, episodes: episodes(r.dataset).length, notes };
}

/** `o2o dataset repair`: rebuild a lost/corrupt manifest from the segments, then salvage damaged
 * segments and finalize partials (DatasetStore.repair). */
export async function repairDataset(dir: string, progress?: ProgressFn): Promise<RepairReport> {
  await ready();
  const manifest = rebuildManifestIfNeeded(dir);
  const rep = await openStore(dir).repair(progress);
  return manifest ? { ...rep, manifest } : rep;
}

/** The repair report as lines for people (the CLI prints it; --json prints the object). */
export function formatRepairReport(dir: string, r: RepairReport): string {
  const out: string[] = [];
  const batch = (d: DroppedChunk): string => {
    const what = d.chunkIndex >= 0 ? `chunk ${d.chunkIndex}` : 'a non-chunk record';
    const lost =
      d.known === 'unknown'
        ? 'its batch is unreadable'
        : `${d.transitions ?? '?'} transitions of robot '${d.robotId}'${d.firstSequence !== undefined && d.transitions !== undefined ? `, sequence ${d.firstSequence}–${d.firstSequence + d.transitions - 1}` : d.firstSequence !== undefined ? `, from sequence ${d.firstSequence}` : ''}${d.known === 'sequence gap' ? ' (from the sequence gap)' : ''}`;
    return `    dropped ${what} at byte ${d.offset} (${d.bytes} bytes${d.resynced ? ', framing broken: resynced at the next valid chunk' : ''}): ${d.reason}; ${lost}`;
  };
  if (r.manifest) {
    out.push(`${r.manifest.reason}: rebuilt it from the segments${r.manifest.keptAs ? ` (the old one is kept as ${r.manifest.keptAs})` : ''}`);
    for (const n of r.manifest.notes) out.push(`    ${n}`);
  }
  for (const s of r.salvaged) {
    out.push(
      `${s.segment}: damaged; kept ${s.keptTransitions} transitions in ${s.keptBatches} intact batches${s.lostTransitions !== undefined ? `, lost ${s.lostTransitions}` : ''} (original kept as ${s.keptAs})`,
    );
    for (const d of s.dropped) out.push(batch(d));
  }
  for (const p of r.repaired) {
    out.push(
      `${p.partial} → ${p.segment}: ${p.transitions} transitions recovered${p.droppedBytes ? `, ${p.droppedBytes} bytes at the end dropped` : ''}${p.keptAs ? ` (damaged partial kept as ${p.keptAs})` : ''}`,
    );
    for (const d of p.dropped) out.push(batch(d));
  }
  for (const f of r.removedEmpty) out.push(`${f}: no complete chunk; removed`);
  for (const f of r.removedStale) out.push(`${f}: stale (its segment exists); removed`);
  for (const f of r.registered) out.push(`${f}: registered in the manifest`);
  for (const f of r.recounted) out.push(`${f}: episodes recounted per robot (written before episodes were counted per robot)`);
  if (out.length === 0) out.push(`${dir}: nothing to repair`);
  else {
    const m = openStore(dir).manifest;
    out.push(`${dir}: ${m.counts.transitions} transitions, ${m.counts.episodes} episodes in ${m.counts.segments} segments`);
  }
  return out.join('\n');
}

export interface DatasetStats {
  transitions: number;
  episodes: number;
  terminals: number;
  timeouts: number;
  episodeReturn: { mean: number; min: number; max: number };
  episodeLength: { mean: number; min: number; max: number };
  /** Normalized score of the mean episode return if the manifest has reference scores. */
  normalizedScore?: number;
  reward: { mean: number; std: number; min: number; max: number };
  obsMean: number[];
  obsStd: number[];
  partials: PartialReport[];
}

export async function datasetStats(dir: string, opts: { progress?: ProgressFn; verifyChecksums?: boolean } = {}): Promise<DatasetStats> {
  const st = openStore(dir);
  const r = await st.read({ progress: opts.progress, verifyChecksums: opts.verifyChecksums ?? true });
  const ds = r.dataset;
  if (ds.size === 0) throw new DataError('the dataset is empty', { file: dir }, "import data first with 'o2o dataset import'");
  const eps = episodes(ds);
  const sum = (a: number[]): number => a.reduce((x, y) => x + y, 0);
  const rets = eps.map((e) => e.return);
  const lens = eps.map((e) => e.length);
  let rs = 0,
    rs2 = 0,
    rmin = Infinity,
    rmax = -Infinity,
    term = 0,
    tout = 0;
  for (let i = 0; i < ds.size; i++) {
    const x = ds.rewards[i]!;
    rs += x;
    rs2 += x * x;
    rmin = Math.min(rmin, x);
    rmax = Math.max(rmax, x);
    term += ds.terminals[i]!;
    tout += ds.timeouts[i]!;
  }
  const mean = rs / ds.size;
  const stats = observationStats(ds, 0);
  const ref = st.manifest.refScores;
  const meanRet = sum(rets) / eps.length;
  return {
    transitions: ds.size,
    episodes: eps.length,
    terminals: term,
    timeouts: tout,
    episodeReturn: { mean: meanRet, min: Math.min(...rets), max: Math.max(...rets) },
    episodeLength: { mean: sum(lens) / eps.length, min: Math.min(...lens), max: Math.max(...lens) },
    ...(ref && ref.expert !== ref.random ? { normalizedScore: (100 * (meanRet - ref.random)) / (ref.expert - ref.random) } : {}),
    reward: { mean, std: Math.sqrt(Math.max(0, rs2 / ds.size - mean * mean)), min: rmin, max: rmax },
    obsMean: Array.from(stats.mean),
    obsStd: Array.from(stats.std),
    partials: r.partials,
  };
}
