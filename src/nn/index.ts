export { mlp, mlpLayout, mlpParamSpecs, mlpFlops, activate, type MlpSpec, type Activation, type LastLayerInit } from './mlp.js';
export { actorDistribution, actorLayout, actorMean, actorMlp, sampleTanhGaussian, tanhGaussianLogProb, gaussianLogProb, type ActorSpec, type ActorKind } from './actor.js';
export { criticLayout, criticValues, criticMlp, minOf, type CriticSpec } from './critic.js';
export {
  distributionOutputNames,
  MLP_INTERFACE,
  mlpPolicy,
  policyGraph,
  servingGraph,
  type ActorSnapshot,
  type PolicyExtraInput,
  type PolicyGraphOptions,
  type PolicyInterface,
  type PolicyKind,
  type ServingGraph,
  type ServingInputs,
  type ServingOutputs,
} from './policy-graph.js';
export { transformerBlock, transformerBlockSpecs, type TransformerBlockOptions, type DropoutMask } from './transformer.js';
