import { type Graph, type Init, ParamLayout, type ParamSpec, type Tensor } from '../engine/index.js';

export type Activation = 'relu' | 'tanh' | 'none';

/** How the last layer starts (CORL's CQL: xavier/orthogonal with gain 1e-2, zero bias). */
export type LastLayerInit = { xavier: number } | { orthogonal: number } | { uniform: number };

export interface MlpSpec {
  /** Layer widths including input and output, e.g. [17, 256, 256, 6]. */
  sizes: number[];
  hidden?: Activation;
  output?: Activation;
  /** Hidden layers: PyTorch nn.Linear default (CORL's usual choice), or orthogonal with a gain and zero bias. */
  init?: 'torch' | { orthogonal: number };
  /** Last layer override (zero bias); default: same rule as the hidden layers. */
  last?: LastLayerInit;
}

/** Parameter specs for an MLP: l{i}.weight [in, out] then l{i}.bias [out]. */
export function mlpParamSpecs(spec: MlpSpec, prefix = ''): ParamSpec[] {
  const out: ParamSpec[] = [];
  const n = spec.sizes.length - 1;
  for (let i = 0; i < n; i++) {
    const fanIn = spec.sizes[i]!;
    const fanOut = spec.sizes[i + 1]!;
    let w: Init = { kind: 'torch-linear-weight', fanIn };
    let b: Init = { kind: 'torch-linear-bias', fanIn };
    if (spec.init && spec.init !== 'torch') {
      w = { kind: 'orthogonal', gain: spec.init.orthogonal };
      b = { kind: 'constant', value: 0 };
    }
    const last = i === n - 1 ? spec.last : undefined;
    if (last) {
      b = { kind: 'constant', value: 0 };
      if ('xavier' in last) w = { kind: 'xavier-uniform', gain: last.xavier, fanIn, fanOut };
      else if ('orthogonal' in last) w = { kind: 'orthogonal', gain: last.orthogonal };
      else {
        w = { kind: 'uniform', lo: -last.uniform, hi: last.uniform };
        b = { kind: 'uniform', lo: -last.uniform, hi: last.uniform };
      }
    }
    out.push({ name: `${prefix}l${i}.weight`, shape: [fanIn, fanOut], init: w });
    out.push({ name: `${prefix}l${i}.bias`, shape: [fanOut], init: b });
  }
  return out;
}

export function mlpLayout(group: string, spec: MlpSpec): ParamLayout {
  return new ParamLayout(group, mlpParamSpecs(spec));
}

export function activate(g: Graph, x: Tensor, a: Activation): Tensor {
  return a === 'relu' ? g.relu(x) : a === 'tanh' ? g.tanh(x) : x;
}

/** Forward pass: each layer is one Gemm (x @ W + b) followed by the activation. */
export function mlp(g: Graph, views: Record<string, Tensor>, x: Tensor, spec: MlpSpec, prefix = ''): Tensor {
  let h = x;
  const n = spec.sizes.length - 1;
  for (let i = 0; i < n; i++) {
    const w = views[`${prefix}l${i}.weight`];
    const b = views[`${prefix}l${i}.bias`];
    if (!w || !b) throw new Error(`mlp: parameters ${prefix}l${i}.weight/bias missing from the views`);
    h = g.gemm(h, w, {}, b);
    h = activate(g, h, i === n - 1 ? (spec.output ?? 'none') : (spec.hidden ?? 'relu'));
  }
  return h;
}

/** FLOPs of one forward pass at a batch size (2 per multiply-add). */
export function mlpFlops(sizes: number[], batch: number): number {
  let f = 0;
  for (let i = 0; i + 1 < sizes.length; i++) f += 2 * batch * sizes[i]! * sizes[i + 1]!;
  return f;
}
