import type { Graph } from '../builder.js';
import { sizeOf } from '../dtype.js';
import { type Tensor, GraphBuildError, fmtShape } from '../graph.js';
import { broadcastShapes, defineOp, normAxes, unbroadcast } from './define.js';

const ReshapeOp = defineOp({
  onnx: 'Reshape',
  vjp: (g, { inputs: [x] }, [dy], needs) => [needs[0] ? g.reshape(dy!, x!.shape) : null, null],
});

/** Reshape to a static shape; one entry may be -1 (inferred). A leading batch (-1) is kept. */
export function reshape(g: Graph, x: Tensor, shape: readonly number[]): Tensor {
  const dynamic = x.shape.includes(-1);
  const known = shape.filter((d) => d !== -1);
  if (shape.filter((d) => d === -1).length > 1) throw new GraphBuildError(`Reshape: at most one -1 in ${fmtShape(shape)}`);
  let out = [...shape];
  if (!dynamic) {
    const total = x.size;
    const rest = sizeOf(known);
    if (shape.includes(-1)) {
      if (total % rest !== 0) throw new GraphBuildError(`Reshape: cannot reshape ${fmtShape(x.shape)} (${total} values) to ${fmtShape(shape)}`);
      out = shape.map((d) => (d === -1 ? total / rest : d));
    } else if (rest !== total) {
      throw new GraphBuildError(`Reshape: ${fmtShape(x.shape)} has ${total} values, ${fmtShape(shape)} needs ${rest}`);
    }
  }
  return g.addNode(ReshapeOp, [x, g.ints(out)], [{ shape: out, dtype: x.dtype }])[0]!;
}

const TransposeOp = defineOp({
  onnx: 'Transpose',
  vjp: (g, { meta }, [dy]) => {
    const perm = meta.perm as number[];
    const inv = perm.map((_, i) => perm.indexOf(i));
    return [g.transpose(dy!, inv)];
  },
});
export function transpose(g: Graph, x: Tensor, perm?: readonly number[]): Tensor {
  const p = perm ? [...perm] : x.shape.map((_, i) => x.rank - 1 - i);
  if (p.length !== x.rank || [...p].sort().some((v, i) => v !== i)) {
    throw new GraphBuildError(`Transpose: perm ${JSON.stringify(p)} is not a permutation of the ${x.rank} axes of ${x}`);
  }
  const shape = p.map((i) => x.shape[i]!);
  // A permutation that keeps the axes longer than 1 in their order moves no data ([B, T, 1, d] →
  // [B, 1, T, d]: one attention head): a Reshape, which ORT runs without a copy.
  const big = (axes: number[]) => axes.filter((i) => x.shape[i] !== 1);
  const before = big(x.shape.map((_, i) => i));
  if (big(p).every((a, k) => a === before[k])) return p.every((a, k) => a === k) ? x : reshape(g, x, shape);
  return g.addNode(TransposeOp, [x], [{ shape, dtype: x.dtype }], { perm: p }, { perm: p })[0]!;
}

const ConcatOp = defineOp({
  onnx: 'Concat',
  vjp: (g, { inputs, meta }, [dy], needs) => {
    const axis = meta.axis as number;
    const parts = g.split(
      dy!,
      inputs.map((t) => t.shape[axis]!),
      axis,
    );
    return parts.map((p, i) => (needs[i] ? p : null));
  },
});
export function concat(g: Graph, xs: Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new GraphBuildError('Concat: needs at least one tensor');
  const [a] = normAxes('Concat', [axis], xs[0]!.rank);
  const shape = [...xs[0]!.shape];
  for (const t of xs.slice(1)) {
    if (t.rank !== shape.length || t.dtype !== xs[0]!.dtype || t.shape.some((d, i) => i !== a && d !== shape[i])) {
      throw new GraphBuildError(`Concat(axis=${axis}): incompatible operands ${xs.map(String).join(', ')}`);
    }
    shape[a!] = shape[a!]! + t.shape[a!]!;
  }
  if (xs.length === 1) return xs[0]!;
  return g.addNode(ConcatOp, xs, [{ shape, dtype: xs[0]!.dtype }], { axis: a! }, { axis: a })[0]!;
}

const SplitOp = defineOp({
  onnx: 'Split',
  vjp: (g, { inputs: [x], outputs, meta }, dys, needs) => {
    if (!needs[0]) return [null, null];
    const axis = meta.axis as number;
    const parts = dys.map((d, i) => d ?? g.zeros(outputs[i]!.shape, x!.dtype));
    return [g.concat(parts, axis), null];
  },
});
export function split(g: Graph, x: Tensor, sizes: readonly number[], axis: number): Tensor[] {
  const [a] = normAxes('Split', [axis], x.rank);
  const total = sizes.reduce((s, v) => s + v, 0);
  if (total !== x.shape[a!] || sizes.some((s) => s <= 0)) {
    throw new GraphBuildError(`Split: sizes ${JSON.stringify(sizes)} do not partition axis ${a} of ${x}`);
  }
  if (sizes.length === 1) return [x];
  const shapes = sizes.map((s) => ({ shape: x.shape.map((d, i) => (i === a ? s : d)), dtype: x.dtype }));
  return g.addNode(SplitOp, [x, g.ints(sizes)], shapes, { axis: a! }, { axis: a });
}

const SliceOp = defineOp({
  onnx: 'Slice',
  vjp: (g, { inputs: [x], meta }, [dy], needs) => {
    if (!needs[0]) return [null];
    const { starts, ends } = meta as { starts: number[]; ends: number[] };
    const pads = [...starts, ...x!.shape.map((d, i) => d - ends[i]!)];
    return [g.pad(dy!, pads), null, null, null];
  },
});
/** Static slice with step 1: `ranges[axis] = [start, end)`; omitted axes are kept whole. */
export function slice(g: Graph, x: Tensor, ranges: Record<number, [number, number]>): Tensor {
  const starts = x.shape.map(() => 0);
  const ends = [...x.shape];
  for (const [k, [s, e]] of Object.entries(ranges)) {
    const [ax] = normAxes('Slice', [Number(k)], x.rank);
    const d = x.shape[ax!]!;
    if (d < 0) throw new GraphBuildError(`Slice: axis ${ax} of ${x} is the batch axis; slice another axis`);
    const s0 = s < 0 ? s + d : s;
    const e0 = e < 0 ? e + d : Math.min(e, d);
    if (!(0 <= s0 && s0 < e0 && e0 <= d)) throw new GraphBuildError(`Slice: range [${s}, ${e}) is empty or outside axis ${ax} (size ${d}) of ${x}`);
    starts[ax!] = s0;
    ends[ax!] = e0;
  }
  const axes = x.shape.map((_, i) => i);
  const shape = x.shape.map((d, i) => (d < 0 ? d : ends[i]! - starts[i]!));
  const ends2 = ends.map((e) => (e < 0 ? 2 ** 53 : e)); // -1 (batch) axis: take all
  return g.addNode(SliceOp, [x, g.ints(starts), g.ints(ends2), g.ints(axes)], [{ shape, dtype: x.dtype }], {}, { starts, ends })[0]!;
}

const PadOp = defineOp({
  onnx: 'Pad',
  vjp: (g, { inputs: [x], meta }, [dy], needs) => {
    if (!needs[0]) return [null, null];
    const pads = meta.pads as number[];
    const r: Record<number, [number, number]> = {};
    x!.shape.forEach((d, i) => (r[i] = [pads[i]!, pads[i]! + d]));
    return [g.slice(dy!, r), null];
  },
});
/** Zero padding: pads = [begin_0..begin_n, end_0..end_n]. */
export function pad(g: Graph, x: Tensor, pads: readonly number[]): Tensor {
  if (pads.length !== 2 * x.rank || pads.some((p) => p < 0)) throw new GraphBuildError(`Pad: pads ${JSON.stringify(pads)} must be 2*rank non-negative ints for ${x}`);
  const shape = x.shape.map((d, i) => d + pads[i]! + pads[i + x.rank]!);
  return g.addNode(PadOp, [x, g.ints(pads)], [{ shape, dtype: x.dtype }], { mode: 'constant' }, { pads: [...pads] })[0]!;
}

const ExpandOp = defineOp({
  onnx: 'Expand',
  vjp: (g, { inputs: [x] }, [dy], needs) => [needs[0] ? unbroadcast(g, dy!, x!.shape) : null, null],
});
export function expand(g: Graph, x: Tensor, shape: readonly number[]): Tensor {
  const out = broadcastShapes('Expand', x.shape, shape);
  return g.addNode(ExpandOp, [x, g.ints(shape)], [{ shape: out, dtype: x.dtype }])[0]!;
}
