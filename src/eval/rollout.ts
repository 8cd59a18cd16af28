/**
 * The one rollout loop: a policy acts in an Env for whole episodes. Any PolicyRuntime runs here —
 * an 'mlp' policy or a 'sequence' one (a Decision Transformer), which gets what a robot's server
 * gives it: the episode start, and with each observation the reward the previous step earned, so
 * its return-to-go falls from the target return as rewards come in. `o2o eval` rolls out through
 * it; a trainer's evaluation can too (open a PolicyRuntime on the exported serving graph).
 */
import type { Env } from '../../simulators/index.js';
import type { PolicyModel, StepInfo } from '../serve/index.js';

/** What a rollout drives. PolicyRuntime is one (mlp or sequence); `modelPolicy` adapts a bare mlp PolicyModel. */
export interface RolloutPolicy {
  /** One step: the returned action may be a reused buffer (it is applied before the next call). */
  act(obs: Float32Array, step: StepInfo): ArrayLike<number>;
  /** The next act() starts a new episode. */
  reset(): void;
}

export interface RolloutResult {
  /** Undiscounted return of each episode. */
  returns: number[];
  lengths: number[];
  /** Episodes that ended by `terminated` (not by the time limit). */
  terminated: number;
  /** Per episode: whether its last step reported `info.success` (tasks with a goal); null when the env never reports success. */
  successes: boolean[] | null;
}

/** Runs `episodes` episodes with reset seeds seed, seed+1, ...; the policy sees raw observations. */
export function rollout(
  env: Env,
  policy: RolloutPolicy,
  episodes: number,
  seed: number,
  onEpisode?: (episode: number, ret: number, length: number, success: boolean | undefined) => void,
): RolloutResult {
  const returns: number[] = [];
  const lengths: number[] = [];
  const successes: boolean[] = [];
  let reportsSuccess = false;
  let terminated = 0;
  const step: StepInfo = { reward: 0, episodeStart: true };
  for (let ep = 0; ep < episodes; ep++) {
    let obs = env.reset(seed + ep);
    policy.reset();
    step.episodeStart = true;
    step.reward = 0;
    let total = 0;
    let len = 0;
    let success: boolean | undefined;
    for (;;) {
      const r = env.step(policy.act(obs, step));
      step.episodeStart = false;
      step.reward = r.reward;
      total += r.reward;
      len++;
      obs = r.obs;
      if (r.terminated) terminated++;
      if (r.terminated || r.truncated) {
        success = r.info.success;
        break;
      }
    }
    if (success !== undefined) reportsSuccess = true;
    returns.push(total);
    lengths.push(len);
    successes.push(success === true);
    onEpisode?.(ep, total, len, success);
  }
  return { returns, lengths, terminated, successes: reportsSuccess ? successes : null };
}

/** A bare mlp PolicyModel as a RolloutPolicy (observation in, action out; no context to keep). */
export function modelPolicy(model: PolicyModel): RolloutPolicy {
  if (model.contextLength !== 1 || model.inputs.size > 0)
    throw new Error(`${model.source}: a sequence policy keeps a context; roll it out through a PolicyRuntime (PolicyRuntime.open), not a bare PolicyModel`);
  return {
    act(obs) {
      model.obs.set(obs);
      model.infer();
      return model.action;
    },
    reset() {},
  };
}
