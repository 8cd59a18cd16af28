/**
 * Conservative Q-Learning, CQL(H) (Kumar et al., 2020) on SAC. Defaults: CORL cql.py (locomotion).
 * To SAC's TD loss each critic adds α_cql · E_s[ τ log Σ_j exp(Q(s, a_j)/τ) − Q(s, a) ], where the
 * a_j are N uniform actions, N policy actions at s and N policy actions at s' (all evaluated at s),
 * importance-weighted by their densities (log 0.5^|A| and log π):
 *   Q_rand − log U,  Q(s, a_cur) − log π(a_cur|s),  Q(s, a_next) − log π(a_next|s').
 * Each state's gap (log-sum-exp − Q(s, a)) is clipped to [clipDiffMin, clipDiffMax] before the mean.
 * With `maxTargetBackup` the TD target is max_j min_i Q'_i(s', a'_j) over N sampled next actions.
 * With `lagrange`, α' = exp(log α') is tuned so the gap tracks `targetActionGap`.
 * CQL_DEFAULTS are CORL cql.py's TrainConfig and its locomotion configs (cql_alpha 10, no
 * max-target backup, no clipping, orthogonal critic init).
 * Cal-QL (Nakamoto et al., 2023; see calql.ts) lower-bounds the policy-action Q-values by the
 * dataset's Monte-Carlo returns before the log-sum-exp: Q(s, a_cur/next) ← max(Q, G_MC(s)), until
 * startOnline() (calibrateOnline).
 */
import { type AnyTypedArray, type Graph, ParamLayout, type SessionOptions, type Tensor, adam, grad, params } from '../engine/index.js';
import { type ActorSpec, type CriticSpec, criticValues, sampleTanhGaussian, tanhGaussianLogProb } from '../nn/index.js';
import { type AlgoDescriptor, TRANSITIONS, without } from './descriptor.js';
import { GraphLearner, LearnerError, type TaskSpec } from './learner.js';
import { corlPreprocessing } from './preprocessing.js';
import { SAC_DEFAULTS, type SacConfig, buildSac, finishSac, initSacState, repeatRows, sacSpecs } from './sac.js';

/** mc_return for transitions without one (online data): max(Q, −1e30) = Q. */
export const NO_MC_BOUND = -1e30;

export interface CqlConfig extends SacConfig {
  nActions: number;
  importanceSample: boolean;
  /** α_cql, the weight of the conservative term. */
  cqlAlpha: number;
  /**
   * α_cql during online fine-tuning (CORL cal_ql `cql_alpha_online`); null keeps cqlAlpha. Fed
   * per step, so the same compiled graph serves both phases.
   */
  cqlAlphaOnline: number | null;
  temperature: number;
  lagrange: boolean;
  targetActionGap: number;
  alphaPrimeLr: number;
  /** The per-state gap logsumexp − Q(s, a) is clipped to [clipDiffMin, clipDiffMax] before its mean (CORL cql_clip_diff_min/max). */
  clipDiffMin: number;
  clipDiffMax: number;
  /**
   * TD target from the best of nActions sampled next actions, max_j min_i Q'_i(s', a'_j), instead
   * of one (CORL cql_max_target_backup).
   */
  maxTargetBackup: boolean;
  /** Cal-QL: bound policy-action Q-values below by Monte-Carlo returns (batch column mc_return). */
  calibrated: boolean;
  /**
   * Cal-QL after startOnline():
   *  - 'off' (default, CORL cal_ql.py `switch_calibration()` when fine-tuning starts): no row is
   *    bounded any more, offline or online; the conservative term is CQL's.
   *  - 'offline-rows': every row keeps the bound its mc_return gives: offline rows stay bounded by
   *    their Monte-Carlo return, online rows (mc_return = NO_MC_BOUND) are not bounded.
   */
  calibrateOnline: 'off' | 'offline-rows';
  /**
   * Updates whose actor objective is behaviour cloning, α log π(ã|s) − log π(a|s), before it
   * becomes α log π(ã|s) − min Q(s, ã) (CORL `bc_steps`; the original CQL code's
   * `policy_eval_start`). The critics train as usual throughout.
   */
  bcSteps: number;
}

export const CQL_DEFAULTS: CqlConfig = {
  ...SAC_DEFAULTS,
  updatesPerRun: 4, // 4 chained updates per session.run: measured faster (BENCHMARKS.md, Training speed by session setting) (SAC online keeps 1)
  actorLr: 3e-5, // CORL policy_lr
  criticLr: 3e-4, // CORL qf_lr
  alphaLr: 3e-5, // CORL tunes α with policy_lr
  backupEntropy: false,
  networkInit: 'orthogonal-critic', // CORL cql.py orthogonal_init: true (its policy keeps the default init)
  actorHidden: [256, 256, 256], // CORL: 3 hidden layers for the policy and q_n_hidden_layers = 3
  criticHidden: [256, 256, 256],
  nActions: 10,
  importanceSample: true,
  cqlAlpha: 10.0,
  cqlAlphaOnline: null,
  temperature: 1.0,
  lagrange: false,
  targetActionGap: -1.0,
  alphaPrimeLr: 3e-4,
  clipDiffMin: -Infinity, // CORL cql.py: cql_clip_diff_min/max ±inf, in TrainConfig and every offline config
  clipDiffMax: Infinity,
  maxTargetBackup: false, // CORL cql.py: cql_max_target_backup false
  calibrated: false,
  calibrateOnline: 'off',
  bcSteps: 0, // CORL default
};

const LOG_ALPHA_PRIME = new ParamLayout('log_alpha_prime', [{ name: 'value', shape: [1], init: { kind: 'constant', value: 1 } }]);

export class CQL extends GraphLearner {
  readonly algo: string;
  readonly specs: { actor: ActorSpec; critic: CriticSpec };
  readonly actorSpec: ActorSpec;

  protected constructor(
    task: TaskSpec,
    readonly cfg: CqlConfig,
    seed: number,
    opts?: SessionOptions,
  ) {
    super(task, cfg.batchSize, cfg, seed, opts);
    this.algo = cfg.calibrated ? 'calql' : 'cql';
    if (cfg.calibrateOnline !== 'off' && cfg.calibrateOnline !== 'offline-rows')
      throw new LearnerError(`calibrateOnline must be 'off' or 'offline-rows', got '${String(cfg.calibrateOnline)}'`);
    this.specs = sacSpecs(task, cfg);
    this.actorSpec = this.specs.actor;
  }

  static async create(task: TaskSpec, config: Partial<CqlConfig> = {}, seed = 0, opts?: SessionOptions): Promise<CQL> {
    const l = new CQL(task, { ...CQL_DEFAULTS, ...config }, seed, opts);
    await l.build(seed);
    return l;
  }

  protected async build(seed: number): Promise<void> {
    const { cfg, specs } = this;
    const g = this.updateGraph((g) => this.buildUpdate(g));
    initSacState(this, specs, cfg, seed);
    if (cfg.lagrange) this.initGroup('log_alpha_prime', LOG_ALPHA_PRIME, 0);
    await this.compile(g, 'step');
  }

  /** One CQL update: SAC's losses plus the conservative term. */
  private buildUpdate(g: Graph): void {
    const { cfg, specs } = this;
    const B = this.batchSize;
    const N = cfg.nActions;
    const A = this.task.actDim;
    const s = buildSac(this, g, specs, cfg, cfg.maxTargetBackup ? N : 0);

    // Sampled actions: uniform, policy at s, policy at s' (no gradient to the actor here).
    const obsN = repeatRows(g, s.obs, N);
    const nextN = repeatRows(g, s.next, N);
    // U(−max, max): CORL draws U(−1, 1) with max_action 1 on D4RL.
    const rand = this.noiseInput(g, 'cql_random', [B * N, A], 'uniform');
    const randAct = this.task.maxAction === 1 ? rand : g.mul(rand, this.task.maxAction);
    const cur = sampleTanhGaussian(g, specs.actor, s.actor.views, obsN, this.noiseInput(g, 'cql_current', [B * N, A]));
    const nxt = sampleTanhGaussian(g, specs.actor, s.actor.views, nextN, this.noiseInput(g, 'cql_next', [B * N, A]));
    const curAct = g.stopGradient(cur.action);
    const nxtAct = g.stopGradient(nxt.action);
    const curLogPi = g.reshape(g.stopGradient(cur.logProb), [B, N]);
    const nxtLogPi = g.reshape(g.stopGradient(nxt.logProb), [B, N]);

    // One critic pass over all 3N sampled actions per state (rows: rand | current | next).
    const qAll = criticValues(g, specs.critic, s.critic.views, g.concat([obsN, obsN, obsN], 0), g.concat([randAct, curAct, nxtAct], 0));
    let mcBound: Tensor | null = null;
    if (cfg.calibrated) {
      // calibration_offset is fed 0 (bound on) or NO_MC_BOUND (bound off for every row: max(Q, G − 1e30) = Q).
      mcBound = g.add(g.reshape(this.batchInput(g, 'mc_return'), [B, 1]), g.input('calibration_offset', []));
    }
    const randomDensity = -A * Math.log(2 * this.task.maxAction); // log of the uniform density
    let gapMin: Tensor | null = null;
    const diffs = qAll.map((q, i) => {
      const [qRand, qCur0, qNext0] = g.split(g.reshape(q, [3 * B, N]), [B, B, B], 0) as [Tensor, Tensor, Tensor];
      let qCur = qCur0;
      let qNext = qNext0;
      if (mcBound) {
        // Cal-QL: the conservative term never pushes policy actions below the MC return.
        qCur = g.maximum(qCur, mcBound);
        qNext = g.maximum(qNext, mcBound);
        if (i === 0) gapMin = g.reduceMax(g.neg(g.sub(g.concat([qCur, qNext], 1), mcBound)));
      }
      const qData = g.reshape(s.qData[i]!, [B, 1]);
      const cat = cfg.importanceSample ? g.concat([g.sub(qRand, randomDensity), g.sub(qNext, nxtLogPi), g.sub(qCur, curLogPi)], 1) : g.concat([qRand, qData, qNext, qCur], 1);
      const t = cfg.temperature;
      const ood = t === 1 ? g.logSumExp(cat, [1]) : g.mul(g.logSumExp(g.div(cat, t), [1]), t);
      const diff = g.sub(ood, g.reshape(qData, [B]));
      const clipped = Number.isFinite(cfg.clipDiffMin) || Number.isFinite(cfg.clipDiffMax) ? g.clip(diff, cfg.clipDiffMin, cfg.clipDiffMax) : diff;
      return g.reduceMean(clipped);
    });

    // α_cql is an input (a scalar fed each step) so the online phase can change it.
    const cqlAlpha = g.input('cql_alpha', []);
    let conservative: Tensor;
    if (cfg.lagrange) {
      const logAlphaPrime = params(g, LOG_ALPHA_PRIME).flat;
      const alphaPrime = g.clip(g.exp(logAlphaPrime), 0, 1e6);
      const terms = diffs.map((d) => g.mul(g.mul(alphaPrime, cqlAlpha), g.sub(d, cfg.targetActionGap)));
      const alphaPrimeLoss = g.mul(g.neg(g.add(terms[0]!, terms[1]!)), 0.5);
      g.output('alpha_prime_loss', g.reshape(alphaPrimeLoss, []));
      adam(g, logAlphaPrime, grad(g, g.reduceSum(alphaPrimeLoss), [logAlphaPrime])[0]!, { lr: cfg.alphaPrimeLr });
      const ap = g.stopGradient(alphaPrime);
      conservative = g.reshape(
        diffs.map((d) => g.mul(g.mul(ap, cqlAlpha), g.sub(d, cfg.targetActionGap))).reduce((a, b) => g.add(a, b)),
        [],
      );
    } else {
      conservative = g.mul(g.add(diffs[0]!, diffs[1]!), cqlAlpha);
    }
    g.output('cql_diff', g.mul(g.add(diffs[0]!, diffs[1]!), 0.5));
    if (gapMin) g.output('calql_bound_violation', gapMin);
    if (cfg.bcSteps > 0) {
      // BC warm-up: the weight is 1 for the first bcSteps updates, then 0 (fed each step).
      const w = g.input('bc_weight', []);
      const logPiData = tanhGaussianLogProb(g, specs.actor, s.actor.views, s.obs, s.act);
      const objective = g.add(g.mul(g.sub(1, w), s.qPi), g.mul(w, logPiData));
      s.actorLoss = g.reduceMean(g.sub(g.mul(g.stopGradient(s.alpha), s.piLogProb), objective));
    }
    finishSac(g, s, g.add(s.tdLoss, conservative), cfg);
  }

  private readonly bcWeight = new Float32Array(1);
  private readonly alphaFeed = new Float32Array(1);
  private readonly calibrationFeed = new Float32Array(1);
  private online = false;

  /** The online phase: α_cql becomes cqlAlphaOnline; Cal-QL's bound follows calibrateOnline. */
  startOnline(): void {
    this.online = true;
  }

  /** Whether the Monte-Carlo lower bound applies to the next update (Cal-QL). */
  get calibrating(): boolean {
    return this.cfg.calibrated && (!this.online || this.cfg.calibrateOnline === 'offline-rows');
  }

  protected override extraFeeds(offset: number): Record<string, AnyTypedArray> {
    this.alphaFeed[0] = this.online && this.cfg.cqlAlphaOnline !== null ? this.cfg.cqlAlphaOnline : this.cfg.cqlAlpha;
    const feeds: Record<string, AnyTypedArray> = { cql_alpha: this.alphaFeed };
    if (this.cfg.calibrated) {
      this.calibrationFeed[0] = this.calibrating ? 0 : NO_MC_BOUND;
      feeds.calibration_offset = this.calibrationFeed;
    }
    if (this.cfg.bcSteps > 0) {
      this.bcWeight[0] = this.t + offset < this.cfg.bcSteps ? 1 : 0;
      feeds.bc_weight = this.bcWeight;
    }
    return feeds;
  }
}

/** CQL's settings: Cal-QL's calibration switches are not among them. */
type CqlSettings = Omit<CqlConfig, 'calibrated' | 'calibrateOnline'>;

export const CQL_ALGO: AlgoDescriptor<CqlSettings, 'cql'> = {
  name: 'cql',
  title: 'Conservative Q-Learning, CQL(H) on SAC',
  paper: 'Kumar, Zhou, Tucker & Levine, 2020, "Conservative Q-Learning for Offline Reinforcement Learning", NeurIPS',
  defaultsFrom: 'CORL algorithms/offline/cql.py (TrainConfig and its locomotion configs)',
  defaults: without(CQL_DEFAULTS, 'calibrated', 'calibrateOnline'),
  batch: () => TRANSITIONS,
  // States normalized; the return-range rescaling on hopper-medium only, raw elsewhere; antmaze:
  // states raw, r × 10 − 5.
  preprocessing: (datasetId) =>
    corlPreprocessing(datasetId, {
      script: 'algorithms/offline/cql.py',
      configs: 'offline/cql',
      normalizeObservations: true,
      special: (key) => {
        if (key.env === 'hopper' && key.kind === 'medium') return { normalizeObservations: true, reward: 'episode-return-range' };
        if (key.env === 'antmaze') return { normalizeObservations: false, reward: { scale: 10, bias: -5 } };
        return null;
      },
    }),
  networks: (hidden) => ({ actorHidden: hidden, criticHidden: hidden }),
  create: (task, config, seed, opts) => CQL.create(task, { ...config, calibrated: false }, seed, opts),
};
