/**
 * Statistics for evaluation reports: means with percentile-bootstrap confidence intervals (seeded),
 * the bootstrap CI of a difference of two independent means, Welch's two-sample t-test and
 * histograms on shared bin edges. Plain JS: a few thousand numbers, nothing worth a graph.
 */
import { Rng } from '../util/rng.js';

export interface Interval {
  lo: number;
  hi: number;
}

export interface BootstrapOptions {
  /** Resamples (default 2000). */
  resamples?: number;
  /** Confidence level (default 0.95). */
  level?: number;
  /** Seed of the resampling stream: the same seed gives the same interval. */
  seed: number;
}

export interface WelchResult {
  /** t statistic of mean(a) − mean(b). */
  t: number;
  /** Welch–Satterthwaite degrees of freedom. */
  df: number;
  /** Two-sided p-value. */
  p: number;
}

export interface HistogramBin {
  lo: number;
  hi: number;
  count: number;
}

export const DEFAULT_RESAMPLES = 2000;
export const DEFAULT_LEVEL = 0.95;
export const CI_METHOD = 'percentile bootstrap of the mean (resampling episodes with replacement, seeded xoshiro128**)';

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample standard deviation (n − 1 in the denominator); 0 for a single value. */
export function std(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) ** 2;
  return Math.sqrt(s / (xs.length - 1));
}

/** The q-quantile (0..1) of sorted values, linear interpolation between order statistics. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const pos = (n - 1) * q;
  const i = Math.floor(pos);
  const f = pos - i;
  return i + 1 < n ? sorted[i]! * (1 - f) + sorted[i + 1]! * f : sorted[i]!;
}

function checkOptions(o: BootstrapOptions): { resamples: number; level: number; rng: Rng } {
  const resamples = o.resamples ?? DEFAULT_RESAMPLES;
  const level = o.level ?? DEFAULT_LEVEL;
  if (!Number.isInteger(resamples) || resamples < 100) throw new RangeError(`bootstrap: resamples must be an integer >= 100, got ${resamples}`);
  if (!(level > 0 && level < 1)) throw new RangeError(`bootstrap: level must be in (0, 1), e.g. 0.95, got ${level}`);
  return { resamples, level, rng: new Rng(o.seed) };
}

function resampledMeans(xs: readonly number[], resamples: number, rng: Rng): Float64Array {
  const n = xs.length;
  const out = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += xs[rng.int(n)]!;
    out[r] = s / n;
  }
  return out;
}

function percentileInterval(stats: Float64Array, level: number): Interval {
  stats.sort();
  const a = (1 - level) / 2;
  return { lo: quantileSorted(stats, a), hi: quantileSorted(stats, 1 - a) };
}

/** Percentile-bootstrap CI of the mean. One value gives [x, x]; no values throw. */
export function bootstrapMeanCI(xs: readonly number[], o: BootstrapOptions): Interval {
  if (xs.length === 0) throw new RangeError('bootstrapMeanCI: no values; run at least one episode');
  const { resamples, level, rng } = checkOptions(o);
  return percentileInterval(resampledMeans(xs, resamples, rng), level);
}

/** Percentile-bootstrap CI of mean(a) − mean(b) for independent samples (each resampled on its own). */
export function bootstrapDiffCI(a: readonly number[], b: readonly number[], o: BootstrapOptions): Interval {
  if (a.length === 0 || b.length === 0) throw new RangeError(`bootstrapDiffCI: empty sample (sizes ${a.length} and ${b.length})`);
  const { resamples, level, rng } = checkOptions(o);
  const ma = resampledMeans(a, resamples, rng);
  const mb = resampledMeans(b, resamples, rng);
  for (let r = 0; r < resamples; r++) ma[r]! -= mb[r]!;
  return percentileInterval(ma, level);
}

/**
 * Welch's unequal-variance t-test of mean(a) − mean(b). Needs two values per sample; when both
 * samples have zero variance the p-value is 1 for equal means and 0 otherwise (df is NaN).
 */
export function welchTTest(a: readonly number[], b: readonly number[]): WelchResult {
  if (a.length < 2 || b.length < 2) throw new RangeError(`welchTTest: needs at least 2 values per sample, got ${a.length} and ${b.length}`);
  const va = std(a) ** 2 / a.length;
  const vb = std(b) ** 2 / b.length;
  const d = mean(a) - mean(b);
  const se2 = va + vb;
  if (se2 === 0) return { t: d === 0 ? 0 : Math.sign(d) * Infinity, df: Number.NaN, p: d === 0 ? 1 : 0 };
  const t = d / Math.sqrt(se2);
  const df = se2 ** 2 / (va ** 2 / (a.length - 1) + vb ** 2 / (b.length - 1));
  return { t, df, p: studentTwoSidedP(t, df) };
}

/** Two-sided p-value of Student's t with `df` degrees of freedom: I_{df/(df+t²)}(df/2, 1/2). */
export function studentTwoSidedP(t: number, df: number): number {
  if (!Number.isFinite(t)) return 0;
  return regularizedBeta(df / (df + t * t), df / 2, 0.5);
}

function logGamma(x: number): number {
  // Lanczos approximation (g = 7, n = 9), |error| < 1e-13 for x > 0.
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
    1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let s = c[0]!;
  for (let i = 1; i < 9; i++) s += c[i]! / (x + i);
  const t = x + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(s);
}

/** Regularized incomplete beta I_x(a, b) by Lentz's continued fraction (Numerical Recipes 6.4). */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  if (x > (a + 1) / (a + b + 2)) return 1 - (front * betaCF(1 - x, b, a)) / b;
  return (front * betaCF(x, a, b)) / a;
}

function betaCF(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-14) break;
  }
  return h;
}

/** Shared bin edges over several samples, so their histograms can be compared bin by bin. */
export function binEdges(samples: readonly (readonly number[])[], bins: number): number[] {
  if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`histogram: bins must be a positive integer, got ${bins}`);
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of samples)
    for (const x of s) {
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
  if (!Number.isFinite(lo)) return [0, 1];
  if (hi === lo) {
    const pad = Math.max(1, Math.abs(lo) * 0.01);
    lo -= pad;
    hi += pad;
  }
  return Array.from({ length: bins + 1 }, (_, i) => lo + ((hi - lo) * i) / bins);
}

/** Counts per bin [edges[i], edges[i+1]); the last bin also holds its upper edge. */
export function histogram(xs: readonly number[], edges: readonly number[]): HistogramBin[] {
  const bins = edges.length - 1;
  const out: HistogramBin[] = Array.from({ length: bins }, (_, i) => ({ lo: edges[i]!, hi: edges[i + 1]!, count: 0 }));
  const lo = edges[0]!;
  const w = (edges[bins]! - lo) / bins;
  for (const x of xs) {
    const i = Math.min(bins - 1, Math.max(0, Math.floor((x - lo) / w)));
    out[i]!.count++;
  }
  return out;
}

/** The standard normal quantile Φ⁻¹(p), 0 < p < 1 (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile: p must be in (0, 1), got ${p}`);
  const a = [-39.69683028665376, 220.9460984245205, -275.928510446969, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const tail = (q: number): number => (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

/** Wilson score interval of a binomial proportion: `successes` of `n` at confidence `level`. */
export function wilsonInterval(successes: number, n: number, level: number): Interval {
  if (n <= 0) return { lo: Number.NaN, hi: Number.NaN };
  const z = normalQuantile(1 - (1 - level) / 2);
  const p = successes / n;
  const z2n = (z * z) / n;
  const centre = (p + z2n / 2) / (1 + z2n);
  const half = (z / (1 + z2n)) * Math.sqrt((p * (1 - p)) / n + z2n / (4 * n));
  return { lo: Math.max(0, centre - half), hi: Math.min(1, centre + half) };
}
