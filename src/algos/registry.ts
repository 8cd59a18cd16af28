import type { SessionOptions } from '../engine/index.js';
import { BC, type BcConfig } from './bc.js';
import { createCalQL } from './calql.js';
import { CQL, type CqlConfig } from './cql.js';
import { IQL, type IqlConfig } from './iql.js';
import { LearnerError, type Learner, type TaskSpec } from './learner.js';
import { SAC, type SacConfig } from './sac.js';
import { TD3BC, type Td3BcConfig } from './td3bc.js';

export const ALGOS = ['bc', 'td3bc', 'iql', 'cql', 'calql', 'sac'] as const;
export type AlgoName = (typeof ALGOS)[number];

export type AlgoConfig = Partial<BcConfig & Td3BcConfig & IqlConfig & CqlConfig & SacConfig>;

/** Builds a learner by name; `config` overrides the algorithm's cited defaults. */
export async function createLearner(algo: string, task: TaskSpec, config: AlgoConfig = {}, seed = 0, opts?: SessionOptions): Promise<Learner> {
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

/**
 * Reward preprocessing each algorithm's reference implementation applies (CORL): IQL rescales
 * locomotion rewards by maxEpisodeSteps / (max return − min return); the others use raw rewards.
 */
export function defaultRewardNormalization(algo: string): 'episode-return-range' | 'none' {
  return algo === 'iql' ? 'episode-return-range' : 'none';
}
