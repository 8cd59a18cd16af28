import { type Graph, type ParamSpec, type Tensor, causalSelfAttention } from '../engine/index.js';

/**
 * One pre-LN transformer block as in CORL's Decision Transformer (dt.py, TransformerBlock):
 *   x = x + drop(attn(ln1(x)));   x = x + drop(l1(gelu(l0(ln2(x)))))
 * with causal multi-head self-attention and a 4×-wide GELU MLP.
 */

/** A 0/1 keep-mask fed per step (see fillDropoutMask) and its dropout rate. */
export interface DropoutMask {
  mask: Tensor;
  rate: number;
}

export interface TransformerBlockOptions {
  heads: number;
  /** Parameter name prefix, e.g. 'blocks.0.' (default ''). */
  prefix?: string;
  /** bool [B, T], true where a token is padding (keys nobody attends to). */
  keyPadding?: Tensor;
  /** Training-mode dropout (CORL: attention_dropout and residual_dropout 0.1); omitted = evaluation mode. */
  dropout?: {
    /** On the attention weights, mask broadcastable to [B, heads, T, T]. */
    attention?: DropoutMask;
    /** On the attention output before the residual add, mask [B, T, D]. */
    afterAttention?: DropoutMask;
    /** On the MLP output before the residual add, mask [B, T, D]. */
    afterMlp?: DropoutMask;
  };
}

/**
 * Parameters of one block of width `dim`, initialized as CORL's DT: Linear weights N(0, 0.02²) and
 * zero biases (its _init_weights), the attention's input projection xavier-uniform (what
 * nn.MultiheadAttention does to in_proj_weight), LayerNorm scale 1 and bias 0. Weights are [in, out].
 */
export function transformerBlockSpecs(dim: number, prefix = '', mlpRatio = 4): ParamSpec[] {
  const hidden = mlpRatio * dim;
  const p = (name: string, shape: number[], init: ParamSpec['init']): ParamSpec => ({ name: `${prefix}${name}`, shape, init });
  return [
    p('ln1.scale', [dim], { kind: 'constant', value: 1 }),
    p('ln1.bias', [dim], { kind: 'constant', value: 0 }),
    p('attn.qkv.weight', [dim, 3 * dim], { kind: 'xavier-uniform', gain: 1, fanIn: dim, fanOut: 3 * dim }),
    p('attn.qkv.bias', [3 * dim], { kind: 'constant', value: 0 }),
    p('attn.out.weight', [dim, dim], { kind: 'normal', std: 0.02 }),
    p('attn.out.bias', [dim], { kind: 'constant', value: 0 }),
    p('ln2.scale', [dim], { kind: 'constant', value: 1 }),
    p('ln2.bias', [dim], { kind: 'constant', value: 0 }),
    p('mlp.l0.weight', [dim, hidden], { kind: 'normal', std: 0.02 }),
    p('mlp.l0.bias', [hidden], { kind: 'constant', value: 0 }),
    p('mlp.l1.weight', [hidden, dim], { kind: 'normal', std: 0.02 }),
    p('mlp.l1.bias', [dim], { kind: 'constant', value: 0 }),
  ];
}

/** The block's forward pass over x [B, T, D] (B may be a serving graph's symbolic batch). */
export function transformerBlock(g: Graph, views: Record<string, Tensor>, x: Tensor, opts: TransformerBlockOptions): Tensor {
  const pre = opts.prefix ?? '';
  const v = (name: string): Tensor => {
    const t = views[`${pre}${name}`];
    if (!t) throw new Error(`transformerBlock: parameter '${pre}${name}' missing from the views (build the layout with transformerBlockSpecs(dim, '${pre}'))`);
    return t;
  };
  const d = x.shape.at(-1)!;
  const drop = opts.dropout ?? {};
  const residual = (h: Tensor, m?: DropoutMask) => (m ? g.dropout(h, m.mask, m.rate) : h);
  const attn = causalSelfAttention(
    g,
    g.layerNorm(x, v('ln1.scale'), v('ln1.bias')),
    { qkvWeight: v('attn.qkv.weight'), qkvBias: v('attn.qkv.bias'), outWeight: v('attn.out.weight'), outBias: v('attn.out.bias') },
    opts.heads,
    { keyPadding: opts.keyPadding, dropout: drop.attention },
  );
  const h = g.add(x, residual(attn, drop.afterAttention));
  const flat = g.reshape(g.layerNorm(h, v('ln2.scale'), v('ln2.bias')), [-1, d]);
  const mlp = g.gemm(g.gelu(g.gemm(flat, v('mlp.l0.weight'), {}, v('mlp.l0.bias'))), v('mlp.l1.weight'), {}, v('mlp.l1.bias'));
  return g.add(h, residual(g.reshape(mlp, x.shape), drop.afterMlp));
}
