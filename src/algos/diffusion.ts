/**
 * Diffusion Policy (Chi et al. 2023), the state-based variant with a conditional MLP: a DDPM over
 * chunks of `horizon` actions, conditioned on the last `nObs` observations.
 *   train    k ~ U{0..N−1}, ε ~ N(0, I), x_k = √ᾱ_k x_0 + √(1−ᾱ_k) ε  (x_0 = the chunk / maxAction)
 *            L(θ) = E ‖ε_θ(x_k, k, o) − ε‖²  (mean over batch × horizon × |A|)
 *   network  c = [o_{t−nObs+1..t}, Mish(MLP(sinusoid(k)))];  h ← h + FiLM_c(Mish(W h + b))  per layer:
 *            FiLM_c(z) = γ(c) ⊙ z + β(c) (Perez et al. 2018, as the paper's conditional blocks)
 *   serve    DDIM in `inferenceSteps` steps unrolled in ONE graph, from a noise input the server
 *            fills; the EMA of the weights is what is exported (diffusion_policy's EMAModel).
 *            η = 1 by default (DDPM's noise added back at each step, Song et al. 2021 eq. 16): on
 *            reach-around-demos the same network succeeds in 99 % of episodes against 93 % with
 *            η = 0 (98 % with another training seed), whose deterministic map sends some draws
 *            half-way between the two sides. Every draw is scaled by the temperature, 0.5 by
 *            default (Decision Diffuser's low-temperature sampling; diffusion_policy samples at 1).
 * Defaults follow diffusion_policy's low-dim configs: n_obs_steps 2, horizon 16, n_action_steps 8,
 * 100 training steps with the squared-cosine schedule, AdamW (lr 1e-4 there, 3e-3 here: see below; betas 0.95/0.999, weight decay
 * 1e-6), batch 256, 500 warm-up steps then cosine decay, EMA power 0.75 up to 0.9999.
 * Deviations: actions are scaled to [−1, 1] by the task's action bound, not per-dimension min/max;
 * samples are drawn at temperature 0.5, not 1 (hopper-expert, whose demonstrations carry σ = 0.1
 * action noise: 94.8 → 99.6 over 200 episodes, BC 99.1; reach-around: 99 → 100 % in two training
 * seeds; BENCHMARKS.md "Low-temperature sampling");
 * the learning rate is 3e-3, not 1e-4 — the paper's 1e-4 is for its U-Net and transformer, and this
 * MLP learns far slower with it (reach-around-demos, 15k updates, η = 1: 62 % of episodes at 1e-4
 * against 99 % at 3e-3; BENCHMARKS.md "Multimodal task"); observations enter the FiLM layers without
 * diffusion_policy's Mish, which over z-scored observations folds everything below −1.19σ together
 * (noiseModel). The cosine decay runs over the whole run (`maxSteps` = the trainer's steps).
 */
import { type AnyTypedArray, type Graph, ParamLayout, type ParamSpec, type SessionOptions, type Tensor, adam, grad, params } from '../engine/index.js';
import type { ServingGraph } from '../nn/index.js';
import type { AlgoDescriptor } from './descriptor.js';
import { alphasCumprod, ddimSigma, ddimSteps, emaDecay, squaredCosineBetas } from './diffusion-schedule.js';
import { GraphLearner, LearnerError, type TaskSpec } from './learner.js';

export interface DiffusionConfig {
  batchSize: number;
  updatesPerRun: number;
  /** Observations per call (n_obs_steps), actions per chunk (horizon), actions executed per chunk (n_action_steps). */
  nObs: number;
  horizon: number;
  nAction: number;
  /** Training diffusion steps N and DDIM steps at serving time. */
  diffusionSteps: number;
  inferenceSteps: number;
  /** DDIM's η at serving time: 0 deterministic, 1 DDPM's variance (the default); η > 0 draws k more noise chunks per plan. */
  eta: number;
  /**
   * Sampling temperature τ in [0, 1]: the initial chunk and every step's added noise are τ·z
   * (Decision Diffuser's low-temperature sampling, Ajay et al. 2023, which uses 0.5; 1 is
   * diffusion_policy's sampler). Lower values trade the data's spread, its action noise included,
   * for its most likely actions; 0.5 keeps both sides of reach-around in use (51/49 and 57/43 of
   * 100 episodes, two training seeds).
   */
  temperature: number;
  /** Width and number of the FiLM-conditioned residual layers; sinusoidal timestep embedding width. */
  width: number;
  layers: number;
  timeEmbedding: number;
  lr: number;
  beta1: number;
  weightDecay: number;
  warmupSteps: number;
  /** Length of the cosine decay after the warm-up (0: constant lr after it); the trainer sets it to the run's length when unset. */
  maxSteps: number;
  emaPower: number;
  emaMax: number;
}

export const DIFFUSION_DEFAULTS: DiffusionConfig = {
  batchSize: 256,
  updatesPerRun: 1,
  nObs: 2,
  horizon: 16,
  nAction: 8,
  diffusionSteps: 100,
  inferenceSteps: 10,
  eta: 1,
  temperature: 0.5,
  width: 256,
  layers: 3,
  timeEmbedding: 64,
  lr: 3e-3,
  beta1: 0.95,
  weightDecay: 1e-6,
  warmupSteps: 500,
  maxSteps: 0,
  emaPower: 0.75,
  emaMax: 0.9999,
};

const mish = (g: Graph, x: Tensor) => g.mul(x, g.tanh(g.softplus(x)));

/** Sinusoidal embedding of every diffusion step (diffusion_policy's SinusoidalPosEmb: [sin, cos] halves). */
export function timestepTable(steps: number, dim: number): Float32Array {
  const half = dim / 2;
  const out = new Float32Array(steps * dim);
  const scale = Math.log(10000) / (half - 1);
  for (let t = 0; t < steps; t++)
    for (let i = 0; i < half; i++) {
      const a = t * Math.exp(-scale * i);
      out[t * dim + i] = Math.sin(a);
      out[t * dim + half + i] = Math.cos(a);
    }
  return out;
}

export function diffusionLayout(task: Pick<TaskSpec, 'obsDim' | 'actDim'>, c: Pick<DiffusionConfig, 'nObs' | 'horizon' | 'width' | 'layers' | 'timeEmbedding'>): ParamLayout {
  const W = c.width;
  const x = c.horizon * task.actDim;
  const cond = c.nObs * task.obsDim + W;
  const lin = (name: string, i: number, o: number): ParamSpec[] => [
    { name: `${name}.weight`, shape: [i, o], init: { kind: 'torch-linear-weight', fanIn: i } },
    { name: `${name}.bias`, shape: [o], init: { kind: 'torch-linear-bias', fanIn: i } },
  ];
  return new ParamLayout('net', [
    ...lin('time.0', c.timeEmbedding, W),
    ...lin('time.1', W, W),
    ...lin('in', x, W),
    ...Array.from({ length: c.layers }, (_, l) => [...lin(`layer.${l}`, W, W), ...lin(`film.${l}`, cond, 2 * W)]).flat(),
    ...lin('out', W, x),
  ]);
}

/** ε_θ(x_k, k, o): noisy chunks [B, horizon·|A|], their steps' embeddings [B, timeEmbedding], observations [B, nObs·obs] → [B, horizon·|A|]. */
export function noiseModel(g: Graph, c: Pick<DiffusionConfig, 'width' | 'layers'>, v: Record<string, Tensor>, x: Tensor, temb: Tensor, obs: Tensor): Tensor {
  const lin = (name: string, h: Tensor) => g.gemm(h, v[`${name}.weight`]!, {}, v[`${name}.bias`]!);
  // The FiLM input: the observations as they are, the step's features through Mish. diffusion_policy
  // puts Mish over both (its obs are min-max scaled to [−1, 1]); over z-scored observations Mish
  // folds everything below −1.19σ onto [−0.31, −0.2] and the network cannot tell where it is.
  const cond = g.concat([obs, mish(g, lin('time.1', mish(g, lin('time.0', temb))))], 1);
  let h = lin('in', x);
  for (let l = 0; l < c.layers; l++) {
    const [gamma, beta] = g.split(lin(`film.${l}`, cond), [c.width, c.width], 1) as [Tensor, Tensor];
    h = g.add(h, g.add(g.mul(gamma, mish(g, lin(`layer.${l}`, h))), beta));
  }
  return lin('out', mish(g, h));
}

export class DiffusionPolicy extends GraphLearner {
  readonly algo = 'diffusion';
  /** No MLP actor: the policy is the DDIM sampler over the EMA network (policy()). */
  readonly actorSpec = null;
  private readonly layout: ParamLayout;
  private readonly alphaBars: Float64Array;
  private readonly table: Float32Array;
  private readonly feeds = { lr: new Float32Array(1), decay: new Float32Array(1) };

  private constructor(
    task: TaskSpec,
    readonly cfg: DiffusionConfig,
    seed: number,
    opts?: SessionOptions,
  ) {
    super(task, cfg.batchSize, cfg, seed, opts);
    const { nObs, horizon, nAction, diffusionSteps, inferenceSteps, timeEmbedding } = cfg;
    if (!(Number.isInteger(nObs) && nObs >= 1 && Number.isInteger(horizon) && nObs - 1 + nAction <= horizon))
      throw new LearnerError(`diffusion: need nObs ≥ 1 and nObs − 1 + nAction ≤ horizon, got ${nObs}, ${nAction}, ${horizon}`);
    if (!(Number.isInteger(diffusionSteps) && diffusionSteps >= 2 && Number.isInteger(inferenceSteps) && inferenceSteps >= 1 && inferenceSteps <= diffusionSteps))
      throw new LearnerError(`diffusion: need 1 ≤ inferenceSteps ≤ diffusionSteps, got ${inferenceSteps} and ${diffusionSteps}`);
    if (!(cfg.eta >= 0 && cfg.eta <= 1)) throw new LearnerError(`diffusion: eta must lie in [0, 1], got ${cfg.eta}`);
    if (!(cfg.temperature >= 0 && cfg.temperature <= 1)) throw new LearnerError(`diffusion: temperature must lie in [0, 1], got ${cfg.temperature}`);
    if (!(timeEmbedding >= 4 && timeEmbedding % 2 === 0)) throw new LearnerError(`diffusion: timeEmbedding must be even and ≥ 4, got ${timeEmbedding}`);
    this.layout = diffusionLayout(task, cfg);
    this.alphaBars = alphasCumprod(squaredCosineBetas(diffusionSteps));
    this.table = timestepTable(diffusionSteps, timeEmbedding);
  }

  static async create(task: TaskSpec, config: Partial<DiffusionConfig> = {}, seed = 0, opts?: SessionOptions): Promise<DiffusionPolicy> {
    const l = new DiffusionPolicy(task, { ...DIFFUSION_DEFAULTS, ...config }, seed, opts);
    await l.build(seed);
    return l;
  }

  private async build(seed: number): Promise<void> {
    const { cfg, task } = this;
    const B = cfg.batchSize;
    const X = cfg.horizon * task.actDim;
    const N = cfg.diffusionSteps;
    const g = this.updateGraph((g) => {
      const net = params(g, this.layout, 'net');
      const ema = g.input('ema', [this.layout.size]);
      const obs = g.reshape(this.batchInput(g, 'chunk_obs'), [B, cfg.nObs * task.obsDim]);
      const x0 = g.mul(g.reshape(this.batchInput(g, 'chunk_act'), [B, X]), 1 / task.maxAction);
      // k ~ U{0..N−1} as a uniform draw (the learner's seeded noise), ε ~ N(0, I)
      const u = this.noiseInput(g, 'k', [B], 'uniform');
      const k = g.cast(g.minimum(g.mul(g.add(u, 1), N / 2), N - 1 + 0.5), 'int64');
      const eps = this.noiseInput(g, 'eps', [B, X]);
      const ab = g.reshape(g.gather(g.constant(Float32Array.from(this.alphaBars), [N]), k), [B, 1]);
      const xk = g.add(g.mul(x0, g.sqrt(ab)), g.mul(eps, g.sqrt(g.sub(1, ab))));
      const temb = g.gather(g.constant(this.table, [N, cfg.timeEmbedding]), k);
      const loss = g.reduceMean(g.square(g.sub(noiseModel(g, cfg, net.views, xk, temb, obs), eps)));
      g.output('loss', loss);
      const step = adam(g, net.flat, grad(g, loss, [net.flat])[0]!, { lr: g.input('lr', []), beta1: cfg.beta1, weightDecay: cfg.weightDecay });
      g.output('grad_norm', step.gradNorm);
      // EMA of the weights after this update: ema ← d·ema + (1 − d)·θ
      const d = g.input('ema_decay', []);
      g.bind(ema, g.add(g.mul(ema, d), g.mul(step.params, g.sub(1, d))));
    });
    this.initGroup('net', this.layout, seed);
    this.initTarget('ema', 'net');
    await this.compile(g, 'step');
  }

  /** Linear warm-up, then cosine decay over maxSteps (diffusers' get_scheduler('cosine')). */
  private scheduledLr(t: number): number {
    const { lr, warmupSteps, maxSteps } = this.cfg;
    if (t < warmupSteps) return (lr * t) / warmupSteps;
    if (maxSteps <= warmupSteps) return lr;
    const p = Math.min(1, (t - warmupSteps) / (maxSteps - warmupSteps));
    return lr * 0.5 * (1 + Math.cos(Math.PI * p));
  }

  protected override extraFeeds(offset: number): Record<string, AnyTypedArray> {
    const t = this.t + offset;
    this.feeds.lr[0] = this.scheduledLr(t);
    this.feeds.decay[0] = emaDecay(t + 1, this.cfg.emaPower, this.cfg.emaMax);
    return { lr: this.feeds.lr, ema_decay: this.feeds.decay };
  }

  /**
   * The served policy: the last nObs observations and standard-normal noise in, the DDIM-denoised
   * chunk out (EMA weights). The noise input holds the initial chunk, then with η > 0 one more chunk
   * per step (rows H·(1 + j) … for step j). The sampler scales every draw by the temperature.
   */
  override policy(inferenceSteps = this.cfg.inferenceSteps, eta = this.cfg.eta, temperature = this.cfg.temperature): ServingGraph {
    const { cfg, task } = this;
    const H = cfg.horizon;
    const X = H * task.actDim;
    const steps = ddimSteps(this.alphaBars, inferenceSteps);
    const rows = eta > 0 ? H * (steps.length + 1) : H;
    const table = this.table;
    return {
      // The denoised horizon starts nObs − 1 steps back (at the oldest observation); the chunk served
      // starts at the current step: horizon − nObs + 1 actions, of which nAction are executed.
      interface: {
        kind: 'chunked',
        contextLength: cfg.nObs,
        chunkLength: H - cfg.nObs + 1,
        actionHorizon: cfg.nAction,
        extraInputs: [{ name: 'noise', role: 'noise', shape: [rows, task.actDim], dtype: 'float32' }],
      },
      obsDim: task.obsDim,
      actDim: task.actDim,
      maxAction: task.maxAction,
      distribution: null,
      weights: { net: { layout: this.layout, values: Float32Array.from(this.store.value('ema') as Float32Array) } },
      build(g, { observation, extra }, weights) {
        const obs = g.reshape(observation, [-1, cfg.nObs * task.obsDim]);
        // a [batch, 1] zero column: broadcasts each step's [1, E] embedding over the symbolic batch
        const batchZero = g.mul(g.slice(obs, { 1: [0, 1] }), 0);
        const noise = (j: number) => g.reshape(rows === H ? extra.noise! : g.slice(extra.noise!, { 1: [j * H, (j + 1) * H] }), [-1, X]);
        let x = temperature === 1 ? noise(0) : g.mul(noise(0), temperature);
        steps.forEach((s, j) => {
          const temb = g.add(batchZero, g.constant(table.slice(s.t * cfg.timeEmbedding, (s.t + 1) * cfg.timeEmbedding), [1, cfg.timeEmbedding]));
          const e = noiseModel(g, cfg, weights.net!, x, temb, obs);
          const x0 = g.clip(g.mul(g.sub(x, g.mul(e, Math.sqrt(1 - s.alphaBar))), 1 / Math.sqrt(s.alphaBar)), -1, 1);
          const sigma = ddimSigma(s, eta);
          x = g.add(g.mul(x0, Math.sqrt(s.alphaBarPrev)), g.mul(e, Math.sqrt(1 - s.alphaBarPrev - sigma * sigma)));
          if (sigma > 0) x = g.add(x, g.mul(noise(j + 1), sigma * temperature));
        });
        const chunk = g.reshape(g.mul(x, task.maxAction), [-1, H, task.actDim]);
        return { action: cfg.nObs > 1 ? g.slice(chunk, { 1: [cfg.nObs - 1, H] }) : chunk };
      },
    };
  }
}

export const DIFFUSION_ALGO: AlgoDescriptor<DiffusionConfig, 'diffusion'> = {
  name: 'diffusion',
  title: 'Diffusion Policy (state-based, conditional MLP with FiLM)',
  paper: 'Chi, Feng, Du, Xu, Cousineau, Burchfiel, Song, 2023, "Diffusion Policy: Visuomotor Policy Learning via Action Diffusion", RSS',
  defaultsFrom:
    'real-stanford/diffusion_policy low-dim configs (n_obs_steps 2, horizon 16, n_action_steps 8, DDPM 100 steps squaredcos_cap_v2, AdamW, EMA 0.75; lr 3e-3 instead of its 1e-4 and sampling temperature 0.5 instead of 1, both measured)',
  defaults: DIFFUSION_DEFAULTS,
  batch: (c) => ({ columns: [], sequenceLength: 1, chunk: { nObs: c.nObs, horizon: c.horizon, nAction: c.nAction } }),
  // diffusion_policy's lr_scheduler decays over all of training (cosine to 0 at the last update).
  runLength: (steps) => ({ maxSteps: steps }),
  // diffusion_policy normalizes observations (and actions, to [−1, 1]); rewards are not used.
  preprocessing: () => ({ normalizeObservations: true, reward: 'none', source: 'diffusion_policy LinearNormalizer: observations normalized; rewards unused' }),
  create: (task, config, seed, opts) => DiffusionPolicy.create(task, config, seed, opts),
};
