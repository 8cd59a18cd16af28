import type { Graph } from '../builder.js';
import type { Tensor } from '../graph.js';
import { defineOp, normAxes } from './define.js';

/** Reduced shape; axes already normalized. */
function reducedShape(x: Tensor, axes: number[], keepdims: boolean): number[] {
  const out: number[] = [];
  x.shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepdims) out.push(1);
  });
  return out;
}

function axesOf(where: string, x: Tensor, axes?: readonly number[]): number[] {
  return axes === undefined ? x.shape.map((_, i) => i) : normAxes(where, axes, x.rank);
}

/** Cotangent of a reduction, reshaped so it broadcasts against the input. */
function keep(g: Graph, t: Tensor, x: Tensor, axes: number[]): Tensor {
  const shape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  return t.rank === shape.length ? t : g.reshape(t, shape);
}

const ReduceSumOp = defineOp({
  onnx: 'ReduceSum',
  vjp: (g, { inputs: [x], meta }, [dy], needs) => [needs[0] ? g.expand(keep(g, dy!, x!, meta.axes as number[]), x!.shape) : null, null],
});
export function reduceSum(g: Graph, x: Tensor, axes?: readonly number[], keepdims = false): Tensor {
  const ax = axesOf('ReduceSum', x, axes);
  return g.addNode(ReduceSumOp, [x, g.ints(ax)], [{ shape: reducedShape(x, ax, keepdims), dtype: x.dtype }], { keepdims: keepdims ? 1 : 0 }, { axes: ax })[0]!;
}

const ReduceMeanOp = defineOp({
  onnx: 'ReduceMean',
  vjp: (g, { inputs: [x], meta }, [dy]) => {
    const axes = meta.axes as number[];
    const n = axes.reduce((s, a) => s * x!.shape[a]!, 1);
    return [g.expand(keep(g, g.mul(dy!, 1 / n), x!, axes), x!.shape)];
  },
});
export function reduceMean(g: Graph, x: Tensor, axes?: readonly number[], keepdims = false): Tensor {
  const ax = axesOf('ReduceMean', x, axes);
  return g.addNode(ReduceMeanOp, [x], [{ shape: reducedShape(x, ax, keepdims), dtype: x.dtype }], { axes: ax, keepdims: keepdims ? 1 : 0 }, { axes: ax })[0]!;
}

/** Max over axes; the gradient is shared equally among tied maxima. */
const ReduceMaxOp = defineOp({
  onnx: 'ReduceMax',
  vjp: (g, { inputs: [x], outputs: [y], meta }, [dy]) => {
    const axes = meta.axes as number[];
    const mask = g.cast(g.equal(x!, keep(g, y!, x!, axes)), x!.dtype);
    const share = g.div(mask, g.reduceSum(mask, axes, true));
    return [g.mul(share, keep(g, dy!, x!, axes))];
  },
});
export function reduceMax(g: Graph, x: Tensor, axes?: readonly number[], keepdims = false): Tensor {
  const ax = axesOf('ReduceMax', x, axes);
  return g.addNode(ReduceMaxOp, [x], [{ shape: reducedShape(x, ax, keepdims), dtype: x.dtype }], { axes: ax, keepdims: keepdims ? 1 : 0 }, { axes: ax })[0]!;
}

/** log(sum(exp(x))) over axes, computed stably as max + log(sum(exp(x - max))). dx = dy * softmax. */
export function logSumExp(g: Graph, x: Tensor, axes?: readonly number[], keepdims = false): Tensor {
  const ax = axesOf('LogSumExp', x, axes);
  const m = g.stopGradient(g.reduceMax(x, ax, true));
  const s = g.add(g.log(g.reduceSum(g.exp(g.sub(x, m)), ax, true)), m);
  return keepdims ? s : g.reshape(s, reducedShape(x, ax, false));
}
