/**
 * Decision Transformer (Chen et al. 2021): offline RL as sequence modelling. A causal transformer
 * reads the last K steps as tokens (return-to-go, state, action) and predicts each step's action
 * from the tokens up to its state; at test time it is conditioned on a target return.
 * Architecture, initialisation and defaults follow CORL's algorithms/offline/dt.py (TrainConfig):
 *   tokens   R̂_t W_R + b_R + E[t],  s_t W_s + b_s + E[t],  a_t W_a + b_a + E[t]   (E: timestep embedding)
 *   h        LayerNorm, dropout, `layers` pre-LN blocks (causal self-attention, 4× GELU MLP), LayerNorm
 *   â_t      maxAction · tanh(h(s_t) W_out + b_out)
 *   L(θ)     mean over batch × K × |A| of mask · (â_t − a_t)²   (CORL: (mse · mask).mean())
 *   AdamW (all parameters decay), global gradient-norm clip 0.25, linear warm-up of the lr.
 * Batches are windows of K steps (SequenceSampler: right-padded with mask 0 at an episode's end);
 * served, the policy reads a left-padded window with its padding masked (see `policy()`), which
 * gives the same actions: the tokens carry no position but their timestep.
 */
import { type AnyTypedArray, type Graph, ParamLayout, type ParamSpec, type SessionOptions, type Tensor, adam, fillDropoutMask, grad, params } from '../engine/index.js';
import { type PolicyExtraInput, type PolicyInterface, type ServingGraph, transformerBlock, transformerBlockSpecs } from '../nn/index.js';
import type { AlgoDescriptor } from './descriptor.js';
import { GraphLearner, LearnerError, type TaskSpec } from './learner.js';

export interface DtConfig {
  /** Training batch: windows of `contextLength` steps (CORL TrainConfig: 64; its per-task configs use 4096 on a GPU). */
  batchSize: number;
  updatesPerRun: number;
  /** Transformer width (embedding_dim), depth (num_layers), heads (num_heads). */
  embeddingDim: number;
  layers: number;
  heads: number;
  /** K: steps per window (seq_len); 3K tokens. */
  contextLength: number;
  /** Longest episode (episode_len): the timestep table has episodeLength + K rows. */
  episodeLength: number;
  attentionDropout: number;
  residualDropout: number;
  embeddingDropout: number;
  /** AdamW: learning rate, weight decay (on every parameter, as torch.optim.AdamW(model.parameters())). */
  lr: number;
  weightDecay: number;
  /** Global gradient-norm clip (clip_grad). */
  clipGrad: number;
  /** lr · min((t + 1) / warmupSteps, 1) (CORL's LambdaLR). */
  warmupSteps: number;
  /** Returns-to-go are multiplied by this in every token (reward_scale). */
  rewardScale: number;
  /**
   * The return a served policy is conditioned on at an episode's start (in reward units); null =
   * chosen by the trainer (the task's expert reference score when it knows one, as CORL's targets
   * sit near D4RL's expert scores; else the dataset's best episode return).
   */
  targetReturn: number | null;
}

export const DT_DEFAULTS: DtConfig = {
  batchSize: 64,
  updatesPerRun: 1,
  embeddingDim: 128,
  layers: 3,
  heads: 1,
  contextLength: 20,
  episodeLength: 1000,
  attentionDropout: 0.1,
  residualDropout: 0.1,
  embeddingDropout: 0.1,
  lr: 1e-4,
  weightDecay: 1e-4,
  clipGrad: 0.25,
  warmupSteps: 10_000,
  rewardScale: 0.001,
  targetReturn: null,
};

/** The DT's parameters: embeddings, blocks, output head (CORL's _init_weights: N(0, 0.02²) weights, zero biases). */
export function dtLayout(task: Pick<TaskSpec, 'obsDim' | 'actDim'>, c: Pick<DtConfig, 'embeddingDim' | 'layers' | 'contextLength' | 'episodeLength'>): ParamLayout {
  const D = c.embeddingDim;
  const normal = { kind: 'normal', std: 0.02 } as const;
  const zero = { kind: 'constant', value: 0 } as const;
  const one = { kind: 'constant', value: 1 } as const;
  const specs: ParamSpec[] = [
    { name: 'timestep_emb', shape: [c.episodeLength + c.contextLength, D], init: normal },
    { name: 'state_emb.weight', shape: [task.obsDim, D], init: normal },
    { name: 'state_emb.bias', shape: [D], init: zero },
    { name: 'action_emb.weight', shape: [task.actDim, D], init: normal },
    { name: 'action_emb.bias', shape: [D], init: zero },
    { name: 'return_emb.weight', shape: [1, D], init: normal },
    { name: 'return_emb.bias', shape: [D], init: zero },
    { name: 'emb_norm.scale', shape: [D], init: one },
    { name: 'emb_norm.bias', shape: [D], init: zero },
    ...Array.from({ length: c.layers }, (_, i) => transformerBlockSpecs(D, `blocks.${i}.`)).flat(),
    { name: 'out_norm.scale', shape: [D], init: one },
    { name: 'out_norm.bias', shape: [D], init: zero },
    { name: 'action_head.weight', shape: [D, task.actDim], init: normal },
    { name: 'action_head.bias', shape: [task.actDim], init: zero },
  ];
  return new ParamLayout('dt', specs);
}

interface DtDropout {
  embedding?: Tensor;
  blocks?: { attention: Tensor; afterAttention: Tensor; afterMlp: Tensor }[];
}

/**
 * The DT over windows: states [B, K, obs], actions [B, K, act], returns-to-go [B, K] (already
 * scaled), timesteps [B, K] int64 → actions predicted at every state token, [B, K, act].
 * `padding` (bool [B, K], true = a padded step) masks those steps' tokens as keys.
 */
export function dtForward(
  g: Graph,
  task: Pick<TaskSpec, 'obsDim' | 'actDim' | 'maxAction'>,
  c: Pick<DtConfig, 'embeddingDim' | 'layers' | 'heads' | 'contextLength' | 'attentionDropout' | 'residualDropout' | 'embeddingDropout'>,
  v: Record<string, Tensor>,
  inputs: { states: Tensor; actions: Tensor; returnsToGo: Tensor; timesteps: Tensor; padding?: Tensor },
  dropout: DtDropout = {},
): Tensor {
  const D = c.embeddingDim;
  const K = c.contextLength;
  const B = inputs.states.shape[0]!;
  const time = g.gather(v.timestep_emb!, inputs.timesteps); // [B, K, D]
  const embed = (x: Tensor, width: number, name: string): Tensor =>
    g.add(g.reshape(g.gemm(g.reshape(x, [-1, width]), v[`${name}.weight`]!, {}, v[`${name}.bias`]!), [B, K, D]), time);
  const r = embed(inputs.returnsToGo, 1, 'return_emb');
  const s = embed(inputs.states, task.obsDim, 'state_emb');
  const a = embed(inputs.actions, task.actDim, 'action_emb');
  // (R_1, s_1, a_1, R_2, s_2, a_2, ...): [B, K, 3, D] → [B, 3K, D]
  const tokens = (x: Tensor) => g.reshape(x, [B, K, 1, D]);
  let h = g.reshape(g.concat([tokens(r), tokens(s), tokens(a)], 2), [B, 3 * K, D]);
  h = g.layerNorm(h, v['emb_norm.scale']!, v['emb_norm.bias']!);
  if (dropout.embedding) h = g.dropout(h, dropout.embedding, c.embeddingDropout);
  const keyPadding = inputs.padding
    ? g.reshape(
        g.concat(
          [inputs.padding, inputs.padding, inputs.padding].map((p) => g.reshape(p, [B, K, 1])),
          2,
        ),
        [B, 3 * K],
      )
    : undefined;
  for (let i = 0; i < c.layers; i++) {
    const d = dropout.blocks?.[i];
    h = transformerBlock(g, v, h, {
      heads: c.heads,
      prefix: `blocks.${i}.`,
      keyPadding,
      dropout: d && {
        attention: { mask: d.attention, rate: c.attentionDropout },
        afterAttention: { mask: d.afterAttention, rate: c.residualDropout },
        afterMlp: { mask: d.afterMlp, rate: c.residualDropout },
      },
    });
  }
  h = g.layerNorm(h, v['out_norm.scale']!, v['out_norm.bias']!);
  const stateTokens = g.split(g.reshape(h, [B, K, 3, D]), [1, 1, 1], 2)[1]!; // out[:, 1::3]
  const head = g.gemm(g.reshape(stateTokens, [-1, D]), v['action_head.weight']!, {}, v['action_head.bias']!);
  const act = task.maxAction === 1 ? g.tanh(head) : g.mul(g.tanh(head), task.maxAction);
  return g.reshape(act, [B, K, task.actDim]);
}

export class DecisionTransformer extends GraphLearner {
  readonly algo = 'dt';
  /** No MLP actor: the DT serves its own graph (policy()). */
  readonly actorSpec = null;
  private readonly layout: ParamLayout;
  private readonly lr = new Float32Array(1);
  private readonly masks: { name: string; buf: Float32Array; rate: number }[] = [];

  private constructor(
    task: TaskSpec,
    readonly cfg: DtConfig,
    seed: number,
    opts?: SessionOptions,
  ) {
    super(task, cfg.batchSize, cfg, seed, opts);
    const { embeddingDim: D, heads, contextLength: K, layers } = cfg;
    if (!(Number.isInteger(D) && D >= 1 && Number.isInteger(heads) && heads >= 1 && D % heads === 0))
      throw new LearnerError(`dt: embeddingDim ${D} must be a positive multiple of heads ${heads}`);
    if (!(Number.isInteger(K) && K >= 1 && Number.isInteger(layers) && layers >= 1))
      throw new LearnerError(`dt: contextLength and layers must be integers ≥ 1, got ${K} and ${layers}`);
    if (!(cfg.rewardScale > 0)) throw new LearnerError(`dt: rewardScale must be > 0, got ${cfg.rewardScale}`);
    this.layout = dtLayout(task, cfg);
  }

  static async create(task: TaskSpec, config: Partial<DtConfig> = {}, seed = 0, opts?: SessionOptions): Promise<DecisionTransformer> {
    const l = new DecisionTransformer(task, { ...DT_DEFAULTS, ...config }, seed, opts);
    await l.build(seed);
    return l;
  }

  private async build(seed: number): Promise<void> {
    const { cfg, task } = this;
    const B = cfg.batchSize;
    const K = cfg.contextLength;
    const T = 3 * K;
    const D = cfg.embeddingDim;
    const maskInput = (g: Graph, name: string, shape: number[], rate: number): Tensor => {
      if (!this.masks.some((m) => m.name === name)) this.masks.push({ name, buf: new Float32Array(shape.reduce((x, y) => x * y, 1)), rate });
      return g.input(name, shape);
    };
    const g = this.updateGraph((g) => {
      const p = params(g, this.layout, 'dt');
      const dropout: DtDropout = {
        embedding: cfg.embeddingDropout > 0 ? maskInput(g, 'dropout.embedding', [B, T, D], cfg.embeddingDropout) : undefined,
        blocks:
          cfg.attentionDropout > 0 || cfg.residualDropout > 0
            ? Array.from({ length: cfg.layers }, (_, i) => ({
                attention: maskInput(g, `dropout.attention.${i}`, [B, cfg.heads, T, T], cfg.attentionDropout),
                afterAttention: maskInput(g, `dropout.after_attention.${i}`, [B, T, D], cfg.residualDropout),
                afterMlp: maskInput(g, `dropout.after_mlp.${i}`, [B, T, D], cfg.residualDropout),
              }))
            : undefined,
      };
      const states = this.batchInput(g, 'seq_obs', K);
      const actions = this.batchInput(g, 'seq_act', K);
      const pred = dtForward(g, task, cfg, p.views, { states, actions, returnsToGo: this.batchInput(g, 'seq_rtg', K), timesteps: this.batchInput(g, 'seq_timestep', K) }, dropout);
      const mask = g.reshape(this.batchInput(g, 'seq_mask', K), [B, K, 1]);
      const loss = g.reduceMean(g.mul(g.square(g.sub(pred, actions)), mask));
      g.output('loss', loss);
      const { gradNorm } = adam(g, p.flat, grad(g, loss, [p.flat])[0]!, {
        lr: g.input('lr', []),
        weightDecay: cfg.weightDecay,
        maxGradNorm: cfg.clipGrad > 0 ? cfg.clipGrad : undefined,
      });
      g.output('grad_norm', gradNorm);
    });
    this.initGroup('dt', this.layout, seed);
    await this.compile(g, 'step');
  }

  /** CORL's LambdaLR: lr · min((t + 1) / warmup, 1), stepped once per update. */
  private scheduledLr(t: number): number {
    const { lr, warmupSteps } = this.cfg;
    return warmupSteps > 0 ? lr * Math.min((t + 1) / warmupSteps, 1) : lr;
  }

  protected override extraFeeds(offset: number): Record<string, AnyTypedArray> {
    this.lr[0] = this.scheduledLr(this.t + offset);
    const feeds: Record<string, AnyTypedArray> = { lr: this.lr };
    for (const m of this.masks) feeds[m.name] = m.rate > 0 ? fillDropoutMask(this.rng, m.buf, m.rate) : m.buf.fill(1);
    return feeds;
  }

  /** The served policy: a left-padded window of K steps in, the action at its last step out. */
  override policy(): ServingGraph {
    const { cfg, task } = this;
    const K = cfg.contextLength;
    const layout = this.layout;
    const values = Float32Array.from(this.store.value('dt') as Float32Array);
    const extraInputs: PolicyExtraInput[] = [
      { name: 'actions', role: 'actions', shape: [K, task.actDim], dtype: 'float32' },
      // Fed in reward units; the graph scales them (rewardScale), so any server feeds plain returns.
      { name: 'returns_to_go', role: 'returns-to-go', shape: [K], dtype: 'float32', ...(cfg.targetReturn !== null ? { default: cfg.targetReturn } : {}) },
      { name: 'timesteps', role: 'timesteps', shape: [K], dtype: 'int64', max: cfg.episodeLength + K - 1 },
      { name: 'mask', role: 'mask', shape: [K], dtype: 'float32' },
    ];
    const iface: PolicyInterface = { kind: 'sequence', contextLength: K, chunkLength: 1, extraInputs };
    return {
      interface: iface,
      obsDim: task.obsDim,
      actDim: task.actDim,
      maxAction: task.maxAction,
      distribution: null,
      weights: { dt: { layout, values } },
      build(g, { observation, extra }, weights) {
        const B = -1;
        const clipped = g.minimum(extra.timesteps!, g.constant(BigInt64Array.of(BigInt(cfg.episodeLength + K - 1)), [], 'int64'));
        const pred = dtForward(g, task, cfg, weights.dt!, {
          states: observation,
          actions: extra.actions!,
          returnsToGo: g.mul(extra.returns_to_go!, cfg.rewardScale),
          timesteps: clipped,
          padding: g.less(extra.mask!, 0.5),
        });
        // the window's last step is the current one
        return { action: g.reshape(g.slice(pred, { 1: [K - 1, K] }), [B, task.actDim]) };
      },
    };
  }
}

export const DT_ALGO: AlgoDescriptor<DtConfig, 'dt'> = {
  name: 'dt',
  title: 'Decision Transformer',
  paper: 'Chen, Lu, Rajeswaran, Lee, Grover, Laskin, Abbeel, Srinivas, Mordatch, 2021, "Decision Transformer: Reinforcement Learning via Sequence Modeling", NeurIPS',
  defaultsFrom: 'CORL algorithms/offline/dt.py TrainConfig (batch 64, lr 1e-4; its per-task configs use batch 4096, lr 8e-4 on a GPU)',
  defaults: DT_DEFAULTS,
  batch: (c) => ({ columns: [{ name: 'return_to_go', scale: c.rewardScale }], sequenceLength: c.contextLength }),
  // CORL dt.py: states normalized with the dataset's mean/std (+1e-6), rewards raw (returns-to-go scaled by reward_scale in the model's input).
  preprocessing: () => ({ normalizeObservations: true, reward: 'none', source: 'CORL algorithms/offline/dt.py: states normalized, returns-to-go × reward_scale' }),
  create: (task, config, seed, opts) => DecisionTransformer.create(task, config, seed, opts),
};
