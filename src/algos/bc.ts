/**
 * Behaviour cloning: regress the dataset's actions with a deterministic policy.
 * Defaults follow CORL's any_percent_bc (2x256 MLP, Adam 3e-4, batch 256, all the data).
 *   L(θ) = E_(s,a)~D (1/|A|) ‖π_θ(s) − a‖²   (mean over batch × action dimensions, CORL's F.mse_loss)
 */
import { type SessionOptions, adam, grad, params } from '../engine/index.js';
import { type ActorSpec, actorLayout, actorMean } from '../nn/index.js';
import { type AlgoDescriptor, TRANSITIONS } from './descriptor.js';
import { GraphLearner, type TaskSpec } from './learner.js';

export interface BcConfig {
  batchSize: number;
  /** Updates chained in one session.run (see Learner.updatesPerRun). */
  updatesPerRun: number;
  actorLr: number;
  hidden: number[];
}

// updatesPerRun 4: measured faster (BENCHMARKS.md, Training speed by session setting)
export const BC_DEFAULTS: BcConfig = { batchSize: 256, updatesPerRun: 4, actorLr: 3e-4, hidden: [256, 256] };

export class BC extends GraphLearner {
  readonly algo = 'bc';
  readonly actorSpec: ActorSpec;

  private constructor(
    task: TaskSpec,
    readonly cfg: BcConfig,
    seed: number,
    opts?: SessionOptions,
  ) {
    super(task, cfg.batchSize, cfg, seed, opts);
    this.actorSpec = { kind: 'deterministic', obsDim: task.obsDim, actDim: task.actDim, hidden: cfg.hidden, maxAction: task.maxAction };
  }

  static async create(task: TaskSpec, config: Partial<BcConfig> = {}, seed = 0, opts?: SessionOptions): Promise<BC> {
    const l = new BC(task, { ...BC_DEFAULTS, ...config }, seed, opts);
    await l.build(seed);
    return l;
  }

  private async build(seed: number): Promise<void> {
    const layout = actorLayout(this.actorSpec);
    const g = this.updateGraph((g) => {
      const actor = params(g, layout);
      const obs = this.batchInput(g, 'obs');
      const act = this.batchInput(g, 'act');
      const loss = g.reduceMean(g.square(g.sub(actorMean(g, this.actorSpec, actor.views, obs), act)));
      g.output('actor_loss', loss);
      const { gradNorm } = adam(g, actor.flat, grad(g, loss, [actor.flat])[0]!, { lr: this.cfg.actorLr });
      g.output('actor_grad_norm', gradNorm);
    });
    this.initGroup('actor', layout, seed);
    await this.compile(g, 'step');
  }
}

export const BC_ALGO: AlgoDescriptor<BcConfig, 'bc'> = {
  name: 'bc',
  title: 'Behaviour cloning',
  paper: 'Pomerleau, 1991, "Efficient Training of Artificial Neural Networks for Autonomous Navigation", Neural Computation',
  defaultsFrom: 'CORL algorithms/offline/any_percent_bc.py',
  defaults: BC_DEFAULTS,
  batch: () => TRANSITIONS,
  // CORL any_percent_bc.py: normalize true; rewards unused.
  preprocessing: () => ({ normalizeObservations: true, reward: 'none', source: 'CORL algorithms/offline/any_percent_bc.py: normalize true, rewards unused' }),
  networks: (hidden) => ({ hidden }),
  create: (task, config, seed, opts) => BC.create(task, config, seed, opts),
};
