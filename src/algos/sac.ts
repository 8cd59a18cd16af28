/**
 * Soft Actor-Critic (Haarnoja et al., 2018, with automatic entropy tuning) — used online to train
 * the behaviour policies of our D4RL-style datasets, and the base of CQL / Cal-QL.
 *   actor:   L_π = E_s [α log π(ã|s) − min_i Q_i(s, ã)],  ã ~ π(·|s) (reparameterized)
 *   alpha:   L_α = −E [log α · (log π(ã|s) + H̄)],  H̄ = −|A|
 *   critic:  y = r + γ(1−d) (min_i Q'_i(s', ã') − α log π(ã'|s')),  L_Q = Σ_i E (Q_i(s,a) − y)²
 * All losses use the parameters before this step; targets follow the updated critics (Polyak).
 */
import { type Graph, type SessionOptions, type Tensor, adam, grad, params, polyak } from '../engine/index.js';
import { type ActorSpec, type CriticSpec, actorLayout, criticLayout, criticValues, minOf, sampleTanhGaussian } from '../nn/index.js';
import { ParamLayout } from '../engine/index.js';
import { type AlgoDescriptor, TRANSITIONS } from './descriptor.js';
import { GraphLearner, LearnerError, type TaskSpec } from './learner.js';

export interface SacConfig {
  batchSize: number;
  /** Updates chained in one session.run (see Learner.updatesPerRun). */
  updatesPerRun: number;
  discount: number;
  tau: number;
  actorLr: number;
  criticLr: number;
  alphaLr: number;
  /** Learn α towards the target entropy −|A|; otherwise α = alphaMultiplier. */
  autoAlpha: boolean;
  alphaMultiplier: number;
  /** Subtract α log π in the TD target (standard SAC: yes; CQL: no). */
  backupEntropy: boolean;
  actorHidden: number[];
  criticHidden: number[];
  /**
   * How the networks start (CORL's `orthogonal_init` means different things in its scripts):
   *  - 'default': PyTorch nn.Linear defaults, except the actor's last layer: xavier-uniform with
   *    gain 1e-2 (CORL's TanhGaussianPolicy). (CORL's critics with orthogonal_init false also
   *    start their last layer xavier 1e-2; our SAC keeps PyTorch's default there.)
   *  - 'orthogonal-critic': CORL cql.py with orthogonal_init true: the critics' hidden layers
   *    orthogonal with gain √2 and zero bias, their last layer orthogonal with gain 1e-2; the
   *    actor as 'default' (cql.py never passes the flag to its policy's init).
   *  - 'orthogonal': CORL cal_ql.py with orthogonal_init true: every Linear layer of the actor and
   *    of the critics, output layers included, orthogonal with gain √2 and zero bias.
   */
  networkInit: 'default' | 'orthogonal-critic' | 'orthogonal';
}

export const SAC_DEFAULTS: SacConfig = {
  batchSize: 256,
  updatesPerRun: 1,
  discount: 0.99,
  tau: 0.005,
  actorLr: 3e-4,
  criticLr: 3e-4,
  alphaLr: 3e-4,
  autoAlpha: true,
  alphaMultiplier: 1,
  backupEntropy: true,
  actorHidden: [256, 256],
  criticHidden: [256, 256],
  networkInit: 'default',
};

export function sacSpecs(task: TaskSpec, cfg: SacConfig): { actor: ActorSpec; critic: CriticSpec } {
  const actor: ActorSpec = { kind: 'tanh-gaussian', obsDim: task.obsDim, actDim: task.actDim, hidden: cfg.actorHidden, maxAction: task.maxAction };
  const critic: CriticSpec = { obsDim: task.obsDim, actDim: task.actDim, hidden: cfg.criticHidden, ensemble: 2 };
  switch (cfg.networkInit) {
    case 'default':
      // CORL's TanhGaussianPolicy: default hidden init, last layer xavier-uniform 1e-2; critics: PyTorch defaults.
      return { actor: { ...actor, last: { xavier: 1e-2 } }, critic };
    case 'orthogonal-critic':
      // CORL cql.py: critic hidden orthogonal √2, critic last orthogonal 1e-2; the policy as 'default'.
      return { actor: { ...actor, last: { xavier: 1e-2 } }, critic: { ...critic, init: { orthogonal: Math.SQRT2 }, last: { orthogonal: 1e-2 } } };
    case 'orthogonal':
      // CORL cal_ql.py: init_module_weights(m, True) on every Linear module, the output layers too.
      return { actor: { ...actor, init: { orthogonal: Math.SQRT2 } }, critic: { ...critic, init: { orthogonal: Math.SQRT2 } } };
    default:
      throw new LearnerError(`networkInit must be 'default', 'orthogonal-critic' or 'orthogonal', got '${String(cfg.networkInit)}'`);
  }
}

/** Repeats each row N times: [B, D] → [B·N, D] (torch repeat_interleave on dim 0). */
export function repeatRows(g: Graph, x: Tensor, n: number): Tensor {
  const [b, d] = x.shape as [number, number];
  return g.reshape(g.expand(g.reshape(x, [b, 1, d]), [b, n, d]), [b * n, d]);
}

const LOG_ALPHA_LAYOUT = new ParamLayout('log_alpha', [{ name: 'value', shape: [1], init: { kind: 'constant', value: 0 } }]);

/** The SAC pieces of one training graph, before the optimizers are attached. */
export interface SacGraph {
  obs: Tensor;
  act: Tensor;
  next: Tensor;
  actor: { flat: Tensor; views: Record<string, Tensor> };
  critic: { flat: Tensor; views: Record<string, Tensor> };
  criticTarget: { flat: Tensor; views: Record<string, Tensor> };
  logAlpha: Tensor | null;
  alpha: Tensor;
  /** Q_i(s, a) of the dataset actions, one per critic. */
  qData: Tensor[];
  /** log π(ã|s) and min_i Q_i(s, ã) of the reparameterized policy action (the actor objective's parts). */
  piLogProb: Tensor;
  qPi: Tensor;
  actorLoss: Tensor;
  alphaLoss: Tensor | null;
  /** Σ_i mean (Q_i(s,a) − y)². */
  tdLoss: Tensor;
}

/**
 * `maxTargetBackup` = N > 0: the TD target takes, per next state, the largest min_i Q'_i over N
 * sampled next actions (CORL cql_max_target_backup; with backupEntropy, the log π of that action).
 */
export function buildSac(l: GraphLearner, g: Graph, specs: { actor: ActorSpec; critic: CriticSpec }, cfg: SacConfig, maxTargetBackup = 0): SacGraph {
  const actor = params(g, actorLayout(specs.actor), 'actor');
  const critic = params(g, criticLayout(specs.critic), 'critic');
  const criticTarget = params(g, criticLayout(specs.critic), 'critic_target');
  const obs = l.batchInput(g, 'obs');
  const act = l.batchInput(g, 'act');
  const rew = l.batchInput(g, 'rew');
  const next = l.batchInput(g, 'next_obs');
  const done = l.batchInput(g, 'done');
  const B = l.batchSize;
  const A = specs.actor.actDim;

  let logAlpha: Tensor | null = null;
  let alpha: Tensor;
  if (cfg.autoAlpha) {
    logAlpha = params(g, LOG_ALPHA_LAYOUT).flat;
    alpha = g.mul(g.exp(logAlpha), cfg.alphaMultiplier);
  } else {
    alpha = g.constant(cfg.alphaMultiplier, [1]);
  }
  const alphaC = g.stopGradient(alpha);

  // Actor and temperature.
  const pi = sampleTanhGaussian(g, specs.actor, actor.views, obs, l.noiseInput(g, 'pi', [B, A]));
  const qPi = minOf(g, criticValues(g, specs.critic, critic.views, obs, pi.action));
  const actorLoss = g.reduceMean(g.sub(g.mul(alphaC, pi.logProb), qPi));
  const alphaLoss = logAlpha ? g.neg(g.reduceMean(g.mul(logAlpha, g.stopGradient(g.sub(pi.logProb, A))))) : null;

  // Critic TD target from the target critics at a fresh next action.
  let qNext: Tensor;
  if (maxTargetBackup > 0) {
    const N = maxTargetBackup;
    const nextN = repeatRows(g, next, N);
    const nextPi = sampleTanhGaussian(g, specs.actor, actor.views, nextN, l.noiseInput(g, 'next_pi', [B * N, A]));
    const qN = g.reshape(minOf(g, criticValues(g, specs.critic, criticTarget.views, nextN, nextPi.action)), [B, N]);
    const qMax = g.reduceMax(qN, [1], true);
    qNext = g.reshape(qMax, [B]);
    if (cfg.backupEntropy) {
      // log π of the maximizing action (torch.gather at the argmax; exact ties are measure-zero).
      const logPiN = g.reshape(nextPi.logProb, [B, N]);
      const atMax = g.reduceMax(g.where(g.equal(qN, qMax), logPiN, -3e38), [1]);
      qNext = g.sub(qNext, g.mul(alphaC, atMax));
    }
  } else {
    const nextPi = sampleTanhGaussian(g, specs.actor, actor.views, next, l.noiseInput(g, 'next_pi', [B, A]));
    qNext = minOf(g, criticValues(g, specs.critic, criticTarget.views, next, nextPi.action));
    if (cfg.backupEntropy) qNext = g.sub(qNext, g.mul(alphaC, nextPi.logProb));
  }
  const y = g.stopGradient(g.add(rew, g.mul(g.mul(g.sub(1, done), cfg.discount), qNext)));
  const qData = criticValues(g, specs.critic, critic.views, obs, act);
  const tdLoss = qData.map((q) => g.reduceMean(g.square(g.sub(q, y)))).reduce((a, b) => g.add(a, b));
  return { obs, act, next, actor, critic, criticTarget, logAlpha, alpha, qData, piLogProb: pi.logProb, qPi, actorLoss, alphaLoss, tdLoss };
}

/** Attaches the optimizers and target update; emits the metrics. */
export function finishSac(g: Graph, s: SacGraph, criticLoss: Tensor, cfg: SacConfig): void {
  g.output('actor_loss', s.actorLoss);
  g.output('critic_loss', criticLoss);
  g.output('alpha', g.reshape(s.alpha, []));
  g.output('q_mean', g.reduceMean(s.qData[0]!));
  const a = adam(g, s.actor.flat, grad(g, s.actorLoss, [s.actor.flat])[0]!, { lr: cfg.actorLr });
  const c = adam(g, s.critic.flat, grad(g, criticLoss, [s.critic.flat])[0]!, { lr: cfg.criticLr });
  g.output('actor_grad_norm', a.gradNorm);
  g.output('critic_grad_norm', c.gradNorm);
  if (s.logAlpha && s.alphaLoss) {
    g.output('alpha_loss', s.alphaLoss);
    adam(g, s.logAlpha, grad(g, s.alphaLoss, [s.logAlpha])[0]!, { lr: cfg.alphaLr });
  }
  polyak(g, s.criticTarget.flat, c.params, cfg.tau);
}

/** Initial actor, critics, critic targets and temperature. */
export function initSacState(l: GraphLearner, specs: { actor: ActorSpec; critic: CriticSpec }, cfg: SacConfig, seed: number): void {
  l.initGroup('actor', actorLayout(specs.actor), seed);
  l.initGroup('critic', criticLayout(specs.critic), seed + 1);
  l.initTarget('critic_target', 'critic');
  if (cfg.autoAlpha) l.initGroup('log_alpha', LOG_ALPHA_LAYOUT, 0);
}

export class SAC extends GraphLearner {
  readonly algo = 'sac';
  readonly specs: { actor: ActorSpec; critic: CriticSpec };
  readonly actorSpec: ActorSpec;

  private constructor(
    task: TaskSpec,
    readonly cfg: SacConfig,
    seed: number,
    opts?: SessionOptions,
  ) {
    super(task, cfg.batchSize, cfg, seed, opts);
    this.specs = sacSpecs(task, cfg);
    this.actorSpec = this.specs.actor;
  }

  static async create(task: TaskSpec, config: Partial<SacConfig> = {}, seed = 0, opts?: SessionOptions): Promise<SAC> {
    const l = new SAC(task, { ...SAC_DEFAULTS, ...config }, seed, opts);
    const g = l.updateGraph((g) => {
      const s = buildSac(l, g, l.specs, l.cfg);
      finishSac(g, s, s.tdLoss, l.cfg);
    });
    initSacState(l, l.specs, l.cfg, seed);
    await l.compile(g, 'step');
    return l;
  }
}

export const SAC_ALGO: AlgoDescriptor<SacConfig, 'sac'> = {
  name: 'sac',
  title: 'Soft Actor-Critic (online; the behaviour policies of our dataset recipes)',
  paper:
    'Haarnoja, Zhou, Abbeel & Levine, 2018, "Soft Actor-Critic: Off-Policy Maximum Entropy Deep Reinforcement Learning with a Stochastic Actor", ICML; automatic entropy tuning: Haarnoja et al., 2018, "Soft Actor-Critic Algorithms and Applications", arXiv:1812.05905',
  defaultsFrom: 'the SAC papers (2x256, Adam 3e-4, τ 0.005, learned α towards −|A|)',
  defaults: SAC_DEFAULTS,
  batch: () => TRANSITIONS,
  preprocessing: () => ({ normalizeObservations: true, reward: 'none', source: 'states normalized, rewards raw (no reference config)' }),
  networks: (hidden) => ({ actorHidden: hidden, criticHidden: hidden }),
  create: (task, config, seed, opts) => SAC.create(task, config, seed, opts),
};
