import type { GraphCore } from './graph.js';
import { liveNodes } from './serialize.js';

/**
 * Multiply-add FLOPs (2 per multiply-add) of the matrix products a run of this graph executes
 * (Gemm and MatMul nodes that feed an output). Elementwise work is not counted: this is the
 * numerator of the GFLOP/s figures in the benchmarks.
 */
export function matmulFlops(g: GraphCore): number {
  let f = 0;
  for (const n of liveNodes(g)) {
    if (n.def.onnx === 'Gemm') {
      const a = n.inputs[0]!.shape;
      const k = n.attrs.transA ? a[0]! : a[1]!;
      const out = n.outputs[0]!.shape;
      f += 2 * out[0]! * out[1]! * k;
    } else if (n.def.onnx === 'MatMul') {
      const a = n.inputs[0]!.shape;
      const out = n.outputs[0]!.shape;
      f += 2 * out.reduce((p, d) => p * d, 1) * a[a.length - 1]!;
    }
  }
  return f;
}
