/**
 * makeEnv(id, options): the one way to create simulators.
 *
 *   const env = await makeEnv('hopper', { seed: 0, randomization: 'mild' });
 *   const vec = await makeVectorEnv('hopper', 8, { seed: 0 });
 *
 * Creation is async (the MuJoCo WASM module loads once per process); step() is sync.
 */
import { PendulumEnv } from './classic/pendulum.js';
import { ReachAroundEnv } from './classic/reach_around.js';
import type { Env, RandomizableEnv } from './env.js';
import { LocomotionEnv, type LocomotionParams } from './mujoco/locomotion.js';
import { ReacherArmEnv } from './mujoco/reacher_arm.js';
import type { IntegratorName } from './mujoco/runtime.js';
import { RandomizedEnv } from './randomized.js';
import { resolveProfile, type ProfileInput, type RandomizationProfile } from './randomization.js';
import { VectorEnv } from './vector.js';

export const ENV_IDS = ['pendulum', 'hopper', 'halfcheetah', 'walker2d', 'reacher-arm', 'reach-around'] as const;
export type EnvId = (typeof ENV_IDS)[number];

export interface MakeEnvOptions {
  /** Seed of the first reset() without an explicit seed (default 0). */
  seed?: number;
  /** Override the task's time limit. */
  maxEpisodeSteps?: number;
  /** Randomization: a profile name ('nominal' | 'mild' | 'harsh' | one in `profiles`) or a profile object. */
  randomization?: ProfileInput;
  /** Named profiles loaded with loadProfiles()/parseProfiles(), looked up by `randomization`. */
  profiles?: Readonly<Record<string, RandomizationProfile>>;
  /** MuJoCo tasks: override the integrator (Gymnasium models use RK4; 'euler' is ~4x faster). */
  integrator?: IntegratorName;
  /** Locomotion tasks: override Gymnasium constants (e.g. { terminateWhenUnhealthy: false }). */
  locomotion?: Partial<LocomotionParams>;
}

async function makeBase(id: string, o: MakeEnvOptions): Promise<RandomizableEnv> {
  switch (id as EnvId) {
    case 'pendulum':
      return new PendulumEnv({ maxEpisodeSteps: o.maxEpisodeSteps, seed: o.seed });
    case 'reach-around':
      return new ReachAroundEnv({ maxEpisodeSteps: o.maxEpisodeSteps, seed: o.seed });
    case 'hopper':
    case 'halfcheetah':
    case 'walker2d':
      return LocomotionEnv.create(id as 'hopper', { maxEpisodeSteps: o.maxEpisodeSteps, seed: o.seed, integrator: o.integrator, params: o.locomotion });
    case 'reacher-arm':
      return ReacherArmEnv.create({ maxEpisodeSteps: o.maxEpisodeSteps, seed: o.seed, integrator: o.integrator });
    default:
      throw new RangeError(`makeEnv: unknown env id '${id}'; known ids: ${ENV_IDS.join(', ')}`);
  }
}

export async function makeEnv(id: string, options: MakeEnvOptions = {}): Promise<Env> {
  if (options.maxEpisodeSteps !== undefined && !(Number.isInteger(options.maxEpisodeSteps) && options.maxEpisodeSteps > 0)) {
    throw new RangeError(`makeEnv('${id}'): maxEpisodeSteps must be a positive integer, got ${options.maxEpisodeSteps}`);
  }
  const profile = options.randomization === undefined ? undefined : resolveProfile(options.randomization, options.profiles);
  const base = await makeBase(id, options);
  return profile ? new RandomizedEnv(base, profile) : base;
}

/** N copies of `id`; copy i gets seed (options.seed ?? 0) + i on its first reset. */
export async function makeVectorEnv(id: string, numEnvs: number, options: MakeEnvOptions = {}): Promise<VectorEnv> {
  if (!(Number.isInteger(numEnvs) && numEnvs > 0)) {
    throw new RangeError(`makeVectorEnv('${id}'): numEnvs must be a positive integer, got ${numEnvs}`);
  }
  const seed = options.seed ?? 0;
  const envs: Env[] = [];
  for (let i = 0; i < numEnvs; i++) envs.push(await makeEnv(id, { ...options, seed: seed + i }));
  return new VectorEnv(envs);
}
