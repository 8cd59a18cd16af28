/**
 * The policy node's link to the fleet (fleet_mqtt_url): on a robot, ROS 2 is the local bus and
 * MQTT the link to the online learner.
 *
 * Up: the node forms transitions (observation, action, reward, next observation, terminated,
 * truncated) and hands them to a TransitionSpool — the same journal, learner acks after fsync and
 * resends as `o2o robot sim --spool` (docs/architecture.md, "The delivery protocol").
 *
 * Down: PolicyUpdates the learner publishes (retained) on o2o/<fleet>/policy/current are passed to
 * the node, which verifies them against its trusted keys before it swaps.
 *
 * Step alignment (StepAligner): the robot publishes exactly one message per step it takes on each
 * of reward_topic (Float32), done_topic and truncated_topic (Bool, false while the episode goes on),
 * after applying the action and before its next observation. ROS delivers each topic in order but
 * not in order across topics, so the k-th answered observation is matched with the k-th reward /
 * done / truncated message, whatever order they arrive in; its next observation is the next
 * answered one. After an episode end the robot publishes the final observation (the next
 * observation of the last transition, answered and not itself the start of a transition) and then
 * the first observation of the next episode.
 */
import { MqttLink, policyTopic, redactUrl, TransitionSpool } from '../src/transport/index.js';

export interface StepRow {
  obs: Float32Array;
  action: Float32Array;
  reward: number;
  nextObs: Float32Array;
  terminated: boolean;
  truncated: boolean;
}

/** Matches answered observations with the per-step reward / done / truncated messages. */
export class StepAligner {
  private readonly acted: { obs: Float32Array; action: Float32Array }[] = [];
  private readonly rewards: number[] = [];
  private readonly dones: boolean[] = [];
  private readonly truncs: boolean[] = [];
  /** Messages dropped because one side ran too far ahead of the other (a restarted robot or node). */
  dropped = 0;

  constructor(
    private readonly emit: (row: StepRow) => void,
    /** Which per-step topics exist (a missing one reads as false on every step). */
    private readonly has: { done: boolean; truncated: boolean },
    private readonly maxBacklog = 4096,
  ) {}

  /** The node answered a fresh observation with `action` (both copied). */
  answered(obs: Float32Array, action: Float32Array): void {
    this.acted.push({ obs: Float32Array.from(obs), action: Float32Array.from(action) });
    this.flush();
  }

  reward(r: number): void {
    this.rewards.push(r);
    this.flush();
  }

  done(d: boolean): void {
    this.dones.push(d);
    this.flush();
  }

  truncated(t: boolean): void {
    this.truncs.push(t);
    this.flush();
  }

  private flush(): void {
    for (;;) {
      if (this.acted.length < 2 || this.rewards.length < 1) break;
      if (this.has.done && this.dones.length < 1) break;
      if (this.has.truncated && this.truncs.length < 1) break;
      const cur = this.acted.shift()!;
      const next = this.acted[0]!;
      const terminated = this.has.done ? this.dones.shift()! : false;
      const truncated = this.has.truncated ? this.truncs.shift()! : false;
      this.emit({ obs: cur.obs, action: cur.action, reward: this.rewards.shift()!, nextObs: next.obs, terminated, truncated });
      if (terminated || truncated) this.acted.shift(); // the final observation starts no transition
    }
    for (const q of [this.acted, this.rewards, this.dones, this.truncs] as unknown[][]) {
      if (q.length > this.maxBacklog) {
        this.dropped += q.length;
        q.length = 0;
      }
    }
  }
}

export interface FleetLinkOptions {
  url: string;
  fleet: string;
  robotId: string;
  spoolDir: string;
  batchRows: number;
  obsDim: number;
  actDim: number;
  policyVersion: () => string;
  /** Reward / done / truncated topics the node subscribes to. */
  has: { done: boolean; truncated: boolean };
  /** A PolicyUpdate payload from o2o/<fleet>/policy/current. */
  onPolicyUpdate: (payload: Uint8Array, topic: string) => void;
  username?: string;
  password?: string;
  log: (line: string) => void;
}

export class FleetLink {
  readonly aligner: StepAligner;
  /** Transitions handed to the spool since start. */
  spooled = 0;
  private notSpooled = 0;

  private constructor(
    readonly link: MqttLink,
    readonly spool: TransitionSpool,
    private readonly o: FleetLinkOptions,
  ) {
    this.aligner = new StepAligner((r) => this.add(r), o.has);
  }

  static async open(o: FleetLinkOptions): Promise<FleetLink> {
    const spool = new TransitionSpool({
      dir: o.spoolDir,
      robotId: o.robotId,
      fleet: o.fleet,
      obsDim: o.obsDim,
      actDim: o.actDim,
      batchRows: o.batchRows,
      policyVersion: o.policyVersion,
      log: o.log,
    });
    let link: MqttLink;
    try {
      link = await MqttLink.connect(o.url, { clientId: `o2o-ros-${o.fleet}-${o.robotId}-${process.pid}`, username: o.username, password: o.password });
    } catch (e) {
      spool.close();
      throw e;
    }
    const f = new FleetLink(link, spool, o);
    const updates = policyTopic(o.fleet);
    link.onMessage((topic, payload) => {
      if (topic === updates && payload.length > 0) o.onPolicyUpdate(payload, topic);
    });
    await spool.attach(link);
    await link.subscribe(updates, 1);
    if (spool.pendingTransitions) o.log(`o2o_policy: ${spool.pendingTransitions} transitions of an earlier run are still spooled in ${o.spoolDir}; sending them`);
    o.log(`o2o_policy: fleet link to ${redactUrl(o.url)} as robot '${o.robotId}' of fleet '${o.fleet}' (spool ${o.spoolDir}); policy updates from ${updates}`);
    return f;
  }

  private add(r: StepRow): void {
    try {
      this.spool.add(r.obs, r.action, r.reward, r.nextObs, r.terminated, r.truncated);
      this.spooled++;
    } catch (e) {
      // e.g. a NaN observation (the safety filter answered it): never sent
      if (this.notSpooled++ % 1000 === 0) this.o.log(`o2o_policy: transition not spooled: ${(e as Error).message}`);
    }
  }

  /** Waits until the learner acknowledged everything spooled (or `timeoutMs` passed). */
  drain(timeoutMs: number): Promise<boolean> {
    return this.spool.drain(timeoutMs);
  }

  async close(): Promise<void> {
    this.spool.close();
    await this.link.close();
  }
}
