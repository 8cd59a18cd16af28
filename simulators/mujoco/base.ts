/**
 * MujocoEnv: the shared step/reset loop of o2o's MuJoCo tasks, mirroring Gymnasium's MujocoEnv
 * (ctrl = action, `frameSkip` × mj_step per env step, dt = timestep · frameSkip) plus the
 * randomization hooks (nominal-parameter restore, per-episode scaling, control-period scaling).
 */
import type { MainModule, MjData, MjModel, MjOption } from 'mujoco-js';
import type { Rng } from '../../src/util/rng.js';
import { checkAction, EpisodeClock, type DynamicsScales, type DynamicsShape, type EnvSpec, type RandomizableEnv, type RefScores, type ResetInfo, type StepResult } from '../env.js';
import { INTEGRATORS, PhysicsViews, type IntegratorName, type LoadedModel } from './runtime.js';

export interface MujocoEnvOptions {
  /** Seed used by the first reset() that is not given one (default 0). */
  seed?: number;
  maxEpisodeSteps?: number;
  /** Override the model's integrator (the Gymnasium models use RK4; 'euler' is ~4x faster). */
  integrator?: IntegratorName;
}

export interface StepOutcome {
  reward: number;
  terminated: boolean;
  terms: Record<string, number>;
  success?: boolean;
}

export interface MujocoTaskConfig {
  id: string;
  obsDim: number;
  frameSkip: number;
  maxEpisodeSteps: number;
  refScores: RefScores;
}

export abstract class MujocoEnv implements RandomizableEnv {
  readonly spec: EnvSpec;
  readonly dynamicsShape: DynamicsShape;
  protected readonly mj: MainModule;
  protected readonly model: MjModel;
  protected readonly data: MjData;
  protected readonly v: PhysicsViews;
  protected readonly frameSkip: number;
  protected readonly act: Float64Array;
  protected readonly clock: EpisodeClock;
  private readonly opt: MjOption;
  private readonly timestep0: number;
  private readonly mass0: Float64Array;
  private readonly inertia0: Float64Array;
  private readonly friction0: Float64Array;
  private readonly damping0: Float64Array;
  private readonly gain0: Float64Array;
  private readonly bias0: Float64Array;
  private periodScale = 1;
  private closed = false;

  protected constructor(loaded: LoadedModel, cfg: MujocoTaskConfig, options: MujocoEnvOptions) {
    this.mj = loaded.mj;
    this.model = loaded.model;
    this.data = loaded.data;
    this.v = new PhysicsViews(this.model, this.data);
    this.opt = this.model.opt;
    if (options.integrator !== undefined) {
      const code = INTEGRATORS[options.integrator];
      if (code === undefined) {
        throw new RangeError(`${cfg.id}: unknown integrator '${String(options.integrator)}'; use one of ${Object.keys(INTEGRATORS).join(', ')}`);
      }
      (this.opt as unknown as { integrator: number }).integrator = code;
    }
    this.timestep0 = this.opt.timestep;
    this.frameSkip = cfg.frameSkip;
    const nu = this.model.nu;
    const range = this.model.actuator_ctrlrange as Float64Array;
    const actLow = new Float32Array(nu);
    const actHigh = new Float32Array(nu);
    for (let i = 0; i < nu; i++) {
      actLow[i] = range[2 * i];
      actHigh[i] = range[2 * i + 1];
    }
    const maxEpisodeSteps = options.maxEpisodeSteps ?? cfg.maxEpisodeSteps;
    this.spec = {
      id: cfg.id,
      obsDim: cfg.obsDim,
      actDim: nu,
      actLow,
      actHigh,
      maxEpisodeSteps,
      dt: this.timestep0 * cfg.frameSkip,
      refScores: cfg.refScores,
    };
    this.act = new Float64Array(nu);
    this.clock = new EpisodeClock(cfg.id, maxEpisodeSteps, options.seed);
    const v = this.v;
    this.mass0 = v.bodyMass.slice();
    this.inertia0 = v.bodyInertia.slice();
    this.friction0 = v.geomFriction.slice();
    this.damping0 = v.dofDamping.slice();
    this.gain0 = v.gainprm.slice();
    this.bias0 = v.biasprm.slice();
    this.dynamicsShape = {
      mass: this.model.nbody - 1,
      friction: this.model.ngeom,
      damping: this.model.nv,
      gain: nu,
      length: 0,
    };
  }

  /** Write the initial state for an episode into qpos/qvel (after mj_resetData). */
  protected abstract initState(rng: Rng): void;
  /** Called before the physics substeps of a step (e.g. record x position). */
  protected abstract beforeStep(): void;
  /** Reward, termination and task terms after the substeps; `elapsed` is the simulated time. */
  protected abstract afterStep(act: Float64Array, elapsed: number): StepOutcome;
  protected abstract writeObs(out: Float32Array): void;

  reset(seed?: number): Float32Array {
    this.assertOpen();
    const rng = this.clock.begin(seed);
    this.v.ensure();
    this.mj.mj_resetData(this.model, this.data);
    this.v.ensure();
    this.initState(rng);
    this.mj.mj_forward(this.model, this.data);
    const obs = new Float32Array(this.spec.obsDim);
    this.writeObs(obs);
    return obs;
  }

  step(action: ArrayLike<number>): StepResult {
    this.assertOpen();
    const clipped = checkAction(this.spec, action, this.act);
    const truncated = this.clock.tick();
    const v = this.v;
    v.ensure();
    const ctrl = v.ctrl;
    for (let i = 0; i < this.act.length; i++) ctrl[i] = this.act[i];
    this.beforeStep();
    const mj = this.mj;
    const m = this.model;
    const d = this.data;
    for (let k = 0; k < this.frameSkip; k++) mj.mj_step(m, d);
    v.ensure();
    const out = this.afterStep(this.act, this.opt.timestep * this.frameSkip);
    const obs = new Float32Array(this.spec.obsDim);
    this.writeObs(obs);
    this.clock.done = out.terminated || truncated;
    return {
      obs,
      reward: out.reward,
      terminated: out.terminated,
      truncated,
      info: { episodeStep: this.clock.step, clippedActions: clipped, terms: out.terms, success: out.success },
    };
  }

  /** Raw simulator state (copies): for tests and debugging. */
  state(): { qpos: Float64Array; qvel: Float64Array } {
    this.v.ensure();
    return { qpos: this.v.qpos.slice(), qvel: this.v.qvel.slice() };
  }

  /** Overwrite the simulator state (then mj_forward). For tests and scripted scenarios. */
  setState(qpos: ArrayLike<number>, qvel: ArrayLike<number>): void {
    this.v.ensure();
    this.v.qpos.set(qpos);
    this.v.qvel.set(qvel);
    this.mj.mj_forward(this.model, this.data);
  }

  resetInfo(): ResetInfo {
    return this.clock.resetInfo();
  }

  setDynamics(s: DynamicsScales | null): void {
    this.assertOpen();
    const v = this.v;
    v.ensure();
    v.bodyMass.set(this.mass0);
    v.bodyInertia.set(this.inertia0);
    v.geomFriction.set(this.friction0);
    v.dofDamping.set(this.damping0);
    v.gainprm.set(this.gain0);
    v.biasprm.set(this.bias0);
    this.setControlPeriodScale(1);
    if (!s) return;
    const nb = this.model.nbody;
    for (let b = 1; b < nb; b++) {
      const k = s.massScale[b - 1] ?? 1;
      v.bodyMass[b] = this.mass0[b] * k;
      // uniform density change: inertia scales with mass
      for (let j = 0; j < 3; j++) v.bodyInertia[3 * b + j] = this.inertia0[3 * b + j] * k;
    }
    for (let g = 0; g < this.model.ngeom; g++) v.geomFriction[3 * g] = this.friction0[3 * g] * (s.frictionScale[g] ?? 1);
    for (let i = 0; i < this.model.nv; i++) {
      v.dofDamping[i] = this.damping0[i] * (s.dampingScale[i] ?? 1) + (s.extraDamping[i] ?? 0);
    }
    // mjNGAIN = mjNBIAS = 10 per actuator; scale the gain and, for servo-type actuators, the
    // position/velocity feedback terms of the bias so the actuator stays consistent.
    for (let a = 0; a < this.model.nu; a++) {
      const k = s.gainScale[a] ?? 1;
      v.gainprm[10 * a] = this.gain0[10 * a] * k;
      v.biasprm[10 * a + 1] = this.bias0[10 * a + 1] * k;
      v.biasprm[10 * a + 2] = this.bias0[10 * a + 2] * k;
    }
  }

  setControlPeriodScale(scale: number): void {
    if (!(scale > 0) || !Number.isFinite(scale)) {
      throw new RangeError(`${this.spec.id}.setControlPeriodScale: scale must be a positive number, got ${scale}`);
    }
    if (scale !== this.periodScale) {
      this.periodScale = scale;
      this.opt.timestep = this.timestep0 * scale;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.data.delete();
    this.model.delete();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`${this.spec.id}: env was closed; create a new one with makeEnv('${this.spec.id}')`);
  }
}
