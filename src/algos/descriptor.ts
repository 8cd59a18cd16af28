/**
 * The algorithm contract: each algorithm module exports one descriptor, and the registry
 * (registry.ts) lists them. Everything outside the module — `createLearner`, settings checks,
 * `o2o train --help` and `--config`, the trainer's batches and preprocessing — reads the
 * descriptor; nothing else knows an algorithm by name. docs/adding-an-algorithm.md is the guide.
 */
import type { SessionOptions } from '../engine/index.js';
import type { Learner, TaskSpec } from './learner.js';
import type { Preprocessing } from './preprocessing.js';

/**
 * A column the trainer derives from the dataset once and samples with every row (beside the
 * transition's observation, action, reward, next observation and terminal flag).
 *  - mc_return: the discounted Monte-Carlo return from each row to its episode's end (Cal-QL's bound).
 *  - return_to_go: the undiscounted return from each row on, divided by `scale` (Decision
 *    Transformer's conditioning; not supported by the trainer yet).
 */
export type DerivedColumn = { name: 'mc_return'; gamma: number } | { name: 'return_to_go'; scale: number };

/** What every batch of an algorithm carries. */
export interface BatchNeeds {
  columns: readonly DerivedColumn[];
  /**
   * Consecutive steps of one episode per sample: 1 = independent transitions (every algorithm
   * today); K > 1 = windows of K steps (a Decision Transformer's context; not supported by the
   * trainer yet).
   */
  sequenceLength: number;
  /**
   * Action chunks (Diffusion Policy): windows of `horizon` steps whose first `nObs` observations and
   * all `horizon` actions make a sample (ChunkSampler; `nAction` = actions executed per chunk).
   */
  chunk?: { nObs: number; horizon: number; nAction: number };
}

/** Plain transitions, nothing derived. */
export const TRANSITIONS: BatchNeeds = { columns: [], sequenceLength: 1 };

export interface AlgoDescriptor<C extends object = object, N extends string = string> {
  /** `--algo` name; also the learner's `algo` and the name its checkpoints carry. */
  readonly name: N;
  /** What it is, in a few words ("Implicit Q-Learning"). */
  readonly title: string;
  /** The paper, cited (authors, year, title, venue). */
  readonly paper: string;
  /** Where the defaults come from (e.g. "CORL algorithms/offline/iql.py, locomotion configs"). */
  readonly defaultsFrom: string;
  /**
   * Every setting this algorithm accepts, at its cited default. A setting that is not a key here
   * is refused (createLearner, `o2o train --config`), naming these.
   */
  readonly defaults: Readonly<C>;
  /** What its batches carry, given its full configuration (defaults with the caller's settings). */
  batch(config: C): BatchNeeds;
  /**
   * The reference preprocessing (observation normalization, reward scaling) on a dataset, from the
   * reference implementation's config for it where there is one; the trainer applies it unless
   * the caller chooses.
   */
  preprocessing(datasetId: string | undefined): Preprocessing;
  /**
   * The settings that give every network hidden layers of these widths (`o2o train --hidden`,
   * benchmarks that compare algorithms at one size); absent for an algorithm whose networks are
   * not sized by hidden widths (it names its own size settings).
   */
  networks?(hidden: number[]): Partial<C>;
  /**
   * Settings that follow the run's length (`o2o train --steps`) when the caller leaves them unset,
   * e.g. a learning-rate schedule over the whole run (diffusion_policy decays its lr over all of
   * training); absent where the reference fixes them (CORL's IQL: cosine over 1M steps).
   */
  runLength?(steps: number): Partial<C>;
  /** Builds a learner; `config` holds only this algorithm's settings (checked), over `defaults`. */
  create(task: TaskSpec, config: Partial<C>, seed: number, opts?: SessionOptions): Promise<Learner>;
}

/** `defaults` without the keys a descriptor fixes itself (e.g. Cal-QL's `calibrated`). */
export function without<C extends object, K extends keyof C>(defaults: C, ...keys: K[]): Omit<C, K> {
  const out = { ...defaults };
  for (const k of keys) delete out[k];
  return out;
}
