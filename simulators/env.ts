/**
 * Env API with Gymnasium semantics.
 *
 * - `reset(seed?)` starts an episode and returns the first observation. A seed re-seeds the
 *   env's stream; without one the stream continues (the first reset of an env that was never
 *   seeded uses seed 0, so nothing in o2o is unseeded).
 * - `step(action)` advances one control period. `terminated` is a true end of the task (the hopper
 *   fell); `truncated` is the time limit (`spec.maxEpisodeSteps`), exactly like D4RL's
 *   `terminals` vs `timeouts`. Both can be true on the same step.
 * - Actions: NaN/Inf throw, a wrong length throws, out-of-bounds components are clipped into
 *   [actLow, actHigh] and counted in `info.clippedActions`.
 * - The observation arrays returned by `reset`/`step` are fresh copies owned by the caller.
 */
import { Rng } from '../src/util/rng.js';

export interface RefScores {
  /** Mean return of a uniform-random policy. */
  random: number;
  /** Mean return of an expert policy (see `note` for whether it is a placeholder). */
  expert: number;
  /** How the two numbers were obtained (machine, date, episodes) — read before quoting. */
  note: string;
}

export interface EnvSpec {
  id: string;
  obsDim: number;
  actDim: number;
  actLow: Float32Array;
  actHigh: Float32Array;
  maxEpisodeSteps: number;
  /** Seconds of simulated time per `step()` (nominal, before any control-period jitter). */
  dt: number;
  refScores: RefScores;
}

/** Sampled sim-to-real parameters of one episode (see randomization.ts). */
export interface RandomizationRecord {
  profile: string;
  /** Seed of the episode: `env.reset(episodeSeed)` with the same profile reproduces it. */
  episodeSeed: number;
  /** Per-body mass scale (MuJoCo body order, world excluded) or [scale] for pendulum. */
  massScale: number[];
  /** Per-geom sliding-friction scale. */
  frictionScale: number[];
  /** Per-dof damping scale. */
  dampingScale: number[];
  /** Per-dof damping added on top (N·m·s/rad or N·s/m). */
  extraDamping: number[];
  /** Per-actuator gain scale. */
  gainScale: number[];
  /** Link length scale (pendulum only; [] elsewhere). */
  lengthScale: number[];
  /** Steps of action delay for this episode. */
  actionLatency: number;
  obsNoiseStd: number;
  /** Max fractional control-period jitter (each step's period is dt·U[1-j, 1+j]). */
  controlJitter: number;
}

export interface StepInfo {
  /** Steps taken in the current episode, including this one. */
  episodeStep: number;
  /** Action components clipped into [actLow, actHigh] on this step. */
  clippedActions: number;
  /** Task quantities and reward terms (x_position, x_velocity, reward_ctrl, distance, ...). */
  terms: Record<string, number>;
  /** Reaching tasks: fingertip within tolerance of the goal. */
  success?: boolean;
  /** Set by the randomization wrapper: this episode's sampled parameters. */
  randomization?: RandomizationRecord;
  /** Set by the randomization wrapper: the control-period scale used for this step. */
  controlPeriodScale?: number;
  /** Set by VectorEnv on auto-reset: the last observation of the finished episode. */
  finalObs?: Float32Array;
  /** Set by VectorEnv on auto-reset: the info of the finished episode's last step. */
  finalInfo?: StepInfo;
}

export interface ResetInfo {
  /** Seed passed to (or implied for) the current seed stream. */
  seed: number;
  /** Seed of this episode's randomness; `reset(episodeSeed)` reproduces this episode. */
  episodeSeed: number;
  /** Episodes started since the last explicit seed (0 for the seeded one). */
  episodeIndex: number;
  randomization?: RandomizationRecord;
}

export interface StepResult {
  obs: Float32Array;
  reward: number;
  terminated: boolean;
  truncated: boolean;
  info: StepInfo;
}

export interface Env {
  readonly spec: EnvSpec;
  reset(seed?: number): Float32Array;
  step(action: ArrayLike<number>): StepResult;
  /** Info of the latest reset (seed, episode seed, sampled randomization). */
  resetInfo(): ResetInfo;
  /** Free native resources (MuJoCo model/data). The env is unusable afterwards. */
  close(): void;
}

/** Dynamics parameters a simulator lets the randomization wrapper change. */
export interface DynamicsScales {
  massScale: ArrayLike<number>;
  frictionScale: ArrayLike<number>;
  dampingScale: ArrayLike<number>;
  extraDamping: ArrayLike<number>;
  gainScale: ArrayLike<number>;
  lengthScale: ArrayLike<number>;
}

/** Sizes of the per-element parameter vectors; 0 means "not supported by this simulator". */
export interface DynamicsShape {
  mass: number;
  friction: number;
  damping: number;
  gain: number;
  length: number;
}

/** An env whose physics can be perturbed per episode (implemented by all o2o simulators). */
export interface RandomizableEnv extends Env {
  readonly dynamicsShape: DynamicsShape;
  /** Restore nominal parameters (control period included), then apply `scales`. `null` restores nominal only. */
  setDynamics(scales: DynamicsScales | null): void;
  /** Scale the duration of the following steps' control period (1 = nominal). */
  setControlPeriodScale(scale: number): void;
}

export function isRandomizable(env: Env): env is RandomizableEnv {
  const e = env as Partial<RandomizableEnv>;
  return typeof e.setDynamics === 'function' && typeof e.setControlPeriodScale === 'function';
}

/**
 * Validate `action` against `spec` and copy it, clipped, into `out`.
 * Throws on a wrong length or a non-finite component; returns the number of clipped components.
 */
export function checkAction(spec: EnvSpec, action: ArrayLike<number>, out: Float64Array): number {
  if (action == null || typeof action.length !== 'number') {
    throw new TypeError(`${spec.id}.step: action must be an array of ${spec.actDim} numbers, got ${String(action)}`);
  }
  if (action.length !== spec.actDim) {
    throw new RangeError(
      `${spec.id}.step: action has length ${action.length}, expected ${spec.actDim} ` +
        `(bounds [${Array.from(spec.actLow).join(', ')}] .. [${Array.from(spec.actHigh).join(', ')}])`,
    );
  }
  let clipped = 0;
  for (let i = 0; i < spec.actDim; i++) {
    const a = action[i];
    if (typeof a !== 'number' || !Number.isFinite(a)) {
      throw new RangeError(
        `${spec.id}.step: action[${i}] is ${String(a)}; actions must be finite numbers — ` +
          `check the policy output (NaN usually means diverged weights or unnormalized observations)`,
      );
    }
    const lo = spec.actLow[i];
    const hi = spec.actHigh[i];
    if (a < lo) {
      out[i] = lo;
      clipped++;
    } else if (a > hi) {
      out[i] = hi;
      clipped++;
    } else out[i] = a;
  }
  return clipped;
}

/** Mix a base seed and an episode index into a 32-bit episode seed (index 0 → the seed itself). */
export function episodeSeedOf(seed: number, index: number): number {
  if (index === 0) return seed;
  let h = (Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index, 0xc2b2ae35)) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
  return (h ^ (h >>> 15)) >>> 0;
}

export function checkSeed(where: string, seed: number): number {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`${where}: seed must be a non-negative integer, got ${String(seed)}`);
  }
  return seed;
}

/**
 * Shared bookkeeping for seeding and episodes: seed stream, episode seed, step counter and the
 * "reset before step / no step after the end" rules.
 */
export class EpisodeClock {
  seed = 0;
  episodeIndex = -1;
  episodeSeed = 0;
  step = 0;
  done = true;
  readonly rng = new Rng(0);

  /** `seed` is used by the first reset() that is not given one. */
  constructor(
    private readonly id: string,
    private readonly maxSteps: number,
    seed = 0,
  ) {
    this.seed = checkSeed(`${id}: option seed`, seed);
  }

  /** Start an episode; returns the rng seeded for this episode. */
  begin(seed?: number): Rng {
    if (seed !== undefined) {
      this.seed = checkSeed(`${this.id}.reset`, seed);
      this.episodeIndex = 0;
    } else this.episodeIndex++;
    this.episodeSeed = episodeSeedOf(this.seed, this.episodeIndex);
    this.rng.reseed(this.episodeSeed);
    this.step = 0;
    this.done = false;
    return this.rng;
  }

  /** Count a step; throws if the episode is over. Returns true when the time limit is reached. */
  tick(): boolean {
    if (this.done) {
      throw new Error(`${this.id}.step: called ${this.episodeIndex < 0 ? 'before reset()' : 'after the episode ended (terminated or truncated)'}; call reset() first`);
    }
    this.step++;
    return this.step >= this.maxSteps;
  }

  resetInfo(): ResetInfo {
    return { seed: this.seed, episodeSeed: this.episodeSeed, episodeIndex: this.episodeIndex };
  }
}
