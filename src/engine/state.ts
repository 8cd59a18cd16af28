import { type AnyTypedArray, type DType, allocate, sizeOf } from './dtype.js';
import { ort } from './ort-binding.js';

const ORT_TYPE: Record<DType, 'float32' | 'float64' | 'int64' | 'bool'> = { float32: 'float32', float64: 'float64', int64: 'int64', bool: 'bool' };

export function makeTensor(dtype: DType, data: AnyTypedArray, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor(ORT_TYPE[dtype], data as Float32Array, [...dims]);
}

/** One piece of training state held twice: the value fed now, and the buffer the next run fills. */
export interface StateSlot {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  cur: AnyTypedArray;
  next: AnyTypedArray;
  curTensor: ort.Tensor;
  nextTensor: ort.Tensor;
}

/**
 * Training state (parameters, optimizer moments, target networks) shared by the sessions of one
 * learner. A run reads `cur` and writes `next`; commit swaps them, so a diverged run is discarded
 * by not committing, and two graphs (say TD3's critic-only and critic+actor steps) see the same
 * parameters without copies. Snapshots are what checkpoints store.
 */
export class StateStore {
  private readonly slots = new Map<string, StateSlot>();

  has(name: string): boolean {
    return this.slots.has(name);
  }

  get(name: string): StateSlot {
    const s = this.slots.get(name);
    if (!s) throw new Error(`state '${name}' does not exist (have: ${[...this.slots.keys()].join(', ') || 'none'})`);
    return s;
  }

  /** Declares (or re-uses, checking dtype and shape) a state slot. */
  ensure(name: string, dtype: DType, shape: readonly number[]): StateSlot {
    const have = this.slots.get(name);
    if (have) {
      if (have.dtype !== dtype || have.shape.length !== shape.length || have.shape.some((d, i) => d !== shape[i])) {
        throw new Error(`state '${name}': declared as ${have.dtype}[${have.shape.join(',')}], now used as ${dtype}[${shape.join(',')}]`);
      }
      return have;
    }
    const n = sizeOf(shape);
    const cur = allocate(dtype, n);
    const next = allocate(dtype, n);
    const slot: StateSlot = { name, dtype, shape: [...shape], cur, next, curTensor: makeTensor(dtype, cur, shape), nextTensor: makeTensor(dtype, next, shape) };
    this.slots.set(name, slot);
    return slot;
  }

  swap(name: string): void {
    const s = this.get(name);
    [s.cur, s.next] = [s.next, s.cur];
    [s.curTensor, s.nextTensor] = [s.nextTensor, s.curTensor];
  }

  /** Current value (live buffer: valid until the next commit). */
  value(name: string): AnyTypedArray {
    return this.get(name).cur;
  }

  set(name: string, values: ArrayLike<number>): void {
    const s = this.get(name);
    if (values.length !== s.cur.length) throw new Error(`state '${name}' holds ${s.cur.length} values, got ${values.length}`);
    (s.cur as Float32Array).set(values);
  }

  names(): string[] {
    return [...this.slots.keys()];
  }

  /** Copies of every current value, for checkpoints. */
  snapshot(): Record<string, AnyTypedArray> {
    const out: Record<string, AnyTypedArray> = {};
    for (const [k, s] of this.slots) out[k] = s.cur.slice();
    return out;
  }

  restore(values: Record<string, ArrayLike<number>>): void {
    for (const [k, v] of Object.entries(values)) {
      if (!this.slots.has(k)) throw new Error(`checkpoint has state '${k}' that this learner does not`);
      this.set(k, v);
    }
    for (const k of this.slots.keys()) {
      if (!(k in values)) throw new Error(`checkpoint lacks state '${k}'`);
    }
  }
}
