/**
 * Implicit Q-Learning (Kostrikov, Nair & Levine, 2022). Defaults: CORL iql.py (locomotion).
 *   value:   L_V = E |τ − 1(u < 0)| u²,  u = min_i Q'_i(s, a) − V(s)          (expectile τ = 0.7)
 *   critic:  L_Q = ½ Σ_i E (Q_i(s, a) − r − γ(1 − d) V(s'))²                  (V before its update)
 *   actor:   L_π = −E min(exp(β u), 100) · log π(a | s)                        (β = 3, AWR)
 *   target:  θ' ← τ_p θ + (1 − τ_p) θ' after the critic step (τ_p = 0.005)
 * The actor's learning rate follows a cosine decay over `maxSteps` (CORL: CosineAnnealingLR).
 * All three updates are one graph; one session.run per step.
 */
import { type SessionOptions, adam, grad, params, polyak } from '../engine/index.js';
import { type ActorSpec, type CriticSpec, actorLayout, criticLayout, criticValues, gaussianLogProb, minOf } from '../nn/index.js';
import type { AnyTypedArray } from '../engine/index.js';
import { type AlgoDescriptor, TRANSITIONS } from './descriptor.js';
import { GraphLearner, type TaskSpec } from './learner.js';
import { corlPreprocessing } from './preprocessing.js';

export interface IqlConfig {
  batchSize: number;
  /** Updates chained in one session.run (see Learner.updatesPerRun). */
  updatesPerRun: number;
  discount: number;
  tau: number;
  expectile: number;
  /** Inverse temperature β of the advantage weights. */
  temperature: number;
  maxWeight: number;
  actorLr: number;
  criticLr: number;
  valueLr: number;
  /** Steps over which the actor's learning rate decays to 0 (cosine); 0 disables the decay. */
  maxSteps: number;
  hidden: number[];
}

export const IQL_DEFAULTS: IqlConfig = {
  batchSize: 256,
  updatesPerRun: 4, // 4 chained updates per session.run: measured faster (BENCHMARKS.md, Training speed by session setting)
  discount: 0.99,
  tau: 0.005,
  expectile: 0.7,
  temperature: 3.0,
  maxWeight: 100,
  actorLr: 3e-4,
  criticLr: 3e-4,
  valueLr: 3e-4,
  maxSteps: 1_000_000,
  hidden: [256, 256],
};

export class IQL extends GraphLearner {
  readonly algo = 'iql';
  readonly actorSpec: ActorSpec;
  readonly criticSpec: CriticSpec;
  readonly valueSpec: CriticSpec;
  private readonly actorLr = new Float32Array(1);

  private constructor(
    task: TaskSpec,
    readonly cfg: IqlConfig,
    seed: number,
    opts?: SessionOptions,
  ) {
    super(task, cfg.batchSize, cfg, seed, opts);
    this.actorSpec = { kind: 'gaussian', obsDim: task.obsDim, actDim: task.actDim, hidden: cfg.hidden, maxAction: task.maxAction };
    this.criticSpec = { obsDim: task.obsDim, actDim: task.actDim, hidden: cfg.hidden, ensemble: 2 };
    this.valueSpec = { obsDim: task.obsDim, actDim: 0, hidden: cfg.hidden, ensemble: 1 };
  }

  static async create(task: TaskSpec, config: Partial<IqlConfig> = {}, seed = 0, opts?: SessionOptions): Promise<IQL> {
    const l = new IQL(task, { ...IQL_DEFAULTS, ...config }, seed, opts);
    await l.build(seed);
    return l;
  }

  private async build(seed: number): Promise<void> {
    const { cfg } = this;
    const aL = actorLayout(this.actorSpec);
    const cL = criticLayout(this.criticSpec);
    const vL = criticLayout(this.valueSpec, 'value');
    const g = this.updateGraph((g) => {
      const actor = params(g, aL, 'actor');
      const critic = params(g, cL, 'critic');
      const criticT = params(g, cL, 'critic_target');
      const value = params(g, vL, 'value');
      const obs = this.batchInput(g, 'obs');
      const act = this.batchInput(g, 'act');
      const rew = this.batchInput(g, 'rew');
      const next = this.batchInput(g, 'next_obs');
      const done = this.batchInput(g, 'done');
      const actorLr = g.input('actor_lr', []);

      // Value: expectile regression towards the target critics.
      const qT = g.stopGradient(minOf(g, criticValues(g, this.criticSpec, criticT.views, obs, act)));
      const v = criticValues(g, this.valueSpec, value.views, obs)[0]!;
      const u = g.sub(qT, v);
      const weight = g.abs(g.sub(cfg.expectile, g.cast(g.less(u, 0), 'float32')));
      const valueLoss = g.reduceMean(g.mul(weight, g.square(u)));

      // Critic: TD towards V(s') (the value network before this step's update).
      const vNext = g.stopGradient(criticValues(g, this.valueSpec, value.views, next)[0]!);
      const y = g.add(rew, g.mul(g.mul(g.sub(1, done), cfg.discount), vNext));
      const qs = criticValues(g, this.criticSpec, critic.views, obs, act);
      const criticLoss = g.div(
        qs.map((q) => g.reduceMean(g.square(g.sub(q, y)))).reduce((a, b) => g.add(a, b)),
        qs.length,
      );

      // Actor: advantage-weighted regression.
      const w = g.stopGradient(g.minimum(g.exp(g.mul(u, cfg.temperature)), cfg.maxWeight));
      const logProb = gaussianLogProb(g, this.actorSpec, actor.views, obs, this.task.maxAction === 1 ? act : g.div(act, this.task.maxAction));
      const actorLoss = g.reduceMean(g.neg(g.mul(w, logProb)));

      g.output('value_loss', valueLoss);
      g.output('critic_loss', criticLoss);
      g.output('actor_loss', actorLoss);
      g.output('q_mean', g.reduceMean(qs[0]!));
      const vUpd = adam(g, value.flat, grad(g, valueLoss, [value.flat])[0]!, { lr: cfg.valueLr });
      const cUpd = adam(g, critic.flat, grad(g, criticLoss, [critic.flat])[0]!, { lr: cfg.criticLr });
      const aUpd = adam(g, actor.flat, grad(g, actorLoss, [actor.flat])[0]!, { lr: actorLr });
      g.output('value_grad_norm', vUpd.gradNorm);
      g.output('critic_grad_norm', cUpd.gradNorm);
      g.output('actor_grad_norm', aUpd.gradNorm);
      polyak(g, criticT.flat, cUpd.params, cfg.tau);
    });

    this.initGroup('actor', aL, seed);
    this.initGroup('critic', cL, seed + 1);
    this.initGroup('value', vL, seed + 2);
    this.initTarget('critic_target', 'critic');
    await this.compile(g, 'step');
  }

  /** CosineAnnealingLR(T_max = maxSteps, eta_min = 0), as stepped once per update. */
  private scheduledActorLr(t: number): number {
    const { actorLr, maxSteps } = this.cfg;
    if (maxSteps <= 0) return actorLr;
    return (actorLr * (1 + Math.cos((Math.PI * Math.min(t, maxSteps)) / maxSteps))) / 2;
  }

  protected override extraFeeds(offset: number): Record<string, AnyTypedArray> {
    this.actorLr[0] = this.scheduledActorLr(this.t + offset);
    return { actor_lr: this.actorLr };
  }
}

export const IQL_ALGO: AlgoDescriptor<IqlConfig, 'iql'> = {
  name: 'iql',
  title: 'Implicit Q-Learning',
  paper: 'Kostrikov, Nair & Levine, 2022, "Offline Reinforcement Learning with Implicit Q-Learning", ICLR',
  defaultsFrom: 'CORL algorithms/offline/iql.py (locomotion)',
  defaults: IQL_DEFAULTS,
  batch: () => TRANSITIONS,
  // States normalized; rewards × maxEpisodeSteps / (max return − min return) on hopper-medium and
  // hopper-medium-replay only, raw elsewhere; antmaze: r − 1.
  preprocessing: (datasetId) =>
    corlPreprocessing(datasetId, {
      script: 'algorithms/offline/iql.py',
      configs: 'offline/iql',
      normalizeObservations: true,
      special: (key) => {
        if (key.env === 'hopper' && (key.kind === 'medium' || key.kind === 'medium-replay')) return { normalizeObservations: true, reward: 'episode-return-range' };
        if (key.env === 'antmaze') return { normalizeObservations: true, reward: { scale: 1, bias: -1 } };
        return null;
      },
    }),
  networks: (hidden) => ({ hidden }),
  create: (task, config, seed, opts) => IQL.create(task, config, seed, opts),
};
