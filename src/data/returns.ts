/**
 * Returns computed per episode.
 *
 * - `returnsToGo`: undiscounted (or discounted) sum of future rewards within the episode, the
 *   conditioning signal of return-conditioned methods.
 * - `monteCarloReturns`: discounted Monte-Carlo returns for Cal-QL's calibration (the reference
 *   value V^mu(s) that Q is clipped from below). Follows Cal-QL's reference implementation
 *   (nakamotoo/Cal-QL, JaxCQL/replay_buffer.py, calc_return_to_go), computed per trajectory:
 *     G_t = r_t + gamma * G_{t+1} * (1 - terminal_t), with G after the last row = tail
 *   where tail = 0 (reference default), or r_last / (1 - gamma) when `truncation` is
 *   'infinite-horizon' (the reference's `infinite_horizon` flag, used for kitchen). A terminal row
 *   never bootstraps (the (1 - terminal) factor), so 'infinite-horizon' only changes episodes cut by
 *   a timeout or by the end of the data. For sparse-reward tasks, an episode whose rewards all equal
 *   the failure value r_neg gets the closed form r_neg / (1 - gamma) on every row, as in the
 *   reference (a failed attempt would have failed forever).
 */
import { episodes, type Dataset } from './dataset.js';
import { DataError } from './errors.js';

/** Sum of future rewards inside each episode: rtg_t = r_t + gamma * rtg_{t+1}, 0 after the last row. */
export function returnsToGo(ds: Dataset, gamma = 1, out = new Float32Array(ds.size)): Float32Array {
  for (const ep of episodes(ds)) {
    let g = 0;
    for (let i = ep.end - 1; i >= ep.start; i--) {
      g = ds.rewards[i]! + gamma * g;
      out[i] = g;
    }
  }
  return out;
}

export interface McReturnOptions {
  /** Discount, in [0, 1). */
  gamma: number;
  /**
   * Value after the last row of an episode that did not terminate (timeout or end of data):
   * 'zero' (Cal-QL reference default, antmaze/adroit) or 'infinite-horizon' (r_last / (1 - gamma),
   * Cal-QL's `infinite_horizon=True`, kitchen). Default 'zero'.
   */
  truncation?: 'zero' | 'infinite-horizon';
  /**
   * Sparse-reward failure value r_neg (already scaled/biased like the rewards). When set, an
   * episode whose rewards all equal it gets r_neg / (1 - gamma) on every row.
   * Cal-QL: antmaze r_neg = 0 * scale + bias, adroit-binary r_neg = -1 * scale + bias.
   */
  sparseFailureReward?: number;
}

/** Discounted Monte-Carlo returns per row (Cal-QL's mc_returns). Computed in float64. */
export function monteCarloReturns(ds: Dataset, opts: McReturnOptions, out = new Float32Array(ds.size)): Float32Array {
  const { gamma } = opts;
  if (!(gamma >= 0 && gamma < 1)) {
    throw new DataError(`monteCarloReturns: gamma must be in [0, 1), got ${gamma}`, {}, 'use the discount of your algorithm config (e.g. 0.99)');
  }
  const trunc = opts.truncation ?? 'zero';
  const rneg = opts.sparseFailureReward;
  for (const ep of episodes(ds)) {
    if (rneg !== undefined) {
      let allNeg = true;
      for (let i = ep.start; i < ep.end && allNeg; i++) allNeg = ds.rewards[i] === Math.fround(rneg);
      if (allNeg) {
        out.fill(rneg / (1 - gamma), ep.start, ep.end);
        continue;
      }
    }
    let g = trunc === 'infinite-horizon' ? ds.rewards[ep.end - 1]! / (1 - gamma) : 0;
    for (let i = ep.end - 1; i >= ep.start; i--) {
      g = ds.rewards[i]! + gamma * g * (1 - ds.terminals[i]!);
      out[i] = g;
    }
  }
  return out;
}
