/** The task a learner is built for, from an environment's spec: computed once, here. */
import type { EnvSpec } from '../../simulators/env.js';

export interface TaskSpec {
  obsDim: number;
  actDim: number;
  /** Largest |action| bound: the actor's tanh output is scaled by it. */
  maxAction: number;
  maxEpisodeSteps: number;
}

export function taskOf(spec: Pick<EnvSpec, 'obsDim' | 'actDim' | 'actHigh' | 'maxEpisodeSteps'>): TaskSpec {
  return { obsDim: spec.obsDim, actDim: spec.actDim, maxAction: Math.max(...Array.from(spec.actHigh).map(Math.abs)), maxEpisodeSteps: spec.maxEpisodeSteps };
}
