import type { Graph } from '../builder.js';
import type { DType } from '../dtype.js';
import { type Node, type Tensor, GraphBuildError, fmtShape } from '../graph.js';

/**
 * An operator: its ONNX name and its vector-Jacobian product (reverse-mode rule).
 * `vjp` receives the node, the cotangents of its outputs (null where an output has none) and
 * which inputs need a gradient; it returns one cotangent per input (null = none / not needed).
 */
export interface OpDef {
  readonly onnx: string;
  readonly domain?: string;
  /** Blocks gradients (StopGradient): reverse mode treats the output as a constant. */
  readonly stop?: boolean;
  readonly vjp?: (g: Graph, node: Node, dys: (Tensor | null)[], needs: boolean[]) => (Tensor | null)[];
}

export function defineOp(def: OpDef): OpDef {
  return def;
}

/** Something usable where a tensor is expected: plain numbers become scalar constants. */
export type Operand = Tensor | number;

export function lift(g: Graph, x: Operand, like: DType): Tensor {
  return typeof x === 'number' ? g.constant(x, [], like) : x;
}

/** The float dtype of a set of operands (numbers adopt it; default: the graph's). */
export function commonDtype(g: Graph, where: string, ...xs: Operand[]): DType {
  let dt: DType | null = null;
  for (const x of xs) {
    if (typeof x === 'number') continue;
    if (dt === null) dt = x.dtype;
    else if (x.dtype !== dt) {
      throw new GraphBuildError(
        `${where}: dtypes differ (${xs
          .filter((v) => typeof v !== 'number')
          .map(String)
          .join(', ')}); cast one operand first`,
      );
    }
  }
  return dt ?? g.dtype;
}

/** Numpy broadcasting of static shapes; -1 (batch) matches -1 or 1. */
export function broadcastShapes(where: string, ...shapes: (readonly number[])[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const k = s.length - rank + i;
      const v = k >= 0 ? s[k]! : 1;
      if (v === 1) continue;
      if (d === 1) d = v;
      else if (d !== v) {
        throw new GraphBuildError(`${where}: shapes ${shapes.map(fmtShape).join(' and ')} do not broadcast (axis ${i}: ${d} vs ${v})`);
      }
    }
    out.push(d);
  }
  return out;
}

/** Sums a broadcast cotangent back to `shape` (the reverse of numpy broadcasting). */
export function unbroadcast(g: Graph, dy: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(dy.shape, shape)) return dy;
  // Bias gradients ([B, N] → [N] or [1, N]): a ones-row GEMM beats ReduceSum over axis 0.
  if (dy.rank === 2 && dy.shape[0]! > 1 && dy.shape[0]! > 0 && (sameShape(shape, [dy.shape[1]!]) || sameShape(shape, [1, dy.shape[1]!]))) {
    const summed = g.gemm(g.constant(1, [1, dy.shape[0]!], dy.dtype), dy);
    return shape.length === 2 ? summed : g.reshape(summed, shape);
  }
  const lead = dy.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < dy.rank; i++) {
    if (i < lead) axes.push(i);
    else if (shape[i - lead] === 1 && dy.shape[i] !== 1) axes.push(i);
  }
  const summed = axes.length ? g.reduceSum(dy, axes, true) : dy;
  return sameShape(summed.shape, shape) ? summed : g.reshape(summed, shape);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Normalizes possibly negative axes against a rank, with a helpful error. */
export function normAxes(where: string, axes: readonly number[], rank: number): number[] {
  return axes.map((a) => {
    const n = a < 0 ? a + rank : a;
    if (n < 0 || n >= rank) throw new GraphBuildError(`${where}: axis ${a} out of range for rank ${rank}`);
    return n;
  });
}
