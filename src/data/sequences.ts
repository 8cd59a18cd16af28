/**
 * Sequence batches for return-conditioned sequence models (Decision Transformer), as CORL's
 * dt.py `SequenceDataset` draws them: an episode with probability proportional to its length, a
 * start uniform over its rows, the next K rows (fewer at the episode's end: the rest is zero
 * padding with mask 0), each row's undiscounted return-to-go within its episode times
 * `returnScale`, and the rows' timesteps within the episode. Buffers are preallocated; `sample()`
 * fills them in place.
 */
import { episodes, type Dataset } from './dataset.js';
import { DataError } from './errors.js';
import { returnsToGo } from './returns.js';
import { Rng } from '../util/rng.js';
import { WeightedPick } from './weighted-pick.js';

export interface SequenceBatch {
  readonly size: number;
  /** Rows per sequence (K, the context length). */
  readonly length: number;
  readonly obsDim: number;
  readonly actDim: number;
  /** [size, K, obsDim] */
  readonly observations: Float32Array;
  /** [size, K, actDim] */
  readonly actions: Float32Array;
  /** [size, K]: return-to-go of each row, scaled. */
  readonly returnsToGo: Float32Array;
  /** [size, K]: the row's step within its episode (int64, for an embedding lookup). */
  readonly timesteps: BigInt64Array;
  /** [size, K]: 1 for a real row, 0 for padding. */
  readonly mask: Float32Array;
}

export function allocSequenceBatch(size: number, length: number, obsDim: number, actDim: number): SequenceBatch {
  return {
    size,
    length,
    obsDim,
    actDim,
    observations: new Float32Array(size * length * obsDim),
    actions: new Float32Array(size * length * actDim),
    returnsToGo: new Float32Array(size * length),
    timesteps: new BigInt64Array(size * length),
    mask: new Float32Array(size * length),
  };
}

export interface SequenceSamplerOptions {
  batchSize: number;
  /** K: rows per sequence (CORL: seq_len 20). */
  length: number;
  seed: number;
  /** Multiplies returns-to-go (CORL: reward_scale 0.001). */
  returnScale: number;
  /** Timesteps are clipped to this (the timestep table's last row); default: no clipping. */
  maxTimestep?: number;
}

export class SequenceSampler {
  /** The sampler's own batch (sample() fills it unless given another). */
  readonly batch: SequenceBatch;
  private readonly rng: Rng;
  private readonly starts: Int32Array;
  private readonly lengths: Int32Array;
  /** Episodes drawn in proportion to their length. */
  private readonly episodePick: WeightedPick;
  private readonly rtg: Float32Array;

  constructor(
    private readonly ds: Dataset,
    readonly opts: SequenceSamplerOptions,
  ) {
    if (!(Number.isInteger(opts.length) && opts.length >= 1))
      throw new DataError(`SequenceSampler: length must be an integer ≥ 1, got ${opts.length}`, {}, 'use the context length, e.g. 20');
    const eps = episodes(ds);
    if (eps.length === 0) throw new DataError('SequenceSampler: the dataset has no episodes', {}, 'generate or import transitions first');
    this.starts = Int32Array.from(eps, (e) => e.start);
    this.lengths = Int32Array.from(eps, (e) => e.length);
    this.episodePick = new WeightedPick(this.lengths);
    this.rtg = returnsToGo(ds);
    this.rng = new Rng(opts.seed);
    this.batch = allocSequenceBatch(opts.batchSize, opts.length, ds.obsDim, ds.actDim);
  }

  /** Generator state, so a resumed training run draws the same batches. */
  rngState(): number[] {
    return this.rng.getState();
  }

  setRngState(state: readonly number[]): void {
    this.rng.setState(state);
  }

  /** `n` more batches shaped like the sampler's (one per update of a chained run). */
  batchesLike(n: number): SequenceBatch[] {
    return Array.from({ length: n }, () => allocSequenceBatch(this.batch.size, this.batch.length, this.batch.obsDim, this.batch.actDim));
  }

  /** Episodes the sampler draws from. */
  get episodeCount(): number {
    return this.starts.length;
  }

  sample(out: SequenceBatch = this.batch): SequenceBatch {
    const { ds, opts } = this;
    const K = out.length;
    if (out.obsDim !== ds.obsDim || out.actDim !== ds.actDim || K !== opts.length) {
      throw new DataError(
        `SequenceSampler: batch is [${out.size}, ${K}] obs ${out.obsDim} act ${out.actDim}; the sampler makes length ${opts.length}, obs ${ds.obsDim}, act ${ds.actDim}`,
        {},
        'allocate the batch with allocSequenceBatch(batchSize, length, obsDim, actDim) of this sampler',
      );
    }
    const o = ds.obsDim;
    const a = ds.actDim;
    const maxT = opts.maxTimestep ?? Number.POSITIVE_INFINITY;
    for (let b = 0; b < out.size; b++) {
      const e = this.episodePick.draw(this.rng);
      const len = this.lengths[e]!;
      const offset = this.rng.int(len);
      const first = this.starts[e]! + offset;
      const n = Math.min(K, len - offset);
      const base = b * K;
      out.observations.set(ds.observations.subarray(first * o, (first + n) * o), base * o);
      out.observations.fill(0, (base + n) * o, (base + K) * o);
      out.actions.set(ds.actions.subarray(first * a, (first + n) * a), base * a);
      out.actions.fill(0, (base + n) * a, (base + K) * a);
      for (let k = 0; k < K; k++) {
        const real = k < n;
        out.returnsToGo[base + k] = real ? this.rtg[first + k]! * opts.returnScale : 0;
        // CORL keeps counting timesteps into the padding (np.arange(start, start + seq_len)).
        out.timesteps[base + k] = BigInt(Math.min(offset + k, maxT));
        out.mask[base + k] = real ? 1 : 0;
      }
    }
    return out;
  }
}
