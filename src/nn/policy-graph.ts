import { Graph, type Tensor } from '../engine/index.js';
import type { ParamLayout } from '../engine/index.js';
import { type ActorSpec, actorDistribution, actorMean } from './actor.js';

export interface PolicyGraphOptions {
  /** Observation normalization baked into the graph: (obs − mean) / std. */
  obsMean?: Float32Array;
  obsStd?: Float32Array;
  /** Input/output names (d3rlpy uses input_0 / output_0). */
  inputName?: string;
  outputName?: string;
  /**
   * Also output the action distribution of a stochastic actor (see actorDistribution) as
   * `<outputName>_loc` and `<outputName>_log_std` [batch, actDim], so a server can sample
   * exploratory actions. No effect for deterministic actors.
   */
  distribution?: boolean;
}

/** Names of the distribution outputs beside an action output. */
export function distributionOutputNames(outputName: string): { loc: string; logStd: string } {
  return { loc: `${outputName}_loc`, logStd: `${outputName}_log_std` };
}

/**
 * The deterministic policy as a serving graph: symbolic batch, weights baked in as initializers
 * (ORT pre-packs them: ~1.8x faster than feeding), normalization and action scaling inside.
 */
export function policyGraph(spec: ActorSpec, layout: ParamLayout, values: Float32Array, opts: PolicyGraphOptions = {}): Graph {
  layout.check(values);
  const g = new Graph();
  let obs: Tensor = g.input(opts.inputName ?? 'obs', [-1, spec.obsDim]);
  if (opts.obsMean && opts.obsStd) {
    if (opts.obsMean.length !== spec.obsDim || opts.obsStd.length !== spec.obsDim) {
      throw new Error(`policyGraph: normalization stats have ${opts.obsMean.length}/${opts.obsStd.length} entries, obs has ${spec.obsDim}`);
    }
    obs = g.div(g.sub(obs, g.constant(Float32Array.from(opts.obsMean), [spec.obsDim])), g.constant(Float32Array.from(opts.obsStd), [spec.obsDim]));
  }
  const views: Record<string, Tensor> = {};
  const named = layout.unravel(values);
  for (const s of layout.specs) views[s.name] = g.constant(Float32Array.from(named[s.name]!), s.shape);
  const outputName = opts.outputName ?? 'action';
  const dist = opts.distribution ? actorDistribution(g, spec, views, obs) : null;
  if (!dist) {
    g.output(outputName, actorMean(g, spec, views, obs));
    return g;
  }
  // One network pass feeds all three outputs: the mean action is the distribution's mode.
  let mean = dist.loc;
  if (spec.kind === 'tanh-gaussian') mean = spec.maxAction === 1 ? g.tanh(dist.loc) : g.mul(g.tanh(dist.loc), spec.maxAction);
  g.output(outputName, mean);
  const names = distributionOutputNames(outputName);
  g.output(names.loc, dist.loc);
  g.output(names.logStd, dist.logStd);
  return g;
}
