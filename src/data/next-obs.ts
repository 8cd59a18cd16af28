/**
 * Next observations, explicit or implicit.
 *
 * Inside an episode the next observation of row i is the observation of row i + 1, so storing a
 * `next_observations` column duplicates the largest column of a dataset. A Dataset holds its next
 * observations in one of two forms:
 * - explicit: `nextObservations` is a [size * obsDim] column, `finalObservations` is null. Any data
 *   fits (e.g. a D4RL file whose next_observations do not equal the following row).
 * - implicit: `nextObservations` is null and `finalObservations` is a sparse table of the rows whose
 *   next observation is stored; every other row i has next observation = observation of row i + 1,
 *   bit for bit. The last row is always in the table. DatasetBuilder puts exactly these rows in it:
 *   rows that end an episode (terminal, timeout, episode id changes, last row) and rows whose
 *   recorded next observation differs from the following row's observation.
 * Consumers never look at the representation: `nextObsRow` (one row into a buffer, no allocation;
 * samplers use it), `nextObservationsOf` (a range as one array, for encoders and exports),
 * `withExplicitNext` / `withImplicitNext` (convert). Files and wire messages always carry one next
 * observation per row.
 */
import type { Dataset } from './dataset.js';
import { DataError } from './errors.js';

/** True when two float32 values have the same bits (NaN never matches: it then stays stored). */
function sameF32(x: number, y: number): boolean {
  return x === y && (x !== 0 || 1 / x === 1 / y);
}

/** `dim` values of `a` from `pa` equal (bit for bit) those of `b` from `pb`. */
export function sameRow(a: ArrayLike<number>, pa: number, b: ArrayLike<number>, pb: number, dim: number): boolean {
  for (let k = 0; k < dim; k++) if (!sameF32(a[pa + k]!, b[pb + k]!)) return false;
  return true;
}

/**
 * The stored next observations of an implicit dataset: entries (row, next observation) with rows
 * strictly increasing, plus a bitset over rows so that "is row i stored?" is one load. A
 * DatasetBuilder grows its table as rows arrive; tables handed out in Datasets are not mutated.
 */
export class FinalObservations {
  readonly obsDim: number;
  private n = 0;
  private rowBuf: Uint32Array;
  private vals: Float32Array;
  private bits: Uint32Array;

  constructor(obsDim: number, capacity = 16) {
    this.obsDim = obsDim;
    const c = Math.max(1, capacity);
    this.rowBuf = new Uint32Array(c);
    this.vals = new Float32Array(c * obsDim);
    this.bits = new Uint32Array(1);
  }

  /** A table from rows (strictly increasing) and their next observations [rows.length * obsDim]. */
  static from(obsDim: number, rows: ArrayLike<number>, values: Float32Array): FinalObservations {
    const t = new FinalObservations(obsDim, rows.length);
    if (values.length < rows.length * obsDim) {
      throw new DataError(`final observations: ${values.length} values for ${rows.length} rows of dim ${obsDim}`, {}, 'pass one next observation per row');
    }
    for (let k = 0; k < rows.length; k++) t.push(rows[k]!, values, k * obsDim);
    return t;
  }

  /** Number of stored rows. */
  get count(): number {
    return this.n;
  }
  /** Row of entry k (0 <= k < count). */
  rowAt(k: number): number {
    return this.rowBuf[k]!;
  }
  /** Values buffer: entry k's next observation is data[k * obsDim .. (k + 1) * obsDim). Read only. */
  get data(): Float32Array {
    return this.vals;
  }
  /** Last stored row, or -1 when empty. */
  get lastRow(): number {
    return this.n > 0 ? this.rowBuf[this.n - 1]! : -1;
  }

  /** Whether row i's next observation is stored here. */
  has(i: number): boolean {
    const w = i >>> 5;
    return w < this.bits.length && ((this.bits[w]! >>> (i & 31)) & 1) === 1;
  }

  /** Entry index of row i, or -1 when row i is implicit (its next observation is row i + 1's). */
  slot(i: number): number {
    return this.has(i) ? this.lowerBound(i) : -1;
  }

  /** First entry whose row is >= i (count when none). */
  lowerBound(i: number): number {
    let lo = 0;
    let hi = this.n;
    const r = this.rowBuf;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (r[mid]! < i) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Append an entry (row must be greater than lastRow); values are rounded to float32. */
  push(row: number, src: ArrayLike<number>, offset = 0): void {
    if (!Number.isInteger(row) || row < 0 || row <= this.lastRow) {
      throw new DataError(`final observations: row ${row} after row ${this.lastRow}`, {}, 'add entries in increasing row order');
    }
    const o = this.obsDim;
    if (this.n === this.rowBuf.length) {
      const cap = Math.ceil(this.n * 1.5) + 8;
      const rows = new Uint32Array(cap);
      rows.set(this.rowBuf);
      this.rowBuf = rows;
      const vals = new Float32Array(cap * o);
      vals.set(this.vals);
      this.vals = vals;
    }
    const w = row >>> 5;
    if (w >= this.bits.length) {
      const bits = new Uint32Array(Math.max(w + 1, Math.ceil(this.bits.length * 1.5)));
      bits.set(this.bits);
      this.bits = bits;
    }
    this.rowBuf[this.n] = row;
    const v = this.vals;
    for (let k = 0, p = this.n * o; k < o; k++) v[p + k] = src[offset + k]!;
    this.bits[w]! |= 1 << (row & 31);
    this.n++;
  }

  /** Remove the last entry. */
  pop(): void {
    if (this.n === 0) return;
    const row = this.rowBuf[--this.n]!;
    this.bits[row >>> 5]! &= ~(1 << (row & 31));
  }

  /** Remove every entry. */
  clear(): void {
    this.n = 0;
    this.bits.fill(0);
  }

  /** Entries with rows in [start, end), rows shifted by -start, as a new exact-size table. */
  slice(start = 0, end = this.lastRow + 1): FinalObservations {
    const a = this.lowerBound(start);
    const b = this.lowerBound(end);
    const o = this.obsDim;
    const t = new FinalObservations(o, b - a);
    t.rowBuf.set(this.rowBuf.subarray(a, b));
    if (start !== 0) for (let k = 0; k < b - a; k++) t.rowBuf[k]! -= start;
    t.vals.set(this.vals.subarray(a * o, b * o));
    t.n = b - a;
    t.bits = new Uint32Array(((b > a ? t.rowBuf[b - a - 1]! : 0) >>> 5) + 1);
    for (let k = 0; k < t.n; k++) t.bits[t.rowBuf[k]! >>> 5]! |= 1 << (t.rowBuf[k]! & 31);
    return t;
  }

  /** Same rows, values replaced by `values` [count * obsDim]. */
  withValues(values: Float32Array): FinalObservations {
    const t = this.slice();
    t.vals.set(values.subarray(0, this.n * this.obsDim));
    return t;
  }

  /** Bytes held for `count` entries plus the row bitset. */
  get bytes(): number {
    return this.n * (4 * this.obsDim + 4) + 4 * this.bits.length;
  }
}

/** Copy the next observation of row i of `ds` into out[offset .. offset + obsDim). Allocates nothing. */
export function nextObsRow(ds: Dataset, i: number, out: Float32Array, offset = 0): void {
  const o = ds.obsDim;
  let src: Float32Array;
  let p: number;
  const next = ds.nextObservations;
  if (next !== null) {
    src = next;
    p = i * o;
  } else {
    const f = ds.finalObservations!;
    const s = f.slot(i);
    if (s < 0) {
      src = ds.observations;
      p = (i + 1) * o;
    } else {
      src = f.data;
      p = s * o;
    }
  }
  for (let k = 0; k < o; k++) out[offset + k] = src[p + k]!;
}

/**
 * Next observations of rows [start, end) as one [(end - start) * obsDim] array: a view of the
 * explicit column (do not write to it), or a new array filled from the implicit form.
 */
export function nextObservationsOf(ds: Dataset, start = 0, end = ds.size): Float32Array {
  const o = ds.obsDim;
  if (ds.nextObservations !== null) return ds.nextObservations.subarray(start * o, end * o);
  const out = new Float32Array(Math.max(0, end - start) * o);
  if (end <= start) return out;
  const f = ds.finalObservations!;
  // implicit rows: next of row i is obs of row i + 1 (the stored rows are overwritten below)
  out.set(ds.observations.subarray((start + 1) * o, Math.min(end + 1, ds.size) * o));
  for (let k = f.lowerBound(start), c = f.count; k < c; k++) {
    const r = f.rowAt(k);
    if (r >= end) break;
    out.set(f.data.subarray(k * o, (k + 1) * o), (r - start) * o);
  }
  return out;
}

/** The dataset with an explicit next_observations column (itself when already explicit). */
export function withExplicitNext(ds: Dataset): Dataset {
  if (ds.nextObservations !== null) return ds;
  return { ...ds, nextObservations: nextObservationsOf(ds), finalObservations: null };
}

/** Whether row i may leave its next observation implicit: not an episode end and equal bits. */
function chains(ds: Dataset, i: number, next: ArrayLike<number>, p: number): boolean {
  const o = ds.obsDim;
  return i + 1 < ds.size && ds.terminals[i] !== 1 && ds.timeouts[i] !== 1 && ds.episodeIds[i] === ds.episodeIds[i + 1] && sameRow(next, p, ds.observations, (i + 1) * o, o);
}

/**
 * The dataset with implicit next observations (itself when already implicit): only rows that end
 * an episode or whose next observation differs from the following row's observation are stored.
 */
export function withImplicitNext(ds: Dataset): Dataset {
  const next = ds.nextObservations;
  if (next === null) return ds;
  const o = ds.obsDim;
  const f = new FinalObservations(o, 16);
  for (let i = 0; i < ds.size; i++) if (!chains(ds, i, next, i * o)) f.push(i, next, i * o);
  return { ...ds, nextObservations: null, finalObservations: f.slice() };
}

/** Bytes held by the next observations of the valid rows. */
export function nextObsBytes(ds: Dataset): number {
  return ds.nextObservations !== null ? 4 * ds.size * ds.obsDim : ds.finalObservations!.bytes;
}

/**
 * Shape and value checks of the next observations of rows [start, end): exactly one form present,
 * the table ordered, in range and holding the last row, values finite. Throws a DataError.
 */
export function checkNextObservations(ds: Dataset, source: string, start = 0, end = ds.size): void {
  const o = ds.obsDim;
  const n = ds.size;
  const next = ds.nextObservations;
  const f = ds.finalObservations;
  if ((next === null) === (f === null || f === undefined)) {
    throw new DataError(
      next === null ? 'dataset has neither next_observations nor final observations' : 'dataset has both next_observations and final observations',
      { file: source },
      'build datasets with DatasetBuilder, or give exactly one of nextObservations / finalObservations',
    );
  }
  const bad = (v: number, row: number, k: number): never => {
    throw new DataError(
      `next_observations contains ${Number.isNaN(v) ? 'NaN' : v > 0 ? 'Inf' : '-Inf'} at column ${k}`,
      { file: source, row },
      'drop or repair that transition before importing (non-finite values poison training)',
    );
  };
  if (next !== null) {
    if (next.length < n * o) {
      throw new DataError(
        `column 'next_observations' has ${next.length} values, expected ${n * o} (${n} rows)`,
        { file: source },
        'check that all columns have the same number of rows and the declared dimensions',
      );
    }
    for (let j = start * o; j < end * o; j++) if (next[j]! - next[j]! !== 0) bad(next[j]!, Math.floor(j / o), j % o);
    return;
  }
  const t = f!;
  if (t.obsDim !== o) throw new DataError(`final observations have dim ${t.obsDim}, observations ${o}`, { file: source }, 'build the table with the dataset obsDim');
  if (n > 0 && !t.has(n - 1)) {
    throw new DataError(
      'the last row has no stored next observation',
      { file: source, row: n - 1 },
      'store the next observation of every row that is not followed by its next observation',
    );
  }
  for (let k = 0; k < t.count; k++) {
    const r = t.rowAt(k);
    if (r >= n || (k > 0 && r <= t.rowAt(k - 1))) {
      throw new DataError(`final observation entry ${k} has row ${r} (dataset has ${n} rows, rows must increase)`, { file: source }, 'rebuild the table in row order');
    }
  }
  for (let k = t.lowerBound(start); k < t.count && t.rowAt(k) < end; k++) {
    for (let j = 0; j < o; j++) {
      const v = t.data[k * o + j]!;
      if (v - v !== 0) bad(v, t.rowAt(k), j);
    }
  }
  // an implicit last row of the range reads the observation after the range
  if (end > start && end < n && !t.has(end - 1)) {
    for (let j = 0; j < o; j++) {
      const v = ds.observations[end * o + j]!;
      if (v - v !== 0) bad(v, end - 1, j);
    }
  }
}
