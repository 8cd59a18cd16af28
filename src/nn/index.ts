export { mlp, mlpLayout, mlpParamSpecs, mlpFlops, activate, type MlpSpec, type Activation, type LastLayerInit } from './mlp.js';
export { actorDistribution, actorLayout, actorMean, actorMlp, sampleTanhGaussian, tanhGaussianLogProb, gaussianLogProb, type ActorSpec, type ActorKind } from './actor.js';
export { criticLayout, criticValues, criticMlp, minOf, type CriticSpec } from './critic.js';
export { distributionOutputNames, policyGraph, type PolicyGraphOptions } from './policy-graph.js';
export { transformerBlock, transformerBlockSpecs, type TransformerBlockOptions, type DropoutMask } from './transformer.js';
