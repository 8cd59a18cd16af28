/**
 * SafetyFilter: what stands between a policy and the actuators. Every action leaves through it:
 *  - bounds: components are clipped into [low, high] (counted);
 *  - rate limit: |a_t − a_{t−1}| ≤ maxDelta per step, per component (counted);
 *  - safe action when the policy cannot be trusted (bad or stale observation, non-finite output):
 *    'zero', 'hold' (the last action sent) or 'pose' (a named pose), itself bounded and rate-limited
 *    so the robot is never jerked.
 * Buffers are allocated once; filtering allocates nothing.
 */

export type SafeActionMode = 'zero' | 'hold' | 'pose';

export interface SafetyConfig {
  /** Action bounds (default: the policy card's action space; ±Infinity for foreign models without one). */
  low?: ArrayLike<number>;
  high?: ArrayLike<number>;
  /** Largest change of any component between consecutive actions (scalar or per component); default none. */
  maxDelta?: number | ArrayLike<number>;
  /** What to send when the policy cannot be trusted (default 'hold'). */
  safeAction?: SafeActionMode;
  /** Name of the pose in `poses` used when safeAction is 'pose'. */
  pose?: string;
  poses?: Record<string, ArrayLike<number>>;
  /** Observations older than this (ms) are stale: the safe action goes out instead (default: off). */
  staleAfterMs?: number;
}

export type FaultKind = 'nonFiniteObs' | 'obsLength' | 'badMessage' | 'nonFiniteAction' | 'stale' | 'inference';

export interface FaultCounts {
  nonFiniteObs: number;
  obsLength: number;
  /** Transport messages that could not be decoded. */
  badMessage: number;
  nonFiniteAction: number;
  stale: number;
  inference: number;
  /** Actions with at least one component clipped into bounds. */
  clipped: number;
  /** Actions with at least one component held back by maxDelta. */
  rateLimited: number;
}

export class SafetyConfigError extends Error {
  override name = 'SafetyConfigError';
}

function vector(v: number | ArrayLike<number> | undefined, n: number, fill: number, what: string): Float64Array {
  const out = new Float64Array(n).fill(fill);
  if (v === undefined) return out;
  if (typeof v === 'number') return out.fill(v);
  if (v.length !== n) throw new SafetyConfigError(`safety: ${what} has ${v.length} values, the policy has ${n} actions; give one per action (or a single number)`);
  for (let i = 0; i < n; i++) out[i] = v[i]!;
  return out;
}

export class SafetyFilter {
  readonly low: Float64Array;
  readonly high: Float64Array;
  readonly maxDelta: Float64Array;
  readonly mode: SafeActionMode;
  readonly staleAfterMs: number;
  /** The last action sent (what 'hold' repeats). */
  readonly last: Float32Array;
  private readonly pose: Float32Array;
  readonly faults: FaultCounts = { nonFiniteObs: 0, obsLength: 0, badMessage: 0, nonFiniteAction: 0, stale: 0, inference: 0, clipped: 0, rateLimited: 0 };
  lastFault: FaultKind | null = null;
  private started = false;

  constructor(
    readonly actDim: number,
    cfg: SafetyConfig = {},
  ) {
    this.low = vector(cfg.low, actDim, -Infinity, 'low');
    this.high = vector(cfg.high, actDim, Infinity, 'high');
    this.maxDelta = vector(cfg.maxDelta, actDim, Infinity, 'maxDelta');
    for (let i = 0; i < actDim; i++) {
      if (!(this.low[i]! <= this.high[i]!)) throw new SafetyConfigError(`safety: bound ${i} has low ${this.low[i]} > high ${this.high[i]}; swap them`);
      if (!(this.maxDelta[i]! > 0)) throw new SafetyConfigError(`safety: maxDelta[${i}] is ${this.maxDelta[i]}; it must be > 0 (omit it for no rate limit)`);
    }
    this.mode = cfg.safeAction ?? 'hold';
    if (!['zero', 'hold', 'pose'].includes(this.mode)) throw new SafetyConfigError(`safety: safeAction '${this.mode}' is not one of zero, hold, pose`);
    this.pose = new Float32Array(actDim);
    this.last = new Float32Array(actDim);
    if (this.mode === 'pose') {
      const p = cfg.pose ? cfg.poses?.[cfg.pose] : undefined;
      if (!p)
        throw new SafetyConfigError(`safety: safeAction 'pose' needs a pose name in 'pose' that exists in 'poses' (have: ${Object.keys(cfg.poses ?? {}).join(', ') || 'none'})`);
      const v = vector(p, actDim, 0, `pose '${cfg.pose}'`);
      for (let i = 0; i < actDim; i++) {
        if (!Number.isFinite(v[i]!) || v[i]! < this.low[i]! || v[i]! > this.high[i]!)
          throw new SafetyConfigError(`safety: pose '${cfg.pose}'[${i}] = ${v[i]} lies outside the bounds [${this.low[i]}, ${this.high[i]}]`);
        this.pose[i] = v[i]!;
      }
    }
    this.staleAfterMs = cfg.staleAfterMs ?? Infinity;
    if (!(this.staleAfterMs > 0)) throw new SafetyConfigError(`safety: staleAfterMs is ${cfg.staleAfterMs}; it must be > 0 (omit it to turn the watchdog off)`);
    // Before any action was sent, 'hold' holds zero (clipped into bounds) and a pose starts at the pose.
    for (let i = 0; i < actDim; i++) this.last[i] = this.mode === 'pose' ? this.pose[i]! : Math.min(this.high[i]!, Math.max(this.low[i]!, 0));
  }

  /**
   * Bounds and rate-limits `proposed` into `out` (may be the same array) and remembers it.
   * Returns false (writing nothing) if a component is not finite: the caller sends safe() instead.
   */
  filter(proposed: Float32Array, out: Float32Array): boolean {
    const n = this.actDim;
    for (let i = 0; i < n; i++) if (!Number.isFinite(proposed[i]!)) return false;
    let clipped = false;
    let limited = false;
    for (let i = 0; i < n; i++) {
      let a = proposed[i]!;
      if (a < this.low[i]!) {
        a = this.low[i]!;
        clipped = true;
      } else if (a > this.high[i]!) {
        a = this.high[i]!;
        clipped = true;
      }
      if (this.started) {
        const prev = this.last[i]!;
        const d = this.maxDelta[i]!;
        if (a > prev + d) {
          a = prev + d;
          limited = true;
        } else if (a < prev - d) {
          a = prev - d;
          limited = true;
        }
      }
      out[i] = a;
      this.last[i] = a;
    }
    this.started = true;
    if (clipped) this.faults.clipped++;
    if (limited) this.faults.rateLimited++;
    return true;
  }

  /** Counts a fault and writes the safe action (bounded and rate-limited) into `out`. */
  safe(kind: FaultKind, out: Float32Array): Float32Array {
    this.faults[kind]++;
    this.lastFault = kind;
    const n = this.actDim;
    for (let i = 0; i < n; i++) out[i] = this.mode === 'zero' ? 0 : this.mode === 'pose' ? this.pose[i]! : this.last[i]!;
    this.filter(out, out);
    return out;
  }

  /** Sum of the faults that replaced the policy's action. */
  get replaced(): number {
    const f = this.faults;
    return f.nonFiniteObs + f.obsLength + f.badMessage + f.nonFiniteAction + f.stale + f.inference;
  }
}
