import type { Rng } from '../util/rng.js';

/** Draws index i with probability weights[i] / Σ weights (a cumulative table and a binary search). */
export class WeightedPick {
  private readonly cumulative: Float64Array;

  constructor(weights: ArrayLike<number>) {
    this.cumulative = new Float64Array(weights.length);
    let c = 0;
    for (let i = 0; i < weights.length; i++) {
      c += weights[i]!;
      this.cumulative[i] = c;
    }
  }

  draw(rng: Rng): number {
    const u = rng.uniform(0, this.cumulative[this.cumulative.length - 1]!);
    let lo = 0;
    let hi = this.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cumulative[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
