import type { Batch } from '../data/index.js';
import { type AnyTypedArray, type Graph, type ParamLayout, Session, type SessionOptions, StateStore, type Tensor, matmulFlops } from '../engine/index.js';
import { type ActorSpec, actorLayout } from '../nn/index.js';
import { Rng } from '../util/rng.js';

/** What every algorithm needs to know about the task. */
export interface TaskSpec {
  obsDim: number;
  actDim: number;
  /** Actions lie in [-maxAction, maxAction] (D4RL locomotion: 1). */
  maxAction: number;
}

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

/** The policy a learner exports: spec, layout and current flat parameters. */
export interface ActorSnapshot {
  spec: ActorSpec;
  layout: ParamLayout;
  params: Float32Array;
}

export interface Learner {
  readonly algo: string;
  readonly batchSize: number;
  readonly steps: number;
  update(batch: Batch): UpdateResult;
  actor(): ActorSnapshot;
  /** Matrix-product FLOPs of one update (benchmarks). */
  flopsPerUpdate(): number;
  checkpoint(): Checkpoint;
  restore(c: Checkpoint): void;
  /**
   * Called by the online learner before its first online update (also after a resume): learners
   * with online-phase settings (CQL/Cal-QL `cqlAlphaOnline`) switch to them here.
   */
  startOnline?(): void;
  dispose(): void;
}

export class LearnerError extends Error {
  override name = 'LearnerError';
}

type Noise = { name: string; kind: 'normal' | 'uniform'; size: number };

/** One compiled training graph of a learner: its session, batch inputs, noise and metrics. */
export interface StepGraph {
  session: Session;
  batchInputs: string[];
  noise: Noise[];
  metrics: string[];
  /** Matrix-product FLOPs of one run (benchmarks divide by time). */
  flops: number;
}

const BATCH_FIELDS: Record<string, (b: Batch) => Float32Array | undefined> = {
  obs: (b) => b.observations,
  act: (b) => b.actions,
  rew: (b) => b.rewards,
  next_obs: (b) => b.nextObservations,
  done: (b) => b.terminals,
  mc_return: (b) => b.info.mc_return,
};

/**
 * Shared machinery: a StateStore for all parameter groups, graph inputs for the batch and for
 * noise drawn from the learner's seeded generator, NaN-safe steps, checkpoints that resume
 * bit-for-bit (state + generator + step count).
 */
export abstract class GraphLearner implements Learner {
  abstract readonly algo: string;
  /** The policy this learner trains (its parameters live in state 'actor'). */
  abstract readonly actorSpec: ActorSpec;
  readonly store = new StateStore();
  /** Compiled step graphs, in compile order. */
  protected readonly graphs: StepGraph[] = [];
  protected rng: Rng;
  protected t = 0;
  private noiseBuffers = new Map<string, Float32Array>();

  constructor(
    readonly task: TaskSpec,
    readonly batchSize: number,
    protected readonly config: object,
    seed: number,
    protected readonly sessionOptions: SessionOptions = {},
  ) {
    this.rng = new Rng(seed);
  }

  get steps(): number {
    return this.t;
  }

  /** Batch input by its conventional name: obs, act, rew, next_obs, done, mc_return. */
  batchInput(g: Graph, name: keyof typeof BATCH_FIELDS): Tensor {
    const B = this.batchSize;
    if (name === 'obs' || name === 'next_obs') return g.input(name, [B, this.task.obsDim]);
    if (name === 'act') return g.input(name, [B, this.task.actDim]);
    return g.input(name, [B]);
  }

  /** Standard normal or U(-1, 1) noise, freshly drawn for every step. */
  noiseInput(g: Graph, name: string, shape: number[], kind: 'normal' | 'uniform' = 'normal'): Tensor {
    return g.input(`${kind === 'normal' ? 'noise' : 'uniform'}.${name}`, shape);
  }

  protected async compile(g: Graph, name: string): Promise<StepGraph> {
    const session = await Session.create(g, { threads: 2, ...this.sessionOptions, name: `${this.algo}:${name}`, store: this.store });
    const batchInputs = g.inputs.map((t) => t.name).filter((n) => n in BATCH_FIELDS);
    const noise: Noise[] = g.inputs
      .filter((t) => t.name.startsWith('noise.') || t.name.startsWith('uniform.'))
      .map((t) => ({ name: t.name, kind: t.name.startsWith('uniform.') ? 'uniform' : 'normal', size: t.size }));
    const bound = new Set([...g.bindings.values()].map((t) => t.name));
    const metrics = g.outputs.filter((o) => o.size === 1 && !bound.has(o.name)).map((o) => o.name);
    const step = { session, batchInputs, noise, metrics, flops: matmulFlops(g) };
    this.graphs.push(step);
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

  protected checkBatch(batch: Batch): void {
    if (batch.size !== this.batchSize) throw new LearnerError(`${this.algo}: batch has ${batch.size} rows, the learner was built for ${this.batchSize}`);
    if (batch.obsDim !== this.task.obsDim || batch.actDim !== this.task.actDim) {
      throw new LearnerError(`${this.algo}: batch has obs ${batch.obsDim} / act ${batch.actDim}, the task has ${this.task.obsDim} / ${this.task.actDim}`);
    }
  }

  /** Runs one compiled step on a batch; commits only when every metric is finite. */
  protected runStep(step: StepGraph, batch: Batch, extra: Record<string, AnyTypedArray> = {}): UpdateResult {
    const feeds: Record<string, AnyTypedArray> = { ...extra };
    for (const name of step.batchInputs) {
      const col = BATCH_FIELDS[name]!(batch);
      if (!col) throw new LearnerError(`${this.algo}: the batch lacks '${name}' (for mc_return, sample with info column 'mc_return')`);
      feeds[name] = col;
    }
    for (const n of step.noise) {
      let buf = this.noiseBuffers.get(n.name);
      if (!buf) this.noiseBuffers.set(n.name, (buf = new Float32Array(n.size)));
      if (n.kind === 'normal') this.rng.fillNormal(buf);
      else this.rng.fillUniform(buf, -1, 1);
      feeds[n.name] = buf;
    }
    const out = step.session.run(feeds);
    const metrics: Record<string, number> = {};
    let diverged = false;
    for (const m of step.metrics) {
      const v = Number(out[m]![0]);
      metrics[m] = v;
      if (!Number.isFinite(v)) diverged = true;
    }
    if (!diverged) step.session.commit();
    return { metrics, diverged };
  }

  /** The graph the next update runs (TD3+BC alternates critic-only and critic+actor steps). */
  protected nextGraph(): StepGraph {
    return this.graphs[0]!;
  }

  /** Per-step inputs besides the batch and the noise (e.g. a scheduled learning rate). */
  protected extraFeeds(): Record<string, AnyTypedArray> {
    return {};
  }

  update(batch: Batch): UpdateResult {
    this.checkBatch(batch);
    const r = this.runStep(this.nextGraph(), batch, this.extraFeeds());
    if (!r.diverged) this.t++;
    return r;
  }

  actor(): ActorSnapshot {
    return { spec: this.actorSpec, layout: actorLayout(this.actorSpec), params: Float32Array.from(this.store.value('actor') as Float32Array) };
  }

  /** Matrix-product FLOPs per update, averaged over the learner's step graphs in use. */
  flopsPerUpdate(): number {
    return this.graphs[0]!.flops;
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
  }
}
