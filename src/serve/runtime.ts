/**
 * PolicyRuntime: the serving core every transport shares.
 *
 *   const rt = PolicyRuntime.open(readArtifactFile('policies/pendulum-bc.onnx'), { safety: { maxDelta: 0.5 } });
 *   const action = rt.act(obs);          // live buffer, valid until the next act()
 *   rt.watchdog(now) ?? send nothing;    // the stale-observation watchdog, from a timer
 *   rt.swap(readArtifactFile(next));     // verified, test-run, then atomic; the old one keeps serving on failure
 *
 * act() allocates nothing: the observation is checked and copied into the model's preallocated
 * input, and the action goes through the SafetyFilter into a preallocated output.
 *
 * With `exploration` (robots collecting data for online fine-tuning) act() samples from the
 * policy's action distribution instead of taking its mode; see exploration.ts.
 *
 * The runtime serves 'mlp' policies (the card's `interface`; cards without one are 'mlp') and
 * 'sequence' policies (a Decision Transformer): one runtime is one robot, and it keeps that
 * robot's context (context.ts). Each act() is one step of the episode; give it the reward the
 * previous step earned and say when an episode starts:
 *
 *   const step = { reward: 0, episodeStart: true };   // reuse one object: act() stays allocation-free
 *   rt.act(obs, step);                                 // step 0: return-to-go = the target return
 *   step.episodeStart = false; step.reward = r0;       // after the robot applied the action and earned r0
 *   rt.act(obs1, step);                                // step 1: return-to-go = target − r0
 *   rt.reset();                                        // or episodeStart: the next act() is step 0 again
 *
 * The target return is the card's (the returns-to-go input's default) unless RuntimeOptions.
 * targetReturn or setTargetReturn() overrides it. mlp policies ignore rewards and episode starts.
 *
 * 'chunked' policies (Diffusion Policy, ACT: K observations in, a chunk of H future actions out)
 * keep the robot's action queue (chunks.ts): a plan runs the policy and queues its first
 * `actionHorizon` actions (RuntimeOptions.chunking, else the interface's, else H); the steps in
 * between pop the queue (no inference); then it plans again. With temporalEnsembling (ACT) it plans
 * at every step and averages the overlapping predictions. Every action leaves through the safety
 * filter, whose state (the rate limit's previous action) runs on across chunk boundaries. Episode
 * starts and reset() empty the queue and the observation history. A hot swap to another chunked
 * policy takes effect at the next plan: the old policy's queued actions finish first; a swap to or
 * from another kind takes effect at the next act() (the queue is dropped).
 */
import type { PolicyInterface, ServingGraph } from '../nn/index.js';
import { ArtifactError, type ArtifactInput, type PolicyCard } from './artifact.js';
import { Rng } from '../util/rng.js';
import type { ChunkQueue } from './chunks.js';
import type { ContextWindow } from './context.js';
import { exportPolicy } from './export.js';
import { ActionSampler, type ExplorationConfig } from './exploration.js';
import type { PolicyModel } from './model.js';
import { type LoadedPolicy, loadPolicy, sameInterface } from './policy-load.js';
import type { RuntimeOptions, RuntimeStatus, StepInfo, SwapResult } from './runtime-types.js';
import { type FaultKind, SafetyFilter } from './safety.js';

export class PolicyRuntime {
  /** The action buffer act() returns (live; copy it to keep it). */
  readonly action: Float32Array;
  readonly filter: SafetyFilter;
  readonly obsDim: number;
  readonly actDim: number;
  private current: LoadedPolicy;
  private lastObsAt = -Infinity;
  private steps = 0;
  private swaps = 0;
  private refused = 0;
  private lastSwapError: string | null = null;
  private haveGoodObs = false;
  private readonly lastGoodObs: Float32Array;
  private sampler: ActionSampler | null = null;
  private resetPending = false;
  private targetOverride: number | null;
  /** Chunked policies: the raw (pre-filter) action of the current step. */
  private readonly raw: Float32Array;

  private constructor(
    first: LoadedPolicy,
    private readonly opts: RuntimeOptions,
    private readonly rng: Rng,
  ) {
    this.current = first;
    this.targetOverride = opts.targetReturn ?? null;
    this.obsDim = first.model.obsDim;
    this.actDim = first.model.actDim;
    this.action = new Float32Array(this.actDim);
    this.raw = new Float32Array(this.actDim);
    this.lastGoodObs = new Float32Array(this.obsDim);
    const card = first.artifact.card;
    this.filter = new SafetyFilter(this.actDim, { low: card?.action.low, high: card?.action.high, ...opts.safety });
    this.setExploration(opts.exploration ?? null);
  }

  /** Starts (config) or stops (null) exploration; takes effect at the next act(). */
  setExploration(cfg: ExplorationConfig | null): void {
    this.sampler = cfg ? new ActionSampler(cfg) : null;
  }

  /** Verifies and loads the first policy; throws (ArtifactError) when it cannot serve. */
  static open(input: ArtifactInput, opts: RuntimeOptions = {}): PolicyRuntime {
    const rng = new Rng(opts.chunking?.seed ?? 0);
    return new PolicyRuntime(loadPolicy(input, opts, null, rng), opts, rng);
  }

  /**
   * A learner's policy as it would be served (a trainer's evaluation): its serving graph sealed in
   * memory exactly as `o2o export` seals it (normalization and weights baked in), then opened —
   * mlp, sequence or chunked alike, ready for `rollout()` (src/eval).
   */
  static fromServingGraph(policy: ServingGraph, opts: RuntimeOptions & { obsMean?: Float32Array; obsStd?: Float32Array; name?: string } = {}): PolicyRuntime {
    const { obsMean, obsStd, name = 'learner-policy', ...runtime } = opts;
    const card = { name, version: 'eval', task: '', algorithm: '', createdAt: '1970-01-01T00:00:00.000Z' };
    const { bytes } = exportPolicy({ policy, card, obsMean, obsStd, distribution: !!runtime.exploration });
    return PolicyRuntime.open({ bytes, source: name }, runtime);
  }

  get card(): PolicyCard | null {
    return this.current.artifact.card;
  }

  /** How the serving policy is called (its card's interface, or its description's; 'mlp' for cards without one and foreign files). */
  get policyInterface(): PolicyInterface {
    return this.current.iface;
  }

  /**
   * The episode ends here: the next act() starts a new one (sequence policies: an empty context,
   * step 0, the target return). mlp policies keep no context: nothing changes for them.
   */
  reset(): void {
    if (this.current.window || this.current.queue) this.resetPending = true;
  }

  /**
   * This robot's target return (null: the card's default again); the next episode starts from it.
   * Throws when the policy has a returns-to-go input but neither a value nor a default.
   */
  setTargetReturn(target: number | null): void {
    if (target !== null && !Number.isFinite(target)) throw new RangeError(`target return ${target}: give a finite number (return units), or null for the card's default`);
    const w = this.current.window;
    if (w && w.target !== null) {
      const next = target ?? this.current.iface.extraInputs.find((x) => x.role === 'returns-to-go')?.default ?? null;
      if (next === null) throw new ArtifactError(`${this.current.artifact.source}: its returns-to-go input has no default, so a target return is needed`);
      w.target = next;
    }
    this.targetOverride = target;
  }

  get version(): string {
    return this.current.artifact.version;
  }

  /**
   * One control step: observation in, safe action out (the returned buffer is reused).
   * `now` and `obsTime` are milliseconds on one clock (default performance.now()); an observation
   * older than staleAfterMs is treated as missing. A sequence policy needs the step's reward and
   * episode start: pass a StepInfo (reused) instead.
   */
  act(obs: ArrayLike<number>, now?: number, obsTime?: number): Float32Array;
  act(obs: ArrayLike<number>, step: StepInfo): Float32Array;
  act(obs: ArrayLike<number>, nowOrStep?: number | StepInfo, obsTime?: number): Float32Array {
    let now: number;
    let t: number;
    let step: StepInfo | null = null;
    if (typeof nowOrStep === 'object') {
      step = nowOrStep;
      now = step.now ?? performance.now();
      t = step.obsTime ?? now;
    } else {
      now = nowOrStep ?? performance.now();
      t = obsTime ?? now;
    }
    const w = this.current.window;
    if (w) return this.actInContext(w, obs, now, t, step);
    const q = this.current.queue;
    if (q) return this.actFromQueue(q, obs, now, t, step);
    const f = this.filter;
    this.steps++;
    this.observed(t);
    if (obs.length !== this.obsDim) return this.fault('obsLength');
    const m = this.current.model;
    const x = m.obs;
    for (let i = 0; i < this.obsDim; i++) {
      const v = obs[i]!;
      if (!Number.isFinite(v)) return this.fault('nonFiniteObs');
      x[i] = v;
    }
    if (now - t > f.staleAfterMs) return this.fault('stale');
    const sampler = this.sampler;
    const dist = this.current.distribution;
    try {
      if (sampler && dist) m.inferDistribution();
      else m.infer();
    } catch {
      return this.fault('inference');
    }
    if (sampler) sampler.sample(m.action, dist, m.loc, m.logStd, f.low, f.high);
    if (!f.filter(m.action, this.action)) return this.fault('nonFiniteAction');
    this.lastGoodObs.set(x);
    this.haveGoodObs = true;
    return this.action;
  }

  /** act() for a sequence policy: the step enters the robot's context, the action leaves through the filter and goes back into it. */
  private actInContext(w: ContextWindow, obs: ArrayLike<number>, now: number, obsTime: number, step: StepInfo | null): Float32Array {
    const f = this.filter;
    this.steps++;
    this.observed(obsTime);
    // The step counts even when its observation is refused below: its reward, its timestep.
    if (this.resetPending || step?.episodeStart || w.step < 0) {
      w.begin(0, true);
      if (step?.episodeStart && step.steps) w.begin(step.reward ?? 0, false, step.steps);
    } else if (!step?.repeat) w.begin(step?.reward ?? 0, false, step?.steps ?? 1);
    this.resetPending = false;
    if (obs.length !== this.obsDim) return this.fault('obsLength');
    for (let i = 0; i < this.obsDim; i++) if (!Number.isFinite(obs[i]!)) return this.fault('nonFiniteObs');
    if (now - obsTime > f.staleAfterMs) return this.fault('stale');
    w.put(obs);
    const m = this.current.model;
    const sampler = this.sampler;
    const dist = this.current.distribution;
    try {
      if (sampler && dist) m.inferDistribution();
      else m.infer();
    } catch {
      w.executed(this.fault('inference'));
      return this.action;
    }
    if (sampler) sampler.sample(m.action, dist, m.loc, m.logStd, f.low, f.high);
    if (!f.filter(m.action, this.action)) this.fault('nonFiniteAction');
    else {
      for (let i = 0; i < this.obsDim; i++) this.lastGoodObs[i] = obs[i]!;
      this.haveGoodObs = true;
    }
    w.executed(this.action);
    return this.action;
  }

  /**
   * act() for a chunked policy: the observation enters the history; a plan runs the policy when the
   * queue is empty (or at every step with temporal ensembling); the step's action leaves through the filter.
   */
  private actFromQueue(q: ChunkQueue, obs: ArrayLike<number>, now: number, obsTime: number, step: StepInfo | null): Float32Array {
    const f = this.filter;
    this.steps++;
    this.observed(obsTime);
    // The step advances the queue even when its observation is refused below (its action is dropped).
    if (this.resetPending || step?.episodeStart || q.step < 0) q.begin(true);
    else if (!step?.repeat) q.begin(false, step?.steps ?? 1);
    this.resetPending = false;
    if (obs.length !== this.obsDim) return this.fault('obsLength');
    for (let i = 0; i < this.obsDim; i++) if (!Number.isFinite(obs[i]!)) return this.fault('nonFiniteObs');
    if (now - obsTime > f.staleAfterMs) return this.fault('stale');
    q.put(obs);
    if (q.needsPlan) {
      q.drawNoise();
      try {
        this.current.model.infer();
      } catch {
        return this.fault('inference');
      }
      q.planned();
    }
    const a = this.raw;
    q.current(a);
    if (this.sampler) this.sampler.sample(a, null, a, a, f.low, f.high);
    if (!f.filter(a, this.action)) return this.fault('nonFiniteAction');
    for (let i = 0; i < this.obsDim; i++) this.lastGoodObs[i] = obs[i]!;
    this.haveGoodObs = true;
    return this.action;
  }

  /**
   * Tells the watchdog that an observation stamped `obsTime` (ms, act()'s clock) arrived. act()
   * does this itself; a transport that decouples arrival from act() — a control timer acting on
   * the latest observation, as the ROS 2 node does — calls it on arrival, so the watchdog stops
   * sending the safe action as soon as observations resume. (Only the arrival advances the
   * watchdog: were it advanced by act() alone, a control tick that asks the watchdog first would
   * never reach act() again after one gap longer than staleAfterMs.) Older stamps change nothing.
   */
  observed(obsTime = performance.now()): void {
    if (obsTime > this.lastObsAt) this.lastObsAt = obsTime;
  }

  /**
   * The stale-observation watchdog: call it from the control timer. Returns the safe action (and
   * counts a fault) when no observation arrived for staleAfterMs, else null. It latches nothing:
   * once an observation arrives (act() or observed()) it returns null again.
   */
  watchdog(now = performance.now()): Float32Array | null {
    if (this.filter.staleAfterMs === Infinity || now - this.lastObsAt <= this.filter.staleAfterMs) return null;
    if (this.lastObsAt === -Infinity) this.lastObsAt = now; // never had one: start the clock now
    return this.fault('stale');
  }

  /** Marks `now` as the time of the last observation (e.g. when serving starts). */
  resetWatchdog(now = performance.now()): void {
    this.lastObsAt = now;
  }

  /** Counts a fault found outside act() (e.g. an undecodable message) and returns the safe action. */
  reject(kind: FaultKind): Float32Array {
    return this.fault(kind);
  }

  private fault(kind: FaultKind): Float32Array {
    this.filter.safe(kind, this.action);
    this.opts.onEvent?.({ type: 'fault', kind, count: this.filter.faults[kind] });
    return this.action;
  }

  /**
   * Replaces the policy atomically: verify (signature or sha256), load, check dimensions, test-run
   * on the last good observation. On any failure the current policy keeps serving and the reason
   * is returned (and reported through onEvent); nothing throws.
   */
  swap(input: ArtifactInput): SwapResult {
    const old = this.current;
    let next: LoadedPolicy;
    try {
      next = loadPolicy(
        input,
        this.opts,
        { obs: this.haveGoodObs ? this.lastGoodObs : new Float32Array(this.obsDim), obsDim: this.obsDim, actDim: this.actDim },
        this.rng,
        this.targetOverride,
      );
    } catch (e) {
      const reason = (e as Error).message;
      this.refused++;
      this.lastSwapError = reason;
      this.opts.onEvent?.({ type: 'swap-refused', reason, keptVersion: old.artifact.version });
      return { ok: false, version: old.artifact.version, reason };
    }
    // The robot's episode goes on under a policy with the same interface; any other swap starts the context again.
    if (next.window && old.window && sameInterface(next.iface, old.iface)) next.window.continueFrom(old.window);
    // A chunked policy takes over at its next plan: the old one's queued actions finish first.
    if (next.queue && old.queue) next.queue.continueFrom(old.queue);
    this.current = next;
    this.swaps++;
    this.lastSwapError = null;
    old.model.dispose();
    this.opts.onEvent?.({ type: 'swap', version: next.artifact.version, sha256: next.artifact.sha256 });
    return { ok: true, version: next.artifact.version };
  }

  /** Counts and reports an update refused before it reached swap() (e.g. unsigned from a topic); the current policy keeps serving. */
  refuse(reason: string): SwapResult {
    this.refused++;
    this.lastSwapError = reason;
    this.opts.onEvent?.({ type: 'swap-refused', reason, keptVersion: this.current.artifact.version });
    return { ok: false, version: this.current.artifact.version, reason };
  }

  status(): RuntimeStatus {
    const a = this.current.artifact;
    const w = this.current.window;
    const q = this.current.queue;
    return {
      version: a.version,
      sha256: a.sha256,
      source: a.source,
      verifiedBy: a.verifiedBy,
      provider: this.current.model.provider,
      obsDim: this.obsDim,
      actDim: this.actDim,
      steps: this.steps,
      faults: { ...this.filter.faults },
      lastFault: this.filter.lastFault,
      swaps: this.swaps,
      refusedSwaps: this.refused,
      lastSwapError: this.lastSwapError,
      exploration: this.sampler ? (this.current.distribution?.kind ?? 'noise') : 'off',
      episodeStep: w ? w.step : q ? q.step : null,
      returnToGo: w && w.target !== null && w.step >= 0 ? w.returnToGo : null,
      targetReturn: w?.target ?? null,
      chunk: q ? { actionHorizon: q.horizon, chunkLength: q.chunkLength, queued: q.queued, replans: q.replans, temporalEnsembling: q.ensembling } : null,
    };
  }

  /** The loaded model (for benchmarks comparing act() with raw ORT). */
  get model(): PolicyModel {
    return this.current.model;
  }

  dispose(): void {
    this.current.model.dispose();
  }
}
