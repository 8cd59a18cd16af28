/**
 * The action queue of a 'chunked' policy (Diffusion Policy, ACT): one per robot, in its runtime.
 *
 * The policy sees the last K = contextLength observations, oldest first (kept in the model's own
 * input buffer and shifted in place; at an episode's start the first observation fills every
 * position, as Diffusion Policy does), and a standard-normal noise input drawn from the robot's
 * seeded generator, and returns a chunk of H = chunkLength actions starting at the current step.
 *
 *  - Receding horizon (default): the first `actionHorizon` actions of a chunk are executed, one per
 *    step, then the policy plans again. Between plans a step is a queue pop (no inference).
 *  - Temporal ensembling (ACT): the policy plans at every step; the action of step t is the
 *    weighted mean of every prediction for t among the last H chunks, w_i = exp(−m·i) with i = 0
 *    the oldest prediction.
 *
 * Steps advance the queue even when their observation is refused (their action is dropped), so
 * the queue stays aligned with the robot's time. A repeat (the same step again) re-sends the
 * current step's action. Nothing here allocates after construction (a swap's carry-over aside).
 */
import type { Rng } from '../util/rng.js';
import type { PolicyModel } from './model.js';

export interface ChunkingOptions {
  /** Actions executed per plan, 1..chunkLength (default: the interface's actionHorizon, else chunkLength). */
  actionHorizon?: number;
  /** ACT temporal ensembling with w_i = exp(−m·i): the value is m (ACT's 0.01); null or absent: off. */
  temporalEnsembling?: number | null;
  /** Seed of the robot's noise generator (default 0; o2o serve derives one per robot). */
  seed?: number;
}

export class ChunkQueue {
  /** Actions executed per plan (1 with temporal ensembling: it plans every step). */
  readonly horizon: number;
  readonly chunkLength: number;
  /** ACT's m, or null: receding horizon. */
  readonly ensembling: number | null;
  /** Plans made (inferences). */
  replans = 0;
  /** The current step's index in the episode (-1 before the first). */
  step = -1;
  /** Rows of the plan in force, and the current step's row in it (-1: no plan: the next step plans). */
  private plan: Float32Array;
  private planRows = 0;
  private cursor = -1;
  /** The current step's action is a row of `plan` (else: the ensemble of `ring`). */
  private fromPlan = true;
  /** History: real observations in the window, and whether the current step's is there. */
  private filled = 0;
  private pushed = -1;
  private readonly K: number;
  private readonly obsDim: number;
  private readonly actDim: number;
  private readonly noise: Float32Array | null;
  /** Ensembling: the last H chunks (ring, oldest at head) and the step each was planned at. */
  private readonly ring: Float32Array;
  private readonly plannedAt: Int32Array;
  private ringHead = 0;
  private ringCount = 0;
  private readonly weights: Float64Array;
  private readonly acc: Float64Array;

  constructor(
    readonly model: PolicyModel,
    private readonly rng: Rng,
    opts: ChunkingOptions,
    defaultHorizon: number | undefined,
  ) {
    const H = model.chunkLength;
    this.chunkLength = H;
    this.K = model.contextLength;
    this.obsDim = model.obsDim;
    this.actDim = model.actDim;
    const m = opts.temporalEnsembling ?? null;
    if (m !== null && !(Number.isFinite(m) && m >= 0)) throw new RangeError(`temporal ensembling m = ${m}: give a number ≥ 0 (ACT uses 0.01)`);
    this.ensembling = m;
    const h = opts.actionHorizon ?? defaultHorizon ?? H;
    if (!Number.isInteger(h) || h < 1 || h > H) throw new RangeError(`action horizon ${h}: give an integer from 1 to the chunk length (${H})`);
    this.horizon = m !== null ? 1 : h;
    this.plan = new Float32Array(H * this.actDim);
    this.noise = (model.inputs.get('noise')?.data as Float32Array | undefined) ?? null;
    const ringSize = m !== null ? H : 0;
    this.ring = new Float32Array(ringSize * H * this.actDim);
    this.plannedAt = new Int32Array(ringSize);
    this.weights = Float64Array.from({ length: ringSize }, (_, i) => Math.exp(-(m ?? 0) * i));
    this.acc = new Float64Array(this.actDim);
  }

  /** A new episode: empty queue and history; the next step is step 0. */
  clear(): void {
    this.step = -1;
    this.cursor = -1;
    this.planRows = 0;
    this.filled = 0;
    this.pushed = -1;
    this.ringCount = 0;
    this.ringHead = 0;
    this.model.obs.fill(0);
  }

  /** A step begins: the first of an episode, or `steps` after the current one. */
  begin(start: boolean, steps = 1): void {
    if (start || this.step < 0) {
      this.clear();
      this.step = 0;
      return;
    }
    this.step += steps;
    if (this.cursor >= 0) {
      this.cursor += steps;
      if (this.cursor >= this.planRows) this.cursor = -1;
    }
  }

  /** Actions of the plan in force still to execute after the current step. */
  get queued(): number {
    return this.cursor < 0 ? 0 : this.planRows - this.cursor - 1;
  }

  /** The current step's observation enters the history (at the last position; the first fills every position). */
  put(obs: ArrayLike<number>): void {
    const x = this.model.obs;
    const n = this.obsDim;
    const K = this.K;
    if (this.pushed !== this.step) {
      if (this.filled > 0) x.copyWithin(0, n, K * n);
      this.filled = Math.min(this.filled + 1, K);
      this.pushed = this.step;
    }
    const from = this.filled === 1 ? 0 : K - 1;
    for (let p = from; p < K; p++) for (let i = 0; i < n; i++) x[p * n + i] = obs[i]!;
  }

  /** Whether the current step needs the policy (no plan covers it, or ensembling). */
  get needsPlan(): boolean {
    return this.cursor < 0;
  }

  /** Fills the noise input from the robot's generator (before each inference). */
  drawNoise(): void {
    const z = this.noise;
    if (!z) return;
    for (let i = 0; i < z.length; i++) z[i] = this.rng.normal();
  }

  /** The model's chunk (just inferred) becomes the plan: the current step is its first row. */
  planned(): void {
    const c = this.model.chunk;
    const d = this.actDim;
    this.replans++;
    if (this.ensembling !== null) {
      const H = this.chunkLength;
      let slot: number;
      if (this.ringCount < H) slot = (this.ringHead + this.ringCount++) % H;
      else {
        slot = this.ringHead;
        this.ringHead = (this.ringHead + 1) % H;
      }
      this.ring.set(c, slot * H * d);
      this.plannedAt[slot] = this.step;
      this.cursor = 0;
      this.planRows = 1;
      this.fromPlan = false;
      return;
    }
    for (let i = 0; i < this.horizon * d; i++) this.plan[i] = c[i]!;
    this.planRows = this.horizon;
    this.cursor = 0;
    this.fromPlan = true;
  }

  /** The current step's action (before the safety filter) into `out`. */
  current(out: Float32Array): void {
    const d = this.actDim;
    if (this.fromPlan) {
      const at = this.cursor * d;
      for (let i = 0; i < d; i++) out[i] = this.plan[at + i]!;
      return;
    }
    const H = this.chunkLength;
    const acc = this.acc;
    acc.fill(0);
    let wsum = 0;
    let k = 0; // i: the prediction's rank, 0 the oldest
    for (let j = 0; j < this.ringCount; j++) {
      const slot = (this.ringHead + j) % H;
      const row = this.step - this.plannedAt[slot]!;
      if (row < 0 || row >= H) continue;
      const w = this.weights[k++]!;
      wsum += w;
      const at = (slot * H + row) * d;
      for (let i = 0; i < d; i++) acc[i]! += w * this.ring[at + i]!;
    }
    for (let i = 0; i < d; i++) out[i] = acc[i]! / wsum;
  }

  /**
   * Takes over the robot's episode from the queue of the policy being swapped out: its remaining
   * actions finish first (the new policy plans when they are done) and the observation history
   * goes on (when both see as many observations).
   */
  continueFrom(old: ChunkQueue): void {
    this.step = old.step;
    if (this.K === old.K) {
      this.model.obs.set(old.model.obs);
      this.filled = old.filled;
      this.pushed = old.pushed;
    }
    if (old.ensembling === null && old.cursor >= 0) {
      const rows = old.planRows - old.cursor;
      const d = this.actDim;
      if (rows * d > this.plan.length) this.plan = new Float32Array(rows * d);
      this.plan.set(old.plan.subarray(old.cursor * d, old.planRows * d));
      this.planRows = rows;
      this.cursor = 0;
      this.fromPlan = true;
    }
  }
}
