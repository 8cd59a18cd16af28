/**
 * Growable dataset: append transitions or whole datasets; capacity grows geometrically (x1.5), so
 * N appends cost O(N) copies in total. The builder itself satisfies `Dataset` (its columns are the
 * live, over-allocated buffers; `size` rows are valid), so samplers can draw from a dataset that
 * is still growing — the online learner appends while the trainer samples.
 */
import { checkDims, checkFinite, type Dataset, type DatasetMeta, type InfoColumn } from './dataset.js';
import { DataError } from './errors.js';

export interface BuilderOptions {
  /** Rows to allocate up front (exact reservation avoids any regrowth). Default 1024. */
  capacity?: number;
  /** Info columns to carry, name → dim. */
  infoDims?: Record<string, number>;
  meta?: DatasetMeta;
  /** Check added values are finite (default true). */
  validate?: boolean;
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
  private nobs: Float32Array;
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
    this.cap = Math.max(1, Math.floor(opts.capacity ?? 1024));
    this.obs = new Float32Array(this.cap * obsDim);
    this.act = new Float32Array(this.cap * actDim);
    this.rew = new Float32Array(this.cap);
    this.nobs = new Float32Array(this.cap * obsDim);
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
  get nextObservations(): Float32Array {
    return this.nobs;
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
    this.nobs = grow(this.nobs, this.obsDim, (k) => new Float32Array(k));
    this.term = grow(this.term, 1, (k) => new Uint8Array(k));
    this.tout = grow(this.tout, 1, (k) => new Uint8Array(k));
    this.eps = grow(this.eps, 1, (k) => new Uint32Array(k));
    for (const c of Object.values(this.infoCols)) c.data = grow(c.data, c.dim, (k) => new Float32Array(k));
    this.cap = cap;
  }

  /**
   * Low-level bulk write: after `reserve(count)`, the caller fills rows [size, size + count) of the
   * column buffers directly, then calls `commit(count)`. Used by decoders to avoid a second copy.
   */
  commit(count: number): void {
    if (this.n + count > this.cap) {
      throw new DataError(`commit(${count}) exceeds reserved capacity ${this.cap - this.n}`, {}, 'call reserve(count) first');
    }
    if (this.validate) {
      const s = this.n;
      checkFinite(this.obs.subarray(s * this.obsDim), this.obsDim, count, 'observations', 'append');
      checkFinite(this.act.subarray(s * this.actDim), this.actDim, count, 'actions', 'append');
      checkFinite(this.rew.subarray(s), 1, count, 'rewards', 'append');
      checkFinite(this.nobs.subarray(s * this.obsDim), this.obsDim, count, 'next_observations', 'append');
    }
    this.n += count;
    const last = this.n - 1;
    if (count > 0) this.nextEpisodeId = this.term[last] || this.tout[last] ? this.eps[last]! + 1 : this.eps[last]!;
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
    for (let k = 0; k < o; k++) {
      this.obs[i * o + k] = t.obs[k]!;
      this.nobs[i * o + k] = t.nextObs[k]!;
    }
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
    this.n++;
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
    this.nobs.set(ds.nextObservations.subarray(start * o, end * o), s * o);
    this.term.set(ds.terminals.subarray(start, end), s);
    this.tout.set(ds.timeouts.subarray(start, end), s);
    if (episodeOffset === 0) this.eps.set(ds.episodeIds.subarray(start, end), s);
    else for (let i = 0; i < count; i++) this.eps[s + i] = ds.episodeIds[start + i]! + episodeOffset;
    for (const [k, c] of Object.entries(this.infoCols)) {
      const src = ds.info[k];
      if (src && src.dim === c.dim) c.data.set(src.data.subarray(start * c.dim, end * c.dim), s * c.dim);
      else c.data.fill(0, s * c.dim, (s + count) * c.dim);
    }
    this.commit(count);
  }

  /** Forget all rows (keeps capacity). */
  clear(): void {
    this.n = 0;
    this.nextEpisodeId = 0;
  }

  /**
   * The valid rows as a plain Dataset. By default the columns are views of the builder's buffers
   * (no copy; later appends that regrow do not affect it, appends that fit do write past `size`).
   * `compact: true` copies into exact-length arrays and lets the builder's slack be freed.
   */
  build(opts: { compact?: boolean } = {}): Dataset {
    const n = this.n;
    const cut = <T extends Float32Array | Uint8Array | Uint32Array>(a: T, dim: number): T =>
      (opts.compact ? a.slice(0, n * dim) : a.subarray(0, n * dim)) as T;
    const info: Record<string, InfoColumn> = {};
    for (const [k, c] of Object.entries(this.infoCols)) info[k] = { dim: c.dim, data: cut(c.data, c.dim) };
    return {
      obsDim: this.obsDim,
      actDim: this.actDim,
      size: n,
      observations: cut(this.obs, this.obsDim),
      actions: cut(this.act, this.actDim),
      rewards: cut(this.rew, 1),
      nextObservations: cut(this.nobs, this.obsDim),
      terminals: cut(this.term, 1),
      timeouts: cut(this.tout, 1),
      episodeIds: cut(this.eps, 1),
      info,
      meta: { ...this.meta },
    };
  }

  private badValue(what: string, k: number): never {
    throw new DataError(
      `${what} component ${k} is not finite (NaN or Inf)`,
      { row: this.n },
      'drop the transition at its source; non-finite values poison training',
    );
  }
}
