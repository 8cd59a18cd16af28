/**
 * Hand-made 'sequence' policies whose action is a checkable function of the whole context, and an
 * independent float64 model of the serving contract (left-padded window, return-to-go falling by
 * each reward, timesteps clipped to the input's max, executed actions fed back), so the tests
 * prove what the runtime puts into each position of the window.
 */
import { Graph, ParamLayout, serialize, type Tensor } from '../../src/engine/index.js';
import type { PolicyExtraInput, PolicyInterface, ServingGraph } from '../../src/nn/index.js';
import { exportPolicy, type ExportResult, type PolicyDescription } from '../../src/serve/index.js';

const K = 4;
const OBS = 3;
export const ACT = 4;
export const TARGET = 3600;
const SCALE = 0.001;
export const MAX_T = 5;
/** Observation features: obs · OBS_W. */
const OBS_W = [1, 0.1, 0.01];
/** Previous actions' features: a · ACT_W (not a3 itself: no feedback loop that grows without bound). */
const ACT_W = [1, 0, 0.5, 0];
const OBS_MEAN = [0.5, -1, 2];
const OBS_STD = [2, 0.5, 1.5];

export function toyInterface(over: Partial<Record<PolicyExtraInput['role'], Partial<PolicyExtraInput>>> = {}, contextLength = K): PolicyInterface {
  const L = contextLength;
  return {
    kind: 'sequence',
    contextLength: L,
    chunkLength: 1,
    extraInputs: [
      { name: 'actions', role: 'actions', shape: [L, ACT], dtype: 'float32', ...over.actions },
      { name: 'returns_to_go', role: 'returns-to-go', shape: [L], dtype: 'float32', default: TARGET, scale: SCALE, ...over['returns-to-go'] },
      { name: 'timesteps', role: 'timesteps', shape: [L], dtype: 'int64', max: MAX_T, ...over.timesteps },
      { name: 'mask', role: 'mask', shape: [L], dtype: 'float32', ...over.mask },
    ],
  };
}

/**
 * The toy: a = [Σ_p w_p m_p (ô_p·OBS_W), Σ_p w_p rtg_p, Σ_p w_p t_p, Σ_p w_p m_p (a_p·ACT_W)]
 * with w_p = p + 1 (position p = 0 is the oldest: a shifted or misplaced entry changes the action),
 * ô the normalized observation, m the mask, rtg the fed (scaled) returns-to-go.
 */
function toySequencePolicy(iface: PolicyInterface = toyInterface()): ServingGraph {
  const L = iface.contextLength;
  const pos = Float32Array.from({ length: L }, (_, p) => p + 1);
  const layout = new ParamLayout('toy', [{ name: 'unused', shape: [1], init: { kind: 'constant', value: 0 } }]);
  const byRole = (r: string) => iface.extraInputs.find((x) => x.role === r)!.name;
  return {
    interface: iface,
    obsDim: OBS,
    actDim: ACT,
    maxAction: 1e9,
    distribution: null,
    weights: { toy: { layout, values: layout.init(0) } },
    build(g: Graph, io: { observation: Tensor; extra: Record<string, Tensor> }) {
      const w = g.constant(pos, [L]);
      const mask = io.extra[byRole('mask')]!;
      const flat = (x: Tensor) => g.reshape(x, [-1, L]);
      const sum = (x: Tensor) => g.reduceSum(g.mul(x, w), [1], true);
      const o = flat(g.matmul(io.observation, g.constant(Float32Array.from(OBS_W), [OBS, 1])));
      const a = flat(g.matmul(io.extra[byRole('actions')]!, g.constant(Float32Array.from(ACT_W), [ACT, 1])));
      const t = g.cast(io.extra[byRole('timesteps')]!, 'float32');
      return { action: g.concat([sum(g.mul(o, mask)), sum(io.extra[byRole('returns-to-go')]!), sum(t), sum(g.mul(a, mask))], 1) };
    },
  };
}

export function exportToy(opts: { iface?: PolicyInterface; version?: string; signingKey?: string; out?: string } = {}): ExportResult {
  return exportPolicy({
    policy: toySequencePolicy(opts.iface),
    card: { name: 'toy-dt', version: opts.version ?? 'seq-v1', task: 'fixture', algorithm: 'toy', createdAt: '2026-12-01T00:00:00Z' },
    obsMean: Float32Array.from(OBS_MEAN),
    obsStd: Float32Array.from(OBS_STD),
    out: opts.out,
    signingKey: opts.signingKey,
  });
}

interface Step {
  obs: number[];
  rtg: number;
  t: number;
  action: number[] | null;
}

/** The contract, written out plainly: one episode's steps, and the window a sequence policy must see. */
export class ContractModel {
  steps: Step[] = [];
  rtg = Number.NaN;
  t = -1;

  constructor(
    public target = TARGET,
    readonly length = K,
    readonly maxT = MAX_T,
    readonly dims = { obs: OBS, act: ACT, scale: SCALE },
  ) {}

  /** A step begins (see PolicyRuntime.act): the first of an episode, or the next after `reward`. */
  begin(reward: number, start: boolean, steps = 1): void {
    if (start || this.t < 0) {
      this.steps = [];
      this.t = 0;
      this.rtg = this.target;
    } else {
      this.t += steps;
      this.rtg -= reward;
    }
  }

  /** The current step's observation enters the window. */
  put(obs: number[]): void {
    this.steps.push({ obs: [...obs], rtg: this.rtg, t: this.t, action: null });
  }

  executed(action: ArrayLike<number>): void {
    this.steps.at(-1)!.action = Array.from(action);
  }

  /** The left-padded window: [position] → { obs, action, rtg (fed, scaled), t (clipped), mask }. */
  window(): { obs: number[]; action: number[]; rtg: number; t: number; mask: number }[] {
    const L = this.length;
    const { obs, act, scale } = this.dims;
    const real = this.steps.slice(-L);
    const pad = L - real.length;
    const zeros = (n: number) => new Array<number>(n).fill(0);
    return Array.from({ length: L }, (_, p) => {
      const s = p >= pad ? real[p - pad]! : null;
      const current = p === L - 1;
      return s
        ? { obs: s.obs, action: current ? zeros(act) : (s.action ?? zeros(act)), rtg: s.rtg * scale, t: Math.min(s.t, this.maxT), mask: 1 }
        : { obs: zeros(obs), action: zeros(act), rtg: 0, t: 0, mask: 0 };
    });
  }

  /** The toy policy's action on the current window, in float64. */
  toyAction(): number[] {
    const out = [0, 0, 0, 0];
    this.window().forEach((x, p) => {
      const w = p + 1;
      const norm = x.obs.map((v, i) => (v - OBS_MEAN[i]!) / OBS_STD[i]!);
      out[0] += w * x.mask * norm.reduce((s, v, i) => s + v * OBS_W[i]!, 0);
      out[1] += w * x.rtg;
      out[2] += w * x.t;
      out[3] += w * x.mask * x.action.reduce((s, v, i) => s + v * ACT_W[i]!, 0);
    });
    return out;
  }
}

/** Largest |a − b| over the components, relative to max(1, |b|). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < b.length; i++) e = Math.max(e, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  return e;
}

/**
 * A Decision Transformer as PyTorch exports it, in shape: inputs states [B, K, obs], actions
 * [B, K, act], returns_to_go [B, K, 1], timesteps [B, K] int64, attention_mask [B, K] int64;
 * output action_preds [B, K, act] (one prediction per position; a server takes the last). Per
 * position p: 2·tanh(s_p·W1 + a_p·W2 + rtg_p·w3 + t_p·w4 + Σ_q mask_q s_q·W5) (a torque in ±2, pendulum's
 * spaces). No o2o card, no hash.
 */
export const FOREIGN = { K: 5, obs: 3, act: 1 }; // pendulum's spaces: it can drive the simulator too
const W1 = [0.3, -0.2, 0.1];
const W2 = [0.5];
const W3 = [0.8];
const W4 = [0.01];
const W5 = [0.05, 0.02, -0.03];

export function foreignDtBytes(): Uint8Array {
  const { K: L, obs, act } = FOREIGN;
  const g = new Graph();
  const s = g.input('states', [-1, L, obs]);
  const a = g.input('actions', [-1, L, act]);
  const r = g.input('returns_to_go', [-1, L, 1]);
  const t = g.input('timesteps', [-1, L], 'int64');
  const m = g.input('attention_mask', [-1, L], 'int64');
  const c = (v: number[], shape: number[]) => g.constant(Float32Array.from(v), shape);
  const mask = g.reshape(g.cast(m, 'float32'), [-1, L, 1]);
  const tf = g.reshape(g.cast(t, 'float32'), [-1, L, 1]);
  const past = g.reduceSum(g.mul(g.matmul(s, c(W5, [obs, act])), mask), [1], true); // [B, 1, act]
  const h = g.add(g.add(g.add(g.matmul(s, c(W1, [obs, act])), g.matmul(a, c(W2, [act, act]))), g.add(g.mul(r, c(W3, [act])), g.mul(tf, c(W4, [act])))), past);
  g.output('action_preds', g.mul(g.tanh(h), 2));
  return serialize(g, { name: 'torch-dt-like' });
}

/** How to serve it: what `<model>.card.json` or `o2o serve --interface` says. */
export function foreignDescription(targetReturn = 1800): PolicyDescription {
  const { K: L, act } = FOREIGN;
  return {
    interface: {
      kind: 'sequence',
      contextLength: L,
      chunkLength: 1,
      extraInputs: [
        { name: 'actions', role: 'actions', shape: [L, act], dtype: 'float32' },
        { name: 'returns_to_go', role: 'returns-to-go', shape: [L, 1], dtype: 'float32', default: targetReturn, scale: 0.001 },
        { name: 'timesteps', role: 'timesteps', shape: [L], dtype: 'int64', max: 999 },
        { name: 'attention_mask', role: 'mask', shape: [L], dtype: 'int64' },
      ],
    },
    inputName: 'states',
    outputName: 'action_preds',
  };
}

/** The foreign DT's action at the last position of a window (float64). */
export function foreignAction(win: { obs: number[]; action: number[]; rtg: number; t: number; mask: number }[]): number[] {
  const { act } = FOREIGN;
  const mv = (x: number[], W: number[], n: number) => Array.from({ length: n }, (_, j) => x.reduce((acc, v, i) => acc + v * W[i * n + j]!, 0));
  const past = new Array(act).fill(0);
  for (const x of win) mv(x.obs, W5, act).forEach((v, j) => (past[j] += v * x.mask));
  const last = win.at(-1)!;
  const s1 = mv(last.obs, W1, act);
  const a2 = mv(last.action, W2, act);
  return Array.from({ length: act }, (_, j) => 2 * Math.tanh(s1[j]! + a2[j]! + last.rtg * W3[j]! + last.t * W4[j]! + past[j]!));
}
