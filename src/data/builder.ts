/**
 * Growable dataset: append transitions or whole datasets; capacity grows geometrically (x1.5), so
 * N appends cost O(N) copies in total. The builder itself satisfies `Dataset` (its columns are the
 * live, over-allocated buffers; `size` rows are valid), so samplers can draw from a dataset that
 * is still growing — the online learner appends while the trainer samples.
 *
 * Next observations are kept implicit (src/data/next-obs.ts): a row's next observation is stored
 * only while it is the last row, or when the row ends an episode, or when it differs from the
 * following row's observation; a contiguous episode costs one stored next observation. With the
 * default `nextObservations: 'auto'`, data where more than half the rows would need a stored next
 * observation switches to an explicit column (and stays so until clear()).
 */
import { checkDims, checkFinite, type Dataset, type DatasetMeta, type InfoColumn } from './dataset.js';
import { DataError } from './errors.js';
import { checkNextObservations, FinalObservations, nextObservationsOf, sameRow } from './next-obs.js';

/** Below this many rows 'auto' stays implicit whatever the data (tiny datasets cost nothing). */
const AUTO_MIN_ROWS = 256;
/** Rows materialized at a time when an implicit dataset is appended to an explicit builder. */
const CHUNK_ROWS = 65_536;

export interface BuilderOptions {
  /** Rows to allocate up front (exact reservation avoids any regrowth). Default 1024. */
  capacity?: number;
  /** Info columns to carry, name → dim. */
  infoDims?: Record<string, number>;
  meta?: DatasetMeta;
  /** Check added values are finite (default true). */
  validate?: boolean;
  /**
   * How next observations are kept: 'auto' (default) implicit, explicit once more than half the
   * rows would need theirs stored; 'implicit' always; 'explicit' a full column (like D4RL).
   */
  nextObservations?: 'auto' | 'implicit' | 'explicit';
}

export interface TransitionInput {
  obs: ArrayLike<number>;
  action: ArrayLike<number>;
  reward: number;
  nextObs: ArrayLike<number>;
  terminal?: boolean;
  timeout?: boolean;
  /** Defaults to the builder's running episode counter (advanced after a terminal or timeout). */
  episodeId?: number;
  info?: Record<string, ArrayLike<number>>;
}

export class DatasetBuilder implements Dataset {
  readonly obsDim: number;
  readonly actDim: number;
  readonly meta: DatasetMeta;
  private n = 0;
  private cap: number;
  private obs: Float32Array;
  private act: Float32Array;
  private rew: Float32Array;
  /** Explicit form: next observation of every row. */
  private nobs: Float32Array | null;
  /** Implicit form: the stored next observations. */
  private finals: FinalObservations | null;
  /** The last row's stored next observation may still be dropped if the next row's observation equals it. */
  private chainOpen = false;
  private readonly nextMode: 'auto' | 'implicit' | 'explicit';
  private term: Uint8Array;
  private tout: Uint8Array;
  private eps: Uint32Array;
  private infoCols: Record<string, InfoColumn>;
  private readonly validate: boolean;
  /** Episode id used by add() when none is given. */
  nextEpisodeId = 0;

  constructor(obsDim: number, actDim: number, opts: BuilderOptions = {}) {
    checkDims(obsDim, actDim, 'DatasetBuilder');
    this.obsDim = obsDim;
    this.actDim = actDim;
    this.meta = { ...(opts.meta ?? {}) };
    this.validate = opts.validate ?? true;
    this.nextMode = opts.nextObservations ?? 'auto';
    this.cap = Math.max(1, Math.floor(opts.capacity ?? 1024));
    this.obs = new Float32Array(this.cap * obsDim);
    this.act = new Float32Array(this.cap * actDim);
    this.rew = new Float32Array(this.cap);
    this.nobs = this.nextMode === 'explicit' ? new Float32Array(this.cap * obsDim) : null;
    this.finals = this.nextMode === 'explicit' ? null : new FinalObservations(obsDim);
    this.term = new Uint8Array(this.cap);
    this.tout = new Uint8Array(this.cap);
    this.eps = new Uint32Array(this.cap);
    this.infoCols = {};
    for (const [k, d] of Object.entries(opts.infoDims ?? {})) this.infoCols[k] = { dim: d, data: new Float32Array(this.cap * d) };
  }

  get size(): number {
    return this.n;
  }
  get capacity(): number {
    return this.cap;
  }
  get observations(): Float32Array {
    return this.obs;
  }
  get actions(): Float32Array {
    return this.act;
  }
  get rewards(): Float32Array {
    return this.rew;
  }
  /** The explicit next-observation column (live buffer), or null while they are implicit. */
  get nextObservations(): Float32Array | null {
    return this.nobs;
  }
  /** The live table of stored next observations while they are implicit, else null. */
  get finalObservations(): FinalObservations | null {
    return this.finals;
  }
  get terminals(): Uint8Array {
    return this.term;
  }
  get timeouts(): Uint8Array {
    return this.tout;
  }
  get episodeIds(): Uint32Array {
    return this.eps;
  }
  get info(): Readonly<Record<string, InfoColumn>> {
    return this.infoCols;
  }

  /** Make room for `extra` more rows (grows x1.5 or to fit, whichever is larger). */
  reserve(extra: number): void {
    const need = this.n + extra;
    if (need <= this.cap) return;
    const cap = Math.max(need, Math.ceil(this.cap * 1.5));
    const grow = <T extends Float32Array | Uint8Array | Uint32Array>(a: T, dim: number, make: (n: number) => T): T => {
      const b = make(cap * dim);
      b.set(a.subarray(0, this.n * dim));
      return b;
    };
    this.obs = grow(this.obs, this.obsDim, (k) => new Float32Array(k));
    this.act = grow(this.act, this.actDim, (k) => new Float32Array(k));
    this.rew = grow(this.rew, 1, (k) => new Float32Array(k));
    if (this.nobs) this.nobs = grow(this.nobs, this.obsDim, (k) => new Float32Array(k));
    this.term = grow(this.term, 1, (k) => new Uint8Array(k));
    this.tout = grow(this.tout, 1, (k) => new Uint8Array(k));
    this.eps = grow(this.eps, 1, (k) => new Uint32Array(k));
    for (const c of Object.values(this.infoCols)) c.data = grow(c.data, c.dim, (k) => new Float32Array(k));
    this.cap = cap;
  }

  /**
   * Low-level bulk write: after `reserve(count)`, the caller fills rows [size, size + count) of the
   * column buffers (observations, actions, rewards, flags, episode ids, info) directly, then calls
   * `commit(count, next)` with the next observations of those rows (`next` [count * obsDim]; it
   * may be a view of anything, e.g. observations shifted by one row — it is read, not kept). Only
   * an explicit builder (`nextObservations` not null) may take them written in its column instead.
   * Nothing changes if a check fails.
   */
  commit(count: number, next?: Float32Array): void {
    const o = this.obsDim;
    const s = this.n;
    if (s + count > this.cap) {
      throw new DataError(`commit(${count}) exceeds reserved capacity ${this.cap - s}`, {}, 'call reserve(count) first');
    }
    if (count <= 0) return;
    if (next === undefined && this.nobs === null) {
      throw new DataError(`commit(${count}): the next observations of the new rows are missing`, {}, 'pass them: commit(count, next) with next holding count * obsDim values');
    }
    if (next !== undefined && next.length < count * o) {
      throw new DataError(`commit(${count}): next has ${next.length} values, expected ${count * o}`, {}, 'pass one next observation per committed row');
    }
    if (this.validate) {
      this.checkRows(s, count);
      checkFinite(next ?? this.nobs!.subarray(s * o), o, count, 'next_observations', 'append');
    }
    if (next !== undefined) this.storeNext(s, s + count, next);
    this.finish(count);
  }

  private checkRows(s: number, count: number): void {
    checkFinite(this.obs.subarray(s * this.obsDim), this.obsDim, count, 'observations', 'append');
    checkFinite(this.act.subarray(s * this.actDim), this.actDim, count, 'actions', 'append');
    checkFinite(this.rew.subarray(s), 1, count, 'rewards', 'append');
  }

  private finish(count: number): void {
    this.n += count;
    const last = this.n - 1;
    if (count > 0) this.nextEpisodeId = this.term[last] || this.tout[last] ? this.eps[last]! + 1 : this.eps[last]!;
    const f = this.finals;
    if (f && this.nextMode === 'auto' && this.n >= AUTO_MIN_ROWS && f.count * 2 > this.n) this.toExplicit(this.n);
  }

  /** Row r of the rows [s, e) being written may leave its next observation (at next[p]) implicit. */
  private chains(r: number, e: number, next: ArrayLike<number>, p: number): boolean {
    return r + 1 < e && this.term[r] !== 1 && this.tout[r] !== 1 && this.eps[r] === this.eps[r + 1] && sameRow(next, p, this.obs, (r + 1) * this.obsDim, this.obsDim);
  }

  /** The stored next observation of row s - 1 (the last committed row) equals new row s's observation. */
  private chainsPrevious(s: number): boolean {
    const f = this.finals;
    const r = s - 1;
    if (!f || !this.chainOpen || r < 0 || f.lastRow !== r) return false;
    return this.term[r] !== 1 && this.tout[r] !== 1 && this.eps[r] === this.eps[s] && sameRow(f.data, (f.count - 1) * this.obsDim, this.obs, s * this.obsDim, this.obsDim);
  }

  /** Keep the next observations of rows [s, e) (row r at next[(r - s) * obsDim]); rows [s, e) are written. */
  private storeNext(s: number, e: number, next: Float32Array): void {
    const o = this.obsDim;
    if (this.finals && this.nextMode === 'auto' && e >= AUTO_MIN_ROWS) {
      // count what the implicit form would hold; switch before building a large table
      let c = this.finals.count - (this.chainsPrevious(s) ? 1 : 0);
      for (let r = s; r < e; r++) if (!this.chains(r, e, next, (r - s) * o)) c++;
      if (c * 2 > e) this.toExplicit(s);
    }
    if (this.nobs) {
      this.nobs.set(next.subarray(0, (e - s) * o), s * o);
      return;
    }
    const f = this.finals!;
    if (this.chainsPrevious(s)) f.pop();
    for (let r = s; r < e; r++) if (!this.chains(r, e, next, (r - s) * o)) f.push(r, next, (r - s) * o);
    this.chainOpen = true;
  }

  /** Switch to an explicit column holding the next observations of rows [0, rows). */
  private toExplicit(rows: number): void {
    const o = this.obsDim;
    const f = this.finals!;
    const nobs = new Float32Array(this.cap * o);
    nobs.set(this.obs.subarray(o, rows * o));
    for (let k = 0; k < f.count; k++) nobs.set(f.data.subarray(k * o, (k + 1) * o), f.rowAt(k) * o);
    this.nobs = nobs;
    this.finals = null;
    this.chainOpen = false;
  }

  /** Append one transition. */
  add(t: TransitionInput): void {
    const o = this.obsDim;
    const a = this.actDim;
    if (t.obs.length !== o || t.nextObs.length !== o || t.action.length !== a) {
      throw new DataError(
        `transition has obs ${t.obs.length}, next_obs ${t.nextObs.length}, action ${t.action.length} values; dataset expects obs ${o}, action ${a}`,
        { row: this.n },
        'send observations and actions with the dimensions of the dataset spec',
      );
    }
    if (this.validate) {
      for (let k = 0; k < o; k++) if (!Number.isFinite(t.obs[k]!) || !Number.isFinite(t.nextObs[k]!)) this.badValue('observation', k);
      for (let k = 0; k < a; k++) if (!Number.isFinite(t.action[k]!)) this.badValue('action', k);
      if (!Number.isFinite(t.reward)) this.badValue('reward', 0);
    }
    this.reserve(1);
    const i = this.n;
    for (let k = 0; k < o; k++) this.obs[i * o + k] = t.obs[k]!;
    for (let k = 0; k < a; k++) this.act[i * a + k] = t.action[k]!;
    this.rew[i] = t.reward;
    this.term[i] = t.terminal ? 1 : 0;
    this.tout[i] = t.timeout ? 1 : 0;
    const ep = t.episodeId ?? this.nextEpisodeId;
    this.eps[i] = ep;
    for (const [k, c] of Object.entries(this.infoCols)) {
      const v = t.info?.[k];
      for (let j = 0; j < c.dim; j++) c.data[i * c.dim + j] = v ? v[j]! : 0;
    }
    if (this.nobs) {
      for (let k = 0; k < o; k++) this.nobs[i * o + k] = t.nextObs[k]!;
    } else {
      const f = this.finals!;
      if (this.chainsPrevious(i)) f.pop();
      f.push(i, t.nextObs);
      this.chainOpen = true;
    }
    this.finish(1);
    this.nextEpisodeId = t.terminal || t.timeout ? ep + 1 : ep;
  }

  /**
   * Append rows [start, end) of another dataset (same dims). `episodeOffset` is added to its
   * episode ids (use `builder.nextEpisodeId` to keep episodes from colliding).
   */
  append(ds: Dataset, start = 0, end = ds.size, episodeOffset = 0): void {
    if (ds.obsDim !== this.obsDim || ds.actDim !== this.actDim) {
      throw new DataError(
        `cannot append a dataset with obsDim ${ds.obsDim}, actDim ${ds.actDim} to one with obsDim ${this.obsDim}, actDim ${this.actDim}`,
        {},
        'convert the data to the same observation/action spaces first',
      );
    }
    const count = end - start;
    if (count <= 0) return;
    this.reserve(count);
    const o = this.obsDim;
    const a = this.actDim;
    const s = this.n;
    this.obs.set(ds.observations.subarray(start * o, end * o), s * o);
    this.act.set(ds.actions.subarray(start * a, end * a), s * a);
    this.rew.set(ds.rewards.subarray(start, end), s);
    this.term.set(ds.terminals.subarray(start, end), s);
    this.tout.set(ds.timeouts.subarray(start, end), s);
    if (episodeOffset === 0) this.eps.set(ds.episodeIds.subarray(start, end), s);
    else for (let i = 0; i < count; i++) this.eps[s + i] = ds.episodeIds[start + i]! + episodeOffset;
    for (const [k, c] of Object.entries(this.infoCols)) {
      const src = ds.info[k];
      if (src && src.dim === c.dim) c.data.set(src.data.subarray(start * c.dim, end * c.dim), s * c.dim);
      else c.data.fill(0, s * c.dim, (s + count) * c.dim);
    }
    if (ds.nextObservations !== null) {
      this.commit(count, ds.nextObservations.subarray(start * o, end * o));
      return;
    }
    // implicit source: its table maps row for row (no full next-observation copy)
    if (this.validate) {
      this.checkRows(s, count);
      checkNextObservations(ds, 'append', start, end);
    }
    const src = ds.finalObservations!;
    if (this.nobs) {
      for (let c = start; c < end; c += CHUNK_ROWS) this.nobs.set(nextObservationsOf(ds, c, Math.min(end, c + CHUNK_ROWS)), (s + c - start) * o);
    } else {
      const f = this.finals!;
      if (this.chainsPrevious(s)) f.pop();
      for (let k = src.lowerBound(start); k < src.count && src.rowAt(k) < end; k++) f.push(s + src.rowAt(k) - start, src.data, k * o);
      if (!src.has(end - 1)) f.push(s + count - 1, ds.observations, end * o);
      this.chainOpen = true;
    }
    this.finish(count);
  }

  /**
   * Rewrite observation vectors of rows [start, end) in place: `fn(buf, offset)` is called once per
   * vector (obsDim values from offset) — each row's observation and, where stored, its next
   * observation. An implicit next observation is the following row's observation and changes with
   * it, so apply the same transform to every row (e.g. normalize each newly appended range).
   */
  mapObservations(start: number, end: number, fn: (buf: Float32Array, offset: number) => void): void {
    const o = this.obsDim;
    end = Math.min(end, this.n);
    for (let r = start; r < end; r++) fn(this.obs, r * o);
    if (this.nobs) {
      for (let r = start; r < end; r++) fn(this.nobs, r * o);
      return;
    }
    const f = this.finals!;
    for (let k = f.lowerBound(start); k < f.count && f.rowAt(k) < end; k++) fn(f.data, k * o);
    // a transformed last entry can no longer be compared with the next (raw) row's observation
    if (f.lastRow >= start && f.lastRow < end) this.chainOpen = false;
  }

  /** Forget all rows (keeps capacity). */
  clear(): void {
    this.n = 0;
    this.nextEpisodeId = 0;
    this.chainOpen = false;
    if (this.nextMode !== 'explicit') {
      this.nobs = null;
      if (this.finals) this.finals.clear();
      else this.finals = new FinalObservations(this.obsDim);
    }
  }

  /**
   * The valid rows as a plain Dataset. By default the columns are views of the builder's buffers
   * (no copy; later appends that regrow do not affect it, appends that fit do write past `size`).
   * `compact: true` copies into exact-length arrays and lets the builder's slack be freed. The
   * table of stored next observations (implicit form) is always copied (it is small).
   */
  build(opts: { compact?: boolean } = {}): Dataset {
    const n = this.n;
    const cut = <T extends Float32Array | Uint8Array | Uint32Array>(a: T, dim: number): T => (opts.compact ? a.slice(0, n * dim) : a.subarray(0, n * dim)) as T;
    const info: Record<string, InfoColumn> = {};
    for (const [k, c] of Object.entries(this.infoCols)) info[k] = { dim: c.dim, data: cut(c.data, c.dim) };
    return {
      obsDim: this.obsDim,
      actDim: this.actDim,
      size: n,
      observations: cut(this.obs, this.obsDim),
      actions: cut(this.act, this.actDim),
      rewards: cut(this.rew, 1),
      nextObservations: this.nobs ? cut(this.nobs, this.obsDim) : null,
      finalObservations: this.finals ? this.finals.slice(0, n) : null,
      terminals: cut(this.term, 1),
      timeouts: cut(this.tout, 1),
      episodeIds: cut(this.eps, 1),
      info,
      meta: { ...this.meta },
    };
  }

  private badValue(what: string, k: number): never {
    throw new DataError(`${what} component ${k} is not finite (NaN or Inf)`, { row: this.n }, 'drop the transition at its source; non-finite values poison training');
  }
}
