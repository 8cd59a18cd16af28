import type { Graph } from '../builder.js';
import { type Tensor, GraphBuildError, fmtShape } from '../graph.js';
import { broadcastShapes, defineOp, unbroadcast } from './define.js';

/** Swaps the last two axes. */
function transposeLast(g: Graph, x: Tensor): Tensor {
  const perm = x.shape.map((_, i) => i);
  const n = perm.length;
  [perm[n - 2], perm[n - 1]] = [perm[n - 1]!, perm[n - 2]!];
  return g.transpose(x, perm);
}

/** Matrix product of rank >= 2 tensors with numpy batch broadcasting. */
const MatMulOp = defineOp({
  onnx: 'MatMul',
  vjp: (g, { inputs: [a, b] }, [dy], needs) => {
    if (a!.rank === 2 && b!.rank === 2) {
      // Gemm with transpose flags: no explicit Transpose node in the backward pass.
      return [needs[0] ? g.gemm(dy!, b!, { transB: true }) : null, needs[1] ? g.gemm(a!, dy!, { transA: true }) : null];
    }
    if (b!.rank === 2 && !a!.shape.includes(-1)) {
      // [..., M, K] @ [K, N] (a layer applied to every token): both gradients are single Gemms over
      // the flattened rows, not per-batch products summed afterwards.
      const [k, n] = b!.shape as [number, number];
      const a2 = g.reshape(a!, [-1, k]);
      const dy2 = g.reshape(dy!, [-1, n]);
      return [needs[0] ? g.reshape(g.gemm(dy2, b!, { transB: true }), a!.shape) : null, needs[1] ? g.gemm(a2, dy2, { transA: true }) : null];
    }
    return [needs[0] ? unbroadcast(g, g.matmul(dy!, transposeLast(g, b!)), a!.shape) : null, needs[1] ? unbroadcast(g, g.matmul(transposeLast(g, a!), dy!), b!.shape) : null];
  },
});

export function matmul(g: Graph, a: Tensor, b: Tensor): Tensor {
  if (a.rank < 2 || b.rank < 2) {
    throw new GraphBuildError(`MatMul: operands must have rank >= 2, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}; reshape vectors to [1,n] or [n,1]`);
  }
  if (a.dtype !== b.dtype) throw new GraphBuildError(`MatMul: dtypes differ (${a} vs ${b})`);
  const [m, k] = a.shape.slice(-2) as [number, number];
  const [k2, n] = b.shape.slice(-2) as [number, number];
  if (k !== k2) {
    throw new GraphBuildError(`MatMul: inner dimensions differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)} (${k} vs ${k2})`);
  }
  const batch = broadcastShapes('MatMul (batch axes)', a.shape.slice(0, -2), b.shape.slice(0, -2));
  return g.addNode(MatMulOp, [a, b], [{ shape: [...batch, m, n], dtype: a.dtype }])[0]!;
}

export interface GemmOptions {
  alpha?: number;
  beta?: number;
  transA?: boolean;
  transB?: boolean;
}

/** y = alpha * op(A) @ op(B) + beta * C (C broadcast to [M, N]). */
const GemmOp = defineOp({
  onnx: 'Gemm',
  vjp: (g, { inputs: [a, b, c], meta }, [dy], needs) => {
    const { alpha, beta, transA, transB } = meta as Required<GemmOptions>;
    let da: Tensor | null = null;
    let db: Tensor | null = null;
    if (needs[0]) {
      da = transA
        ? g.gemm(b!, dy!, { alpha, transA: transB, transB: true }) // dA = op(B) dY^T
        : g.gemm(dy!, b!, { alpha, transB: !transB }); // dA = dY op(B)^T
    }
    if (needs[1]) {
      db = transB
        ? g.gemm(dy!, a!, { alpha, transA: true, transB: transA }) // dB = dY^T op(A)
        : g.gemm(a!, dy!, { alpha, transA: !transA }); // dB = op(A)^T dY
    }
    const dc = c && needs[2] ? unbroadcast(g, beta === 1 ? dy! : g.mul(dy!, beta), c.shape) : null;
    return [da, db, dc];
  },
});

export function gemm(g: Graph, a: Tensor, b: Tensor, opts: GemmOptions = {}, c?: Tensor): Tensor {
  const o: Required<GemmOptions> = { alpha: 1, beta: 1, transA: false, transB: false, ...opts };
  if (a.rank !== 2 || b.rank !== 2) {
    throw new GraphBuildError(`Gemm: A and B must be matrices, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  }
  const [m, k] = o.transA ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
  const [k2, n] = o.transB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
  if (k !== k2) throw new GraphBuildError(`Gemm: inner dimensions differ (${k} vs ${k2}) for A${fmtShape(a.shape)} B${fmtShape(b.shape)} transA=${o.transA} transB=${o.transB}`);
  if (c) broadcastShapes('Gemm (C to [M,N])', c.shape, [m, n]);
  const attrs = { alpha: { float: o.alpha }, beta: { float: o.beta }, transA: o.transA ? 1 : 0, transB: o.transB ? 1 : 0 };
  return g.addNode(GemmOp, c ? [a, b, c] : [a, b], [{ shape: [m, n], dtype: a.dtype }], attrs, o)[0]!;
}
