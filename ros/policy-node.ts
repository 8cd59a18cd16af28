/**
 * The o2o policy node: observations in (JointState / Float32MultiArray / Twist), a control timer
 * at control_rate_hz running PolicyRuntime.act() on the latest observation through the safety
 * filter, actions out, DiagnosticArray on /diagnostics (latency, faults, policy version), hot swap
 * when model_path changes or a path arrives on policy_update_topic, optional recording of
 * (obs, action, reward, done) into a dataset segment, and with fleet_mqtt_url the fleet link
 * (fleet-link.ts): transitions up to the online learner through a spool, signed policy updates down.
 *
 * A sequence policy (Decision Transformer) gets its context from the robot's per-step topics:
 * reward_topic lowers the return-to-go, done_topic / truncated_topic end episodes and reset_topic
 * (std_msgs/Empty) starts a new one (episode-feed.ts matches them with the observations); the
 * target return is the card's unless target_return is set. Without reward_topic the
 * return-to-go stays at the target. On the control timer, a tick without a new observation
 * re-evaluates the current step instead of adding one.
 *
 * A chunked policy (Diffusion Policy, ACT) plans a chunk of actions and executes action_horizon of
 * them (default: the card's), one per step, before it plans again, or plans every step with
 * temporal_ensembling; the same episode boundaries empty its queue and observation history. Its
 * noise generator is seeded from robot_id (else the node's name). A hot swap reaches it at its next
 * plan. On the control timer, a tick without a new observation re-sends the current action.
 *
 * It talks to ROS only through RosModule (rcl-api.ts): rclnodejs in production (ros/main.ts),
 * the in-process implementation in tests.
 */
import { unwatchFile, watchFile } from 'node:fs';
import type { ExecutionProvider } from '../src/engine/index.js';
import { PolicyRuntime, readArtifactFile, Recorder, type StepInfo } from '../src/serve/index.js';
import { EpisodeFeed } from './episode-feed.js';
import { nodeDiagnostics, SampleWindow } from './node-diagnostics.js';
import { FleetLink } from './fleet-link.js';
import { actionWriter, type ActionWriter, observationReader, type ObservationReader } from './messages.js';
import { declareNodeParameters, explorationOf, parameterChange, type PolicyNodeParams, rawParams, readNodeParameters, runtimeOptions } from './params.js';
import { swapFromFile, swapFromUpdate } from './policy-updates.js';
import type {
  BoolMsg,
  DiagnosticArrayMsg,
  Float32Msg,
  InMessage,
  RosLogger,
  RosModule,
  RosNode,
  RosParameter,
  RosPublisher,
  RosTimer,
  SetParametersResultMsg,
  StringMsg,
} from './rcl-api.js';

export interface PolicyNodeOptions {
  nodeName?: string;
  namespace?: string;
  /** ROS 2 params YAML; its values are the parameters' defaults (rcl overrides still apply). */
  paramsFile?: string;
  /** Parameter values on top of the file (tests, embedding). */
  params?: Partial<PolicyNodeParams>;
  /** Clock in ms for the control loop (default performance.now); tests drive it. */
  now?: () => number;
  /**
   * Run inside this existing node (the managed node's lifecycle node) instead of creating one:
   * parameters already declared there are read, not re-declared; close() destroys only what this
   * PolicyNode created, and set-parameter requests come through applyParameters().
   */
  node?: RosNode;
  /** Publish actions (default true); a managed node starts inactive and is activated by its lifecycle. */
  active?: boolean;
  /** Where the node's log lines go (default the ROS logger; the demo writes them to a file per robot). */
  logger?: RosLogger;
}

export class PolicyNode {
  readonly node: RosNode;
  /** The parameters in effect (live ones change with `ros2 param set`). */
  params: PolicyNodeParams;
  readonly runtime: PolicyRuntime;
  private readonly log: RosLogger;
  private readonly reader: ObservationReader;
  private readonly writer: ActionWriter;
  private readonly actionPub: RosPublisher;
  private readonly diagPub: RosPublisher;
  private controlTimer: RosTimer;
  private diagTimer: RosTimer;
  private readonly obs: Float32Array;
  private obsTime = -Infinity;
  private haveObs = false;
  private freshObs = false;
  private badObs = 0;
  /** act() latency and the control timer's jitter (|interval − period|), ms, over the last 1024. */
  private readonly latency = new SampleWindow();
  private readonly jitter = new SampleWindow();
  private lastTick = -1;
  private ticks = 0;
  private reward = 0;
  private done = false;
  private recorder: Recorder | null = null;
  /** The fleet link (fleet_mqtt_url), once openFleetLink() connected it. */
  fleet: FleetLink | null = null;
  private truncated = false;
  /** Where each observation stands in the robot's episode (a sequence policy's context). */
  readonly episodes = new EpisodeFeed();
  /** What the observations since the last act() add up to: an episode start, rewards, steps. */
  private readonly since = { start: false, reward: 0, steps: 0 };
  private readonly stepInfo: StepInfo = { reward: 0, episodeStart: false, repeat: false, steps: 1 };
  private watching = false;
  private readonly now: () => number;
  readonly nodeName: string;

  /** How long close() waits for the learner's acks (ms). */
  closeDrainMs = 2000;

  /** Publish actions (a managed node's lifecycle sets it: active ↔ true). */
  active: boolean;
  private readonly ownsNode: boolean;
  private readonly subscriptions: unknown[] = [];

  /** Builds the node synchronously (no recorder: openRecorder()); start() is the usual way in. */
  constructor(
    readonly ros: RosModule,
    opts: PolicyNodeOptions,
  ) {
    this.nodeName = opts.nodeName ?? 'o2o_policy';
    this.now = opts.now ?? (() => performance.now());
    this.ownsNode = !opts.node;
    this.active = opts.active ?? true;
    this.node = opts.node ?? new ros.Node(this.nodeName, opts.namespace ?? '');
    this.log = opts.logger ?? this.node.getLogger();
    // Declare every parameter, then read the effective values back (overrides applied).
    declareNodeParameters(ros, this.node, this.nodeName, rawParams(opts, this.nodeName));
    const p = readNodeParameters(this.node, `node '${this.nodeName}' parameters`);
    this.params = p;
    const artifact = readArtifactFile(p.model_path);
    this.runtime = PolicyRuntime.open(artifact, {
      ...runtimeOptions(p, this.nodeName),
      model: { executionProvider: p.execution_provider as ExecutionProvider, warn: (m) => this.log.warn(m) },
      onEvent: (e) => {
        if (e.type === 'swap') this.log.info(`o2o_policy: now serving policy ${e.version} (sha256 ${e.sha256.slice(0, 12)}…)`);
        if (e.type === 'swap-refused') this.log.error(`o2o_policy: refused new policy: ${e.reason}; still serving ${e.keptVersion}`);
      },
    });
    this.obs = new Float32Array(this.runtime.obsDim);
    this.reader = observationReader(p.observation_type, p.observation_fields, p.observation_joints);
    this.writer = actionWriter(p.action_type, this.runtime.actDim, p.action_joints, p.action_field);
    const qos = new ros.QoS(1, p.qos_depth, p.qos_reliability === 'reliable' ? 1 : 2, p.qos_durability === 'transient_local' ? 1 : 2);
    this.actionPub = this.node.createPublisher(p.action_type, p.action_topic, { qos });
    this.diagPub = this.node.createPublisher('diagnostic_msgs/msg/DiagnosticArray', p.diagnostics_topic, { qos: new ros.QoS(1, 10, 1, 2) });
    const subs = this.subscriptions;
    subs.push(this.node.createSubscription(p.observation_type, p.observation_topic, { qos }, (m) => this.onObservation(m)));
    if (p.policy_update_topic) {
      subs.push(this.node.createSubscription('std_msgs/msg/String', p.policy_update_topic, { qos: new ros.QoS(1, 1, 1, 2) }, (m) => this.swapFrom((m as StringMsg).data)));
    }
    // Step feedback (reliable, deep enough that a burst is not lost: the fleet link matches the k-th message with the k-th answered observation).
    const stepQos = new ros.QoS(1, 100, 1, 2);
    if (p.reward_topic) {
      subs.push(
        this.node.createSubscription('std_msgs/msg/Float32', p.reward_topic, { qos: stepQos }, (m) => {
          this.reward = (m as Float32Msg).data;
          this.episodes.reward(this.reward);
          this.fleet?.aligner.reward(this.reward);
        }),
      );
    }
    // done / truncated end the step's episode (for the policy's context and for the fleet link)
    for (const end of ['done', 'truncated'] as const) {
      const topic = end === 'done' ? p.done_topic : p.truncated_topic;
      if (!topic) continue;
      subs.push(
        this.node.createSubscription('std_msgs/msg/Bool', topic, { qos: stepQos }, (m) => {
          const ended = (m as BoolMsg).data;
          this[end] = this[end] || ended;
          this.endOfStep(() => this.episodes[end](ended));
          this.fleet?.aligner[end](ended);
        }),
      );
    }
    if (p.reset_topic) {
      subs.push(this.node.createSubscription('std_msgs/msg/Empty', p.reset_topic, { qos: new ros.QoS(1, 10, 1, 2) }, () => this.episodes.reset()));
    }
    this.controlTimer = this.node.createTimer(BigInt(Math.round(1e9 / p.control_rate_hz)), () => this.tick());
    this.diagTimer = this.node.createTimer(BigInt(Math.round(p.diagnostics_period_s * 1e9)), () => this.publishDiagnostics());
    if (p.watch_model) this.watch(p.model_path);
    if (this.ownsNode) this.node.addOnSetParametersCallback((ps) => this.applyParameters(ps));
    this.runtime.resetWatchdog(this.now());
    this.log.info(
      `o2o_policy: serving ${this.runtime.version} (${this.runtime.status().verifiedBy}) from ${p.model_path}: ${p.observation_type} ${p.observation_topic} → ${p.action_type} ${p.action_topic} at ${p.control_rate_hz} Hz`,
    );
  }

  /** Creates the node (parameters, publishers, subscriptions, timers) and, when record_dir is set, its recorder. */
  static async start(ros: RosModule, opts: PolicyNodeOptions = {}): Promise<PolicyNode> {
    const n = new PolicyNode(ros, opts);
    try {
      await n.openRecorder();
      await n.openFleetLink();
    } catch (e) {
      await n.close();
      throw e;
    }
    return n;
  }

  /**
   * Connects the fleet link when fleet_mqtt_url is set: transitions up (spooled until the learner
   * acknowledges them), signed policy updates down (o2o/<fleet>/policy/current).
   */
  async openFleetLink(): Promise<void> {
    const p = this.params;
    if (!p.fleet_mqtt_url || this.fleet) return;
    this.fleet = await FleetLink.open({
      url: p.fleet_mqtt_url,
      fleet: p.fleet,
      robotId: p.robot_id || this.nodeName,
      spoolDir: p.spool_dir,
      batchRows: p.spool_batch_rows,
      obsDim: this.runtime.obsDim,
      actDim: this.runtime.actDim,
      policyVersion: () => this.runtime.version,
      has: { done: p.done_topic !== '', truncated: p.truncated_topic !== '' },
      onPolicyUpdate: (payload, topic) => this.swapFromUpdate(payload, topic),
      username: process.env.O2O_MQTT_USERNAME || undefined,
      password: process.env.O2O_MQTT_PASSWORD || undefined,
      log: (l) => this.log.info(l),
    });
  }

  /** A PolicyUpdate from the fleet (policy-updates.ts: signed by a trusted key unless allow_unverified). */
  swapFromUpdate(payload: Uint8Array, topic: string): boolean {
    return swapFromUpdate(this.runtime, this.params, payload, topic, this.log);
  }

  /** Opens the recorder when record_dir is set. */
  async openRecorder(): Promise<void> {
    if (!this.params.record_dir || this.recorder) return;
    this.recorder = await Recorder.open({
      dir: this.params.record_dir,
      obsDim: this.runtime.obsDim,
      actDim: this.runtime.actDim,
      robotId: this.nodeName,
      policyVersion: this.runtime.version,
      onError: (m) => this.log.error(`o2o_policy: ${m}`),
    });
  }

  /** A done/truncated message; warns when it came too late to place the episode's end exactly. */
  private endOfStep(apply: () => void): void {
    const late = this.episodes.late;
    apply();
    if (this.episodes.late > late && this.runtime.policyInterface.kind !== 'mlp')
      this.log.warn(
        `o2o_policy: an episode end arrived more than one observation after it happened; the policy's context starts again at the next observation (publish ${this.params.done_topic || this.params.truncated_topic} before the next observation)`,
      );
  }

  /** Each observation the robot sends is a step (or an episode's final observation): add it to what the next act() is told. */
  private countStep(): void {
    const e = this.episodes.observation();
    const s = this.since;
    if (e.start) {
      s.start = true;
      s.reward = 0;
      s.steps = 0;
    } else {
      s.reward += e.reward;
      s.steps++;
    }
  }

  private onObservation(m: InMessage): void {
    const count = this.reader.read(m, this.obs);
    this.countStep();
    if (count !== this.runtime.obsDim) {
      this.badObs++;
      if (this.badObs === 1 || this.badObs % 1000 === 0) {
        this.log.warn(
          `o2o_policy: observation on ${this.params.observation_topic} has ${count < 0 ? 'missing joints' : `${count} values`}, the policy needs ${this.runtime.obsDim} (${this.badObs} so far); sending the safe action`,
        );
      }
      this.runtime.reject('obsLength');
      return;
    }
    const stamp = this.reader.stampMs(m);
    const now = this.now();
    this.obsTime = stamp === null ? now : now - (Date.now() - stamp);
    this.runtime.observed(this.obsTime); // the arrival, not act(), keeps the watchdog quiet (it must recover after a gap)
    this.haveObs = true;
    this.freshObs = true;
    if (this.params.act_on_observation && this.active) this.send(this.actNow(now));
  }

  /**
   * One control period: the watchdog or the policy, then publish (and record). With
   * act_on_observation the observations are answered as they arrive and the period only runs the watchdog.
   */
  tick(): void {
    if (!this.active) return;
    const now = this.now();
    this.ticks++;
    if (this.lastTick >= 0) this.jitter.add(Math.abs(now - this.lastTick - 1000 / this.params.control_rate_hz));
    this.lastTick = now;
    let action = this.runtime.watchdog(now);
    if (!action) {
      if (!this.haveObs || this.params.act_on_observation) return; // nothing to act on yet, and the watchdog is not due
      action = this.actNow(now);
    }
    this.send(action);
  }

  private actNow(now: number): Float32Array {
    const t0 = performance.now();
    const info = this.stepInfo;
    const s = this.since;
    info.now = now;
    info.obsTime = this.obsTime;
    info.repeat = !this.freshObs; // a tick without a new observation: the same step again
    info.episodeStart = s.start;
    info.reward = s.reward;
    info.steps = s.steps;
    if (this.freshObs) {
      s.start = false;
      s.reward = 0;
      s.steps = 0;
    }
    const action = this.runtime.act(this.obs, info);
    this.latency.add(performance.now() - t0);
    return action;
  }

  private send(action: Float32Array): void {
    this.actionPub.publish(this.writer.write(action));
    if (this.freshObs) this.fleet?.aligner.answered(this.obs, action);
    if (this.recorder && this.freshObs) {
      this.recorder.step(this.obs, action, this.reward, this.done, this.truncated);
      this.reward = 0;
      this.done = false;
      this.truncated = false;
    }
    this.freshObs = false;
  }

  private watch(path: string): void {
    this.watching = true;
    watchFile(path, { interval: 250 }, (cur, prev) => {
      if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size) this.swapFrom(path);
    });
  }

  /** `ros2 param set`: applies live parameters (all or none), refuses the rest with the reason. */
  applyParameters(ps: RosParameter[]): SetParametersResultMsg {
    const refuse = (reason: string): SetParametersResultMsg => {
      this.log.warn(`o2o_policy: parameter change refused: ${reason}`);
      return { successful: false, reason };
    };
    const change = parameterChange(this.params, ps, `node '${this.nodeName}' parameters`);
    if ('refused' in change) return refuse(change.refused);
    const { next, changed } = change;
    const old = this.params;
    if (next.model_path !== old.model_path) {
      if (!this.swapFrom(next.model_path))
        return refuse(`the policy at ${next.model_path} was not loaded (${this.runtime.status().lastSwapError ?? 'unreadable'}); still serving ${this.runtime.version}`);
      if (this.watching) {
        unwatchFile(old.model_path);
        this.watch(next.model_path);
      }
    }
    if (next.control_rate_hz !== old.control_rate_hz) {
      this.controlTimer.cancel();
      this.controlTimer = this.node.createTimer(BigInt(Math.round(1e9 / next.control_rate_hz)), () => this.tick());
      this.lastTick = -1;
    }
    if (next.diagnostics_period_s !== old.diagnostics_period_s) {
      this.diagTimer.cancel();
      this.diagTimer = this.node.createTimer(BigInt(Math.round(next.diagnostics_period_s * 1e9)), () => this.publishDiagnostics());
    }
    if ('target_return' in changed) {
      try {
        this.runtime.setTargetReturn(Number.isNaN(next.target_return) ? null : next.target_return);
      } catch (e) {
        return refuse((e as Error).message);
      }
    }
    if (['explore', 'explore_temperature', 'explore_noise_std', 'explore_seed'].some((k) => k in changed)) {
      this.runtime.setExploration(explorationOf(next));
    }
    this.params = next;
    this.log.info(
      `o2o_policy: parameters set: ${Object.entries(changed)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(', ')}`,
    );
    return { successful: true, reason: '' };
  }

  /** Loads a new artifact from `path` (with its .sig/.sha256) and swaps if it verifies. */
  swapFrom(path: string): boolean {
    return swapFromFile(this.runtime, path, this.log);
  }

  diagnostics(): DiagnosticArrayMsg {
    const filter = this.runtime.filter;
    const fleet = this.fleet;
    return nodeDiagnostics({
      nodeName: this.nodeName,
      status: this.runtime.status(),
      policyKind: this.runtime.policyInterface.kind,
      latency: this.latency.percentiles(),
      jitter: this.jitter.percentiles(),
      stale: filter.staleAfterMs < Infinity && this.now() - this.obsTime > filter.staleAfterMs,
      controlRateHz: this.params.control_rate_hz,
      ticks: this.ticks,
      recordedTransitions: this.recorder?.rows ?? 0,
      fleet: fleet ? { spooled: fleet.spooled, acked: fleet.spool.ackedTransitions, pending: fleet.spool.pendingTransitions, connected: fleet.link.connected } : null,
    });
  }

  publishDiagnostics(): void {
    this.diagPub.publish(this.diagnostics());
  }

  /** Stops and releases everything this PolicyNode created (and its node, unless it was given one). */
  async close(): Promise<void> {
    this.active = false;
    this.controlTimer.cancel();
    this.diagTimer.cancel();
    if (this.watching) unwatchFile(this.params.model_path);
    this.watching = false;
    // Everything synchronous first: a lifecycle cleanup callback cannot wait for the recorder.
    if (this.ownsNode) this.node.destroy();
    else {
      for (const t of [this.controlTimer, this.diagTimer]) this.node.destroyTimer(t as never);
      for (const sub of this.subscriptions) this.node.destroySubscription(sub as never);
      this.node.destroyPublisher(this.actionPub as never);
      this.node.destroyPublisher(this.diagPub as never);
    }
    this.runtime.dispose();
    const rec = this.recorder;
    this.recorder = null;
    const fleet = this.fleet;
    this.fleet = null;
    await rec?.close();
    if (fleet) {
      // A short wait for the learner's acks; what is left stays in spool_dir for the next start.
      if (!(await fleet.drain(this.closeDrainMs)))
        this.log.warn(`o2o_policy: ${fleet.spool.pendingTransitions} transitions stay spooled in ${this.params.spool_dir}; they are sent when the node starts again`);
      await fleet.close();
    }
  }
}
