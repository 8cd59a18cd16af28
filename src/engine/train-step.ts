import type { GraphCore } from './graph.js';
import { Session, type SessionOptions } from './runtime.js';
import type { AnyTypedArray } from './dtype.js';

export interface StepResult {
  /** Scalar outputs of the graph (losses, gradient norms, ...), as numbers. */
  metrics: Record<string, number>;
  /** True when a metric was NaN/Inf: the step was NOT committed, parameters are unchanged. */
  diverged: boolean;
}

/**
 * A compiled training graph: feeds the batch, runs forward + backward + optimizer updates in one
 * session.run, checks every scalar metric for NaN/Inf, and commits the new state only when all
 * are finite.
 */
export class TrainStep {
  private t = 0;
  private readonly metricNames: string[];

  private constructor(
    readonly session: Session,
    graph: GraphCore,
  ) {
    const bound = new Set([...graph.bindings.values()].map((t) => t.name));
    this.metricNames = graph.outputs.filter((o) => o.size === 1 && !bound.has(o.name)).map((o) => o.name);
  }

  static async create(graph: GraphCore, opts: SessionOptions = {}): Promise<TrainStep> {
    return new TrainStep(await Session.create(graph, { name: 'train-step', ...opts }), graph);
  }

  /** Number of committed steps. */
  get steps(): number {
    return this.t;
  }
  set steps(v: number) {
    this.t = v;
  }

  step(feeds?: Record<string, AnyTypedArray>): StepResult {
    const out = this.session.run(feeds);
    const metrics: Record<string, number> = {};
    let diverged = false;
    for (const name of this.metricNames) {
      const v = Number(out[name]![0]);
      metrics[name] = v;
      if (!Number.isFinite(v)) diverged = true;
    }
    if (!diverged) {
      this.session.commit();
      this.t++;
    }
    return { metrics, diverged };
  }

  /** Current value of a state input (parameters, optimizer moments, targets). */
  state(name: string): AnyTypedArray {
    return this.session.state(name);
  }

  dispose(): void {
    this.session.dispose();
  }
}
