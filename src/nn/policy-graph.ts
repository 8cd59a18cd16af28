/**
 * Serving graphs. A learner describes its policy as a `ServingGraph` — the interface it declares
 * (what goes in, what comes out), its trained weights and how to compute it — and `servingGraph`
 * turns that description into one ONNX-ready graph: symbolic batch, weights baked in as
 * initializers (ORT pre-packs them: ~1.8x faster than feeding), observation normalization inside,
 * standard input/output names. Export (src/serve/export.ts) adds the card, hash and signature.
 */
import { Graph, type ParamLayout, type Tensor } from '../engine/index.js';
import { type ActorSpec, actorDistribution, actorMean } from './actor.js';

/**
 * How a policy is called (recorded in the policy card as `interface`):
 *  - mlp:      observation in, action out (every algorithm today);
 *  - sequence: a context of the last `contextLength` steps in (observations, and what
 *              `extraInputs` names: past actions, returns-to-go, timesteps), the next action out
 *              (Decision Transformer);
 *  - chunked:  `contextLength` observations in, `chunkLength` future actions out (Diffusion
 *              Policy, ACT).
 */
export type PolicyKind = 'mlp' | 'sequence' | 'chunked';

/**
 * An input besides the observation(s), and what a server feeds it (a context of K steps is
 * left-padded: at episode step t the last min(t+1, K) positions hold steps max(0, t−K+1)..t,
 * earlier positions are zeros):
 *  - returns-to-go: each step's return still wanted, multiplied by `scale` (e.g. 0.001): it
 *    starts at `default`, the target return (a server may let each robot override it), and falls
 *    by each reward received: rtg_{t+1} = rtg_t − r_t;
 *  - actions:       the actions executed at the context's steps (after the safety filter); the
 *    current step's slot is zero;
 *  - timesteps:     each step's index in the episode (0-based), clipped to `max` when given;
 *  - mask:          1 for a real step, 0 for padding;
 *  - noise:         a standard normal draw per call (diffusion).
 */
export interface PolicyExtraInput {
  /** The graph's input name. */
  name: string;
  role: 'returns-to-go' | 'actions' | 'timesteps' | 'mask' | 'noise';
  /** Shape per call, without the batch dimension (e.g. [20] or [20, 1] for 20 returns-to-go). */
  shape: number[];
  dtype: 'float32' | 'int64';
  /** A value to start from (the target return, in return units); a server may let each robot override it. */
  default?: number;
  /** Fed values are multiplied by it (a return-to-go scale, e.g. CORL's reward_scale 0.001). */
  scale?: number;
  /** Timesteps: the largest index the policy knows (its embedding table's size − 1); later steps are fed as this. */
  max?: number;
}

export interface PolicyInterface {
  kind: PolicyKind;
  /** Steps of context per call: 1 for mlp. */
  contextLength: number;
  /** Actions per call: 1 for mlp and sequence. */
  chunkLength: number;
  /** Inputs besides the observation(s), in the graph's input order. */
  extraInputs: PolicyExtraInput[];
  /**
   * Chunked policies: how many of a chunk's actions a server executes before it plans again
   * (receding horizon; Diffusion Policy's action horizon, e.g. 8 of 16). Default: chunkLength.
   */
  actionHorizon?: number;
}

/** Observation in, action out. */
export const MLP_INTERFACE: PolicyInterface = Object.freeze({ kind: 'mlp', contextLength: 1, chunkLength: 1, extraInputs: [] }) as PolicyInterface;

/** The serving graph's inputs, as `ServingGraph.build` receives them. */
export interface ServingInputs {
  /** Normalized observations: [batch, obsDim] (mlp), [batch, contextLength, obsDim] (sequence, chunked). */
  observation: Tensor;
  /** The interface's extra inputs, by name. */
  extra: Record<string, Tensor>;
}

export interface ServingOutputs {
  /** In action units: [batch, actDim] (mlp, sequence) or [batch, chunkLength, actDim] (chunked). */
  action: Tensor;
  /** Asked for and stochastic: the action's distribution (see `ServingGraph.distribution`), [batch, actDim] each. */
  loc?: Tensor;
  logStd?: Tensor;
}

/** A policy as its learner describes it; `servingGraph` seals it into a graph. */
export interface ServingGraph {
  readonly interface: PolicyInterface;
  readonly obsDim: number;
  readonly actDim: number;
  /** Actions lie in [-maxAction, maxAction] (the card's default bounds). */
  readonly maxAction: number;
  /**
   * A stochastic policy's action distribution, which servers sample from when exploring:
   * tanh-gaussian a = maxAction · tanh(loc + exp(logStd) ε); gaussian a = loc + exp(logStd) ε.
   * null: deterministic (it explores with added noise).
   */
  readonly distribution: { kind: 'tanh-gaussian' | 'gaussian' } | null;
  /** Trained parameters by group, baked into the graph as initializers (a snapshot: later training does not change them). */
  readonly weights: Readonly<Record<string, { layout: ParamLayout; values: Float32Array }>>;
  /**
   * Writes the policy into `g`: `weights` are the groups' parameter views (constants). With
   * `withDistribution` (only asked of a stochastic policy) it also returns loc and logStd.
   */
  build(g: Graph, inputs: ServingInputs, weights: Record<string, Record<string, Tensor>>, withDistribution: boolean): ServingOutputs;
}

/** An actor's parameters: what MLP learners train. */
export interface ActorSnapshot {
  spec: ActorSpec;
  layout: ParamLayout;
  params: Float32Array;
}

/** The serving graph of an MLP actor (observation in, action out). */
export function mlpPolicy(actor: ActorSnapshot): ServingGraph {
  const { spec, layout, params } = actor;
  layout.check(params);
  return {
    interface: MLP_INTERFACE,
    obsDim: spec.obsDim,
    actDim: spec.actDim,
    maxAction: spec.maxAction,
    distribution: spec.kind === 'deterministic' ? null : { kind: spec.kind },
    weights: { [layout.group]: { layout, values: params } },
    build(g, { observation }, weights, withDistribution) {
      const views = weights[layout.group]!;
      const dist = withDistribution ? actorDistribution(g, spec, views, observation) : null;
      if (!dist) return { action: actorMean(g, spec, views, observation) };
      // One network pass feeds all three outputs: the mean action is the distribution's mode.
      let mean = dist.loc;
      if (spec.kind === 'tanh-gaussian') mean = spec.maxAction === 1 ? g.tanh(dist.loc) : g.mul(g.tanh(dist.loc), spec.maxAction);
      return { action: mean, loc: dist.loc, logStd: dist.logStd };
    },
  };
}

export interface PolicyGraphOptions {
  /** Observation normalization baked into the graph: (obs − mean) / std. */
  obsMean?: Float32Array;
  obsStd?: Float32Array;
  /** Input/output names (d3rlpy uses input_0 / output_0). */
  inputName?: string;
  outputName?: string;
  /**
   * Also output the action distribution of a stochastic policy as `<outputName>_loc` and
   * `<outputName>_log_std` [batch, actDim], so a server can sample exploratory actions. No effect
   * for deterministic policies.
   */
  distribution?: boolean;
}

/** Names of the distribution outputs beside an action output. */
export function distributionOutputNames(outputName: string): { loc: string; logStd: string } {
  return { loc: `${outputName}_loc`, logStd: `${outputName}_log_std` };
}

/**
 * A policy's serving graph: inputs with a symbolic batch (the observation input, then the
 * interface's extra inputs), normalization, the weights as constants, the policy, the outputs
 * (action, then loc and log_std when asked for).
 */
export function servingGraph(policy: ServingGraph, opts: PolicyGraphOptions = {}): Graph {
  const { obsDim } = policy;
  const iface = policy.interface;
  const g = new Graph();
  let obs: Tensor = g.input(opts.inputName ?? 'obs', iface.kind === 'mlp' ? [-1, obsDim] : [-1, iface.contextLength, obsDim]);
  if (opts.obsMean && opts.obsStd) {
    if (opts.obsMean.length !== obsDim || opts.obsStd.length !== obsDim) {
      throw new Error(`policyGraph: normalization stats have ${opts.obsMean.length}/${opts.obsStd.length} entries, obs has ${obsDim}`);
    }
    obs = g.div(g.sub(obs, g.constant(Float32Array.from(opts.obsMean), [obsDim])), g.constant(Float32Array.from(opts.obsStd), [obsDim]));
  }
  const extra: Record<string, Tensor> = {};
  for (const x of iface.extraInputs) extra[x.name] = g.input(x.name, [-1, ...x.shape], x.dtype);
  const views: Record<string, Record<string, Tensor>> = {};
  for (const [group, { layout, values }] of Object.entries(policy.weights)) {
    layout.check(values);
    const named = layout.unravel(values);
    views[group] = {};
    for (const s of layout.specs) views[group][s.name] = g.constant(Float32Array.from(named[s.name]!), s.shape);
  }
  const withDistribution = !!opts.distribution && policy.distribution !== null;
  const out = policy.build(g, { observation: obs, extra }, views, withDistribution);
  const outputName = opts.outputName ?? 'action';
  g.output(outputName, out.action);
  if (withDistribution) {
    if (!out.loc || !out.logStd) throw new Error(`servingGraph: the policy declares a ${policy.distribution!.kind} distribution but built no loc/logStd outputs`);
    const names = distributionOutputNames(outputName);
    g.output(names.loc, out.loc);
    g.output(names.logStd, out.logStd);
  }
  return g;
}

/** The serving graph of an MLP actor: `servingGraph(mlpPolicy(...))`. */
export function policyGraph(spec: ActorSpec, layout: ParamLayout, values: Float32Array, opts: PolicyGraphOptions = {}): Graph {
  return servingGraph(mlpPolicy({ spec, layout, params: values }), opts);
}
