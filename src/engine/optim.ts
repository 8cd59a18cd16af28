import type { Graph } from './builder.js';
import { type Tensor, GraphBuildError } from './graph.js';

/**
 * Optimizers as graph ops over flat parameter vectors. Their state (moments) enters as graph
 * inputs and leaves as outputs bound back to those inputs (`g.bind`), so a whole training step —
 * forward, backward and every update — is one session.run.
 */
export interface AdamConfig {
  /** Learning rate; pass a Tensor (scalar input) to schedule it from outside. */
  lr: number | Tensor;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (AdamW, Loshchilov & Hutter 2019). 0 = plain Adam. */
  weightDecay?: number;
  /** 1 where weight decay applies (e.g. weights, not biases); default: everywhere. */
  decayMask?: Float32Array;
  /** Clip the group's gradient to this global L2 norm first (torch clip_grad_norm_). */
  maxGradNorm?: number;
}

export interface OptimizerStep {
  /** Updated flat parameters (already bound back to the parameter input). */
  params: Tensor;
  /** L2 norm of the raw gradient (before clipping): a NaN here means the step diverged. */
  gradNorm: Tensor;
}

/** Adam's state for one flat parameter vector: steps taken (a scalar) and the two moments. */
export interface AdamState {
  t: Tensor;
  m: Tensor;
  v: Tensor;
}

/** The graph inputs holding Adam's state for `param`: `<param>.t`, `<param>.m`, `<param>.v`. */
export function adamInputs(g: Graph, param: Tensor): AdamState {
  const name = g.stateName(param);
  return { t: g.input(`${name}.t`, [], param.dtype), m: g.input(`${name}.m`, param.shape), v: g.input(`${name}.v`, param.shape) };
}

/**
 * One Adam/AdamW update with bias correction (Kingma & Ba 2015, Alg. 1, PyTorch's form):
 *   t ← t + 1;  m ← β1 m + (1-β1) g;  v ← β2 v + (1-β2) g²
 *   θ ← θ(1 - lr·λ) - lr/(1-β1^t) · m / (sqrt(v)/sqrt(1-β2^t) + ε)
 * Its state — `<param>.t` (steps taken, a scalar), `<param>.m`, `<param>.v` — are graph inputs
 * bound to their updated values, as is the parameter input itself.
 */
export function adam(g: Graph, param: Tensor, grad: Tensor, cfg: AdamConfig): OptimizerStep {
  if (!g.isState(param)) {
    throw new GraphBuildError(`adam: ${param} must be a graph input (a flat parameter vector from params())`);
  }
  const state = adamInputs(g, param);
  const next = adamUpdate(g, param, grad, state, cfg);
  g.bind(state.t, next.state.t);
  g.bind(state.m, next.state.m);
  g.bind(state.v, next.state.v);
  g.bind(param, next.params);
  return { params: next.params, gradNorm: next.gradNorm };
}

/**
 * The Adam update as a pure function of tensors (no inputs, no bindings): `adam` is this between
 * its state inputs and their bindings; several updates chained in one graph (unrolled training
 * steps, one session.run) call it once per step.
 */
export function adamUpdate(g: Graph, param: Tensor, grad: Tensor, state: AdamState, cfg: AdamConfig): OptimizerStep & { state: AdamState } {
  if (grad.size !== param.size) throw new GraphBuildError(`adam: gradient ${grad} does not match parameters ${param}`);
  const b1 = cfg.beta1 ?? 0.9;
  const b2 = cfg.beta2 ?? 0.999;
  const eps = cfg.eps ?? 1e-8;
  const { t, m, v } = state;
  const step = g.add(t, 1);

  const sq = g.square(grad);
  const gradNorm = g.sqrt(g.reduceSum(sq));
  let gr = grad;
  let gr2 = sq;
  if (cfg.maxGradNorm !== undefined) {
    const coef = g.minimum(g.div(cfg.maxGradNorm, g.add(gradNorm, 1e-6)), 1);
    gr = g.mul(grad, coef);
    gr2 = g.mul(sq, g.square(coef));
  }

  const m1 = g.add(g.mul(m, b1), g.mul(gr, 1 - b1));
  const v1 = g.add(g.mul(v, b2), g.mul(gr2, 1 - b2));
  // Bias corrections from t: β^t = exp(t ln β). Scalars are folded so only 5 ops touch vectors:
  // lr/bc1 · m / (sqrt(v)/sqrt(bc2) + ε) = (lr·sqrt(bc2)/bc1) · m / (sqrt(v) + ε·sqrt(bc2)).
  const bc1 = g.sub(1, g.exp(g.mul(step, Math.log(b1))));
  const sbc2 = g.sqrt(g.sub(1, g.exp(g.mul(step, Math.log(b2)))));
  const lr = typeof cfg.lr === 'number' ? g.constant(cfg.lr, [], param.dtype) : cfg.lr;
  const stepSize = g.div(g.mul(lr, sbc2), bc1);
  const denom = g.add(g.sqrt(v1), g.mul(sbc2, eps));
  let base = param;
  const wd = cfg.weightDecay ?? 0;
  if (wd > 0) {
    const decay = cfg.decayMask ? g.mul(g.constant(cfg.decayMask, [param.size]), g.mul(lr, wd)) : g.mul(lr, wd);
    base = g.sub(param, g.mul(param, decay));
  }
  const p1 = g.sub(base, g.mul(g.div(m1, denom), stepSize));
  return { params: p1, gradNorm, state: { t: step, m: m1, v: v1 } };
}

/** Polyak averaging of a target network: θ' ← θ' + τ(θ - θ'), bound back to the target input. */
export function polyak(g: Graph, target: Tensor, online: Tensor, tau: number): Tensor {
  if (target.size !== online.size) throw new GraphBuildError(`polyak: target ${target} and online ${online} differ in size`);
  const next = g.add(target, g.mul(g.sub(online, target), tau));
  g.bind(target, next);
  return next;
}
