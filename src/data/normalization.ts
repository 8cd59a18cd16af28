/**
 * Observation and reward normalization, as in CORL (tinkoff-ai/CORL): observation statistics
 * `mean`, `std + eps` (compute_mean_std, eps 1e-3), rewards `r * scale + bias`, and the IQL
 * locomotion scaling `r * maxEpisodeSteps / (max_ret - min_ret)` (modify_reward).
 * Statistics are computed in float64; the dataset is never modified, new arrays are returned.
 */
import { episodes, type Dataset } from './dataset.js';
import { DataError } from './errors.js';

export interface ObsStats {
  mean: Float32Array;
  /** Standard deviation plus eps (divide by it directly). */
  std: Float32Array;
}

/** Per-dimension mean and std + eps of observations (CORL default eps 1e-3). */
export function observationStats(ds: Dataset, eps = 1e-3): ObsStats {
  const d = ds.obsDim;
  const n = ds.size;
  if (n === 0) throw new DataError('observationStats: the dataset is empty', {}, 'load or collect transitions first');
  const sum = new Float64Array(d);
  const sq = new Float64Array(d);
  const o = ds.observations;
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) sum[k] += o[i * d + k]!;
  const mean = new Float32Array(d);
  for (let k = 0; k < d; k++) mean[k] = sum[k]! / n;
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) {
      const x = o[i * d + k]! - sum[k]! / n;
      sq[k] += x * x;
    }
  }
  const std = new Float32Array(d);
  for (let k = 0; k < d; k++) std[k] = Math.sqrt(sq[k]! / n) + eps;
  return { mean, std };
}

/** Dataset with observations and next observations normalized: (x - mean) / std. */
export function normalizeObservations(ds: Dataset, stats: ObsStats): Dataset {
  const d = ds.obsDim;
  if (stats.mean.length !== d || stats.std.length !== d) {
    throw new DataError(
      `normalization statistics have ${stats.mean.length} dims, dataset observations have ${d}`,
      {},
      'compute the statistics on a dataset with the same observation space',
    );
  }
  const norm = (src: Float32Array, rows: number): Float32Array => {
    const out = new Float32Array(rows * d);
    for (let i = 0; i < out.length; i++) {
      const k = i % d;
      out[i] = (src[i]! - stats.mean[k]!) / stats.std[k]!;
    }
    return out;
  };
  // implicit next observations follow the observations; only the stored ones need their own pass
  const next = ds.nextObservations;
  const fin = ds.finalObservations;
  return {
    ...ds,
    observations: norm(ds.observations, ds.size),
    nextObservations: next === null ? null : norm(next, ds.size),
    finalObservations: fin === null ? null : fin.withValues(norm(fin.data, fin.count)),
  };
}

export interface RewardTransform {
  scale: number;
  bias: number;
}

/** New reward column r * scale + bias. */
export function scaleRewards(ds: Dataset, t: RewardTransform): Float32Array {
  const out = new Float32Array(ds.size);
  for (let i = 0; i < ds.size; i++) out[i] = ds.rewards[i]! * t.scale + t.bias;
  return out;
}

/** Same dataset with rewards replaced by r * scale + bias. */
export function withScaledRewards(ds: Dataset, t: RewardTransform): Dataset {
  return { ...ds, rewards: scaleRewards(ds, t) };
}

/** Smallest and largest episode return (episodes split at terminals, timeouts and id changes). */
export function returnRange(ds: Dataset): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const ep of episodes(ds)) {
    min = Math.min(min, ep.return);
    max = Math.max(max, ep.return);
  }
  return { min, max };
}

/**
 * IQL/CORL locomotion scaling: scale = maxEpisodeSteps / (max_ret - min_ret), bias 0.
 * (For AntMaze CORL uses scale 1, bias -1 instead.)
 */
export function locomotionRewardTransform(ds: Dataset, maxEpisodeSteps = 1000): RewardTransform {
  const { min, max } = returnRange(ds);
  if (!(max > min)) {
    throw new DataError(`all episodes have the same return (${min}); the (max_ret - min_ret) scaling is undefined`, {}, 'use a fixed reward scale/bias for this dataset instead');
  }
  return { scale: maxEpisodeSteps / (max - min), bias: 0 };
}
