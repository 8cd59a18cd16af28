export { train, checkTrainable, TrainError, type TrainOptions, type TrainResult, type Progress, type TrainedPolicyView } from './trainer.js';
export { evaluate, evaluateLearner, policySession, normalizedScore, type EvalResult, type PolicyFn } from './evaluate.js';
export { readCheckpoint, writeCheckpoint, newestCheckpoint, CheckpointError, type TrainCheckpoint } from './checkpoint.js';
export { taskOf, type TaskSpec } from './task.js';
