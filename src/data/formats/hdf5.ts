/**
 * HDF5 interop through h5wasm (HDF5 compiled to WebAssembly; in Node it reads the host
 * filesystem directly).
 * - D4RL layout: flat datasets observations [N, obs], actions [N, act], rewards [N],
 *   next_observations [N, obs], terminals [N], timeouts [N], optional infos/<name> [N, ...].
 * - Minari layout: groups episode_<k> with observations [T + 1, obs], actions [T, act],
 *   rewards [T], terminations [T], truncations [T]; root attrs total_episodes, total_steps.
 * Float32 data round-trips bit-exactly; float64 sources are rounded to float32. Flags are written
 * as int8 0/1 (h5py reads them as int8; bool files are read too). Exports write `<path>.partial`
 * and rename when complete, so a failed export never leaves a half file under the real name.
 */
import { closeSync, existsSync, openSync, readSync, renameSync, statSync, unlinkSync } from 'node:fs';
import type H5Module from 'h5wasm/node';
import { DatasetBuilder } from '../builder.js';
import { episodes, validateDataset, type Dataset, type DatasetMeta } from '../dataset.js';
import { nextObsRow, nextObservationsOf, sameRow } from '../next-obs.js';
import { DataError, type ProgressFn } from '../errors.js';

type H5 = typeof H5Module;
type H5File = InstanceType<H5['File']>;
type H5Group = InstanceType<H5['Group']>;
type H5Dataset = InstanceType<H5['Dataset']>;

// Loaded on first use: h5wasm's WebAssembly heap costs ~650 MB of RSS the moment it is imported,
// which every process importing src/data (robots, servers, learners) would otherwise pay.
let h5wasm!: H5;
async function openH5(path: string, mode: 'r' | 'w'): Promise<H5File> {
  if (!h5wasm) {
    const mod = (await import('h5wasm/node')).default;
    await mod.ready;
    h5wasm = mod;
  }
  if (mode === 'r') {
    if (!existsSync(path)) throw new DataError('file not found', { file: path }, 'check the path');
    const buf = Buffer.alloc(8);
    const fd = openSync(path, 'r');
    readSync(fd, buf, 0, 8, 0);
    closeSync(fd);
    if (buf.toString('latin1', 1, 4) !== 'HDF') throw new DataError('not an HDF5 file (bad signature)', { file: path, offset: 0 }, 'pass a D4RL or Minari .hdf5 file');
  }
  try {
    return new h5wasm.File(path, mode);
  } catch (e) {
    throw new DataError(`HDF5 library could not open it (${String((e as Error).message ?? e)})`, { file: path }, 'the file is truncated or corrupt; download or export it again');
  }
}

function numeric(path: string, f: H5Group, key: string, where: string): { data: ArrayLike<number>; shape: number[] } {
  const d = f.get(key) as H5Dataset | null;
  if (!d || !(d instanceof h5wasm.Dataset)) {
    throw new DataError(`missing dataset '${key}' (has: ${f.keys().join(', ')})`, { file: path }, `this does not look like a ${where} file; check the layout`);
  }
  let v: unknown;
  try {
    v = d.value;
  } catch (e) {
    throw new DataError(`cannot read '${key}' (${String((e as Error).message ?? e)})`, { file: path }, 'the file is truncated or corrupt; download or export it again');
  }
  if (!ArrayBuffer.isView(v) || v instanceof DataView || typeof (v as { length?: unknown }).length !== 'number' || v instanceof BigInt64Array || v instanceof BigUint64Array) {
    throw new DataError(`'${key}' has dtype ${JSON.stringify(d.dtype)}, expected numbers`, { file: path }, 'store it as float32/float64 (flags as bool/int)');
  }
  return { data: v as unknown as ArrayLike<number>, shape: d.shape ?? [] };
}

function asDataError(e: unknown, path: string): DataError {
  if (e instanceof DataError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new DataError(`HDF5 read failed (${msg})`, { file: path }, 'the file is truncated or corrupt; download or export it again');
}

function rowsOf(path: string, key: string, s: number[], rows: number, dim: number | undefined): number {
  const d = s.length === 1 ? 1 : s.slice(1).reduce((a, b) => a * b, 1);
  if (s[0] !== rows || (dim !== undefined && d !== dim)) {
    throw new DataError(
      `'${key}' has shape [${s.join(', ')}], expected [${rows}${dim !== undefined && dim !== 1 ? `, ${dim}` : ''}]`,
      { file: path },
      'all columns must have one row per transition with the declared dimensions',
    );
  }
  return d;
}

function toF32(src: ArrayLike<number>): Float32Array {
  return src instanceof Float32Array ? src : Float32Array.from(src);
}
function toFlags(path: string, key: string, src: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!;
    if (v !== 0 && v !== 1) throw new DataError(`'${key}' holds ${v}; flags must be 0 or 1`, { file: path, row: i }, 'store terminals/timeouts as booleans');
    out[i] = v;
  }
  return out;
}

export interface ImportResult {
  dataset: Dataset;
  /** Rows dropped because their next observation was unknown (D4RL files without next_observations). */
  droppedRows: number;
  notes: string[];
}

/** Read a D4RL-layout HDF5 file. */
export async function importD4rl(path: string, opts: { meta?: DatasetMeta; progress?: ProgressFn } = {}): Promise<ImportResult> {
  const f = await openH5(path, 'r');
  const notes: string[] = [];
  try {
    const obs = numeric(path, f, 'observations', 'D4RL');
    const n = obs.shape[0] ?? 0;
    const o = rowsOf(path, 'observations', obs.shape, n, undefined);
    const act = numeric(path, f, 'actions', 'D4RL');
    const a = rowsOf(path, 'actions', act.shape, n, undefined);
    const rew = numeric(path, f, 'rewards', 'D4RL');
    rowsOf(path, 'rewards', rew.shape, n, 1);
    const term = toFlags(path, 'terminals', numeric(path, f, 'terminals', 'D4RL').data);
    rowsOf(path, 'terminals', [term.length], n, 1);
    let tout: Uint8Array;
    if (f.keys().includes('timeouts')) {
      tout = toFlags(path, 'timeouts', numeric(path, f, 'timeouts', 'D4RL').data);
      rowsOf(path, 'timeouts', [tout.length], n, 1);
    } else {
      tout = new Uint8Array(n);
      notes.push('no timeouts key: every episode is assumed to end at a terminal');
    }
    const hasNext = f.keys().includes('next_observations');
    const next = hasNext ? numeric(path, f, 'next_observations', 'D4RL') : undefined;
    if (next) rowsOf(path, 'next_observations', next.shape, n, o);
    const infos: Record<string, { dim: number; data: Float32Array }> = {};
    const ig = f.get('infos');
    if (ig instanceof h5wasm.Group) {
      for (const k of ig.keys()) {
        const c = ig.get(k);
        if (!(c instanceof h5wasm.Dataset) || (c.shape ?? [])[0] !== n) continue;
        const v = c.value;
        if (v instanceof Float32Array || v instanceof Float64Array) infos[k] = { dim: (c.shape ?? [n]).slice(1).reduce((x, y) => x * y, 1), data: toF32(v) };
      }
    }
    const obsF = toF32(obs.data);
    const actF = toF32(act.data);
    const rewF = toF32(rew.data);
    const nextF = next ? toF32(next.data) : undefined;
    const b = new DatasetBuilder(o, a, {
      capacity: Math.max(1, n),
      infoDims: Object.fromEntries(Object.entries(infos).map(([k, c]) => [k, c.dim])),
      meta: opts.meta,
      validate: false,
    });
    b.reserve(n);
    // every row is kept when the file has next_observations (the builder keeps them exactly,
    // storing only those that are not the following row's observation); else they are collected
    const nextCol = nextF ?? new Float32Array(n * o);
    let ep = 0;
    let dropped = 0;
    let r = 0;
    for (let i = 0; i < n; i++) {
      const end = term[i] === 1 || tout[i] === 1;
      let nextRow: Float32Array | undefined;
      if (nextF) nextRow = nextF.subarray(i * o, (i + 1) * o);
      else if (i + 1 < n && !end) nextRow = obsF.subarray((i + 1) * o, (i + 2) * o);
      else if (term[i] === 1) nextRow = obsF.subarray(i * o, (i + 1) * o); // unused by TD targets
      if (!nextRow) {
        dropped++;
        if (end) ep++;
        // the episode lost its final row: mark the new last row as truncated
        if (r > 0 && b.episodeIds[r - 1] === ep - (end ? 1 : 0)) b.timeouts[r - 1] = 1;
        continue;
      }
      b.observations.set(obsF.subarray(i * o, (i + 1) * o), r * o);
      if (!nextF) nextCol.set(nextRow, r * o);
      b.actions.set(actF.subarray(i * a, (i + 1) * a), r * a);
      b.rewards[r] = rewF[i]!;
      b.terminals[r] = term[i]!;
      b.timeouts[r] = tout[i]!;
      b.episodeIds[r] = ep;
      for (const [k, c] of Object.entries(infos)) b.info[k]!.data.set(c.data.subarray(i * c.dim, (i + 1) * c.dim), r * c.dim);
      r++;
      if (end) ep++;
      if (opts.progress && i % 100000 === 0) opts.progress(i, n, 'import');
    }
    b.commit(r, nextCol);
    if (dropped) notes.push(`${dropped} rows without a next observation were dropped (no next_observations key)`);
    const ds = b.build();
    validateDataset(ds, path);
    return { dataset: ds, droppedRows: dropped, notes };
  } catch (e) {
    throw asDataError(e, path);
  } finally {
    f.close();
  }
}

function writeAtomic(path: string, overwrite: boolean, body: (f: H5File) => void): Promise<void> {
  return (async () => {
    if (existsSync(path) && !overwrite) throw new DataError('file exists', { file: path }, 'choose another output path or pass overwrite');
    const tmp = `${path}.partial`;
    if (existsSync(tmp)) unlinkSync(tmp);
    const f = await openH5(tmp, 'w');
    try {
      body(f);
    } catch (e) {
      f.close();
      unlinkSync(tmp);
      throw e;
    }
    f.close();
    if (!(statSync(tmp).size > 0)) throw new DataError('export produced an empty file', { file: tmp }, 'check free disk space');
    renameSync(tmp, path);
  })();
}

function f32(f: H5Group, name: string, data: Float32Array, shape: number[]): void {
  f.create_dataset({ name, data, shape, dtype: '<f' });
}
function flags(f: H5Group, name: string, data: Uint8Array): void {
  f.create_dataset({ name, data: new Int8Array(data.buffer, data.byteOffset, data.length), shape: [data.length], dtype: '|b1' });
}

/** Write a dataset in the D4RL layout (plus infos/<name> for info columns). */
export async function exportD4rl(ds: Dataset, path: string, opts: { overwrite?: boolean } = {}): Promise<void> {
  validateDataset(ds, 'dataset to export');
  const n = ds.size;
  await writeAtomic(path, opts.overwrite ?? false, (f) => {
    f32(f, 'observations', ds.observations.subarray(0, n * ds.obsDim), [n, ds.obsDim]);
    f32(f, 'actions', ds.actions.subarray(0, n * ds.actDim), [n, ds.actDim]);
    f32(f, 'rewards', ds.rewards.subarray(0, n), [n]);
    f32(f, 'next_observations', nextObservationsOf(ds, 0, n), [n, ds.obsDim]);
    flags(f, 'terminals', ds.terminals.subarray(0, n));
    flags(f, 'timeouts', ds.timeouts.subarray(0, n));
    const names = Object.keys(ds.info);
    if (names.length) {
      const g = f.create_group('infos');
      for (const k of names) {
        const c = ds.info[k]!;
        f32(g, k, c.data.subarray(0, n * c.dim), c.dim === 1 ? [n] : [n, c.dim]);
      }
    }
    if (ds.meta.envId) f.create_attribute('env_id', ds.meta.envId);
  });
}

/** Read a Minari dataset file (main_data.hdf5). */
export async function importMinari(path: string, opts: { meta?: DatasetMeta; progress?: ProgressFn } = {}): Promise<ImportResult> {
  const f = await openH5(path, 'r');
  try {
    const names = f
      .keys()
      .filter((k) => /^episode_\d+$/.test(k))
      .sort((x, y) => Number(x.slice(8)) - Number(y.slice(8)));
    if (!names.length) throw new DataError(`no episode_<k> groups (has: ${f.keys().join(', ')})`, { file: path }, 'pass a Minari main_data.hdf5 file');
    let b: DatasetBuilder | undefined;
    for (let e = 0; e < names.length; e++) {
      const g = f.get(names[e]!) as H5Group;
      const gp = `${path}:/${names[e]}`;
      const obs = numeric(gp, g, 'observations', 'Minari');
      const t = (obs.shape[0] ?? 1) - 1;
      const o = rowsOf(gp, 'observations', obs.shape, t + 1, undefined);
      const act = numeric(gp, g, 'actions', 'Minari');
      const a = rowsOf(gp, 'actions', act.shape, t, undefined);
      const rew = toF32(numeric(gp, g, 'rewards', 'Minari').data);
      rowsOf(gp, 'rewards', [rew.length], t, 1);
      const term = toFlags(gp, 'terminations', numeric(gp, g, 'terminations', 'Minari').data);
      const trunc = toFlags(gp, 'truncations', numeric(gp, g, 'truncations', 'Minari').data);
      rowsOf(gp, 'terminations', [term.length], t, 1);
      rowsOf(gp, 'truncations', [trunc.length], t, 1);
      b ??= new DatasetBuilder(o, a, { capacity: Math.max(1, t * names.length), meta: opts.meta, validate: false });
      if (o !== b.obsDim || a !== b.actDim) {
        throw new DataError(`episode has obs ${o}/act ${a}, earlier episodes ${b.obsDim}/${b.actDim}`, { file: gp }, 'all episodes must share the spaces');
      }
      const obsF = toF32(obs.data);
      const actF = toF32(act.data);
      b.reserve(t);
      const s = b.size;
      b.observations.set(obsF.subarray(0, t * o), s * o);
      b.actions.set(actF.subarray(0, t * a), s * a);
      b.rewards.set(rew, s);
      for (let i = 0; i < t; i++) {
        b.terminals[s + i] = term[i]!;
        b.timeouts[s + i] = term[i] ? 0 : trunc[i]!;
      }
      b.episodeIds.fill(e, s, s + t);
      b.commit(t, obsF.subarray(o, (t + 1) * o));
      opts.progress?.(e + 1, names.length, 'import');
    }
    const ds = b!.build();
    validateDataset(ds, path);
    return { dataset: ds, droppedRows: 0, notes: [] };
  } catch (e) {
    throw asDataError(e, path);
  } finally {
    f.close();
  }
}

/**
 * Write a dataset in the Minari layout. Minari stores T + 1 observations per episode, so each
 * next_observation must equal the following row's observation inside an episode; rows where it
 * does not are counted in the returned `inconsistentRows` (their next_observation is not stored).
 */
export async function exportMinari(ds: Dataset, path: string, opts: { overwrite?: boolean; datasetId?: string } = {}): Promise<{ episodes: number; inconsistentRows: number }> {
  validateDataset(ds, 'dataset to export');
  const eps = episodes(ds);
  const o = ds.obsDim;
  const a = ds.actDim;
  let bad = 0;
  const next = new Float32Array(o);
  await writeAtomic(path, opts.overwrite ?? false, (f) => {
    eps.forEach((ep, k) => {
      const t = ep.length;
      const g = f.create_group(`episode_${k}`);
      const obs = new Float32Array((t + 1) * o);
      obs.set(ds.observations.subarray(ep.start * o, ep.end * o));
      nextObsRow(ds, ep.end - 1, obs, t * o);
      for (let i = ep.start; i < ep.end - 1; i++) {
        nextObsRow(ds, i, next, 0);
        if (!sameRow(next, 0, ds.observations, (i + 1) * o, o)) bad++;
      }
      f32(g, 'observations', obs, [t + 1, o]);
      f32(g, 'actions', ds.actions.slice(ep.start * a, ep.end * a), [t, a]);
      f32(g, 'rewards', ds.rewards.slice(ep.start, ep.end), [t]);
      flags(g, 'terminations', ds.terminals.slice(ep.start, ep.end));
      flags(g, 'truncations', ds.timeouts.slice(ep.start, ep.end));
      g.create_attribute('id', k);
      g.create_attribute('total_steps', t);
    });
    f.create_attribute('total_episodes', eps.length);
    f.create_attribute('total_steps', ds.size);
    f.create_attribute('dataset_id', opts.datasetId ?? ds.meta.envId ?? 'o2o-export');
  });
  return { episodes: eps.length, inconsistentRows: bad };
}
