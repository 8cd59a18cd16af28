/**
 * Data preprocessing as the reference implementation's configs set it (CORL
 * configs/offline/<algo>/<env>/<dataset>.yaml and configs/finetune/cal_ql/...): whether
 * observations are normalized by the dataset's mean/std (`normalize`) and how rewards are rescaled
 * (`normalize_reward` with the script's modify_reward). Each algorithm's descriptor says what its
 * reference does (`preprocessing(datasetId)`, usually through `corlPreprocessing` below); a dataset
 * without a CORL config gets the script's TrainConfig defaults.
 *
 * The trainer records the choice (and its source) in the run's log and in every checkpoint.
 */
import type { RewardTransform } from '../data/index.js';

export type RewardPreprocessing = 'none' | 'episode-return-range' | RewardTransform;

export interface Preprocessing {
  normalizeObservations: boolean;
  reward: RewardPreprocessing;
  /** Where the choice comes from, e.g. "CORL configs/offline/iql/hopper/medium_v2.yaml". */
  source: string;
}

/** A dataset id read as D4RL's '<env>-<kind>'. */
export interface DatasetKey {
  env: string;
  kind: string;
}

const LOCOMOTION = ['hopper', 'halfcheetah', 'walker2d'];

/**
 * '<task>-<kind>' of a dataset id: a recipe name ('hopper-medium-replay'), a D4RL name
 * ('hopper-medium-replay-v2') or file ('/data/hopper_medium_replay-v2.hdf5'); null when the id
 * names no known D4RL-style dataset.
 */
export function datasetKey(datasetId: string): DatasetKey | null {
  const base = (datasetId.split(/[\\/]/).filter(Boolean).at(-1) ?? '')
    .toLowerCase()
    .replace(/\.(hdf5|h5)$/, '')
    .replace(/_/g, '-')
    .replace(/-v\d+$/, '');
  const m = /^(hopper|halfcheetah|walker2d|antmaze|pen|door|hammer|relocate|maze2d)-(.+)$/.exec(base);
  return m ? { env: m[1]!, kind: m[2]! } : null;
}

/** CORL's config file for a dataset, e.g. 'CORL configs/offline/iql/hopper/medium_v2.yaml' (configs = 'offline/iql'). */
export function corlConfigFile(configs: string, key: DatasetKey): string {
  const version = ['antmaze', 'hopper', 'halfcheetah', 'walker2d'].includes(key.env) ? 2 : 1;
  return `CORL configs/${configs}/${key.env}/${key.kind.replace(/-/g, '_')}_v${version}.yaml`;
}

export interface CorlReference {
  /** The script, e.g. 'algorithms/offline/iql.py'. */
  script: string;
  /** Its config folder under configs/, e.g. 'offline/iql'. */
  configs: string;
  /** The script's TrainConfig `normalize`, which its locomotion configs keep. */
  normalizeObservations: boolean;
  /** Datasets whose config sets something else (rewards rescaled, states raw), or null. */
  special?: (key: DatasetKey) => Omit<Preprocessing, 'source'> | null;
}

/**
 * The preprocessing of a CORL script on a dataset: its config's choice where `special` names one;
 * the script's defaults, sourced to the config, on the other locomotion datasets; the script's
 * TrainConfig defaults on datasets without a config.
 */
export function corlPreprocessing(datasetId: string | undefined, ref: CorlReference): Preprocessing {
  const key = datasetId ? datasetKey(datasetId) : null;
  const special = key ? ref.special?.(key) : null;
  if (key && special) return { ...special, source: corlConfigFile(ref.configs, key) };
  if (key && LOCOMOTION.includes(key.env)) return { normalizeObservations: ref.normalizeObservations, reward: 'none', source: corlConfigFile(ref.configs, key) };
  return { normalizeObservations: ref.normalizeObservations, reward: 'none', source: `CORL ${ref.script} TrainConfig defaults (no config for this dataset)` };
}
