/**
 * VectorEnv: N copies of an env stepped in lock-step in this thread, with Gymnasium-style
 * same-step auto-reset: when copy i ends (terminated or truncated) it is reset at once; the batch
 * obs row i is then the *new* episode's first observation and `infos[i].finalObs` /
 * `infos[i].finalInfo` hold the finished episode's last observation and info.
 *
 * Batch arrays (`obs`, `rewards`, `terminated`, `truncated`) are reused: each call overwrites them;
 * copy what you keep. Copy i is seeded with seed + i on `reset(seed)`.
 */
import type { Env, EnvSpec, StepInfo } from './env.js';

export interface VectorStepResult {
  /** [numEnvs × obsDim], row-major. */
  obs: Float32Array;
  rewards: Float64Array;
  /** 1 where the copy's episode terminated on this step. */
  terminated: Uint8Array;
  /** 1 where the copy's episode hit the time limit on this step. */
  truncated: Uint8Array;
  infos: StepInfo[];
}

export class VectorEnv {
  readonly numEnvs: number;
  /** Spec of one copy. */
  readonly spec: EnvSpec;
  private readonly result: VectorStepResult;
  private started = false;

  constructor(readonly envs: Env[]) {
    if (envs.length === 0) throw new RangeError('VectorEnv: needs at least one env');
    this.numEnvs = envs.length;
    this.spec = envs[0].spec;
    for (const e of envs) {
      if (e.spec.id !== this.spec.id || e.spec.obsDim !== this.spec.obsDim || e.spec.actDim !== this.spec.actDim) {
        throw new TypeError(`VectorEnv: all copies must be the same task; got '${this.spec.id}' and '${e.spec.id}'`);
      }
    }
    const n = this.numEnvs;
    this.result = {
      obs: new Float32Array(n * this.spec.obsDim),
      rewards: new Float64Array(n),
      terminated: new Uint8Array(n),
      truncated: new Uint8Array(n),
      infos: new Array<StepInfo>(n),
    };
  }

  /** Reset every copy (copy i with seed + i when a seed is given). Returns the batch obs (reused). */
  reset(seed?: number): Float32Array {
    const d = this.spec.obsDim;
    for (let i = 0; i < this.numEnvs; i++) {
      this.result.obs.set(this.envs[i].reset(seed === undefined ? undefined : seed + i), i * d);
    }
    this.started = true;
    return this.result.obs;
  }

  /** Step every copy with its row of `actions` ([numEnvs × actDim], row-major). */
  step(actions: ArrayLike<number>): VectorStepResult {
    if (!this.started) throw new Error(`VectorEnv(${this.spec.id}).step: called before reset(); call reset() first`);
    const n = this.numEnvs;
    const a = this.spec.actDim;
    const d = this.spec.obsDim;
    if (actions.length !== n * a) {
      throw new RangeError(`VectorEnv(${this.spec.id}).step: actions has length ${actions.length}, expected numEnvs × actDim = ${n} × ${a} = ${n * a}`);
    }
    const res = this.result;
    for (let i = 0; i < n; i++) {
      const row =
        actions instanceof Float32Array || actions instanceof Float64Array ? actions.subarray(i * a, (i + 1) * a) : Array.prototype.slice.call(actions, i * a, (i + 1) * a);
      const env = this.envs[i];
      let r;
      try {
        r = env.step(row);
      } catch (err) {
        (err as Error).message = `VectorEnv copy ${i}: ${(err as Error).message}`;
        throw err;
      }
      res.rewards[i] = r.reward;
      res.terminated[i] = r.terminated ? 1 : 0;
      res.truncated[i] = r.truncated ? 1 : 0;
      if (r.terminated || r.truncated) {
        const info: StepInfo = { ...r.info, finalObs: r.obs, finalInfo: r.info };
        res.obs.set(env.reset(), i * d);
        res.infos[i] = info;
      } else {
        res.obs.set(r.obs, i * d);
        res.infos[i] = r.info;
      }
    }
    return res;
  }

  close(): void {
    for (const e of this.envs) e.close();
  }
}
