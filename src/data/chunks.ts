/**
 * Action-chunk windows for Diffusion Policy (Chi et al. 2023), as diffusion_policy's
 * SequenceSampler draws them: a window of `horizon` consecutive steps of one episode, starting
 * anywhere in [−(nObs − 1), length − horizon + (nAction − 1)], edge-padded (steps before the episode
 * repeat its first row, steps after it repeat its last); the sample is the window's first `nObs`
 * observations and all its `horizon` actions. The policy predicts the whole chunk and executes its
 * actions from index nObs − 1 on. Episodes are drawn in proportion to their number of windows.
 * Buffers are preallocated; `sample()` fills them in place.
 */
import { episodes, type Dataset } from './dataset.js';
import { DataError } from './errors.js';
import { Rng } from '../util/rng.js';
import { WeightedPick } from './weighted-pick.js';

export interface ChunkBatch {
  readonly size: number;
  readonly nObs: number;
  readonly horizon: number;
  readonly obsDim: number;
  readonly actDim: number;
  /** [size, nObs, obsDim] */
  readonly observations: Float32Array;
  /** [size, horizon, actDim] */
  readonly actions: Float32Array;
}

export function allocChunkBatch(size: number, nObs: number, horizon: number, obsDim: number, actDim: number): ChunkBatch {
  return { size, nObs, horizon, obsDim, actDim, observations: new Float32Array(size * nObs * obsDim), actions: new Float32Array(size * horizon * actDim) };
}

export interface ChunkSamplerOptions {
  batchSize: number;
  /** Observations per sample (n_obs_steps; Diffusion Policy: 2). */
  nObs: number;
  /** Actions per sample (horizon; 16). */
  horizon: number;
  /** Actions executed per chunk (n_action_steps; 8): sets how far past an episode's end a window may start. */
  nAction: number;
  seed: number;
}

export class ChunkSampler {
  readonly batch: ChunkBatch;
  private readonly rng: Rng;
  private readonly starts: Int32Array;
  private readonly lengths: Int32Array;
  /** Episodes drawn in proportion to their number of windows. */
  private readonly episodePick: WeightedPick;

  constructor(
    private readonly ds: Dataset,
    readonly opts: ChunkSamplerOptions,
  ) {
    const { nObs, horizon, nAction } = opts;
    if (!(Number.isInteger(nObs) && nObs >= 1 && Number.isInteger(horizon) && horizon >= nObs && Number.isInteger(nAction) && nAction >= 1 && nObs - 1 + nAction <= horizon)) {
      throw new DataError(
        `ChunkSampler: need integers nObs ≥ 1, horizon ≥ nObs and nObs − 1 + nAction ≤ horizon, got nObs ${nObs}, horizon ${horizon}, nAction ${nAction}`,
        {},
        "use Diffusion Policy's 2 / 16 / 8",
      );
    }
    const eps = episodes(ds);
    if (eps.length === 0) throw new DataError('ChunkSampler: the dataset has no episodes', {}, 'generate or import transitions first');
    this.starts = Int32Array.from(eps, (e) => e.start);
    this.lengths = Int32Array.from(eps, (e) => e.length);
    this.episodePick = new WeightedPick(eps.map((e) => this.windows(e.length)));
    this.rng = new Rng(opts.seed);
    this.batch = allocChunkBatch(opts.batchSize, nObs, horizon, ds.obsDim, ds.actDim);
  }

  /** Window starts of an episode of `len` steps: from −(nObs − 1) to len − horizon + (nAction − 1). */
  private windows(len: number): number {
    const { nObs, horizon, nAction } = this.opts;
    return Math.max(1, len - horizon + nAction - 1 + (nObs - 1) + 1);
  }

  rngState(): number[] {
    return this.rng.getState();
  }

  setRngState(state: readonly number[]): void {
    this.rng.setState(state);
  }

  sample(out: ChunkBatch = this.batch): ChunkBatch {
    const { ds, opts } = this;
    if (out.obsDim !== ds.obsDim || out.actDim !== ds.actDim || out.nObs !== opts.nObs || out.horizon !== opts.horizon) {
      throw new DataError(
        `ChunkSampler: batch is nObs ${out.nObs}, horizon ${out.horizon}, obs ${out.obsDim}, act ${out.actDim}; the sampler makes ${opts.nObs}, ${opts.horizon}, ${ds.obsDim}, ${ds.actDim}`,
        {},
        'allocate it with allocChunkBatch(batchSize, nObs, horizon, obsDim, actDim) of this sampler',
      );
    }
    const o = ds.obsDim;
    const a = ds.actDim;
    for (let b = 0; b < out.size; b++) {
      const e = this.episodePick.draw(this.rng);
      const len = this.lengths[e]!;
      const first = this.starts[e]!;
      const begin = this.rng.int(this.windows(len)) - (opts.nObs - 1);
      // edge padding: a step outside the episode takes the nearest step inside it
      const row = (k: number) => first + Math.min(len - 1, Math.max(0, begin + k));
      for (let k = 0; k < opts.nObs; k++) out.observations.set(ds.observations.subarray(row(k) * o, (row(k) + 1) * o), (b * opts.nObs + k) * o);
      for (let k = 0; k < opts.horizon; k++) out.actions.set(ds.actions.subarray(row(k) * a, (row(k) + 1) * a), (b * opts.horizon + k) * a);
    }
    return out;
  }
}
