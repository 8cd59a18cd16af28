export * from './learner.js';
export { BC, BC_DEFAULTS, type BcConfig } from './bc.js';
export { TD3BC, TD3BC_DEFAULTS, type Td3BcConfig } from './td3bc.js';
export { IQL, IQL_DEFAULTS, type IqlConfig } from './iql.js';
export { SAC, SAC_DEFAULTS, type SacConfig } from './sac.js';
export { CQL, CQL_DEFAULTS, type CqlConfig } from './cql.js';
export { CALQL_DEFAULTS, NO_MC_BOUND, createCalQL } from './calql.js';
export type { AlgoDescriptor, BatchNeeds, DerivedColumn } from './descriptor.js';
export {
  ALGOS,
  ALGO_DESCRIPTORS,
  algoDescriptor,
  batchNeeds,
  checkSettings,
  createLearner,
  networkSettings,
  pickSettings,
  referencePreprocessing,
  withRunLength,
  settingsOf,
  type AlgoName,
  type AlgoConfig,
} from './registry.js';
export { datasetKey, type Preprocessing, type RewardPreprocessing } from './preprocessing.js';
export { DecisionTransformer, DT_DEFAULTS, dtForward, dtLayout, type DtConfig } from './dt.js';
export { alphasCumprod, ddimSample, ddimSteps, emaDecay, squaredCosineBetas, type DdimStep } from './diffusion-schedule.js';
export { DiffusionPolicy, DIFFUSION_DEFAULTS, diffusionLayout, noiseModel, timestepTable, type DiffusionConfig } from './diffusion.js';
