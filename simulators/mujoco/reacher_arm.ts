/**
 * reacher-arm: a 4-joint arm (base yaw, shoulder, elbow and wrist pitch) reaching a goal point.
 *
 * obs (17) = [q (4), q̇ (4), fingertip xyz (3), goal xyz (3), goal − fingertip (3)]
 * act (4)  = normalized joint torques in [−1, 1] (gears 4, 8, 5, 1.5 N·m)
 * reward   = −‖fingertip − goal‖ − ctrlCostWeight · Σ a²   (ctrlCostWeight = 0.1)
 * 200 steps of dt = 0.02 s (timestep 0.005 × frame skip 4), truncated, never terminated;
 * info.success = distance < successRadius (0.02 m).
 * Goals are sampled by drawing a joint configuration and taking its fingertip position, so every
 * goal is reachable; goals below 0.1 m or within 0.1 m of the base axis are re-drawn.
 * `scriptedArmPolicy()` (damped-least-squares IK step + joint PD) reaches the goal.
 */
import type { Rng } from '../../src/util/rng.js';
import type { RefScores } from '../env.js';
import { MujocoEnv, type MujocoEnvOptions, type StepOutcome } from './base.js';
import { compileModel, readModelXml, type LoadedModel } from './runtime.js';

/** Geometry shared by the XML model and the analytic kinematics (metres). */
export const ARM_GEOMETRY = { shoulderHeight: 0.1, links: [0.3, 0.25, 0.1] as const };

const INIT_Q = [0, 0.4, 0.9, 0.5];
const GOAL_Q_RANGE: [number, number][] = [
  [-2.8, 2.8],
  [-1.4, 1.4],
  [-2.0, 2.0],
  [-1.6, 1.6],
];

export interface ReacherArmOptions extends MujocoEnvOptions {
  ctrlCostWeight?: number;
  successRadius?: number;
  /** Uniform noise on the initial joint angles (rad) and velocities (rad/s). */
  resetNoiseScale?: number;
}

// random: uniform-random policy, 100 episodes, seed 0, measured 2026-11-27 on the 2-core dev VM.
// expert: scriptedArmPolicy(), 100 episodes, seed 0, same date/machine (a scripted controller,
// not a trained policy).
const REF_SCORES: RefScores = {
  random: -157.88,
  expert: -13.62,
  note:
    'measured 2026-11-27 on the 2-core dev VM with bench/sim.ts, 100 episodes (reset seeds 0-99): ' +
    'random = uniform-random actions from Rng(0); expert = scriptedArmPolicy() (a scripted controller, not a trained policy)',
};

/** Fingertip position for joint angles q (4); writes xyz into `out`. */
export function armForwardKinematics(q: ArrayLike<number>, out: Float64Array | Float32Array): void {
  const [L1, L2, L3] = ARM_GEOMETRY.links;
  const p1 = q[1];
  const p2 = p1 + q[2];
  const p3 = p2 + q[3];
  const r = L1 * Math.sin(p1) + L2 * Math.sin(p2) + L3 * Math.sin(p3);
  out[0] = r * Math.cos(q[0]);
  out[1] = r * Math.sin(q[0]);
  out[2] = ARM_GEOMETRY.shoulderHeight + L1 * Math.cos(p1) + L2 * Math.cos(p2) + L3 * Math.cos(p3);
}

/** 3×4 positional Jacobian of the fingertip (row-major) at q. */
export function armJacobian(q: ArrayLike<number>, J: Float64Array): void {
  const [L1, L2, L3] = ARM_GEOMETRY.links;
  const p1 = q[1];
  const p2 = p1 + q[2];
  const p3 = p2 + q[3];
  const c0 = Math.cos(q[0]);
  const s0 = Math.sin(q[0]);
  const r = L1 * Math.sin(p1) + L2 * Math.sin(p2) + L3 * Math.sin(p3);
  const dr3 = L3 * Math.cos(p3);
  const dr2 = dr3 + L2 * Math.cos(p2);
  const dr1 = dr2 + L1 * Math.cos(p1);
  const dz3 = -L3 * Math.sin(p3);
  const dz2 = dz3 - L2 * Math.sin(p2);
  const dz1 = dz2 - L1 * Math.sin(p1);
  J.set([-r * s0, c0 * dr1, c0 * dr2, c0 * dr3, r * c0, s0 * dr1, s0 * dr2, s0 * dr3, 0, dz1, dz2, dz3]);
}

export class ReacherArmEnv extends MujocoEnv {
  readonly ctrlCostWeight: number;
  readonly successRadius: number;
  private readonly resetNoise: number;
  private readonly goal = new Float64Array(3);
  private readonly tipSite: number;

  private constructor(loaded: LoadedModel, options: ReacherArmOptions) {
    super(loaded, { id: 'reacher-arm', obsDim: 17, frameSkip: 4, maxEpisodeSteps: 200, refScores: REF_SCORES }, options);
    this.ctrlCostWeight = options.ctrlCostWeight ?? 0.1;
    this.successRadius = options.successRadius ?? 0.02;
    this.resetNoise = options.resetNoiseScale ?? 0.1;
    this.tipSite = this.mj.mj_name2id(this.model, 6 /* mjOBJ_SITE */, 'fingertip');
    if (this.tipSite < 0) throw new Error("reacher-arm: model has no site 'fingertip'");
  }

  static async create(options: ReacherArmOptions = {}): Promise<ReacherArmEnv> {
    return new ReacherArmEnv(await compileModel(readModelXml('reacher_arm'), 'reacher-arm'), options);
  }

  /** Current goal (copy). */
  goalPosition(): Float64Array {
    return this.goal.slice();
  }

  protected initState(rng: Rng): void {
    const q = new Float64Array(4);
    for (let attempt = 0; ; attempt++) {
      for (let j = 0; j < 4; j++) q[j] = rng.uniform(GOAL_Q_RANGE[j][0], GOAL_Q_RANGE[j][1]);
      armForwardKinematics(q, this.goal);
      const r = Math.hypot(this.goal[0], this.goal[1]);
      if ((this.goal[2] >= 0.1 && r >= 0.1) || attempt > 1000) break;
    }
    const { qpos, qvel } = this.v;
    const s = this.resetNoise;
    for (let j = 0; j < 4; j++) {
      qpos[j] = INIT_Q[j] + rng.uniform(-s, s);
      qvel[j] = rng.uniform(-s, s);
    }
  }

  protected beforeStep(): void {}

  protected afterStep(act: Float64Array): StepOutcome {
    const d = this.distance();
    let ctrl = 0;
    for (let i = 0; i < act.length; i++) ctrl += act[i] * act[i];
    const ctrlCost = this.ctrlCostWeight * ctrl;
    return {
      reward: -d - ctrlCost,
      terminated: false,
      terms: { distance: d, reward_dist: -d, reward_ctrl: -ctrlCost },
      success: d < this.successRadius,
    };
  }

  /** Fingertip–goal distance (m) at the current state. */
  distance(): number {
    const x = this.v.siteXpos;
    const o = 3 * this.tipSite;
    return Math.hypot(x[o] - this.goal[0], x[o + 1] - this.goal[1], x[o + 2] - this.goal[2]);
  }

  protected writeObs(out: Float32Array): void {
    const { qpos, qvel, siteXpos } = this.v;
    const o = 3 * this.tipSite;
    for (let j = 0; j < 4; j++) {
      out[j] = qpos[j];
      out[4 + j] = qvel[j];
    }
    for (let k = 0; k < 3; k++) {
      out[8 + k] = siteXpos[o + k];
      out[11 + k] = this.goal[k];
      out[14 + k] = this.goal[k] - siteXpos[o + k];
    }
  }
}

export interface ScriptedArmGains {
  kp: number[];
  kd: number[];
  gear: number[];
  /** Damping of the least-squares IK step (m). */
  lambda: number;
  /** Max joint-angle change per IK step (rad). */
  maxStep: number;
}

/**
 * Scripted reaching controller: from the observation only, take one damped-least-squares IK step
 * toward the goal, then joint-space PD toward it (q̇ damping), normalized by the actuator gears.
 */
export function scriptedArmPolicy(gains: Partial<ScriptedArmGains> = {}): (obs: ArrayLike<number>) => Float32Array {
  const g: ScriptedArmGains = {
    kp: [30, 60, 40, 8],
    kd: [3, 6, 3, 0.6],
    gear: [4, 8, 5, 1.5],
    lambda: 0.05,
    maxStep: 0.5,
    ...gains,
  };
  const J = new Float64Array(12);
  const A = new Float64Array(9);
  const y = new Float64Array(3);
  const q = new Float64Array(4);
  return (obs) => {
    for (let j = 0; j < 4; j++) q[j] = obs[j];
    armJacobian(q, J);
    // A = J Jᵀ + λ² I (3×3), solve A y = e, dq = Jᵀ y
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let k = 0; k < 4; k++) s += J[4 * r + k] * J[4 * c + k];
        A[3 * r + c] = s + (r === c ? g.lambda * g.lambda : 0);
      }
    }
    solve3(A, [obs[14], obs[15], obs[16]], y);
    const act = new Float32Array(4);
    let maxAbs = 0;
    const dq = [0, 0, 0, 0];
    for (let k = 0; k < 4; k++) {
      dq[k] = J[k] * y[0] + J[4 + k] * y[1] + J[8 + k] * y[2];
      maxAbs = Math.max(maxAbs, Math.abs(dq[k]));
    }
    const scale = maxAbs > g.maxStep ? g.maxStep / maxAbs : 1;
    for (let k = 0; k < 4; k++) {
      const tau = g.kp[k] * dq[k] * scale - g.kd[k] * obs[4 + k];
      act[k] = Math.max(-1, Math.min(1, tau / g.gear[k]));
    }
    return act;
  };
}

function solve3(A: Float64Array, b: number[], out: Float64Array): void {
  const [a, bb, c, d, e, f, gg, h, i] = A;
  const det = a * (e * i - f * h) - bb * (d * i - f * gg) + c * (d * h - e * gg);
  const inv = 1 / det;
  out[0] = inv * (b[0] * (e * i - f * h) - bb * (b[1] * i - f * b[2]) + c * (b[1] * h - e * b[2]));
  out[1] = inv * (a * (b[1] * i - f * b[2]) - b[0] * (d * i - f * gg) + c * (d * b[2] - b[1] * gg));
  out[2] = inv * (a * (e * b[2] - b[1] * h) - bb * (d * b[2] - b[1] * gg) + b[0] * (d * h - e * gg));
}
