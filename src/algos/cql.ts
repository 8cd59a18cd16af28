/**
 * Conservative Q-Learning, CQL(H) (Kumar et al., 2020) on SAC. Defaults: CORL cql.py (locomotion).
 * To SAC's TD loss each critic adds α_cql · E_s[ τ log Σ_j exp(Q(s, a_j)/τ) − Q(s, a) ], where the
 * a_j are N uniform actions, N policy actions at s and N policy actions at s' (all evaluated at s),
 * importance-weighted by their densities (log 0.5^|A| and log π):
 *   Q_rand − log U,  Q(s, a_cur) − log π(a_cur|s),  Q(s, a_next) − log π(a_next|s').
 * With `lagrange`, α' = exp(log α') is tuned so the gap tracks `targetActionGap`.
 * Cal-QL (Nakamoto et al., 2023; see calql.ts) lower-bounds the policy-action Q-values by the
 * dataset's Monte-Carlo returns before the log-sum-exp: Q(s, a_cur/next) ← max(Q, G_MC(s)).
 */
import { type AnyTypedArray, Graph, ParamLayout, type SessionOptions, type Tensor, adam, grad, params } from '../engine/index.js';
import { type ActorSpec, type CriticSpec, actorLayout, criticValues, sampleTanhGaussian, tanhGaussianLogProb } from '../nn/index.js';
import { GraphLearner, type TaskSpec } from './learner.js';
import { SAC_DEFAULTS, type SacConfig, buildSac, finishSac, initSacState, sacSpecs } from './sac.js';

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
  clipDiffMin: number;
  clipDiffMax: number;
  /** Cal-QL: bound policy-action Q-values below by Monte-Carlo returns (batch column mc_return). */
  calibrated: boolean;
  /**
   * Updates whose actor objective is behaviour cloning, α log π(ã|s) − log π(a|s), before it
   * becomes α log π(ã|s) − min Q(s, ã) (CORL `bc_steps`; the original CQL code's
   * `policy_eval_start`). The critics train as usual throughout.
   */
  bcSteps: number;
}

export const CQL_DEFAULTS: CqlConfig = {
  ...SAC_DEFAULTS,
  actorLr: 3e-5, // CORL policy_lr
  criticLr: 3e-4, // CORL qf_lr
  alphaLr: 3e-5, // CORL tunes α with policy_lr
  backupEntropy: false,
  orthogonalInit: true,
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
  clipDiffMin: -Infinity,
  clipDiffMax: Infinity,
  calibrated: false,
  bcSteps: 0, // CORL default
};

const LOG_ALPHA_PRIME = new ParamLayout('log_alpha_prime', [{ name: 'value', shape: [1], init: { kind: 'constant', value: 1 } }]);

/** Repeats each row N times: [B, D] → [B·N, D] (torch repeat_interleave on dim 0). */
function repeatRows(g: Graph, x: Tensor, n: number): Tensor {
  const [b, d] = x.shape as [number, number];
  return g.reshape(g.expand(g.reshape(x, [b, 1, d]), [b, n, d]), [b * n, d]);
}

export class CQL extends GraphLearner {
  readonly algo: string;
  readonly specs: { actor: ActorSpec; critic: CriticSpec };
  readonly actorSpec: ActorSpec;

  protected constructor(task: TaskSpec, readonly cfg: CqlConfig, seed: number, opts?: SessionOptions) {
    super(task, cfg.batchSize, cfg, seed, opts);
    this.algo = cfg.calibrated ? 'calql' : 'cql';
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
    const s = buildSac(this, g, specs, cfg);

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
    if (cfg.calibrated) mcBound = g.reshape(this.batchInput(g, 'mc_return'), [B, 1]);
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
      const cat = cfg.importanceSample
        ? g.concat([g.sub(qRand, randomDensity), g.sub(qNext, nxtLogPi), g.sub(qCur, curLogPi)], 1)
        : g.concat([qRand, qData, qNext, qCur], 1);
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
      conservative = g.reshape(diffs.map((d) => g.mul(g.mul(ap, cqlAlpha), g.sub(d, cfg.targetActionGap))).reduce((a, b) => g.add(a, b)), []);
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
  private online = false;

  startOnline(): void {
    this.online = true;
  }

  protected override extraFeeds(offset: number): Record<string, AnyTypedArray> {
    this.alphaFeed[0] = this.online && this.cfg.cqlAlphaOnline !== null ? this.cfg.cqlAlphaOnline : this.cfg.cqlAlpha;
    const feeds: Record<string, AnyTypedArray> = { cql_alpha: this.alphaFeed };
    if (this.cfg.bcSteps > 0) {
      this.bcWeight[0] = this.t + offset < this.cfg.bcSteps ? 1 : 0;
      feeds.bc_weight = this.bcWeight;
    }
    return feeds;
  }
}
