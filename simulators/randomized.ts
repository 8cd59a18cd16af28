/**
 * RandomizedEnv: wraps a RandomizableEnv and applies a randomization profile.
 *
 * Per episode (on reset): restore nominal physics, then sample masses, friction, damping, actuator
 * gains (and pendulum length) and the action latency from an rng seeded by the base env's episode
 * seed (salted, so the initial-state noise is the same with or without randomization).
 * Per step: control-period jitter, action delay, gaussian observation noise — drawn from the same
 * episode stream, so a trajectory is reproducible from `info.randomization.episodeSeed` and the
 * actions: `env.reset(episodeSeed)` with the same profile replays the episode.
 *
 * Action latency k: the action given to step t is applied at step t + k; for the first k steps of
 * an episode the mid-point of the action bounds (0 for symmetric bounds) is applied.
 * Validation (NaN/Inf, length) and clipping happen when the action is given, not when applied.
 */
import { Rng } from '../src/util/rng.js';
import { checkAction, isRandomizable, type Env, type EnvSpec, type RandomizableEnv, type RandomizationRecord, type ResetInfo, type StepResult } from './env.js';
import { sampleRandomization, type RandomizationProfile } from './randomization.js';

const SALT = 0x5eed_d0e5;

export class RandomizedEnv implements Env {
  readonly spec: EnvSpec;
  readonly profile: RandomizationProfile;
  private readonly rng = new Rng(0);
  private readonly act: Float64Array;
  private readonly hold: Float64Array;
  private readonly delayed: Float64Array;
  private queue = new Float64Array(0);
  private head = 0;
  private record: RandomizationRecord | undefined;
  private lastReset: ResetInfo | undefined;
  private done = true;

  constructor(
    readonly base: RandomizableEnv,
    profile: RandomizationProfile,
  ) {
    if (!isRandomizable(base)) {
      throw new TypeError(`${(base as Env).spec?.id ?? 'env'}: cannot randomize an env without setDynamics/setControlPeriodScale`);
    }
    this.spec = base.spec;
    this.profile = profile;
    this.act = new Float64Array(this.spec.actDim);
    this.hold = new Float64Array(this.spec.actDim);
    this.delayed = new Float64Array(this.spec.actDim);
    for (let i = 0; i < this.spec.actDim; i++) this.hold[i] = (this.spec.actLow[i] + this.spec.actHigh[i]) / 2;
  }

  reset(seed?: number): Float32Array {
    const obs = this.base.reset(seed);
    const info = this.base.resetInfo();
    this.rng.reseed((info.episodeSeed ^ SALT) >>> 0);
    const rec = sampleRandomization(this.profile, this.base.dynamicsShape, this.rng, info.episodeSeed);
    this.base.setDynamics(rec);
    this.base.setControlPeriodScale(1);
    const k = rec.actionLatency;
    const n = this.spec.actDim;
    if (this.queue.length !== k * n) this.queue = new Float64Array(k * n);
    for (let i = 0; i < k; i++) this.queue.set(this.hold, i * n);
    this.head = 0;
    this.record = rec;
    this.lastReset = { ...info, randomization: rec };
    this.done = false;
    this.addNoise(obs, rec.obsNoiseStd);
    return obs;
  }

  step(action: ArrayLike<number>): StepResult {
    const rec = this.record;
    if (!rec) throw new Error(`${this.spec.id}.step: called before reset(); call reset() first`);
    const clipped = checkAction(this.spec, action, this.act);
    if (this.done) throw new Error(`${this.spec.id}.step: called after the episode ended (terminated or truncated); call reset() first`);
    let applied: Float64Array = this.act;
    const k = rec.actionLatency;
    if (k > 0) {
      const n = this.spec.actDim;
      const slot = this.head * n;
      // swap: take the oldest queued action out, put the new one in its slot
      for (let i = 0; i < n; i++) {
        this.delayed[i] = this.queue[slot + i];
        this.queue[slot + i] = this.act[i];
      }
      applied = this.delayed;
      this.head = (this.head + 1) % k;
    }
    let periodScale = 1;
    if (rec.controlJitter > 0) {
      periodScale = 1 + this.rng.uniform(-rec.controlJitter, rec.controlJitter);
      this.base.setControlPeriodScale(periodScale);
    }
    const r = this.base.step(applied);
    this.done = r.terminated || r.truncated;
    this.addNoise(r.obs, rec.obsNoiseStd);
    r.info.clippedActions = clipped;
    r.info.randomization = rec;
    r.info.controlPeriodScale = periodScale;
    return r;
  }

  resetInfo(): ResetInfo {
    if (!this.lastReset) return this.base.resetInfo();
    return this.lastReset;
  }

  close(): void {
    this.base.close();
  }

  private addNoise(obs: Float32Array, std: number): void {
    if (std > 0) for (let i = 0; i < obs.length; i++) obs[i] += this.rng.normal(0, std);
  }
}
