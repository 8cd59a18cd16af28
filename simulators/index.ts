export * from './env.js';
export * from './registry.js';
export * from './vector.js';
export * from './randomization.js';
export { RandomizedEnv } from './randomized.js';
export { PendulumEnv, makePendulum, type PendulumOptions } from './classic/pendulum.js';
export {
  ReachAroundEnv,
  scriptedReachAroundPolicy,
  straightReachPolicy,
  type EpisodicController,
  type ReachAroundOptions,
} from './classic/reach_around.js';
export { LocomotionEnv, LOCOMOTION_IDS, type LocomotionId, type LocomotionParams, type LocomotionOptions } from './mujoco/locomotion.js';
export {
  ReacherArmEnv,
  scriptedArmPolicy,
  armForwardKinematics,
  armJacobian,
  ARM_GEOMETRY,
  type ReacherArmOptions,
  type ScriptedArmGains,
} from './mujoco/reacher_arm.js';
export { MujocoEnv, type MujocoEnvOptions } from './mujoco/base.js';
export { loadMujoco, compileModel, readModelXml, INTEGRATORS, type IntegratorName, type LoadedModel } from './mujoco/runtime.js';
export { measureReturns, type ReturnStats } from './refscores.js';
