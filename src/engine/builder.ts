import type { DType } from './dtype.js';
import { GraphCore, type Tensor } from './graph.js';
import * as act from './ops/activations.js';
import type { Operand } from './ops/define.js';
import * as ew from './ops/elementwise.js';
import * as ix from './ops/indexing.js';
import * as la from './ops/linalg.js';
import * as nrm from './ops/normalization.js';
import * as red from './ops/reduce.js';
import * as sh from './ops/shape.js';

/**
 * Builds an ONNX graph with static shapes. Every method checks shapes and dtypes when called
 * and throws GraphBuildError naming the op and the shapes.
 *
 *   const g = new Graph();
 *   const x = g.input('obs', [256, 17]);
 *   const y = g.tanh(g.matmul(x, w));
 */
export class Graph extends GraphCore {
  protected override emitIdentity(t: Tensor, name: string): Tensor {
    const out = ew.identity(this, t);
    out.name = name;
    return out;
  }

  // arithmetic
  add(a: Operand, b: Operand): Tensor {
    return ew.add(this, a, b);
  }
  sub(a: Operand, b: Operand): Tensor {
    return ew.sub(this, a, b);
  }
  mul(a: Operand, b: Operand): Tensor {
    return ew.mul(this, a, b);
  }
  div(a: Operand, b: Operand): Tensor {
    return ew.div(this, a, b);
  }
  neg(x: Tensor): Tensor {
    return ew.neg(this, x);
  }
  exp(x: Tensor): Tensor {
    return ew.exp(this, x);
  }
  log(x: Tensor): Tensor {
    return ew.log(this, x);
  }
  sqrt(x: Tensor): Tensor {
    return ew.sqrt(this, x);
  }
  pow(x: Tensor, p: number): Tensor {
    return ew.pow(this, x, p);
  }
  abs(x: Tensor): Tensor {
    return ew.abs(this, x);
  }
  sign(x: Tensor): Tensor {
    return ew.sign(this, x);
  }
  square(x: Tensor): Tensor {
    return ew.square(this, x);
  }
  minimum(a: Operand, b: Operand): Tensor {
    return ew.minimum(this, a, b);
  }
  maximum(a: Operand, b: Operand): Tensor {
    return ew.maximum(this, a, b);
  }
  where(cond: Tensor, a: Operand, b: Operand): Tensor {
    return ew.where(this, cond, a, b);
  }
  clip(x: Tensor, lo: number, hi: number): Tensor {
    return ew.clip(this, x, lo, hi);
  }
  greater(a: Operand, b: Operand): Tensor {
    return ew.greater(this, a, b);
  }
  less(a: Operand, b: Operand): Tensor {
    return ew.less(this, a, b);
  }
  greaterOrEqual(a: Operand, b: Operand): Tensor {
    return ew.greaterOrEqual(this, a, b);
  }
  lessOrEqual(a: Operand, b: Operand): Tensor {
    return ew.lessOrEqual(this, a, b);
  }
  equal(a: Operand, b: Operand): Tensor {
    return ew.equal(this, a, b);
  }
  and(a: Tensor, b: Tensor): Tensor {
    return ew.and(this, a, b);
  }
  not(a: Tensor): Tensor {
    return ew.not(this, a);
  }
  identity(x: Tensor): Tensor {
    return ew.identity(this, x);
  }
  stopGradient(x: Tensor): Tensor {
    return ew.stopGradient(this, x);
  }
  cast(x: Tensor, to: DType): Tensor {
    return ew.cast(this, x, to);
  }

  // activations
  tanh(x: Tensor): Tensor {
    return act.tanh(this, x);
  }
  sigmoid(x: Tensor): Tensor {
    return act.sigmoid(this, x);
  }
  relu(x: Tensor): Tensor {
    return act.relu(this, x);
  }
  softplus(x: Tensor): Tensor {
    return act.softplus(this, x);
  }
  softmax(x: Tensor, axis = -1): Tensor {
    return act.softmax(this, x, axis);
  }
  logSoftmax(x: Tensor, axis = -1): Tensor {
    return act.logSoftmax(this, x, axis);
  }
  erf(x: Tensor): Tensor {
    return act.erf(this, x);
  }
  /** Exact (erf) GELU, torch.nn.GELU's default; float32 only (ORT has no float64 Erf). */
  gelu(x: Tensor): Tensor {
    return act.gelu(this, x);
  }

  // normalization, regularization
  /** LayerNorm over the last axis; scale and bias are [D]. */
  layerNorm(x: Tensor, scale: Tensor, bias: Tensor, eps = 1e-5): Tensor {
    return nrm.layerNorm(this, x, scale, bias, eps);
  }
  /** Inverted dropout with a 0/1 keep-mask fed as an input: x · mask / (1 − rate). */
  dropout(x: Tensor, mask: Tensor, rate: number): Tensor {
    return nrm.dropout(this, x, mask, rate);
  }

  // linear algebra
  matmul(a: Tensor, b: Tensor): Tensor {
    return la.matmul(this, a, b);
  }
  gemm(a: Tensor, b: Tensor, opts: la.GemmOptions = {}, c?: Tensor): Tensor {
    return la.gemm(this, a, b, opts, c);
  }

  // shapes
  reshape(x: Tensor, shape: readonly number[]): Tensor {
    return sh.reshape(this, x, shape);
  }
  transpose(x: Tensor, perm?: readonly number[]): Tensor {
    return sh.transpose(this, x, perm);
  }
  concat(xs: Tensor[], axis: number): Tensor {
    return sh.concat(this, xs, axis);
  }
  split(x: Tensor, sizes: readonly number[], axis: number): Tensor[] {
    return sh.split(this, x, sizes, axis);
  }
  slice(x: Tensor, ranges: Record<number, [number, number]>): Tensor {
    return sh.slice(this, x, ranges);
  }
  pad(x: Tensor, pads: readonly number[]): Tensor {
    return sh.pad(this, x, pads);
  }
  expand(x: Tensor, shape: readonly number[]): Tensor {
    return sh.expand(this, x, shape);
  }
  /** Rows of `table` at int64 `indices` (Gather on axis 0: embedding lookup). */
  gather(table: Tensor, indices: Tensor): Tensor {
    return ix.gather(this, table, indices);
  }

  // reductions
  reduceSum(x: Tensor, axes?: readonly number[], keepdims = false): Tensor {
    return red.reduceSum(this, x, axes, keepdims);
  }
  reduceMean(x: Tensor, axes?: readonly number[], keepdims = false): Tensor {
    return red.reduceMean(this, x, axes, keepdims);
  }
  reduceMax(x: Tensor, axes?: readonly number[], keepdims = false): Tensor {
    return red.reduceMax(this, x, axes, keepdims);
  }
  logSumExp(x: Tensor, axes?: readonly number[], keepdims = false): Tensor {
    return red.logSumExp(this, x, axes, keepdims);
  }

  // conveniences
  zeros(shape: readonly number[], dtype: DType = this.dtype): Tensor {
    return shape.length === 0 ? this.constant(0, [], dtype) : this.expand(this.constant(0, [], dtype), shape);
  }
  ones(shape: readonly number[], dtype: DType = this.dtype): Tensor {
    return shape.length === 0 ? this.constant(1, [], dtype) : this.expand(this.constant(1, [], dtype), shape);
  }
}
