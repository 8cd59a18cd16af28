import type { Graph, Tensor } from '../engine/index.js';
import { ParamLayout } from '../engine/index.js';
import { type MlpSpec, mlp, mlpParamSpecs } from './mlp.js';

/**
 * Policies on the engine.
 *  - deterministic: a = max · tanh(f(s))                                  (BC, TD3+BC)
 *  - gaussian:      N(tanh(f(s)), exp(log_std)), state-independent std    (IQL, as CORL)
 *  - tanh-gaussian: a = max · tanh(μ + σ ε), [μ, log σ] = f(s)            (SAC, CQL, Cal-QL)
 */
export type ActorKind = 'deterministic' | 'gaussian' | 'tanh-gaussian';

export interface ActorSpec {
  kind: ActorKind;
  obsDim: number;
  actDim: number;
  hidden: number[];
  maxAction: number;
  init?: MlpSpec['init'];
  last?: MlpSpec['last'];
  /** tanh-gaussian: log σ = clamp(mult·raw + offset, min, max) (CORL CQL: 1, -1, [-20, 2]). */
  logStd?: { multiplier: number; offset: number; min: number; max: number };
}

const LOG_2PI = Math.log(2 * Math.PI);

export function actorMlp(spec: ActorSpec): MlpSpec {
  const out = spec.kind === 'tanh-gaussian' ? 2 * spec.actDim : spec.actDim;
  return {
    sizes: [spec.obsDim, ...spec.hidden, out],
    hidden: 'relu',
    output: spec.kind === 'tanh-gaussian' ? 'none' : 'tanh',
    init: spec.init,
    last: spec.last,
  };
}

export function actorLayout(spec: ActorSpec, group = 'actor'): ParamLayout {
  const specs = mlpParamSpecs(actorMlp(spec));
  if (spec.kind === 'gaussian') specs.push({ name: 'log_std', shape: [spec.actDim], init: { kind: 'constant', value: 0 } });
  return new ParamLayout(group, specs);
}

/** Deterministic action (the policy's mean / mode), scaled to [-max, max]. */
export function actorMean(g: Graph, spec: ActorSpec, views: Record<string, Tensor>, obs: Tensor): Tensor {
  const out = mlp(g, views, obs, actorMlp(spec));
  if (spec.kind !== 'tanh-gaussian') return spec.maxAction === 1 ? out : g.mul(out, spec.maxAction);
  const [mu] = g.split(out, [spec.actDim, spec.actDim], 1);
  const a = g.tanh(mu!);
  return spec.maxAction === 1 ? a : g.mul(a, spec.maxAction);
}

/**
 * The action distribution's parameters, for exploration at serving time (robots collecting online
 * data sample from the policy, as SAC/CQL/Cal-QL and IQL do when they fine-tune):
 *  - tanh-gaussian: a = max · tanh(loc + exp(logStd) ε)  (loc, logStd before the tanh)
 *  - gaussian:      a = loc + exp(logStd) ε             (loc = the mean action, in action units)
 * Deterministic actors have none (null): they explore with added Gaussian noise instead.
 */
export function actorDistribution(g: Graph, spec: ActorSpec, views: Record<string, Tensor>, obs: Tensor): { loc: Tensor; logStd: Tensor } | null {
  if (spec.kind === 'tanh-gaussian') {
    const { mu, logStd } = tanhGaussianHead(g, spec, views, obs);
    return { loc: mu, logStd };
  }
  if (spec.kind !== 'gaussian') return null;
  const loc = actorMean(g, spec, views, obs);
  let logStd = g.clip(views.log_std!, -20, 2);
  if (spec.maxAction !== 1) logStd = g.add(logStd, Math.log(spec.maxAction));
  // One row per observation: [A] → [batch, A] (the batch is symbolic in serving graphs).
  return { loc, logStd: g.add(g.mul(loc, 0), logStd) };
}

function tanhGaussianHead(g: Graph, spec: ActorSpec, views: Record<string, Tensor>, obs: Tensor): { mu: Tensor; logStd: Tensor } {
  const out = mlp(g, views, obs, actorMlp(spec));
  const [mu, raw] = g.split(out, [spec.actDim, spec.actDim], 1);
  const ls = spec.logStd ?? { multiplier: 1, offset: -1, min: -20, max: 2 };
  const logStd = g.clip(g.add(g.mul(raw!, ls.multiplier), ls.offset), ls.min, ls.max);
  return { mu: mu!, logStd };
}

/**
 * Reparameterized sample of the tanh-Gaussian with its log-probability:
 * u = μ + σ ε, a = tanh(u), log π(a) = Σ [log N(u; μ, σ) − log(1 − tanh²u)], the Jacobian term
 * written stably as 2(log 2 − u − softplus(−2u)) (as PyTorch's TanhTransform).
 * `eps` is standard normal noise [rows, actDim] fed from a seeded generator.
 */
export function sampleTanhGaussian(g: Graph, spec: ActorSpec, views: Record<string, Tensor>, obs: Tensor, eps: Tensor): { action: Tensor; logProb: Tensor } {
  const { mu, logStd } = tanhGaussianHead(g, spec, views, obs);
  const u = g.add(mu, g.mul(g.exp(logStd), eps));
  const gaussian = g.sub(g.sub(g.mul(g.square(eps), -0.5), logStd), 0.5 * LOG_2PI);
  const jacobian = g.mul(g.sub(g.sub(Math.log(2), u), g.softplus(g.mul(u, -2))), 2);
  const logProb = g.reduceSum(g.sub(gaussian, jacobian), [1]);
  const a = g.tanh(u);
  return { action: spec.maxAction === 1 ? a : g.mul(a, spec.maxAction), logProb };
}

/** log N(a; tanh(f(s)), exp(log_std)) summed over action dims (IQL's Gaussian policy). */
export function gaussianLogProb(g: Graph, spec: ActorSpec, views: Record<string, Tensor>, obs: Tensor, act: Tensor): Tensor {
  const mean = mlp(g, views, obs, actorMlp(spec));
  const logStd = g.clip(views.log_std!, -20, 2);
  const z = g.div(g.sub(act, mean), g.exp(logStd));
  return g.reduceSum(g.sub(g.sub(g.mul(g.square(z), -0.5), logStd), 0.5 * LOG_2PI), [1]);
}

/**
 * log π(a|s) of given actions under the tanh-Gaussian (CQL's BC warm-up, CORL `actor.log_prob`):
 * u = atanh(a / max) (clipped inside (−1, 1)), log π = Σ [log N(u; μ, σ) − log(1 − tanh²u)] − |A| log max.
 * The actions are data: gradients flow to μ and σ only.
 */
export function tanhGaussianLogProb(g: Graph, spec: ActorSpec, views: Record<string, Tensor>, obs: Tensor, act: Tensor): Tensor {
  const { mu, logStd } = tanhGaussianHead(g, spec, views, obs);
  const x = g.clip(spec.maxAction === 1 ? act : g.div(act, spec.maxAction), -1 + 1e-6, 1 - 1e-6);
  const u = g.stopGradient(g.mul(g.sub(g.log(g.add(x, 1)), g.log(g.sub(1, x))), 0.5));
  const z = g.div(g.sub(u, mu), g.exp(logStd));
  const gaussian = g.sub(g.sub(g.mul(g.square(z), -0.5), logStd), 0.5 * LOG_2PI);
  const jacobian = g.mul(g.sub(g.sub(Math.log(2), u), g.softplus(g.mul(u, -2))), 2);
  const logProb = g.reduceSum(g.sub(gaussian, jacobian), [1]);
  return spec.maxAction === 1 ? logProb : g.sub(logProb, spec.actDim * Math.log(spec.maxAction));
}
