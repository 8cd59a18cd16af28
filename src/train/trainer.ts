import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  type AlgoConfig,
  type Learner,
  type Preprocessing,
  type TrainingBatch,
  type UpdateResult,
  batchNeeds,
  checkSettings,
  createLearner,
  referencePreprocessing,
  withRunLength,
} from '../algos/index.js';
import {
  type Dataset,
  DataError,
  type ObsStats,
  type RewardTransform,
  ChunkSampler,
  SequenceSampler,
  UniformSampler,
  allocChunkBatch,
  batchesLike,
  episodes,
  locomotionRewardTransform,
  monteCarloReturns,
  normalizeObservations,
  observationStats,
  validateDataset,
  withInfo,
  withScaledRewards,
} from '../data/index.js';
import type { SessionOptions } from '../engine/index.js';
import { type CheckpointError, newestCheckpoint, readCheckpoint, writeCheckpoint } from './checkpoint.js';
import type { EvalResult } from './evaluate.js';

/** Transitions, windows of steps (dt) or action chunks (diffusion). */
type Sampler = UniformSampler | SequenceSampler | ChunkSampler;

export interface TrainOptions {
  algo: string;
  dataset: Dataset;
  /** Where the dataset came from (recorded in checkpoints and the policy card). */
  datasetId?: string;
  /** expertReturn (the task's expert reference score) is the default target return of return-conditioned policies (dt). */
  task: { obsDim: number; actDim: number; maxAction: number; maxEpisodeSteps: number; expertReturn?: number };
  steps: number;
  seed?: number;
  config?: AlgoConfig;
  /**
   * Normalize observations with the dataset's mean/std. Default: the reference configs' choice for
   * this algorithm and dataset (referencePreprocessing: CORL normalizes states except for Cal-QL).
   */
  normalizeObservations?: boolean;
  /**
   * 'auto' = the reference configs' choice for this algorithm and dataset (referencePreprocessing,
   * e.g. IQL rescales by the episode-return range on hopper-medium and hopper-medium-replay only).
   */
  rewardNormalization?: 'auto' | 'none' | 'episode-return-range' | RewardTransform;
  /** Periodic evaluation (e.g. evaluateLearner in a simulator); also run at the last step. */
  evaluate?: { every: number; run: (policy: TrainedPolicyView) => Promise<EvalResult> };
  /** JSONL metrics log. */
  logPath?: string;
  checkpointDir?: string;
  checkpointEvery?: number;
  /** Continue from the newest checkpoint in checkpointDir, if any. */
  resume?: boolean;
  onProgress?: (p: Progress) => void;
  session?: SessionOptions;
  /** Stops the run at the next update boundary (a checkpoint is written when checkpointDir is set). */
  signal?: AbortSignal;
}

export interface Progress {
  step: number;
  steps: number;
  metrics: Record<string, number>;
  eval?: EvalResult;
}

/** What evaluation and export need: the learner plus the observation normalization. */
export interface TrainedPolicyView {
  learner: Learner;
  obsStats: ObsStats | null;
}

export interface TrainResult extends TrainedPolicyView {
  steps: number;
  evals: { step: number; result: EvalResult }[];
  /** Set when the run stopped on a NaN/Inf loss: nothing after the last good step was kept. */
  diverged?: { step: number; metrics: Record<string, number>; lastCheckpoint: string | null };
  rewardTransform: RewardTransform | null;
  /** The preprocessing this run used (also in the log's first line and in every checkpoint's meta). */
  preprocessing: Preprocessing;
  /** Set when `signal` stopped the run before `steps`. */
  aborted?: boolean;
  /**
   * Set when the run continued from a checkpoint: which, at which step, and the settings that
   * differ from the checkpoint's (they apply from here on: a sampler's settings for a re-export,
   * or a mistake the caller should see).
   */
  resumed?: { checkpoint: string; step: number; changedSettings: Record<string, { was: unknown; now: unknown }> };
  /** The data as the learner saw it (normalized, reward-scaled, with mc_return for Cal-QL): the
   * offline half of online fine-tuning. */
  prepared: Dataset;
}

export class TrainError extends Error {
  override name = 'TrainError';
}

/** Refuses a dataset that cannot train this task, naming the problem, before any work. */
export function checkTrainable(ds: Dataset, task: TrainOptions['task'], source: string): void {
  if (ds.size === 0) throw new TrainError(`${source}: the dataset is empty; generate or import transitions first`);
  if (ds.obsDim !== task.obsDim || ds.actDim !== task.actDim) {
    throw new TrainError(`${source}: dataset has obs ${ds.obsDim} / act ${ds.actDim}, the task needs obs ${task.obsDim} / act ${task.actDim}; use a dataset recorded on this task`);
  }
  try {
    validateDataset(ds, source);
  } catch (e) {
    if (e instanceof DataError) throw new TrainError(`${source}: ${e.message}`);
    throw e;
  }
}

/**
 * Offline training loop: validate, normalize, sample, update, evaluate, log, checkpoint.
 * A step whose metrics are NaN/Inf stops the run; the learner keeps its last good parameters
 * and the newest checkpoint on disk stays the last good one.
 */
export async function train(o: TrainOptions): Promise<TrainResult> {
  const source = o.datasetId ?? 'dataset';
  checkTrainable(o.dataset, o.task, source);
  const seed = o.seed ?? 0;
  const taskSpec = { obsDim: o.task.obsDim, actDim: o.task.actDim, maxAction: o.task.maxAction };
  checkSettings(o.algo, o.config ?? {});
  // What the algorithm's batches carry (its descriptor says): derived columns, sequence length.
  const needs = batchNeeds(o.algo, o.config);
  const rtg = needs.columns.find((c) => c.name === 'return_to_go');
  if (needs.sequenceLength > 1 && !rtg) throw new TrainError(`${o.algo}: sequence batches are sampled with their returns-to-go; declare the 'return_to_go' column`);
  // Settings that follow the run's length (Diffusion Policy's lr decay over the whole run).
  let config: AlgoConfig = withRunLength(o.algo, o.config ?? {}, o.steps);
  if (rtg && (config as { targetReturn?: number | null }).targetReturn == null) {
    // A return-conditioned policy needs a return to ask for when served: the task's expert score
    // when the caller knows it (CORL's DT targets sit near D4RL's expert scores), else the best
    // episode in the data.
    const best = episodes(o.dataset).reduce((m, e) => Math.max(m, e.return), Number.NEGATIVE_INFINITY);
    config = { ...config, targetReturn: o.task.expertReturn ?? best } as AlgoConfig;
  }
  const learner = await createLearner(o.algo, taskSpec, config, seed, o.session);

  let data = o.dataset;
  const reference = referencePreprocessing(o.algo, o.datasetId);
  const rn = o.rewardNormalization ?? 'auto';
  const preprocessing: Preprocessing = {
    normalizeObservations: o.normalizeObservations ?? reference.normalizeObservations,
    reward: rn === 'auto' ? reference.reward : rn,
    source: o.normalizeObservations === undefined && rn === 'auto' ? reference.source : `set by the caller (reference: ${reference.source})`,
  };
  const obsStats = preprocessing.normalizeObservations ? observationStats(data) : null;
  if (obsStats) data = normalizeObservations(data, obsStats);
  const mode = preprocessing.reward;
  let rewardTransform: RewardTransform | null = null;
  if (mode === 'episode-return-range') rewardTransform = locomotionRewardTransform(data, o.task.maxEpisodeSteps);
  else if (typeof mode === 'object') rewardTransform = mode;
  if (rewardTransform) data = withScaledRewards(data, rewardTransform);
  const info: string[] = [];
  for (const column of needs.columns) {
    if (column.name !== 'mc_return') continue; // refused above
    data = withInfo(data, 'mc_return', monteCarloReturns(data, { gamma: column.gamma }));
    info.push('mc_return');
  }
  const sampler: Sampler = needs.chunk
    ? new ChunkSampler(data, { batchSize: learner.batchSize, ...needs.chunk, seed: seed + 7919 })
    : rtg
      ? new SequenceSampler(data, { batchSize: learner.batchSize, length: needs.sequenceLength, seed: seed + 7919, returnScale: rtg.scale })
      : new UniformSampler(data, { batchSize: learner.batchSize, seed: seed + 7919, info });

  let lastCheckpoint: string | null = null;
  let resumed: TrainResult['resumed'];
  if (o.checkpointDir) mkdirSync(o.checkpointDir, { recursive: true });
  if (o.resume && o.checkpointDir) {
    const path = newestCheckpoint(o.checkpointDir, 'ckpt');
    if (path) {
      let c;
      try {
        c = readCheckpoint(path);
      } catch (e) {
        throw new TrainError(`cannot resume: ${(e as CheckpointError).message}`);
      }
      const changed = changedSettings(c.learner.config, learner.checkpoint().config);
      try {
        learner.restore(c.learner);
      } catch (e) {
        const was = Object.entries(changed).map(([k, v]) => `${k} ${JSON.stringify(v.was)} (this run: ${JSON.stringify(v.now)})`);
        throw new TrainError(
          `cannot resume from ${path}: ${(e as Error).message}${was.length ? `; the checkpoint was trained with ${was.join(', ')}` : ''} — resume with the checkpoint's settings, or start a new run in another --checkpoints folder`,
        );
      }
      sampler.setRngState(c.samplerRng);
      lastCheckpoint = path;
      resumed = { checkpoint: path, step: c.learner.steps, changedSettings: changed };
    }
  }
  const save = (): void => {
    if (!o.checkpointDir) return;
    const path = join(o.checkpointDir, `ckpt-${learner.steps}.o2o`);
    writeCheckpoint(path, {
      learner: learner.checkpoint(),
      samplerRng: sampler.rngState(),
      meta: { dataset: source, preprocessing, obsStats: obsStats && { mean: [...obsStats.mean], std: [...obsStats.std] }, rewardTransform },
    });
    lastCheckpoint = path;
  };

  const view: TrainedPolicyView = { learner, obsStats };
  const evals: TrainResult['evals'] = [];
  const log = (rec: Record<string, unknown>): void => {
    if (o.logPath) appendFileSync(o.logPath, `${JSON.stringify(rec)}\n`);
  };
  if (learner.steps === 0) log({ run: { algo: o.algo, dataset: source, seed, steps: o.steps, config: learner.checkpoint().config, preprocessing, rewardTransform } });
  else if (resumed) log({ resumed });
  const every = o.checkpointEvery ?? 0;
  // With updatesPerRun K > 1 a run performs K updates, from a multiple of K; a run that would pass
  // `steps`, an evaluation or a checkpoint step is replaced by single updates up to it (the
  // learner's one-update graph), so those points are exact and a resumed run (from any checkpoint)
  // splits its updates into the same runs as an uninterrupted one.
  const K = learner.updatesPerRun;
  const batches: TrainingBatch[] =
    K === 1
      ? [sampler.batch]
      : sampler instanceof SequenceSampler
        ? sampler.batchesLike(K)
        : sampler instanceof ChunkSampler
          ? Array.from({ length: K }, () => allocChunkBatch(sampler.batch.size, sampler.batch.nObs, sampler.batch.horizon, sampler.batch.obsDim, sampler.batch.actDim))
          : batchesLike(sampler.batch, K);
  const next = (step: number, n: number): number => (n > 0 ? (Math.floor(step / n) + 1) * n : Infinity);
  const due = (step: number, n: number): boolean => n > 0 && step % n === 0;
  // With a signal, the loop yields to the event loop every ~50 ms so that an abort (e.g. from a
  // SIGTERM handler) is seen at the next update boundary.
  let yieldedAt = Date.now();
  while (learner.steps < o.steps) {
    if (o.signal) {
      if (Date.now() - yieldedAt > 50) {
        await new Promise((r) => setImmediate(r));
        yieldedAt = Date.now();
      }
      if (o.signal.aborted) {
        if (learner.steps > 0 && !lastCheckpoint?.endsWith(`ckpt-${learner.steps}.o2o`)) save();
        return { ...view, steps: learner.steps, evals, rewardTransform, preprocessing, prepared: data, aborted: true, ...(resumed ? { resumed } : {}) };
      }
    }
    const from = learner.steps;
    const stop = Math.min(o.steps, next(from, K), next(from, every), o.evaluate ? next(from, o.evaluate.every) : Infinity);
    let r: UpdateResult;
    if (stop - from === K) {
      for (const b of batches) sampler.sample(b as never);
      r = learner.updateMany(batches).at(-1)!;
    } else {
      do r = learner.update(sampler.sample(batches[0]! as never));
      while (!r.diverged && learner.steps < stop);
    }
    if (r.diverged) {
      log({ step: learner.steps + 1, diverged: true, ...r.metrics });
      return {
        ...view,
        steps: learner.steps,
        evals,
        rewardTransform,
        preprocessing,
        prepared: data,
        diverged: { step: learner.steps + 1, metrics: r.metrics, lastCheckpoint },
        ...(resumed ? { resumed } : {}),
      };
    }
    const step = learner.steps;
    let ev: EvalResult | undefined;
    if (o.evaluate && (due(step, o.evaluate.every) || step === o.steps)) {
      ev = await o.evaluate.run(view);
      evals.push({ step, result: ev });
    }
    if (o.logPath && (Math.floor(step / 100) > Math.floor(from / 100) || ev || step === o.steps))
      log({
        step,
        time: Date.now(),
        ...r.metrics,
        ...(ev ? { eval_return: ev.mean, eval_normalized: ev.normalized, ...(ev.successRate !== undefined ? { eval_success: ev.successRate } : {}) } : {}),
      });
    if (due(step, every)) save();
    o.onProgress?.({ step, steps: o.steps, metrics: r.metrics, eval: ev });
  }
  // the run's end is always kept (also without checkpointEvery), unless its last save was this step
  if (!lastCheckpoint?.endsWith(`ckpt-${learner.steps}.o2o`)) save();
  return { ...view, steps: learner.steps, evals, rewardTransform, preprocessing, prepared: data, ...(resumed ? { resumed } : {}) };
}

/** Settings whose values differ between a checkpoint's config and this run's (JSON-compared). */
function changedSettings(was: unknown, now: unknown): Record<string, { was: unknown; now: unknown }> {
  const a = (was ?? {}) as Record<string, unknown>;
  const b = (now ?? {}) as Record<string, unknown>;
  const out: Record<string, { was: unknown; now: unknown }> = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) out[k] = { was: a[k], now: b[k] };
  return out;
}
