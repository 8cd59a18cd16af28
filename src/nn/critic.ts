import type { Graph, Tensor } from '../engine/index.js';
import { ParamLayout } from '../engine/index.js';
import { type MlpSpec, mlp, mlpParamSpecs } from './mlp.js';

/** An ensemble of Q(s, a) networks (twin critics = 2) or of V(s) networks, in one flat group. */
export interface CriticSpec {
  obsDim: number;
  /** 0 for a state-value network V(s). */
  actDim: number;
  hidden: number[];
  ensemble: number;
  init?: MlpSpec['init'];
  last?: MlpSpec['last'];
}

export function criticMlp(spec: CriticSpec): MlpSpec {
  return { sizes: [spec.obsDim + spec.actDim, ...spec.hidden, 1], hidden: 'relu', output: 'none', init: spec.init, last: spec.last };
}

export function criticLayout(spec: CriticSpec, group = 'critic'): ParamLayout {
  const specs = [];
  for (let k = 0; k < spec.ensemble; k++) specs.push(...mlpParamSpecs(criticMlp(spec), `q${k}.`));
  return new ParamLayout(group, specs);
}

/** Each member's values, shape [rows] each. `act` is omitted for V(s). */
export function criticValues(g: Graph, spec: CriticSpec, views: Record<string, Tensor>, obs: Tensor, act?: Tensor): Tensor[] {
  const x = act ? g.concat([obs, act], 1) : obs;
  const rows = obs.shape[0]!;
  const out: Tensor[] = [];
  for (let k = 0; k < spec.ensemble; k++) out.push(g.reshape(mlp(g, views, x, criticMlp(spec), `q${k}.`), [rows]));
  return out;
}

/** Elementwise minimum over the ensemble (clipped double-Q). */
export function minOf(g: Graph, qs: Tensor[]): Tensor {
  return qs.reduce((m, q) => g.minimum(m, q));
}
