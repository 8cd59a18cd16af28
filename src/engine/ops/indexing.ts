import type { Graph } from '../builder.js';
import { type Tensor, GraphBuildError, fmtShape } from '../graph.js';
import { defineOp } from './define.js';

/**
 * ScatterND with reduction 'add' (opset 16+) for row indices: out = data, then out[idx[i]] += updates[i]
 * for every i (repeated rows accumulate). idx is int64 [N, 1], updates [N, ...data.shape[1:]].
 * d/d data = dy; d/d updates = the rows of dy that were added to (a Gather).
 */
const ScatterAddOp = defineOp({
  onnx: 'ScatterND',
  vjp: (g, { inputs: [, idx] }, [dy], needs) => [needs[0] ? dy! : null, null, needs[2] ? g.gather(dy!, g.reshape(idx!, [idx!.shape[0]!])) : null],
});

/** Gather on axis 0 (embedding lookup): out[i...] = table[indices[i...]]. */
const GatherOp = defineOp({
  onnx: 'Gather',
  vjp: (g, { inputs: [table, indices] }, [dy], needs) => {
    if (!needs[0]) return [null, null];
    // Scatter-add of the cotangent rows into a zero table. Measured against a one-hot MatMul
    // (BENCHMARKS.md, Engine): ScatterND costs about as much as producing the zero table.
    const n = indices!.size;
    const row = table!.shape.slice(1);
    return [scatterAddRows(g, g.zeros(table!.shape, table!.dtype), g.reshape(indices!, [n, 1]), g.reshape(dy!, [n, ...row])), null];
  },
});

function scatterAddRows(g: Graph, data: Tensor, idx: Tensor, updates: Tensor): Tensor {
  return g.addNode(ScatterAddOp, [data, idx, updates], [{ shape: data.shape, dtype: data.dtype }], { reduction: 'add' })[0]!;
}

/**
 * Rows of `table` ([V, ...]) picked by int64 `indices` (any shape): out shape =
 * [...indices.shape, ...table.shape.slice(1)]. Indices lie in [−V, V), negative ones counting from
 * the end (Gather and ScatterND agree); others fail the run. The gradient w.r.t. the table adds
 * each cotangent row into the row it came from; indices carry no gradient.
 */
export function gather(g: Graph, table: Tensor, indices: Tensor): Tensor {
  g.assertOwn(table, 'Gather table');
  g.assertOwn(indices, 'Gather indices');
  if (indices.dtype !== 'int64') throw new GraphBuildError(`Gather: indices must be int64, got ${indices}`);
  if (table.rank < 1 || table.shape[0]! < 1) throw new GraphBuildError(`Gather: table must have a static first axis, got ${fmtShape(table.shape)}`);
  return g.addNode(GatherOp, [table, indices], [{ shape: [...indices.shape, ...table.shape.slice(1)], dtype: table.dtype }], { axis: 0 })[0]!;
}
