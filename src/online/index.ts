export { TransitionIngest, type IngestCounters, type IngestOutcome, type IngestOptions } from './ingest.js';
export { OnlineLearner, type OnlineLearnerOptions, type OnlineLearnerStatus, type OnlineBudget } from './learner-service.js';
