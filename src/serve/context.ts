/**
 * The context of a 'sequence' policy (a Decision Transformer): the last K steps of the current
 * episode, kept in the model's own preallocated input buffers and shifted in place.
 *
 * At episode step t (0-based) the window holds steps max(0, t−K+1)..t in its last min(t+1, K)
 * positions (left padding: earlier positions are zeros with mask 0). Each position carries the
 * step's observation (raw: normalization is inside the graph), the action executed at it (the
 * current step's slot is zero until act() returns; then the action that left the safety filter is
 * written there), its return-to-go × scale and its timestep (clipped to the input's max). The
 * return-to-go starts at the target return and falls by each reward: rtg_{t+1} = rtg_t − r_t.
 *
 * A step whose observation is refused (bad or stale) still counts — its reward is subtracted and
 * the timestep advances — but it adds no position: the window's timesteps then skip it.
 * Nothing here allocates after construction. int64 inputs are written through an Int32Array view
 * (low word, high word 0: timesteps and mask values are small and non-negative).
 */
import { endianness } from 'node:os';
import type { PolicyExtraInput } from '../nn/index.js';
import type { PolicyModel } from './model.js';

/** One per-step input, as numbers per position in its (Float32 or Int32-view) array. */
interface Lane {
  arr: Float32Array | Int32Array;
  per: number;
}

function laneOf(data: Float32Array | BigInt64Array, K: number): Lane {
  if (data instanceof Float32Array) return { arr: data, per: data.length / K };
  if (endianness() !== 'LE') throw new Error('serving int64 context inputs needs a little-endian host');
  return { arr: new Int32Array(data.buffer, data.byteOffset, data.length * 2), per: (data.length * 2) / K };
}

export class ContextWindow {
  readonly length: number;
  /** The current step's index in the episode; -1 before the first step. */
  step = -1;
  /** The current step's return-to-go in return units (NaN without a returns-to-go input). */
  returnToGo = Number.NaN;
  /** The target return the next episode starts from (null: the policy has no returns-to-go input). */
  target: number | null;
  /** The step whose observation is at the last position (-1: none yet in this episode). */
  private pushed = -1;
  /** Real steps in the window. */
  private filled = 0;
  private readonly lanes: Lane[];
  private readonly obs: Lane;
  private readonly actions: Lane | null;
  private readonly rtg: Lane | null;
  private readonly rtgScale: number;
  private readonly timesteps: Lane | null;
  private readonly maxTimestep: number;
  private readonly mask: Lane | null;

  constructor(
    readonly model: PolicyModel,
    target: number | null,
  ) {
    const K = model.contextLength;
    this.length = K;
    const lane = (role: PolicyExtraInput['role']): Lane | null => {
      const x = model.inputs.get(role);
      return x ? laneOf(x.data, K) : null;
    };
    this.obs = laneOf(model.obs, K);
    this.actions = lane('actions');
    this.rtg = lane('returns-to-go');
    this.timesteps = lane('timesteps');
    this.mask = lane('mask');
    this.rtgScale = model.inputs.get('returns-to-go')?.spec.scale ?? 1;
    this.maxTimestep = model.inputs.get('timesteps')?.spec.max ?? 2 ** 31 - 1;
    this.lanes = [this.obs, this.actions, this.rtg, this.timesteps, this.mask].filter((l): l is Lane => l !== null);
    this.target = this.rtg ? target : null;
  }

  /** Empties the window: the next step is step 0 of a new episode. */
  clear(): void {
    for (const l of this.lanes) l.arr.fill(0);
    this.step = -1;
    this.pushed = -1;
    this.filled = 0;
    this.returnToGo = Number.NaN;
  }

  /**
   * A step begins: the first of an episode (`start`, or nothing yet), or the one `steps` after the
   * current step, the steps in between having earned `reward` in all.
   */
  begin(reward: number, start: boolean, steps = 1): void {
    if (start || this.step < 0) {
      this.clear();
      this.step = 0;
      this.returnToGo = this.target ?? Number.NaN;
      return;
    }
    this.step += steps;
    this.returnToGo -= reward;
  }

  /** Whether the current step's observation is in the window (a repeat then rewrites it). */
  get hasCurrent(): boolean {
    return this.pushed === this.step && this.step >= 0;
  }

  /** Writes the current step's observation at the last position, shifting the earlier steps left (or rewriting it on a repeat). */
  put(obs: ArrayLike<number>): void {
    const K = this.length;
    if (!this.hasCurrent) {
      if (this.filled > 0) {
        for (const l of this.lanes) {
          l.arr.copyWithin(0, l.per, K * l.per);
          l.arr.fill(0, (K - 1) * l.per);
        }
      }
      this.filled = Math.min(this.filled + 1, K);
      this.pushed = this.step;
      const last = K - 1;
      if (this.rtg) this.rtg.arr[last * this.rtg.per] = this.returnToGo * this.rtgScale;
      if (this.timesteps) this.timesteps.arr[last * this.timesteps.per] = Math.min(this.step, this.maxTimestep);
      if (this.mask) this.mask.arr[last * this.mask.per] = 1;
    } else if (this.actions) {
      this.actions.arr.fill(0, (K - 1) * this.actions.per); // the current step's action is not known yet
    }
    const o = this.obs;
    const at = (K - 1) * o.per;
    for (let i = 0; i < o.per; i++) o.arr[at + i] = obs[i]!;
  }

  /** The action executed at the current step (after the safety filter) goes into its slot. */
  executed(action: Float32Array): void {
    if (!this.actions || !this.hasCurrent) return;
    const a = this.actions;
    const at = (this.length - 1) * a.per;
    for (let i = 0; i < a.per; i++) a.arr[at + i] = action[i]!;
  }

  /** Takes over another window's episode (a hot swap to a policy with the same interface). */
  continueFrom(other: ContextWindow): void {
    for (let i = 0; i < this.lanes.length; i++) this.lanes[i]!.arr.set(other.lanes[i]!.arr);
    this.step = other.step;
    this.pushed = other.pushed;
    this.filled = other.filled;
    this.returnToGo = other.returnToGo;
  }
}
