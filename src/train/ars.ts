/**
 * Augmented Random Search (Mania, Guy & Recht, 2018, "Simple random search provides a competitive
 * approach to reinforcement learning"), variant V2-t: a linear policy on normalized states,
 * antithetic perturbations, only the best b of N directions, steps scaled by the reward std.
 *
 *   δ_1..δ_N ~ N(0, I);  r_k± = R(θ ± ν δ_k)            (episode returns, alive bonus shifted off)
 *   keep the b directions with the largest max(r_k+, r_k−)
 *   θ ← θ + α / (b σ_R) Σ_k (r_k+ − r_k−) δ_k,  σ_R = std of those 2b returns
 *   state mean/std: running statistics of every state visited in training
 *
 * Used to train behaviour policies when the SAC recipe is too slow for the machine: it needs
 * only simulator steps (no gradient updates), reaches expert-level hopper returns in a few
 * million steps, and its policy is one Gemm, exported like every o2o actor
 * (a = tanh(W s̃ + b), normalization baked into the ONNX graph).
 */
import type { Env } from '../../simulators/index.js';
import type { ActorSnapshot } from '../algos/index.js';
import { type ActorSpec, actorLayout } from '../nn/index.js';
import { Rng } from '../util/rng.js';

export interface ArsConfig {
  /** Step size α. */
  stepSize: number;
  /** Directions sampled per iteration (N). */
  directions: number;
  /** Best directions used for the update (b ≤ N). */
  top: number;
  /** Exploration noise ν. */
  noise: number;
  /** Subtracted from every reward during training (the alive bonus: ARS's 'shift'). */
  shift: number;
}

/** Per-task settings of the ARS paper (V2-t, Table 9) for the Gym tasks; hopper's elsewhere. */
const ARS_DEFAULTS: Record<string, ArsConfig> = {
  hopper: { stepSize: 0.01, directions: 8, top: 4, noise: 0.025, shift: 1 },
  halfcheetah: { stepSize: 0.02, directions: 32, top: 4, noise: 0.03, shift: 0 },
  walker2d: { stepSize: 0.025, directions: 40, top: 30, noise: 0.01, shift: 1 },
};

export function arsConfig(task: string, over: Partial<ArsConfig> = {}): ArsConfig {
  const c = { ...(ARS_DEFAULTS[task] ?? ARS_DEFAULTS.hopper!), ...over };
  if (!(c.top >= 1 && c.top <= c.directions)) throw new Error(`ARS: top (${c.top}) must be between 1 and directions (${c.directions})`);
  if (!(c.stepSize > 0 && c.noise > 0)) throw new Error(`ARS: stepSize and noise must be positive (got ${c.stepSize}, ${c.noise})`);
  return c;
}

/** Running mean and variance of observations (Welford, merged per iteration). */
export class RunningStats {
  n = 0;
  readonly mean: Float64Array;
  private readonly m2: Float64Array;
  constructor(readonly dim: number) {
    this.mean = new Float64Array(dim);
    this.m2 = new Float64Array(dim);
  }
  push(x: ArrayLike<number>): void {
    this.n++;
    for (let i = 0; i < this.dim; i++) {
      const d = x[i]! - this.mean[i]!;
      this.mean[i]! += d / this.n;
      this.m2[i]! += d * (x[i]! - this.mean[i]!);
    }
  }
  /** Standard deviation with a floor (a dimension that never moved is left unscaled, not blown up). */
  std(floor = 1e-2): Float64Array {
    const s = new Float64Array(this.dim);
    for (let i = 0; i < this.dim; i++) s[i] = this.n > 1 ? Math.max(floor, Math.sqrt(this.m2[i]! / this.n)) : 1;
    return s;
  }
}

/** A linear-tanh policy θ = [W (obs×act, row-major), b (act)] on states normalized by (mean, std). */
export class LinearPolicy {
  readonly spec: ActorSpec;
  readonly size: number;
  private readonly z: Float64Array;
  private readonly out: Float32Array;
  constructor(
    readonly obsDim: number,
    readonly actDim: number,
  ) {
    this.spec = { kind: 'deterministic', obsDim, actDim, hidden: [], maxAction: 1 };
    this.size = (obsDim + 1) * actDim;
    this.z = new Float64Array(obsDim);
    this.out = new Float32Array(actDim);
  }
  act(theta: Float64Array, mean: Float64Array, std: Float64Array, obs: ArrayLike<number>): Float32Array {
    const { obsDim, actDim, z, out } = this;
    for (let i = 0; i < obsDim; i++) z[i] = (obs[i]! - mean[i]!) / std[i]!;
    const bias = obsDim * actDim;
    for (let k = 0; k < actDim; k++) {
      let s = theta[bias + k]!;
      for (let i = 0; i < obsDim; i++) s += z[i]! * theta[i * actDim + k]!;
      out[k] = Math.tanh(s);
    }
    return out;
  }
  /** The policy as an o2o actor (deterministic, no hidden layer) plus its baked normalization. */
  snapshot(theta: Float64Array, mean: Float64Array, std: Float64Array): ActorSnapshot & { obsMean: Float32Array; obsStd: Float32Array } {
    const layout = actorLayout(this.spec);
    const w = layout.at('l0.weight');
    const b = layout.at('l0.bias');
    const params = new Float32Array(layout.size);
    params.set(theta.subarray(0, w.size), w.offset);
    params.set(theta.subarray(w.size, w.size + b.size), b.offset);
    return { spec: this.spec, layout, params, obsMean: Float32Array.from(mean), obsStd: Float32Array.from(std) };
  }
}

interface Transition {
  obs: Float32Array;
  action: Float32Array;
  reward: number;
  nextObs: Float32Array;
  terminal: boolean;
  timeout: boolean;
}

interface ArsIteration {
  iteration: number;
  envSteps: number;
  /** Mean unshifted return of the 2N perturbed rollouts. */
  meanReturn: number;
}

export interface ArsOptions {
  env: Env;
  config: ArsConfig;
  seed: number;
  /** Stop after this many environment steps (training rollouts only). */
  maxEnvSteps: number;
  /** Called after each iteration with the current θ and stats; return true to stop. */
  onIteration?: (it: ArsIteration, state: ArsState) => boolean | undefined | Promise<boolean | undefined>;
  /** Receives every training transition of the rollouts chosen by `record` (the replay stream). */
  onTransition?: (t: Transition) => void;
  /** Which rollouts of an iteration go to onTransition (index 0..2N-1); default the first pair. */
  record?: (rollout: number) => boolean;
}

export interface ArsState {
  policy: LinearPolicy;
  theta: Float64Array;
  mean: Float64Array;
  std: Float64Array;
  envSteps: number;
}

export async function trainArs(o: ArsOptions): Promise<ArsState> {
  const { env, config: c } = o;
  const { obsDim, actDim } = env.spec;
  const policy = new LinearPolicy(obsDim, actDim);
  const theta = new Float64Array(policy.size);
  const stats = new RunningStats(obsDim);
  const rng = new Rng(o.seed);
  const deltas = Array.from({ length: c.directions }, () => new Float64Array(policy.size));
  const probe = new Float64Array(policy.size);
  const record = o.record ?? ((k: number) => k < 2);
  let mean: Float64Array = new Float64Array(obsDim);
  let std: Float64Array = new Float64Array(obsDim).fill(1);
  let envSteps = 0;
  let episodeSeed = o.seed * 1_000_003;
  const state = (): ArsState => ({ policy, theta, mean, std, envSteps });

  const rollout = (params: Float64Array, keep: boolean): { shifted: number; raw: number } => {
    let obs = env.reset(episodeSeed++);
    let shifted = 0;
    let raw = 0;
    for (;;) {
      stats.push(obs);
      const a = policy.act(params, mean, std, obs);
      const r = env.step(a);
      envSteps++;
      raw += r.reward;
      shifted += r.reward - c.shift;
      if (keep) o.onTransition?.({ obs, action: a.slice(), reward: r.reward, nextObs: r.obs, terminal: r.terminated, timeout: r.truncated });
      obs = r.obs;
      if (r.terminated || r.truncated) return { shifted, raw };
    }
  };

  for (let it = 1; envSteps < o.maxEnvSteps; it++) {
    const plus = new Float64Array(c.directions);
    const minus = new Float64Array(c.directions);
    let rawSum = 0;
    for (let k = 0; k < c.directions; k++) {
      const d = rng.fillNormal(deltas[k]!);
      for (let s = 0; s < 2; s++) {
        const sign = s === 0 ? 1 : -1;
        for (let i = 0; i < theta.length; i++) probe[i] = theta[i]! + sign * c.noise * d[i]!;
        const r = rollout(probe, record(2 * k + s));
        (s === 0 ? plus : minus)[k] = r.shifted;
        rawSum += r.raw;
      }
    }
    const order = Array.from({ length: c.directions }, (_, k) => k).sort((x, y) => Math.max(plus[y]!, minus[y]!) - Math.max(plus[x]!, minus[x]!));
    const best = order.slice(0, c.top);
    const used = best.flatMap((k) => [plus[k]!, minus[k]!]);
    const m = used.reduce((a, b) => a + b, 0) / used.length;
    const sigma = Math.sqrt(used.reduce((a, b) => a + (b - m) ** 2, 0) / used.length);
    if (sigma > 0) {
      const scale = c.stepSize / (c.top * sigma);
      for (const k of best) {
        const w = scale * (plus[k]! - minus[k]!);
        const d = deltas[k]!;
        for (let i = 0; i < theta.length; i++) theta[i]! += w * d[i]!;
      }
    }
    mean = Float64Array.from(stats.mean);
    std = stats.std();
    if (await o.onIteration?.({ iteration: it, envSteps, meanReturn: rawSum / (2 * c.directions) }, state())) break;
  }
  return state();
}
