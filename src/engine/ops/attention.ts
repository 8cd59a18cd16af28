import type { Graph } from '../builder.js';
import { type Tensor, GraphBuildError, fmtShape } from '../graph.js';

/** What masked scores are set to: exp() of it underflows to exactly 0 in float32 and float64, and a
 * row with every key masked gives uniform weights instead of NaN (which −inf would give). */
const MASKED = -1e9;

/**
 * Causal masking of attention scores [..., T, T] (query i, key j): where j > i, or where
 * `keyPadding` ([B, T] bool, true = padding, torch's key_padding_mask) marks key j, the score
 * becomes −1e9. A Where, so the gradient at masked positions is exactly zero.
 */
export function causalMask(g: Graph, scores: Tensor, keyPadding?: Tensor): Tensor {
  const t = scores.shape.at(-1)!;
  if (scores.rank < 2 || scores.shape.at(-2) !== t || t < 1) throw new GraphBuildError(`causalMask: scores must be [..., T, T], got ${scores}`);
  const tril = new Uint8Array(t * t);
  for (let i = 0; i < t; i++) for (let j = 0; j <= i; j++) tril[i * t + j] = 1;
  let allowed = g.constant(tril, [t, t], 'bool');
  if (keyPadding) {
    const b = scores.shape[0]!;
    if (keyPadding.dtype !== 'bool' || keyPadding.rank !== 2 || keyPadding.shape[1] !== t || scores.rank < 3 || (keyPadding.shape[0] !== b && keyPadding.shape[0] !== 1)) {
      throw new GraphBuildError(`causalMask: keyPadding must be bool [${b < 0 ? 'batch' : b}, ${t}] for scores ${scores}, got ${keyPadding}`);
    }
    const keys = g.reshape(g.not(keyPadding), [keyPadding.shape[0]!, ...scores.shape.slice(1, -2).map(() => 1), 1, t]);
    allowed = g.and(allowed, keys);
  }
  return g.where(allowed, scores, g.constant(MASKED, [], scores.dtype));
}

/**
 * Parameters of one multi-head self-attention layer (torch.nn.MultiheadAttention's, with weights
 * stored [in, out] as everywhere in o2o: torch's in_proj_weight and out_proj.weight transposed).
 */
export interface AttentionParams {
  /** [D, 3D]: columns [0, D) project to queries, [D, 2D) to keys, [2D, 3D) to values. */
  qkvWeight: Tensor;
  /** [3D] */
  qkvBias: Tensor;
  /** [D, D] */
  outWeight: Tensor;
  /** [D] */
  outBias: Tensor;
}

export interface AttentionOptions {
  /** bool [B, T], true where a key position is padding (torch's key_padding_mask): no query attends to it. */
  keyPadding?: Tensor;
  /** Dropout on the attention weights: a keep-mask of 0/1 broadcastable to [B, heads, T, T], fed per step. */
  dropout?: { mask: Tensor; rate: number };
}

/**
 * Causal multi-head self-attention over x [B, T, D] (B may be the symbolic batch of a serving
 * graph), as torch.nn.MultiheadAttention with a causal attn_mask:
 *   q, k, v = split(x Wqkv + bqkv);  per head: softmax(mask(q kᵀ/√(D/heads))) v;  concat heads, then Wout, bout.
 * The projections run as one Gemm over all B·T tokens; the per-head products are batched MatMuls
 * over [B, heads, T, D/heads].
 */
export function causalSelfAttention(g: Graph, x: Tensor, p: AttentionParams, heads: number, opts: AttentionOptions = {}): Tensor {
  if (x.rank !== 3) throw new GraphBuildError(`causalSelfAttention: x must be [B, T, D], got ${x}`);
  const [b, t, d] = x.shape as [number, number, number];
  if (!(Number.isInteger(heads) && heads >= 1 && d % heads === 0)) throw new GraphBuildError(`causalSelfAttention: ${heads} heads do not divide the width ${d} of ${x}`);
  const want: [keyof AttentionParams, number[]][] = [
    ['qkvWeight', [d, 3 * d]],
    ['qkvBias', [3 * d]],
    ['outWeight', [d, d]],
    ['outBias', [d]],
  ];
  for (const [name, shape] of want) {
    const w = p[name];
    if (!w || w.dtype !== x.dtype || w.rank !== shape.length || w.shape.some((s, i) => s !== shape[i])) {
      throw new GraphBuildError(`causalSelfAttention: ${name} must be ${fmtShape(shape)}:${x.dtype}, got ${w ? String(w) : 'nothing'}`);
    }
  }
  const dh = d / heads;
  const qkv = g.gemm(g.reshape(x, [-1, d]), p.qkvWeight, {}, p.qkvBias);
  const [q, k, v] = g.split(qkv, [d, d, d], 1) as [Tensor, Tensor, Tensor];
  // [B·T, D] → [B, T, heads, dh] → [B, heads, T, dh] (with one head a Reshape: no data moves).
  const perHead = (z: Tensor) => g.transpose(g.reshape(z, [b, t, heads, dh]), [0, 2, 1, 3]);
  // Kᵀ as its own last-two-axes Transpose: ORT folds it into the product (FusedMatMul, transB).
  const scores = g.mul(g.matmul(perHead(q), g.transpose(perHead(k), [0, 1, 3, 2])), 1 / Math.sqrt(dh));
  let weights = g.softmax(causalMask(g, scores, opts.keyPadding), -1);
  if (opts.dropout) weights = g.dropout(weights, opts.dropout.mask, opts.dropout.rate);
  const ctx = g.reshape(g.transpose(g.matmul(weights, perHead(v)), [0, 2, 1, 3]), [-1, d]);
  return g.reshape(g.gemm(ctx, p.outWeight, {}, p.outBias), [b, t, d]);
}
