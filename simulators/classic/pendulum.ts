/**
 * Pendulum — Gymnasium Pendulum-v1 semantics in pure TypeScript (no WASM, for fast tests).
 *
 * obs [cos θ, sin θ, θdot]; action torque in [-2, 2]; 200 steps then truncated, never terminated;
 * reward −(θ² + 0.1·θdot² + 0.001·u²) with θ normalized to [−π, π); dynamics
 *   θdot' = clip(θdot + (3g/(2l)·sin θ + 3/(m l²)·τ)·dt, −8, 8),  θ' = θ + θdot'·dt,
 * g = 10, m = l = 1, dt = 0.05; reset θ ~ U[−π, π], θdot ~ U[−1, 1].
 * For randomization the applied torque is τ = gain·u − b·θdot (nominal gain 1, b = 0, which is
 * exactly Pendulum-v1); mass, length, damping b and gain can be changed per episode.
 */
import { checkAction, EpisodeClock, type DynamicsScales, type DynamicsShape, type EnvSpec, type RandomizableEnv, type ResetInfo, type StepResult } from '../env.js';

export interface PendulumOptions {
  /** Seed used by the first reset() that is not given one (default 0). */
  seed?: number;
  maxEpisodeSteps?: number;
  /** Gravity (m/s²), default 10 as in Pendulum-v1. */
  g?: number;
  /** Nominal viscous damping b (N·m·s/rad), default 0 (Pendulum-v1 has none). */
  damping?: number;
}

const MAX_SPEED = 8;
const MAX_TORQUE = 2;
const DT = 0.05;

export class PendulumEnv implements RandomizableEnv {
  readonly spec: EnvSpec;
  readonly dynamicsShape: DynamicsShape = { mass: 1, friction: 0, damping: 1, gain: 1, length: 1 };
  private readonly clock: EpisodeClock;
  private readonly act = new Float64Array(1);
  private readonly g: number;
  private readonly b0: number;
  private th = 0;
  private thdot = 0;
  private m = 1;
  private l = 1;
  private b = 0;
  private gain = 1;
  private dt = DT;

  constructor(options: PendulumOptions = {}) {
    const maxEpisodeSteps = options.maxEpisodeSteps ?? 200;
    this.g = options.g ?? 10;
    this.b0 = options.damping ?? 0;
    this.b = this.b0;
    this.spec = {
      id: 'pendulum',
      obsDim: 3,
      actDim: 1,
      actLow: Float32Array.of(-MAX_TORQUE),
      actHigh: Float32Array.of(MAX_TORQUE),
      maxEpisodeSteps,
      dt: DT,
      refScores: PENDULUM_REF_SCORES,
    };
    this.clock = new EpisodeClock('pendulum', maxEpisodeSteps, options.seed);
  }

  reset(seed?: number): Float32Array {
    const rng = this.clock.begin(seed);
    this.th = rng.uniform(-Math.PI, Math.PI);
    this.thdot = rng.uniform(-1, 1);
    return this.obs();
  }

  step(action: ArrayLike<number>): StepResult {
    const clipped = checkAction(this.spec, action, this.act);
    const truncated = this.clock.tick();
    const u = this.act[0];
    const th = this.th;
    const thdot = this.thdot;
    const an = angleNormalize(th);
    const cost = an * an + 0.1 * thdot * thdot + 0.001 * u * u;
    const tau = this.gain * u - this.b * thdot;
    const dt = this.dt;
    let newthdot = thdot + (((3 * this.g) / (2 * this.l)) * Math.sin(th) + (3 / (this.m * this.l * this.l)) * tau) * dt;
    newthdot = Math.min(MAX_SPEED, Math.max(-MAX_SPEED, newthdot));
    this.th = th + newthdot * dt;
    this.thdot = newthdot;
    this.clock.done = truncated;
    return {
      obs: this.obs(),
      reward: -cost,
      terminated: false,
      truncated,
      info: { episodeStep: this.clock.step, clippedActions: clipped, terms: { theta: this.th, torque: u } },
    };
  }

  resetInfo(): ResetInfo {
    return this.clock.resetInfo();
  }

  setDynamics(s: DynamicsScales | null): void {
    this.m = 1;
    this.l = 1;
    this.b = this.b0;
    this.gain = 1;
    this.dt = DT;
    if (!s) return;
    this.m *= s.massScale[0] ?? 1;
    this.l *= s.lengthScale[0] ?? 1;
    this.b = this.b0 * (s.dampingScale[0] ?? 1) + (s.extraDamping[0] ?? 0);
    this.gain *= s.gainScale[0] ?? 1;
  }

  setControlPeriodScale(scale: number): void {
    this.dt = DT * scale;
  }

  close(): void {}

  /** Current physical state [θ, θdot] (for tests and scripted controllers). */
  state(): [number, number] {
    return [this.th, this.thdot];
  }

  private obs(): Float32Array {
    return Float32Array.of(Math.cos(this.th), Math.sin(this.th), this.thdot);
  }
}

function angleNormalize(x: number): number {
  return ((((x + Math.PI) % (2 * Math.PI)) + 2 * Math.PI) % (2 * Math.PI)) - Math.PI;
}

const PENDULUM_REF_SCORES = {
  random: -1276.15,
  expert: -159.4,
  note:
    'random: measured 2026-11-27 on the 2-core dev VM with bench/sim.ts, uniform-random policy, mean of 100 episodes ' +
    '(reset seeds 0-99, actions from Rng(0)). expert: the energy-pumping swing-up controller that the pendulum recipes ' +
    'use as their expert (pendulumSwingUp in src/train/datasets.ts), mean of 100 episodes (reset seeds 0-99; std 93.7), measured 2026-11-27.',
};

export function makePendulum(options: PendulumOptions = {}): PendulumEnv {
  return new PendulumEnv(options);
}
