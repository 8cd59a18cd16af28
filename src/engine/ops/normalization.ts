import type { Graph } from '../builder.js';
import { isFloat } from '../dtype.js';
import { type Tensor, GraphBuildError, fmtShape } from '../graph.js';
import type { Rng } from '../../util/rng.js';
import { broadcastShapes, defineOp, unbroadcast } from './define.js';

/** Sums a [..., D] tensor over every axis but the last (bias-style gradients): one [N, D] reduction. */
function sumToLast(g: Graph, t: Tensor): Tensor {
  const d = t.shape.at(-1)!;
  return unbroadcast(g, t.rank === 2 ? t : g.reshape(t, [t.size / d, d]), [d]);
}

/**
 * LayerNormalization (opset 17) over the last axis: y = (x − mean)/sqrt(var + eps) · scale + bias,
 * var the biased variance (as torch.nn.LayerNorm). The node also returns its Mean and InvStdDev,
 * which ONNX types as float32 whatever x is (stash_type 1; the spec allows no double), so:
 * float32 graphs take x̂ and 1/σ from those outputs, float64 graphs recompute them in float64.
 * With x̂ = (x − mean)/σ and ĝ = dy·scale:
 *   dx = (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) / σ,   dscale = Σ dy·x̂,   dbias = Σ dy
 * (sums over every axis but the last).
 */
const LayerNormOp = defineOp({
  onnx: 'LayerNormalization',
  vjp: (g, { inputs: [x, scale], outputs: [, mean, invStd], meta }, [dy], needs) => {
    const last = x!.rank - 1;
    let xhat: Tensor;
    let inv: Tensor;
    if (x!.dtype === 'float32') {
      inv = invStd!;
      xhat = g.mul(g.sub(x!, mean!), inv);
    } else {
      const xc = g.sub(x!, g.reduceMean(x!, [last], true));
      inv = g.pow(g.add(g.reduceMean(g.square(xc), [last], true), meta.eps as number), -0.5);
      xhat = g.mul(xc, inv);
    }
    let dx: Tensor | null = null;
    if (needs[0]) {
      const gh = g.mul(dy!, scale!);
      const centered = g.sub(gh, g.reduceMean(gh, [last], true));
      dx = g.mul(g.sub(centered, g.mul(xhat, g.reduceMean(g.mul(gh, xhat), [last], true))), inv);
    }
    return [dx, needs[1] ? sumToLast(g, g.mul(dy!, xhat)) : null, needs[2] ? sumToLast(g, dy!) : null];
  },
});

/** LayerNorm over the last axis with a learned scale and bias of shape [D] (torch.nn.LayerNorm(D), eps 1e-5). */
export function layerNorm(g: Graph, x: Tensor, scale: Tensor, bias: Tensor, eps = 1e-5): Tensor {
  if (!isFloat(x.dtype) || x.rank < 1) throw new GraphBuildError(`LayerNormalization: needs a float tensor of rank >= 1, got ${x}`);
  const d = x.shape.at(-1)!;
  for (const [name, t] of [
    ['scale', scale],
    ['bias', bias],
  ] as const) {
    g.assertOwn(t, `LayerNormalization ${name}`);
    if (t.rank !== 1 || t.shape[0] !== d || t.dtype !== x.dtype) {
      throw new GraphBuildError(`LayerNormalization: ${name} must be [${d}]:${x.dtype} to match the last axis of ${x}, got ${t}`);
    }
  }
  if (!(eps > 0)) throw new GraphBuildError(`LayerNormalization: epsilon must be > 0, got ${eps}`);
  const stats = x.shape.map((s, i) => (i === x.rank - 1 ? 1 : s));
  const [y] = g.addNode(
    LayerNormOp,
    [x, scale, bias],
    [
      { shape: x.shape, dtype: x.dtype },
      { shape: stats, dtype: 'float32' },
      { shape: stats, dtype: 'float32' },
    ],
    { axis: -1, epsilon: { float: eps } },
    { eps },
  );
  return y!;
}

/**
 * Inverted dropout in training mode, deterministic given its mask: y = x · mask / (1 − rate).
 * `mask` holds 1 (keep) or 0 (drop), broadcastable to x, and is a graph input fed every step
 * (fill it with fillDropoutMask from a seeded Rng), since graphs draw no random numbers
 * themselves. Serving graphs leave dropout out (evaluation mode is the identity).
 */
export function dropout(g: Graph, x: Tensor, mask: Tensor, rate: number): Tensor {
  if (!(rate >= 0 && rate < 1)) throw new GraphBuildError(`dropout: rate must be in [0, 1), got ${rate}`);
  if (mask.dtype !== x.dtype) throw new GraphBuildError(`dropout: mask ${mask} must have the dtype of ${x}`);
  const shape = broadcastShapes('dropout', x.shape, mask.shape);
  if (shape.length !== x.rank || shape.some((d, i) => d !== x.shape[i])) {
    throw new GraphBuildError(`dropout: mask ${fmtShape(mask.shape)} must broadcast to the shape of ${x} without enlarging it`);
  }
  // The scaled mask depends on no parameter: the backward pass reuses it (dx = dy · mask/(1 − rate)).
  return g.mul(x, rate === 0 ? mask : g.mul(mask, 1 / (1 - rate)));
}

/** Fills a dropout keep-mask: each entry 0 with probability `rate`, else 1. */
export function fillDropoutMask<T extends Float32Array | Float64Array>(rng: Rng, out: T, rate: number): T {
  if (!(rate >= 0 && rate < 1)) throw new Error(`fillDropoutMask: rate must be in [0, 1), got ${rate}`);
  return rng.fillBernoulli(out, rate, 0, 1);
}
