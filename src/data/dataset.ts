/**
 * Columnar transition dataset: one typed array per field, row i of a [N, dim] column is
 * `col.subarray(i * dim, (i + 1) * dim)`. Terminals (true end of an episode, no bootstrapping) and
 * timeouts (time-limit truncation, bootstrap from next_observation) are kept apart, as in D4RL.
 *
 * Columns may be longer than `size * dim` (a DatasetBuilder hands out its growing buffers); only
 * the first `size` rows are valid. Datasets built with `build({ compact: true })` or loaded from
 * files have exact-length columns.
 */
import { DataError } from './errors.js';
import { checkNextObservations, nextObsBytes, type FinalObservations } from './next-obs.js';

/** A per-transition float column outside the core fields (e.g. 'mc_return', 'qpos'). */
export interface InfoColumn {
  dim: number;
  data: Float32Array;
}

export interface DatasetMeta {
  /** Environment id, e.g. 'hopper-medium-v2' or 'o2o/ur5-reach-v0'. */
  envId?: string;
  /** Free-form description of the policy that collected the data. */
  behaviorPolicy?: string;
  /** Reference returns for normalized scores: 100 * (ret - random) / (expert - random). */
  refScores?: { random: number; expert: number };
}

export interface Dataset {
  readonly obsDim: number;
  readonly actDim: number;
  /** Number of valid transitions (rows). */
  readonly size: number;
  readonly observations: Float32Array;
  readonly actions: Float32Array;
  readonly rewards: Float32Array;
  /**
   * Explicit next observations [size * obsDim], or null when they are implicit (then
   * `finalObservations` is set). Read them through `nextObsRow` / `nextObservationsOf`
   * (src/data/next-obs.ts), which work for both forms.
   */
  readonly nextObservations: Float32Array | null;
  /**
   * Implicit form: the rows whose next observation is stored (episode ends, the last row, rows
   * whose next observation differs from the following row's observation); every other row i has
   * next observation = observation of row i + 1. Null when `nextObservations` is explicit.
   */
  readonly finalObservations: FinalObservations | null;
  /** 1 where the episode truly ended (no bootstrapping). */
  readonly terminals: Uint8Array;
  /** 1 where the episode was cut by a time limit (bootstrapping from the next observation is valid). */
  readonly timeouts: Uint8Array;
  /** Episode id of each row; rows of an episode are contiguous. */
  readonly episodeIds: Uint32Array;
  readonly info: Readonly<Record<string, InfoColumn>>;
  readonly meta: DatasetMeta;
}

/** A contiguous episode: rows [start, end). */
export interface EpisodeView {
  id: number;
  start: number;
  end: number;
  length: number;
  /** The last row is a terminal (true end). */
  terminated: boolean;
  /** The last row is a timeout (time-limit truncation). */
  truncated: boolean;
  /** Sum of rewards. */
  return: number;
}

/** Create an empty dataset with exact-size, zero-filled columns (explicit next observations). */
export function allocDataset(size: number, obsDim: number, actDim: number, meta: DatasetMeta = {}): Dataset {
  checkDims(obsDim, actDim, 'allocDataset');
  return {
    obsDim,
    actDim,
    size,
    observations: new Float32Array(size * obsDim),
    actions: new Float32Array(size * actDim),
    rewards: new Float32Array(size),
    nextObservations: new Float32Array(size * obsDim),
    finalObservations: null,
    terminals: new Uint8Array(size),
    timeouts: new Uint8Array(size),
    episodeIds: new Uint32Array(size),
    info: {},
    meta: { ...meta },
  };
}

export function checkDims(obsDim: number, actDim: number, where: string): void {
  if (!Number.isInteger(obsDim) || obsDim < 1 || !Number.isInteger(actDim) || actDim < 1) {
    throw new DataError(
      `${where}: observation and action dimensions must be positive integers, got obsDim=${obsDim}, actDim=${actDim}`,
      {},
      'pass the dimensions of your environment spec (e.g. hopper: obsDim 11, actDim 3)',
    );
  }
}

/** Split a dataset into episodes: a new episode starts where the episode id changes, or after a
 * terminal/timeout row. Cost O(N), allocates one object per episode. */
export function episodes(ds: Dataset): EpisodeView[] {
  const out: EpisodeView[] = [];
  let start = 0;
  let ret = 0;
  for (let i = 0; i < ds.size; i++) {
    ret += ds.rewards[i]!;
    const last = i === ds.size - 1 || ds.terminals[i] === 1 || ds.timeouts[i] === 1 || ds.episodeIds[i + 1] !== ds.episodeIds[i];
    if (last) {
      out.push({
        id: ds.episodeIds[start]!,
        start,
        end: i + 1,
        length: i + 1 - start,
        terminated: ds.terminals[i] === 1,
        truncated: ds.terminals[i] !== 1 && ds.timeouts[i] === 1,
        return: ret,
      });
      start = i + 1;
      ret = 0;
    }
  }
  return out;
}

/**
 * Rows [start, end) as a new dataset: copied (default, shares no memory with `ds`) or as views.
 * Implicit next observations get a new (small) table either way: the slice's last row gets its
 * next observation stored when it was the following row's observation.
 */
export function sliceDataset(ds: Dataset, start: number, end: number, opts: { copy?: boolean } = {}): Dataset {
  const o = ds.obsDim;
  const a = ds.actDim;
  const cut = <T extends Float32Array | Uint8Array | Uint32Array>(c: T, dim = 1): T =>
    (opts.copy === false ? c.subarray(start * dim, end * dim) : c.slice(start * dim, end * dim)) as T;
  const info: Record<string, InfoColumn> = {};
  for (const [k, c] of Object.entries(ds.info)) info[k] = { dim: c.dim, data: cut(c.data, c.dim) };
  return {
    obsDim: o,
    actDim: a,
    size: end - start,
    observations: cut(ds.observations, o),
    actions: cut(ds.actions, a),
    rewards: cut(ds.rewards),
    nextObservations: ds.nextObservations === null ? null : cut(ds.nextObservations, o),
    finalObservations: ds.finalObservations === null ? null : sliceFinals(ds, start, end),
    terminals: cut(ds.terminals),
    timeouts: cut(ds.timeouts),
    episodeIds: cut(ds.episodeIds),
    info,
    meta: { ...ds.meta },
  };
}

function sliceFinals(ds: Dataset, start: number, end: number): FinalObservations {
  const f = ds.finalObservations!;
  const last = end - 1;
  if (end <= start || f.has(last)) return f.slice(start, end);
  // the last row's next observation is the observation of row `end`, outside the slice
  const t = f.slice(start, last);
  t.push(last - start, ds.observations, end * ds.obsDim);
  return t;
}

/** Same dataset with one info column added or replaced (columns are shared, not copied). */
export function withInfo(ds: Dataset, name: string, data: Float32Array, dim = 1): Dataset {
  if (data.length < ds.size * dim) {
    throw new DataError(
      `info column '${name}' has ${data.length} values, expected ${ds.size * dim} (${ds.size} rows x dim ${dim})`,
      {},
      'compute the column over the same dataset it is attached to',
    );
  }
  return { ...ds, info: { ...ds.info, [name]: { dim, data } } };
}

/**
 * Check shapes and values: every float must be finite, flags 0/1, episodes contiguous.
 * Throws a DataError naming the first bad row and column; `source` names the file or origin.
 */
export function validateDataset(ds: Dataset, source = 'dataset'): void {
  const n = ds.size;
  const need: [string, ArrayLike<number>, number][] = [
    ['observations', ds.observations, n * ds.obsDim],
    ['actions', ds.actions, n * ds.actDim],
    ['rewards', ds.rewards, n],
    ['terminals', ds.terminals, n],
    ['timeouts', ds.timeouts, n],
    ['episode_ids', ds.episodeIds, n],
  ];
  for (const [name, col, len] of need) {
    if (col.length < len) {
      throw new DataError(
        `column '${name}' has ${col.length} values, expected ${len} (${n} rows)`,
        { file: source },
        'check that all columns have the same number of rows and the declared dimensions',
      );
    }
  }
  checkFinite(ds.observations, ds.obsDim, n, 'observations', source);
  checkFinite(ds.actions, ds.actDim, n, 'actions', source);
  checkFinite(ds.rewards, 1, n, 'rewards', source);
  checkNextObservations(ds, source);
  for (const [k, c] of Object.entries(ds.info)) checkFinite(c.data, c.dim, n, `info.${k}`, source);
  for (let i = 0; i < n; i++) {
    if (ds.terminals[i]! > 1 || ds.timeouts[i]! > 1) {
      throw new DataError(`terminals/timeouts must be 0 or 1`, { file: source, row: i }, 'store flags as booleans');
    }
  }
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) {
    const id = ds.episodeIds[i]!;
    if (i > 0 && id === ds.episodeIds[i - 1]) continue;
    if (seen.has(id)) {
      throw new DataError(
        `episode ${id} is not contiguous (it reappears here after other episodes)`,
        { file: source, row: i },
        'give each episode its own id and keep its rows together',
      );
    }
    seen.add(id);
  }
}

export function checkFinite(col: Float32Array, dim: number, rows: number, name: string, source: string): void {
  const len = rows * dim;
  for (let j = 0; j < len; j++) {
    const v = col[j]!;
    if (v - v !== 0) {
      throw new DataError(
        `${name} contains ${Number.isNaN(v) ? 'NaN' : v > 0 ? 'Inf' : '-Inf'} at column ${j % dim}`,
        { file: source, row: Math.floor(j / dim) },
        'drop or repair that transition before importing (non-finite values poison training)',
      );
    }
  }
}

/**
 * Bytes held by the dataset's valid rows (not counting over-allocated capacity). Implicit next
 * observations count their stored rows and row bitset only.
 */
export function datasetBytes(ds: Dataset): number {
  let b = ds.size * (4 * (ds.obsDim + ds.actDim + 1) + 2 + 4) + nextObsBytes(ds);
  for (const c of Object.values(ds.info)) b += ds.size * c.dim * 4;
  return b;
}
