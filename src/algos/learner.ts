import type { Batch, ChunkBatch, SequenceBatch } from '../data/index.js';
import { type AnyTypedArray, Graph, type ParamLayout, Session, type SessionOptions, StateStore, type Tensor, matmulFlops } from '../engine/index.js';
import { type ActorSnapshot, type ActorSpec, type ServingGraph, actorLayout, mlpPolicy } from '../nn/index.js';
import { Rng } from '../util/rng.js';

/** What every algorithm needs to know about the task. */
export interface TaskSpec {
  obsDim: number;
  actDim: number;
  /** Actions lie in [-maxAction, maxAction] (D4RL locomotion: 1). */
  maxAction: number;
}

/**
 * What one update consumes: independent transitions, windows of consecutive steps (the Decision
 * Transformer: `batch().sequenceLength` > 1) or action chunks (Diffusion Policy: `batch().chunk`).
 */
export type TrainingBatch = Batch | SequenceBatch | ChunkBatch;

export interface UpdateResult {
  metrics: Record<string, number>;
  /** A loss or gradient norm was NaN/Inf: nothing was committed, parameters are unchanged. */
  diverged: boolean;
}

export interface Checkpoint {
  algo: string;
  steps: number;
  rng: number[];
  config: unknown;
  state: Record<string, Float32Array>;
}

export type { ActorSnapshot } from '../nn/index.js';

export interface Learner {
  readonly algo: string;
  readonly batchSize: number;
  readonly steps: number;
  /**
   * Updates one session.run performs (the `updatesPerRun` setting): several updates chained in one
   * graph leave the training state to the binding once per run instead of once per update.
   */
  readonly updatesPerRun: number;
  /** One update (with updatesPerRun > 1 on a one-update graph compiled beside the chained one). */
  update(batch: TrainingBatch): UpdateResult;
  /** updatesPerRun updates, one batch each, in one run; every result is diverged if any is. */
  updateMany(batches: readonly TrainingBatch[]): UpdateResult[];
  /**
   * The policy as it stands, as a serving graph: the interface it declares (observation → action
   * for the MLP learners), a snapshot of its weights and how to compute it. Export seals it
   * (src/serve/export.ts), evaluation runs it.
   */
  policy(): ServingGraph;
  /** Matrix-product FLOPs of one update (benchmarks). */
  flopsPerUpdate(): number;
  checkpoint(): Checkpoint;
  restore(c: Checkpoint): void;
  /**
   * Called by the online learner before its first online update (also after a resume): learners
   * with online-phase settings (CQL/Cal-QL `cqlAlphaOnline`; Cal-QL switches its Monte-Carlo bound
   * off, `calibrateOnline`) switch to them here.
   */
  startOnline?(): void;
  dispose(): void;
}

export class LearnerError extends Error {
  override name = 'LearnerError';
}

/**
 * Session options every learner's training graphs get unless the caller sets them (createLearner's
 * `opts`, train()'s `session`): 2 intra-op threads that sleep instead of spinning between kernels
 * (`session.intra_op.allow_spinning = 0`). Chosen from `npm run bench -- threads` (BENCHMARKS.md,
 * "Training speed by session setting"): spinning threads lose up to 2–3× as soon as anything else
 * wants a core (the demo's broker, server and robots, another job), while without spinning two
 * threads stayed within 12 % of the best setting under load, at the price of 10–18 % against
 * spinning on an idle host. A caller's `ortConfig`
 * replaces this one (set allow_spinning there to keep the choice).
 */
export const LEARNER_SESSION_DEFAULTS: SessionOptions = { threads: 2, ortConfig: { session: { intra_op: { allow_spinning: '0' } } } };

type Noise = { name: string; kind: 'normal' | 'uniform'; size: number };

/** One compiled training graph of a learner: its session, batch inputs, noise and metrics. */
export interface StepGraph {
  session: Session;
  /** Batch inputs: graph name, batch field, and which update of the run (0 for `obs`, k for `obs@k`). */
  batchInputs: { name: string; field: string; k: number }[];
  noise: Noise[];
  /** Scalar outputs: graph name, metric name, update index. */
  metrics: { name: string; base: string; k: number }[];
  /** Updates one run performs. */
  updates: number;
  /** Matrix-product FLOPs of one run (benchmarks divide by time). */
  flops: number;
}

const isSequence = (b: TrainingBatch): b is SequenceBatch => 'length' in b;
const isChunk = (b: TrainingBatch): b is ChunkBatch => 'horizon' in b;
const transitions = (f: (b: Batch) => Float32Array | undefined) => (b: TrainingBatch) => (isSequence(b) || isChunk(b) ? undefined : f(b));
const sequences = (f: (b: SequenceBatch) => AnyTypedArray) => (b: TrainingBatch) => (isSequence(b) ? f(b) : undefined);
const chunks = (f: (b: ChunkBatch) => AnyTypedArray) => (b: TrainingBatch) => (isChunk(b) ? f(b) : undefined);

/** Batch inputs by graph name: transitions (obs, act, ...) and sequence windows (seq_*, [B, K, ...]). */
const BATCH_FIELDS: Record<string, (b: TrainingBatch) => AnyTypedArray | undefined> = {
  obs: transitions((b) => b.observations),
  act: transitions((b) => b.actions),
  rew: transitions((b) => b.rewards),
  next_obs: transitions((b) => b.nextObservations),
  done: transitions((b) => b.terminals),
  mc_return: transitions((b) => b.info.mc_return),
  seq_obs: sequences((b) => b.observations),
  seq_act: sequences((b) => b.actions),
  seq_rtg: sequences((b) => b.returnsToGo),
  seq_timestep: sequences((b) => b.timesteps),
  seq_mask: sequences((b) => b.mask),
  chunk_obs: chunks((b) => b.observations),
  chunk_act: chunks((b) => b.actions),
};

const copyFeeds = (f: Record<string, AnyTypedArray>): Record<string, AnyTypedArray> => Object.fromEntries(Object.entries(f).map(([n, v]) => [n, v.slice()]));

/**
 * Shared machinery: a StateStore for all parameter groups, graph inputs for the batch and for
 * noise drawn from the learner's seeded generator, NaN-safe steps, checkpoints that resume
 * bit-for-bit (state + generator + step count).
 */
export abstract class GraphLearner implements Learner {
  abstract readonly algo: string;
  /** The MLP policy this learner trains (its parameters live in state 'actor'); null for a learner that serves its own graph (policy()). */
  abstract readonly actorSpec: ActorSpec | null;
  readonly store = new StateStore();
  /** Compiled step graphs, in compile order. */
  protected readonly graphs: StepGraph[] = [];
  protected rng: Rng;
  protected t = 0;
  private noiseBuffers = new Map<string, Float32Array>();

  readonly updatesPerRun: number;

  constructor(
    readonly task: TaskSpec,
    readonly batchSize: number,
    protected readonly config: object,
    seed: number,
    protected readonly sessionOptions: SessionOptions = {},
  ) {
    this.rng = new Rng(seed);
    const k = (config as { updatesPerRun?: number }).updatesPerRun ?? 1;
    if (!(Number.isInteger(k) && k >= 1 && k <= 64))
      throw new LearnerError(`updatesPerRun must be an integer in [1, 64], got ${k}; 1 runs one update per session.run, 4 is a good value on CPUs`);
    this.updatesPerRun = k;
  }

  get steps(): number {
    return this.t;
  }

  /**
   * The training graph: `build(g, k)` writes update k; with updatesPerRun > 1 the updates are
   * chained in one graph (Graph.unrolled). `probe` is an update index whose graph binds every
   * piece of state (TD3+BC: an update that also moves the actor).
   */
  protected updateGraph(build: (g: Graph, k: number) => void, probe = 0, single = true): Graph {
    const g = new Graph();
    if (this.updatesPerRun === 1) {
      build(g, 0);
      return g;
    }
    const p = new Graph();
    build(p, probe);
    g.unrolled(
      this.updatesPerRun,
      (k) => build(g, k),
      [...p.bindings.keys()].map((t) => t.name),
    );
    if (single) {
      // A one-update graph too, compiled with the chained one: update() runs it, so that a run
      // shorter than K (the trainer's last run, a step that is no multiple of K) needs no other graph.
      this.pendingSingle = new Graph();
      build(this.pendingSingle, 0);
    }
    return g;
  }

  private pendingSingle: Graph | null = null;
  /** The one-update graph of a learner with updatesPerRun > 1 (see updateGraph). */
  private single: StepGraph | null = null;

  /**
   * Batch input by its conventional name: obs, act, rew, next_obs, done, mc_return; for sequence
   * batches of `seqLength` steps seq_obs, seq_act [B, K, dim], seq_rtg, seq_mask [B, K], seq_timestep [B, K] int64.
   */
  batchInput(g: Graph, name: keyof typeof BATCH_FIELDS, seqLength = 1): Tensor {
    const B = this.batchSize;
    const K = seqLength;
    if (name === 'obs' || name === 'next_obs') return g.input(name, [B, this.task.obsDim]);
    if (name === 'act') return g.input(name, [B, this.task.actDim]);
    if (name === 'seq_obs') return g.input(name, [B, K, this.task.obsDim]);
    if (name === 'seq_act') return g.input(name, [B, K, this.task.actDim]);
    if (name === 'seq_timestep') return g.input(name, [B, K], 'int64');
    if (name === 'seq_rtg' || name === 'seq_mask') return g.input(name, [B, K]);
    if (name === 'chunk_obs' || name === 'chunk_act') {
      const c = (this.config as { nObs?: number; horizon?: number }) ?? {};
      if (!c.nObs || !c.horizon) throw new LearnerError(`${this.algo}: chunk inputs need nObs and horizon in its config`);
      return name === 'chunk_obs' ? g.input(name, [B, c.nObs, this.task.obsDim]) : g.input(name, [B, c.horizon, this.task.actDim]);
    }
    return g.input(name, [B]);
  }

  /** Standard normal or U(-1, 1) noise, freshly drawn for every step. */
  noiseInput(g: Graph, name: string, shape: number[], kind: 'normal' | 'uniform' = 'normal'): Tensor {
    return g.input(`${kind === 'normal' ? 'noise' : 'uniform'}.${name}`, shape);
  }

  protected async compile(g: Graph, name: string): Promise<StepGraph> {
    const session = await Session.create(g, { ...LEARNER_SESSION_DEFAULTS, ...this.sessionOptions, name: `${this.algo}:${name}`, store: this.store });
    // Graph.unrolled names update k's inputs and outputs '<name>@k'.
    const split = (n: string): { base: string; k: number } => {
      const i = n.lastIndexOf('@');
      return i < 0 ? { base: n, k: 0 } : { base: n.slice(0, i), k: Number(n.slice(i + 1)) };
    };
    const batchInputs = g.inputs
      .map((t) => ({ name: t.name, ...split(t.name) }))
      .filter((x) => x.base in BATCH_FIELDS)
      .map((x) => ({ name: x.name, field: x.base, k: x.k }));
    const noise: Noise[] = g.inputs
      .filter((t) => t.name.startsWith('noise.') || t.name.startsWith('uniform.'))
      .map((t) => ({ name: t.name, kind: t.name.startsWith('uniform.') ? 'uniform' : 'normal', size: t.size }));
    const bound = new Set([...g.bindings.values()].map((t) => t.name));
    const metrics = g.outputs.filter((o) => o.size === 1 && !bound.has(o.name)).map((o) => ({ name: o.name, ...split(o.name) }));
    const updates = 1 + Math.max(0, ...batchInputs.map((b) => b.k), ...metrics.map((m) => m.k));
    const step = { session, batchInputs, noise, metrics, updates, flops: matmulFlops(g) };
    if (this.pendingSingle === g) {
      this.single = step;
      return step;
    }
    this.graphs.push(step);
    if (this.pendingSingle) await this.compile(this.pendingSingle, `${name} (1 update)`);
    this.pendingSingle = null;
    return step;
  }

  /** Initial parameters for a group (and zeroed Adam state, created by the graphs). */
  initGroup(name: string, layout: ParamLayout, seed: number): void {
    this.store.ensure(name, 'float32', [layout.size]);
    this.store.set(name, layout.init(seed));
  }

  /** A target network starts as a copy of its online network. */
  initTarget(target: string, online: string): void {
    const v = this.store.value(online);
    this.store.ensure(target, 'float32', [v.length]);
    this.store.set(target, v as Float32Array);
  }

  protected checkBatch(batch: TrainingBatch): void {
    if (batch.size !== this.batchSize) throw new LearnerError(`${this.algo}: batch has ${batch.size} rows, the learner was built for ${this.batchSize}`);
    if (batch.obsDim !== this.task.obsDim || batch.actDim !== this.task.actDim) {
      throw new LearnerError(`${this.algo}: batch has obs ${batch.obsDim} / act ${batch.actDim}, the task has ${this.task.obsDim} / ${this.task.actDim}`);
    }
  }

  /** Runs one compiled step (one update per batch); commits only when every metric of every update is finite. */
  protected runStep(step: StepGraph, batches: readonly TrainingBatch[], extras: Record<string, AnyTypedArray>[] = []): UpdateResult[] {
    const feeds: Record<string, AnyTypedArray> = {};
    extras.forEach((extra, k) => {
      // Per-update feeds (schedules, dropout masks): update k ≥ 1 reads '<name>@k'.
      for (const [n, v] of Object.entries(extra)) feeds[k === 0 ? n : `${n}@${k}`] = v;
    });
    for (const b of step.batchInputs) {
      const col = BATCH_FIELDS[b.field]!(batches[b.k]!);
      if (!col)
        throw new LearnerError(
          `${this.algo}: the batch lacks '${b.field}' (for mc_return, sample with info column 'mc_return'; seq_* inputs need sequence batches from a SequenceSampler)`,
        );
      feeds[b.name] = col;
    }
    for (const n of step.noise) {
      let buf = this.noiseBuffers.get(n.name);
      if (!buf) this.noiseBuffers.set(n.name, (buf = new Float32Array(n.size)));
      if (n.kind === 'normal') this.rng.fillNormal(buf);
      else this.rng.fillUniform(buf, -1, 1);
      feeds[n.name] = buf;
    }
    const out = step.session.run(feeds);
    const results: UpdateResult[] = Array.from({ length: step.updates }, () => ({ metrics: {}, diverged: false }));
    let diverged = false;
    for (const m of step.metrics) {
      const v = Number(out[m.name]![0]);
      results[m.k]!.metrics[m.base] = v;
      if (!Number.isFinite(v)) diverged = true;
    }
    if (!diverged) step.session.commit();
    for (const r of results) r.diverged = diverged;
    return results;
  }

  /** The graph the next update runs (TD3+BC alternates critic-only and critic+actor steps). */
  protected nextGraph(): StepGraph {
    return this.graphs[0]!;
  }

  /** Per-update inputs besides the batch and the noise (e.g. a scheduled learning rate), for update t + offset. */
  protected extraFeeds(_offset: number): Record<string, AnyTypedArray> {
    return {};
  }

  /** The graph update() runs on a learner with updatesPerRun > 1. */
  protected singleGraph(): StepGraph {
    if (!this.single) throw new LearnerError(`${this.algo} runs ${this.updatesPerRun} updates per session.run (updatesPerRun); call updateMany with ${this.updatesPerRun} batches`);
    return this.single;
  }

  update(batch: TrainingBatch): UpdateResult {
    if (this.updatesPerRun === 1) return this.updateMany([batch])[0]!;
    this.checkBatch(batch);
    const r = this.runStep(this.singleGraph(), [batch], [this.extraFeeds(0)])[0]!;
    if (!r.diverged) this.t += 1;
    return r;
  }

  updateMany(batches: readonly TrainingBatch[]): UpdateResult[] {
    const K = this.updatesPerRun;
    if (batches.length !== K) throw new LearnerError(`${this.algo}: updateMany got ${batches.length} batches, the learner runs ${K} updates per run`);
    for (const b of batches) this.checkBatch(b);
    const step = this.nextGraph();
    // Each update's extra feeds are copied as they are made: learners refill the same buffers.
    const extras = Array.from({ length: K }, (_, k) => (K === 1 ? this.extraFeeds(k) : copyFeeds(this.extraFeeds(k))));
    const r = this.runStep(step, batches, extras);
    if (!r[0]!.diverged) this.t += K;
    return r;
  }

  /** The actor's spec, layout and a copy of its current parameters. */
  actor(): ActorSnapshot {
    if (!this.actorSpec) throw new LearnerError(`${this.algo} has no MLP actor; its policy() describes what it serves`);
    return { spec: this.actorSpec, layout: actorLayout(this.actorSpec), params: Float32Array.from(this.store.value('actor') as Float32Array) };
  }

  /** An MLP actor: observation in, action out. */
  policy(): ServingGraph {
    return mlpPolicy(this.actor());
  }

  /** Matrix-product FLOPs per update, averaged over the learner's step graphs in use. */
  flopsPerUpdate(): number {
    return this.graphs[0]!.flops / this.graphs[0]!.updates;
  }

  checkpoint(): Checkpoint {
    const state: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries(this.store.snapshot())) state[k] = v as Float32Array;
    return { algo: this.algo, steps: this.t, rng: this.rng.getState(), config: this.config, state };
  }

  restore(c: Checkpoint): void {
    if (c.algo !== this.algo) throw new LearnerError(`checkpoint is for ${c.algo}, this learner is ${this.algo}`);
    this.store.restore(c.state);
    this.rng.setState(c.rng);
    this.t = c.steps;
  }

  dispose(): void {
    for (const g of this.graphs) g.session.dispose();
    this.single?.session.dispose();
  }
}
