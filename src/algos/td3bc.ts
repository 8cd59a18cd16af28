/**
 * TD3+BC (Fujimoto & Gu, 2021, "A Minimalist Approach to Offline RL"). Defaults: CORL td3_bc.py.
 *   critic:  y = r + γ(1−d) min_i Q'_i(s', clip(π'(s') + clip(σε, −c, c), −max, max))
 *            L_Q = Σ_i E (Q_i(s,a) − y)²
 *   actor (every `policyFreq` steps, after the critic step):
 *            λ = α / mean|Q_1(s, π(s))|  (no gradient through λ)
 *            L_π = −λ E Q_1(s, π(s)) + E_(s,a) (1/|A|) ‖π(s) − a‖²
 *            — the behaviour-cloning term is the mean over batch × action dimensions, as the
 *            paper's code and CORL (F.mse_loss(pi, action)); a sum over the action dimensions
 *            would make it |A| times larger, i.e. CORL with α / |A|.
 *   targets: θ' ← τθ + (1−τ)θ' for the actor and both critics, on actor steps.
 * Two graphs share one state store: critic-only steps and critic+actor steps.
 */
import { Graph, type SessionOptions, type Tensor, adam, grad, params, polyak, unflatten } from '../engine/index.js';
import { type ActorSpec, type CriticSpec, actorLayout, actorMean, criticLayout, criticValues, minOf } from '../nn/index.js';
import { type AlgoDescriptor, TRANSITIONS } from './descriptor.js';
import { GraphLearner, LearnerError, type StepGraph, type TaskSpec } from './learner.js';
import { corlPreprocessing } from './preprocessing.js';

export interface Td3BcConfig {
  batchSize: number;
  /** Updates chained in one session.run (see Learner.updatesPerRun). */
  updatesPerRun: number;
  discount: number;
  tau: number;
  actorLr: number;
  criticLr: number;
  /** Target policy smoothing noise σ and its clip c, as fractions of maxAction. */
  policyNoise: number;
  noiseClip: number;
  policyFreq: number;
  /** α in λ = α / mean|Q|. */
  alpha: number;
  hidden: number[];
}

export const TD3BC_DEFAULTS: Td3BcConfig = {
  batchSize: 256,
  updatesPerRun: 4, // 4 chained updates per session.run: measured faster (BENCHMARKS.md, Training speed by session setting)
  discount: 0.99,
  tau: 0.005,
  actorLr: 3e-4,
  criticLr: 3e-4,
  policyNoise: 0.2,
  noiseClip: 0.5,
  policyFreq: 2,
  alpha: 2.5,
  hidden: [256, 256],
};

export class TD3BC extends GraphLearner {
  readonly algo = 'td3bc';
  readonly actorSpec: ActorSpec;
  readonly criticSpec: CriticSpec;

  private constructor(
    task: TaskSpec,
    readonly cfg: Td3BcConfig,
    seed: number,
    opts?: SessionOptions,
  ) {
    super(task, cfg.batchSize, cfg, seed, opts);
    this.actorSpec = { kind: 'deterministic', obsDim: task.obsDim, actDim: task.actDim, hidden: cfg.hidden, maxAction: task.maxAction };
    this.criticSpec = { obsDim: task.obsDim, actDim: task.actDim, hidden: cfg.hidden, ensemble: 2 };
  }

  static async create(task: TaskSpec, config: Partial<Td3BcConfig> = {}, seed = 0, opts?: SessionOptions): Promise<TD3BC> {
    const l = new TD3BC(task, { ...TD3BC_DEFAULTS, ...config }, seed, opts);
    await l.build(seed);
    return l;
  }

  /** The critic update; returns the updated critic parameters for the actor loss. */
  private criticUpdate(g: Graph): { critic: Tensor; obs: Tensor; act: Tensor; criticTarget: Tensor; actorTarget: Tensor } {
    const { cfg, task } = this;
    const aL = actorLayout(this.actorSpec);
    const cL = criticLayout(this.criticSpec);
    const critic = params(g, cL, 'critic');
    const criticT = params(g, cL, 'critic_target');
    const actorT = params(g, aL, 'actor_target');
    const obs = this.batchInput(g, 'obs');
    const act = this.batchInput(g, 'act');
    const rew = this.batchInput(g, 'rew');
    const next = this.batchInput(g, 'next_obs');
    const done = this.batchInput(g, 'done');
    const eps = this.noiseInput(g, 'target_policy', [this.batchSize, task.actDim]);

    const max = task.maxAction;
    const smoothing = g.clip(g.mul(eps, cfg.policyNoise * max), -cfg.noiseClip * max, cfg.noiseClip * max);
    const nextAct = g.clip(g.add(actorMean(g, this.actorSpec, actorT.views, next), smoothing), -max, max);
    const qNext = minOf(g, criticValues(g, this.criticSpec, criticT.views, next, nextAct));
    const y = g.stopGradient(g.add(rew, g.mul(g.mul(g.sub(1, done), cfg.discount), qNext)));
    const qs = criticValues(g, this.criticSpec, critic.views, obs, act);
    const criticLoss = qs.map((q) => g.reduceMean(g.square(g.sub(q, y)))).reduce((a, b) => g.add(a, b));
    g.output('critic_loss', criticLoss);
    g.output('q_mean', g.reduceMean(qs[0]!));
    const upd = adam(g, critic.flat, grad(g, criticLoss, [critic.flat])[0]!, { lr: cfg.criticLr });
    g.output('critic_grad_norm', upd.gradNorm);
    return { critic: upd.params, obs, act, criticTarget: criticT.flat, actorTarget: actorT.flat };
  }

  /** One update: the critic's, and every `policyFreq`-th also the actor's and the targets'. */
  private buildUpdate(g: Graph, withActor: boolean): void {
    const { cfg } = this;
    const { critic: criticNew, obs, act, criticTarget, actorTarget } = this.criticUpdate(g);
    if (!withActor) return;
    const aL = actorLayout(this.actorSpec);
    const cL = criticLayout(this.criticSpec);
    const actor = params(g, aL, 'actor');
    const pi = actorMean(g, this.actorSpec, actor.views, obs);
    const q1 = criticValues(g, { ...this.criticSpec, ensemble: 1 }, unflatten(g, cL, g.stopGradient(criticNew)), obs, pi)[0]!;
    const lambda = g.stopGradient(g.div(cfg.alpha, g.reduceMean(g.abs(q1))));
    const actorLoss = g.add(g.neg(g.mul(lambda, g.reduceMean(q1))), g.reduceMean(g.square(g.sub(pi, act))));
    g.output('actor_loss', actorLoss);
    const aUpd = adam(g, actor.flat, grad(g, actorLoss, [actor.flat])[0]!, { lr: cfg.actorLr });
    g.output('actor_grad_norm', aUpd.gradNorm);
    polyak(g, criticTarget, criticNew, cfg.tau);
    polyak(g, actorTarget, aUpd.params, cfg.tau);
  }

  private async build(seed: number): Promise<void> {
    const { cfg } = this;
    const K = this.updatesPerRun;
    this.initGroup('actor', actorLayout(this.actorSpec), seed);
    this.initGroup('critic', criticLayout(this.criticSpec), seed + 1);
    this.initTarget('actor_target', 'actor');
    this.initTarget('critic_target', 'critic');
    if (K > 1 && K % cfg.policyFreq !== 0)
      throw new LearnerError(`td3bc: updatesPerRun ${K} must be a multiple of policyFreq ${cfg.policyFreq}, so every run has the same critic/actor pattern`);
    // Single updates (also on a chained learner: update() runs them, e.g. the trainer's last, shorter run).
    const gc = new Graph();
    this.buildUpdate(gc, false);
    const g = new Graph();
    this.buildUpdate(g, true);
    await this.compile(gc, 'critic'); // graphs[0]
    await this.compile(g, 'critic+actor'); // graphs[1]
    if (K === 1) return;
    // Chained: update k moves the actor when (k + 1) % policyFreq = 0 (runs start at multiples of it).
    const chained = this.updateGraph((g, k) => this.buildUpdate(g, (k + 1) % cfg.policyFreq === 0), cfg.policyFreq - 1, false);
    await this.compile(chained, `${K} updates`); // graphs[2]
  }

  /** The actor and the targets move every `policyFreq` steps (critic+actor graph), else critic only. */
  protected override nextGraph(): StepGraph {
    if (this.updatesPerRun > 1) {
      if (this.t % this.cfg.policyFreq !== 0)
        throw new LearnerError(`td3bc: a chained run must start at a multiple of policyFreq (${this.cfg.policyFreq}); this learner is at update ${this.t}`);
      return this.graphs[2]!;
    }
    return this.singleGraph();
  }

  protected override singleGraph(): StepGraph {
    return this.graphs[(this.t + 1) % this.cfg.policyFreq === 0 ? 1 : 0]!;
  }

  override flopsPerUpdate(): number {
    if (this.updatesPerRun > 1) return this.graphs[2]!.flops / this.updatesPerRun;
    return (this.graphs[0]!.flops * (this.cfg.policyFreq - 1) + this.graphs[1]!.flops) / this.cfg.policyFreq;
  }
}

export const TD3BC_ALGO: AlgoDescriptor<Td3BcConfig, 'td3bc'> = {
  name: 'td3bc',
  title: 'TD3+BC',
  paper: 'Fujimoto & Gu, 2021, "A Minimalist Approach to Offline Reinforcement Learning", NeurIPS',
  defaultsFrom: 'CORL algorithms/offline/td3_bc.py',
  defaults: TD3BC_DEFAULTS,
  batch: () => TRANSITIONS,
  // States normalized, rewards raw (every locomotion config); antmaze: r − 1.
  preprocessing: (datasetId) =>
    corlPreprocessing(datasetId, {
      script: 'algorithms/offline/td3_bc.py',
      configs: 'offline/td3_bc',
      normalizeObservations: true,
      special: (key) => (key.env === 'antmaze' ? { normalizeObservations: true, reward: { scale: 1, bias: -1 } } : null),
    }),
  networks: (hidden) => ({ hidden }),
  create: (task, config, seed, opts) => TD3BC.create(task, config, seed, opts),
};
