/**
 * Planar locomotion tasks with Gymnasium MuJoCo v4 rewards, termination and reset noise:
 * hopper (Hopper-v4), walker2d (Walker2d-v4), halfcheetah (HalfCheetah-v4).
 *
 *   reward = forward_reward_weight · Δx/dt + healthy_reward − ctrl_cost_weight · Σ a²
 *
 * Differences from Gymnasium, all deliberate: the control cost uses the *clipped* action (the one
 * actually applied; identical for in-bounds actions), Δx/dt uses the simulated time actually
 * elapsed (equal to dt unless control-period jitter is on), observations are float32.
 */
import type { Rng } from '../../src/util/rng.js';
import type { RefScores } from '../env.js';
import { MujocoEnv, type MujocoEnvOptions, type StepOutcome } from './base.js';
import { compileModel, readModelXml } from './runtime.js';

export interface LocomotionParams {
  forwardRewardWeight: number;
  ctrlCostWeight: number;
  healthyReward: number;
  terminateWhenUnhealthy: boolean;
  /** Open interval for the torso height (qpos[1]). */
  healthyZRange: [number, number];
  /** Open interval for the torso angle (qpos[2]). */
  healthyAngleRange: [number, number];
  /** Open interval for every element of [qpos, qvel][2:] (hopper only; null = unchecked). */
  healthyStateRange: [number, number] | null;
  resetNoiseScale: number;
  /** Velocity reset noise: uniform ±scale (hopper, walker) or normal·scale (halfcheetah). */
  velocityNoise: 'uniform' | 'normal';
  /** Clip velocities in the observation to ±this (10 for hopper/walker, null for halfcheetah). */
  obsVelocityClip: number | null;
  /** Whether the task has a healthy/termination notion at all (false for halfcheetah). */
  hasHealth: boolean;
}

interface TaskDef {
  model: string;
  obsDim: number;
  frameSkip: number;
  params: LocomotionParams;
  refScores: RefScores;
}

// Reference scores, D4RL's definition applied to *these* envs: `random` is a uniform-random policy,
// `expert` the return of the task's shipped expert behaviour policy (policies/<task>-expert.onnx,
// its card's evaluation: nominal dynamics, reset seeds 100...). D4RL's own constants (SAC experts
// in mujoco-py Gym v2 envs) are in the note, for comparing with published tables.
const note = (expertCard: string, d4rlMin: number, d4rlMax: number): string =>
  'random: measured 2026-11-27 on the 2-core dev VM with bench/sim.ts: uniform-random policy, mean of 100 episodes ' +
  `(reset seeds 0-99, actions from Rng(0)), rk4. expert: ${expertCard}. ` +
  `D4RL REF_MIN_SCORE / REF_MAX_SCORE (for published normalized scores): ${d4rlMin} / ${d4rlMax}.`;
const LOCOMOTION: Record<'hopper' | 'walker2d' | 'halfcheetah', TaskDef> = {
  hopper: {
    model: 'hopper',
    obsDim: 11,
    frameSkip: 4,
    params: {
      forwardRewardWeight: 1,
      ctrlCostWeight: 1e-3,
      healthyReward: 1,
      terminateWhenUnhealthy: true,
      healthyZRange: [0.7, Infinity],
      healthyAngleRange: [-0.2, 0.2],
      healthyStateRange: [-100, 100],
      resetNoiseScale: 5e-3,
      velocityNoise: 'uniform',
      obsVelocityClip: 10,
      hasHealth: true,
    },
    refScores: { random: 22.53, expert: 3338.3, note: note('policies/hopper-expert.onnx (ARS linear policy, 2.1M env steps), 10 episodes, 3338.3 ± 4.1', -20.272305, 3234.3) },
  },
  walker2d: {
    model: 'walker2d',
    obsDim: 17,
    frameSkip: 4,
    params: {
      forwardRewardWeight: 1,
      ctrlCostWeight: 1e-3,
      healthyReward: 1,
      terminateWhenUnhealthy: true,
      healthyZRange: [0.8, 2],
      healthyAngleRange: [-1, 1],
      healthyStateRange: null,
      resetNoiseScale: 5e-3,
      velocityNoise: 'uniform',
      obsVelocityClip: 10,
      hasHealth: true,
    },
    refScores: { random: 3.79, expert: 3117.1, note: note('policies/walker2d-expert.onnx (ARS linear policy, 4.0M env steps), 5 episodes, 3117.1 ± 32.1', 1.629008, 4592.3) },
  },
  halfcheetah: {
    model: 'halfcheetah',
    obsDim: 17,
    frameSkip: 5,
    params: {
      forwardRewardWeight: 1,
      ctrlCostWeight: 0.1,
      healthyReward: 0,
      terminateWhenUnhealthy: false,
      healthyZRange: [-Infinity, Infinity],
      healthyAngleRange: [-Infinity, Infinity],
      healthyStateRange: null,
      resetNoiseScale: 0.1,
      velocityNoise: 'normal',
      obsVelocityClip: null,
      hasHealth: false,
    },
    refScores: {
      random: -270.19,
      expert: 2831.6,
      note: note(
        'policies/halfcheetah-expert.onnx (ARS linear policy, 5.8M env steps), 5 episodes, 2831.6 ± 1423.8 (one of five episodes flips the cheetah)',
        -280.178953,
        12135.0,
      ),
    },
  },
};

export type LocomotionId = keyof typeof LOCOMOTION;
export const LOCOMOTION_IDS = Object.keys(LOCOMOTION) as LocomotionId[];

export interface LocomotionOptions extends MujocoEnvOptions {
  /** Override Gymnasium's task constants (forward/ctrl weights, health ranges, reset noise...). */
  params?: Partial<LocomotionParams>;
}

export class LocomotionEnv extends MujocoEnv {
  readonly params: LocomotionParams;
  private xBefore = 0;
  private qpos0: Float64Array;

  private constructor(loaded: Awaited<ReturnType<typeof compileModel>>, id: LocomotionId, def: TaskDef, options: LocomotionOptions) {
    super(loaded, { id, obsDim: def.obsDim, frameSkip: def.frameSkip, maxEpisodeSteps: 1000, refScores: def.refScores }, options);
    this.params = { ...def.params, ...options.params };
    this.qpos0 = (this.model.qpos0 as Float64Array).slice();
  }

  static async create(id: LocomotionId, options: LocomotionOptions = {}): Promise<LocomotionEnv> {
    const def = LOCOMOTION[id];
    if (!def) throw new RangeError(`unknown locomotion task '${String(id)}'; known: ${LOCOMOTION_IDS.join(', ')}`);
    const loaded = await compileModel(readModelXml(def.model), id);
    return new LocomotionEnv(loaded, id, def, options);
  }

  protected initState(rng: Rng): void {
    const { qpos, qvel } = this.v;
    const s = this.params.resetNoiseScale;
    for (let i = 0; i < qpos.length; i++) qpos[i] = this.qpos0[i] + rng.uniform(-s, s);
    if (this.params.velocityNoise === 'uniform') {
      for (let i = 0; i < qvel.length; i++) qvel[i] = rng.uniform(-s, s);
    } else {
      for (let i = 0; i < qvel.length; i++) qvel[i] = s * rng.normal();
    }
  }

  protected beforeStep(): void {
    this.xBefore = this.v.qpos[0];
  }

  protected afterStep(act: Float64Array, elapsed: number): StepOutcome {
    const p = this.params;
    const x = this.v.qpos[0];
    const xVelocity = (x - this.xBefore) / elapsed;
    let ctrl = 0;
    for (let i = 0; i < act.length; i++) ctrl += act[i] * act[i];
    const ctrlCost = p.ctrlCostWeight * ctrl;
    const forward = p.forwardRewardWeight * xVelocity;
    let healthyReward = 0;
    let terminated = false;
    if (p.hasHealth) {
      const healthy = this.isHealthy();
      healthyReward = healthy || p.terminateWhenUnhealthy ? p.healthyReward : 0;
      terminated = p.terminateWhenUnhealthy && !healthy;
    }
    return {
      reward: forward + healthyReward - ctrlCost,
      terminated,
      terms: { x_position: x, x_velocity: xVelocity, reward_forward: forward, reward_ctrl: -ctrlCost, reward_survive: healthyReward },
    };
  }

  /** Gymnasium's is_healthy: open intervals on z, angle and (hopper) the rest of the state. */
  isHealthy(): boolean {
    const p = this.params;
    const { qpos, qvel } = this.v;
    const z = qpos[1];
    const angle = qpos[2];
    if (!(p.healthyZRange[0] < z && z < p.healthyZRange[1])) return false;
    if (!(p.healthyAngleRange[0] < angle && angle < p.healthyAngleRange[1])) return false;
    const r = p.healthyStateRange;
    if (r) {
      for (let i = 2; i < qpos.length; i++) if (!(r[0] < qpos[i] && qpos[i] < r[1])) return false;
      for (let i = 0; i < qvel.length; i++) if (!(r[0] < qvel[i] && qvel[i] < r[1])) return false;
    }
    return true;
  }

  protected writeObs(out: Float32Array): void {
    const { qpos, qvel } = this.v;
    const nq = qpos.length;
    for (let i = 1; i < nq; i++) out[i - 1] = qpos[i];
    const c = this.params.obsVelocityClip;
    for (let i = 0; i < qvel.length; i++) {
      const w = qvel[i];
      out[nq - 1 + i] = c === null ? w : w > c ? c : Math.max(w, -c);
    }
  }
}
