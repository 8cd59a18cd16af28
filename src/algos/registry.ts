import type { SessionOptions } from '../engine/index.js';
import { BC, BC_DEFAULTS, type BcConfig } from './bc.js';
import { CALQL_DEFAULTS, createCalQL } from './calql.js';
import { CQL, CQL_DEFAULTS, type CqlConfig } from './cql.js';
import { IQL, IQL_DEFAULTS, type IqlConfig } from './iql.js';
import { LearnerError, type Learner, type TaskSpec } from './learner.js';
import { SAC, type SacConfig } from './sac.js';
import { TD3BC, TD3BC_DEFAULTS, type Td3BcConfig } from './td3bc.js';

export const ALGOS = ['bc', 'td3bc', 'iql', 'cql', 'calql', 'sac'] as const;
export type AlgoName = (typeof ALGOS)[number];

export type AlgoConfig = Partial<BcConfig & Td3BcConfig & IqlConfig & CqlConfig & SacConfig>;

/** Every setting some algorithm has (one config may serve several algorithms, e.g. network sizes). */
const KNOWN_SETTINGS = new Set([BC_DEFAULTS, TD3BC_DEFAULTS, IQL_DEFAULTS, CQL_DEFAULTS, CALQL_DEFAULTS].flatMap((d) => Object.keys(d)));

/**
 * Builds a learner by name; `config` overrides the algorithm's cited defaults. A setting no
 * algorithm has (a typo) is refused rather than silently ignored.
 */
export async function createLearner(algo: string, task: TaskSpec, config: AlgoConfig = {}, seed = 0, opts?: SessionOptions): Promise<Learner> {
  const unknown = Object.keys(config).filter((k) => !KNOWN_SETTINGS.has(k));
  if (unknown.length > 0) {
    throw new LearnerError(
      `unknown setting${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} for ${algo}; settings are: ${[...KNOWN_SETTINGS].sort().join(', ')}`,
    );
  }
  switch (algo) {
    case 'bc':
      return BC.create(task, config, seed, opts);
    case 'td3bc':
      return TD3BC.create(task, config, seed, opts);
    case 'iql':
      return IQL.create(task, config, seed, opts);
    case 'cql':
      return CQL.create(task, { ...config, calibrated: false }, seed, opts);
    case 'calql':
      return createCalQL(task, config, seed, opts);
    case 'sac':
      return SAC.create(task, config, seed, opts);
    default:
      throw new LearnerError(`unknown algorithm '${algo}'; choose one of ${ALGOS.join(', ')}`);
  }
}

/** Whether the algorithm needs Monte-Carlo returns in its batches (Cal-QL). */
export function needsMcReturns(algo: string): boolean {
  return algo === 'calql';
}
