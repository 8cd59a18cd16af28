/**
 * Data preprocessing per algorithm and dataset, as the reference implementation's configs set it
 * (CORL configs/offline/<algo>/<env>/<dataset>.yaml and configs/finetune/cal_ql/...): whether
 * observations are normalized by the dataset's mean/std (`normalize`) and how rewards are rescaled
 * (`normalize_reward` with the script's modify_reward). A dataset without a CORL config gets the
 * script's TrainConfig defaults — except Cal-QL, whose states are raw in every one of its configs.
 *
 *   bc, td3bc   states normalized, rewards raw (every locomotion config); antmaze: r − 1 (td3bc)
 *   iql         states normalized; rewards × maxEpisodeSteps / (max return − min return) on
 *               hopper-medium and hopper-medium-replay only, raw elsewhere; antmaze: r − 1
 *   cql         states normalized; the return-range rescaling on hopper-medium only, raw
 *               elsewhere; antmaze: states raw, r × 10 − 5
 *   calql       states raw (normalize: false in all its configs); rewards raw (adroit configs);
 *               antmaze: r × 10 − 5
 *   sac         states normalized, rewards raw (our online SAC; not a CORL offline script)
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

const LOCOMOTION = ['hopper', 'halfcheetah', 'walker2d'];

/**
 * '<task>-<kind>' of a dataset id: a recipe name ('hopper-medium-replay'), a D4RL name
 * ('hopper-medium-replay-v2') or file ('/data/hopper_medium_replay-v2.hdf5'); null when the id
 * names no known D4RL-style dataset.
 */
export function datasetKey(datasetId: string): { env: string; kind: string } | null {
  const base = (datasetId.split(/[\\/]/).filter(Boolean).at(-1) ?? '')
    .toLowerCase()
    .replace(/\.(hdf5|h5)$/, '')
    .replace(/_/g, '-')
    .replace(/-v\d+$/, '');
  const m = /^(hopper|halfcheetah|walker2d|antmaze|pen|door|hammer|relocate|maze2d)-(.+)$/.exec(base);
  return m ? { env: m[1]!, kind: m[2]! } : null;
}

/** The reference preprocessing of `algo` on the dataset `datasetId` (see the table above). */
export function referencePreprocessing(algo: string, datasetId: string | undefined): Preprocessing {
  const key = datasetId ? datasetKey(datasetId) : null;
  const script = algo === 'calql' ? 'algorithms/finetune/cal_ql.py' : `algorithms/offline/${algo === 'td3bc' ? 'td3_bc' : algo === 'bc' ? 'any_percent_bc' : algo}.py`;
  const config = key
    ? `CORL configs/${algo === 'calql' ? 'finetune/cal_ql' : `offline/${algo === 'td3bc' ? 'td3_bc' : algo}`}/${key.env}/${key.kind.replace(/-/g, '_')}_v${['antmaze', 'hopper', 'halfcheetah', 'walker2d'].includes(key.env) ? 2 : 1}.yaml`
    : '';
  const defaults = (normalizeObservations: boolean, why = `CORL ${script} TrainConfig defaults (no config for this dataset)`): Preprocessing => ({
    normalizeObservations,
    reward: 'none',
    source: why,
  });
  switch (algo) {
    case 'iql':
      if (key?.env === 'hopper' && (key.kind === 'medium' || key.kind === 'medium-replay')) return { normalizeObservations: true, reward: 'episode-return-range', source: config };
      if (key?.env === 'antmaze') return { normalizeObservations: true, reward: { scale: 1, bias: -1 }, source: config };
      return key && LOCOMOTION.includes(key.env) ? { ...defaults(true), source: config } : defaults(true);
    case 'cql':
      if (key?.env === 'hopper' && key.kind === 'medium') return { normalizeObservations: true, reward: 'episode-return-range', source: config };
      if (key?.env === 'antmaze') return { normalizeObservations: false, reward: { scale: 10, bias: -5 }, source: config };
      return key && LOCOMOTION.includes(key.env) ? { ...defaults(true), source: config } : defaults(true);
    case 'calql':
      if (key?.env === 'antmaze') return { normalizeObservations: false, reward: { scale: 10, bias: -5 }, source: config };
      return defaults(false, 'CORL configs/finetune/cal_ql/*: normalize false, normalize_reward false (adroit; TrainConfig says normalize true, no config uses it)');
    case 'td3bc':
      if (key?.env === 'antmaze') return { normalizeObservations: true, reward: { scale: 1, bias: -1 }, source: config };
      return key && LOCOMOTION.includes(key.env) ? { ...defaults(true), source: config } : defaults(true);
    case 'bc':
      return defaults(true, `CORL ${script}: normalize true, rewards unused`);
    default:
      return defaults(true, 'states normalized, rewards raw (no reference config)');
  }
}
