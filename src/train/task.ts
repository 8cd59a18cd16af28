/** The task a learner is built for, from an environment's spec: computed once, here. */
import type { EnvSpec } from '../../simulators/env.js';

export interface TaskSpec {
  obsDim: number;
  actDim: number;
  /** Largest |action| bound: the actor's tanh output is scaled by it. */
  maxAction: number;
  maxEpisodeSteps: number;
  /** The task's expert reference return (D4RL-style), when its spec has one: return-conditioned policies (dt) aim for it by default. */
  expertReturn?: number;
}

export function taskOf(spec: Pick<EnvSpec, 'obsDim' | 'actDim' | 'actHigh' | 'maxEpisodeSteps'> & Partial<Pick<EnvSpec, 'refScores'>>): TaskSpec {
  return {
    obsDim: spec.obsDim,
    actDim: spec.actDim,
    maxAction: Math.max(...Array.from(spec.actHigh).map(Math.abs)),
    maxEpisodeSteps: spec.maxEpisodeSteps,
    ...(spec.refScores ? { expertReturn: spec.refScores.expert } : {}),
  };
}
