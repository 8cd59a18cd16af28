/**
 * Seeded batch samplers. A batch is a set of preallocated float32 buffers (ready to become ORT
 * tensors); `sample()` fills them in place and allocates nothing. Samplers read `ds.size` on every
 * call, so they follow a DatasetBuilder that is still growing.
 */
import type { Dataset } from './dataset.js';
import { DataError } from './errors.js';
import { Rng } from '../util/rng.js';

export interface Batch {
  readonly size: number;
  readonly obsDim: number;
  readonly actDim: number;
  /** [size * obsDim] */
  readonly observations: Float32Array;
  /** [size * actDim] */
  readonly actions: Float32Array;
  readonly rewards: Float32Array;
  readonly nextObservations: Float32Array;
  /** 1.0 where the transition is terminal (the (1 - done) mask of TD targets), else 0.0. */
  readonly terminals: Float32Array;
  readonly timeouts: Float32Array;
  /** Row index each sample came from (into the dataset it was drawn from). */
  readonly indices: Int32Array;
  /** 0 = first dataset (offline), 1 = second (online); all 0 for a uniform sampler. */
  readonly source: Uint8Array;
  /** Requested info columns, e.g. 'mc_return' for Cal-QL. */
  readonly info: Readonly<Record<string, Float32Array>>;
}

export function allocBatch(size: number, obsDim: number, actDim: number, info: Record<string, number> = {}): Batch {
  const infoCols: Record<string, Float32Array> = {};
  for (const [k, d] of Object.entries(info)) infoCols[k] = new Float32Array(size * d);
  return {
    size,
    obsDim,
    actDim,
    observations: new Float32Array(size * obsDim),
    actions: new Float32Array(size * actDim),
    rewards: new Float32Array(size),
    nextObservations: new Float32Array(size * obsDim),
    terminals: new Float32Array(size),
    timeouts: new Float32Array(size),
    indices: new Int32Array(size),
    source: new Uint8Array(size),
    info: infoCols,
  };
}

/** `n` more batches shaped like `b` (same size, dimensions and info columns), e.g. one per update of a chained run. */
export function batchesLike(b: Batch, n: number): Batch[] {
  const dims: Record<string, number> = {};
  for (const [k, v] of Object.entries(b.info)) dims[k] = v.length / b.size;
  return Array.from({ length: n }, () => allocBatch(b.size, b.obsDim, b.actDim, dims));
}

export interface SamplerOptions {
  batchSize: number;
  seed: number;
  /** Info columns to copy into batches (each dataset must have them). */
  info?: string[];
}

/** Copy row `i` of `ds` into row `b` of `out`. */
function copyRow(ds: Dataset, i: number, out: Batch, b: number, src: number, infoNames: readonly string[]): void {
  const o = ds.obsDim;
  const a = ds.actDim;
  const so = ds.observations;
  const oo = out.observations;
  const on = out.nextObservations;
  // next observation: explicit column, a stored final one, or (implicit) the following row's
  let sn = ds.nextObservations;
  let pn = i * o;
  if (sn === null) {
    const f = ds.finalObservations!;
    const slot = f.slot(i);
    if (slot < 0) {
      sn = so;
      pn = (i + 1) * o;
    } else {
      sn = f.data;
      pn = slot * o;
    }
  }
  for (let k = 0, p = i * o, q = b * o; k < o; k++, p++, q++) {
    oo[q] = so[p]!;
    on[q] = sn[pn + k]!;
  }
  const sa = ds.actions;
  const oa = out.actions;
  for (let k = 0, p = i * a, q = b * a; k < a; k++, p++, q++) oa[q] = sa[p]!;
  out.rewards[b] = ds.rewards[i]!;
  out.terminals[b] = ds.terminals[i]!;
  out.timeouts[b] = ds.timeouts[i]!;
  out.indices[b] = i;
  out.source[b] = src;
  for (let m = 0; m < infoNames.length; m++) {
    const name = infoNames[m]!;
    const col = ds.info[name]!;
    const dst = out.info[name]!;
    const d = col.dim;
    for (let k = 0; k < d; k++) dst[b * d + k] = col.data[i * d + k]!;
  }
}

function checkSource(ds: Dataset, info: readonly string[], name: string): void {
  for (const k of info) {
    if (!ds.info[k]) {
      throw new DataError(
        `${name} has no info column '${k}' (it has: ${Object.keys(ds.info).join(', ') || 'none'})`,
        {},
        k === 'mc_return' ? "attach Monte-Carlo returns first: withInfo(ds, 'mc_return', monteCarloReturns(ds, { gamma }))" : 'attach the column with withInfo()',
      );
    }
  }
}

function emptyError(name: string): DataError {
  return new DataError(`cannot sample from ${name}: it has no transitions yet`, {}, 'load data or wait for the first transitions before sampling');
}

/** Uniform sampling with replacement. */
export class UniformSampler {
  readonly batch: Batch;
  private readonly rng: Rng;
  private readonly infoNames: readonly string[];

  constructor(
    readonly dataset: Dataset,
    opts: SamplerOptions,
  ) {
    this.infoNames = opts.info ?? [];
    checkSource(dataset, this.infoNames, 'dataset');
    const dims: Record<string, number> = {};
    for (const k of this.infoNames) dims[k] = dataset.info[k]!.dim;
    this.batch = allocBatch(opts.batchSize, dataset.obsDim, dataset.actDim, dims);
    this.rng = new Rng(opts.seed);
  }

  /** Generator state, so a resumed training run draws the same batches. */
  rngState(): number[] {
    return this.rng.getState();
  }

  setRngState(state: readonly number[]): void {
    this.rng.setState(state);
  }

  /** Fill and return `out` (default: the sampler's own batch). */
  sample(out: Batch = this.batch): Batch {
    const ds = this.dataset;
    const n = ds.size;
    if (n === 0) throw emptyError('the dataset');
    for (let b = 0; b < out.size; b++) copyRow(ds, this.rng.int(n), out, b, 0, this.infoNames);
    return out;
  }
}

export interface MixSamplerOptions extends SamplerOptions {
  /**
   * Fraction of each batch drawn from the offline dataset, e.g. 0.5 (Cal-QL's mixing_ratio).
   * Each batch has exactly round(ratio * batchSize) offline rows, the rest online: the first rows
   * of the batch are offline, the last ones online.
   */
  offlineRatio: number;
}

/** Offline/online mixing sampler over two datasets (the online one usually a growing builder). */
export class MixSampler {
  readonly batch: Batch;
  readonly offlineCount: number;
  private readonly rng: Rng;
  private readonly infoNames: readonly string[];

  constructor(
    readonly offline: Dataset,
    readonly online: Dataset,
    opts: MixSamplerOptions,
  ) {
    const r = opts.offlineRatio;
    if (!(r >= 0 && r <= 1)) {
      throw new DataError(`offlineRatio must be in [0, 1], got ${r}`, {}, 'use e.g. 0.5 for half offline, half online data');
    }
    if (offline.obsDim !== online.obsDim || offline.actDim !== online.actDim) {
      throw new DataError(
        `offline data has obsDim ${offline.obsDim}/actDim ${offline.actDim}, online data ${online.obsDim}/${online.actDim}`,
        {},
        'mix datasets of the same environment spec',
      );
    }
    this.infoNames = opts.info ?? [];
    checkSource(offline, this.infoNames, 'the offline dataset');
    checkSource(online, this.infoNames, 'the online dataset');
    const dims: Record<string, number> = {};
    for (const k of this.infoNames) dims[k] = offline.info[k]!.dim;
    this.batch = allocBatch(opts.batchSize, offline.obsDim, offline.actDim, dims);
    this.offlineCount = Math.round(r * opts.batchSize);
    this.rng = new Rng(opts.seed);
  }

  rngState(): number[] {
    return this.rng.getState();
  }

  setRngState(state: readonly number[]): void {
    this.rng.setState(state);
  }

  sample(out: Batch = this.batch): Batch {
    const nOff = this.offline.size;
    const nOn = this.online.size;
    const k = this.offlineCount;
    if (k > 0 && nOff === 0) throw emptyError('the offline dataset');
    if (k < out.size && nOn === 0) throw emptyError('the online dataset');
    for (let b = 0; b < k; b++) copyRow(this.offline, this.rng.int(nOff), out, b, 0, this.infoNames);
    for (let b = k; b < out.size; b++) copyRow(this.online, this.rng.int(nOn), out, b, 1, this.infoNames);
    return out;
  }
}
