export { TransitionIngest, type IngestCounters, type IngestOutcome, type IngestOptions } from './ingest.js';
export { OnlineLearner, type OnlineLearnerOptions, type OnlineLearnerStatus, type OnlineBudget } from './learner-service.js';
export { fineTuneOnline, FineTuneError, type FineTuneOptions, type FleetContext } from './fine-tune.js';
export { runOfflineToOnline, type OfflineToOnlineOptions, type OfflineToOnlineResult, type LoopScores } from './offline-to-online.js';
