export { train, checkTrainable, TrainError, type TrainOptions, type TrainResult, type Progress, type TrainedPolicyView } from './trainer.js';
export { evaluate, evaluateLearner, policySession, normalizedScore, type EvalResult, type PolicyFn } from './evaluate.js';
export { readCheckpoint, writeCheckpoint, CheckpointError, type TrainCheckpoint } from './checkpoint.js';
