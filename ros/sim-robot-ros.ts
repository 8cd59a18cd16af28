/**
 * `o2o robot sim --ros`: a simulated robot that speaks ROS 2 topics, the way a robot's driver does
 * for the policy node (ros/policy-node.ts). It reads the node's parameters (the same params YAML
 * and `-p` overrides) for the topic names, message types and QoS, and each step:
 *
 *   1. publishes its state on observation_topic (Float32MultiArray, or JointState: the vector split
 *      over observation_fields, joints named by observation_joints or obs_<i>, header stamped;
 *      or Twist for 6 values),
 *   2. waits for the next message on action_topic (the node's answer) and applies it,
 *   3. publishes the step's reward (std_msgs/Float32 on reward_topic), terminated (Bool on
 *      done_topic) and truncated (Bool on truncated_topic) — one of each per step, false while the
 *      episode goes on: the node's fleet link matches them with the observations it answered;
 *   4. after an episode end it publishes the final observation too (its answer is not applied),
 *      then resets.
 *
 * With act_on_observation the node answers each observation once, so the robot steps in lockstep
 * with the policy (what the demo and the tests run); on a timer the robot takes the first action
 * published after its observation. Randomization profiles are the simulators' (--profile).
 */
import { makeEnv, type ProfileInput } from '../simulators/index.js';
import type { StepRow } from './fleet-link.js';
import { DEFAULT_PARAMS, ParamError, type PolicyNodeParams } from './params.js';
import type { BoolMsg, Float32Msg, Float32MultiArrayMsg, InMessage, JointStateMsg, OutMessage, RosModule, RosNode, RosPublisher, TwistMsg } from './rcl-api.js';

export interface RosSimRobotOptions {
  /** rclnodejs (initialized) or the in-process module. */
  ros: RosModule;
  task: string;
  /** Randomization profile ('nominal' | 'mild' | 'harsh'); default none. */
  profile?: ProfileInput;
  /** The policy node's parameters (params YAML + overrides): topics, types, QoS. */
  params: Partial<PolicyNodeParams>;
  nodeName?: string;
  maxEpisodeSteps?: number;
  /** How long to wait for each action (default 1000 ms); then the robot applies zero. */
  actionTimeoutMs?: number;
  /** Hold this control rate (default: step as fast as actions arrive). */
  rateHz?: number;
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** Every transition the robot lived through (observation, applied action, reward, next observation, flags). */
  onStep?: (row: StepRow) => void;
}

export interface RosSimRobotResult {
  returns: number[];
  lengths: number[];
  meanReturn: number;
  steps: number;
  /** Steps where no action arrived in time (zero applied). */
  timeouts: number;
  /** Observation → action round trips over DDS, milliseconds, per answered step. */
  roundTripMs: Float64Array;
}

/** The robot's view of the node's parameters: defaults, then what the params give; the per-step topics are required. */
function robotParams(raw: Partial<PolicyNodeParams>): PolicyNodeParams {
  const p = { ...DEFAULT_PARAMS, ...raw } as PolicyNodeParams;
  for (const k of Object.keys(raw)) if (!(k in DEFAULT_PARAMS)) throw new ParamError(`robot sim: unknown policy node parameter '${k}'`);
  if (!p.reward_topic)
    throw new ParamError(
      "robot sim --ros: the policy node's parameters name no reward_topic; set reward_topic (and done_topic, truncated_topic) in its params file or with -p reward_topic:=/o2o/reward",
    );
  for (const a of [p.observation_fields, p.observation_joints, p.action_joints]) {
    const i = a.indexOf('');
    if (i >= 0) a.splice(i, 1);
  }
  return p;
}

type Field = 'position' | 'velocity' | 'effort';

export class RosSimRobot {
  readonly node: RosNode;
  private readonly p: PolicyNodeParams;
  private readonly obsPub: RosPublisher;
  private readonly rewardPub: RosPublisher;
  private readonly donePub: RosPublisher | null;
  private readonly truncPub: RosPublisher | null;
  private readonly action: Float32Array;
  private published = 0;
  private received = 0;
  private waiting: (() => void) | null = null;
  private readonly writeObs: (obs: ArrayLike<number>) => OutMessage;

  private constructor(
    private readonly o: RosSimRobotOptions,
    private readonly env: Awaited<ReturnType<typeof makeEnv>>,
  ) {
    const ros = o.ros;
    const p = robotParams(o.params);
    this.p = p;
    this.node = new ros.Node(o.nodeName ?? 'o2o_sim_robot');
    const qos = new ros.QoS(1, p.qos_depth, p.qos_reliability === 'reliable' ? 1 : 2, p.qos_durability === 'transient_local' ? 1 : 2);
    const stepQos = new ros.QoS(1, 100, 1, 2); // what the node subscribes with
    const { obsDim, actDim } = env.spec;
    this.action = new Float32Array(actDim);
    this.obsPub = this.node.createPublisher(p.observation_type, p.observation_topic, { qos });
    this.rewardPub = this.node.createPublisher('std_msgs/msg/Float32', p.reward_topic, { qos: stepQos });
    this.donePub = p.done_topic ? this.node.createPublisher('std_msgs/msg/Bool', p.done_topic, { qos: stepQos }) : null;
    this.truncPub = p.truncated_topic ? this.node.createPublisher('std_msgs/msg/Bool', p.truncated_topic, { qos: stepQos }) : null;
    this.node.createSubscription(p.action_type, p.action_topic, { qos }, (m) => this.onAction(m));

    if (p.observation_type === 'std_msgs/msg/Float32MultiArray') {
      const msg: Float32MultiArrayMsg = { layout: { dim: [], data_offset: 0 }, data: new Float32Array(obsDim) };
      this.writeObs = (obs) => {
        (msg.data as Float32Array).set(obs);
        return msg;
      };
    } else if (p.observation_type === 'geometry_msgs/msg/Twist') {
      if (obsDim !== 6) throw new ParamError(`robot sim --ros: a Twist observation carries 6 values; task ${o.task} has ${obsDim}`);
      const msg: TwistMsg = { linear: { x: 0, y: 0, z: 0 }, angular: { x: 0, y: 0, z: 0 } };
      this.writeObs = (obs) => {
        [msg.linear.x, msg.linear.y, msg.linear.z, msg.angular.x, msg.angular.y, msg.angular.z] = Array.from(obs);
        return msg;
      };
    } else {
      const fields = p.observation_fields as Field[];
      if (obsDim % fields.length !== 0)
        throw new ParamError(
          `robot sim --ros: task ${o.task} has ${obsDim} observation values, which do not split over observation_fields [${fields.join(', ')}]; use one field (e.g. -p observation_fields:=[position])`,
        );
      const per = obsDim / fields.length;
      const names = p.observation_joints.length ? p.observation_joints : Array.from({ length: per }, (_, i) => `obs_${i}`);
      if (names.length !== per) throw new ParamError(`robot sim --ros: observation_joints names ${names.length} joints, the observation has ${per} per field`);
      const msg: JointStateMsg = { header: { stamp: { sec: 0, nanosec: 0 }, frame_id: '' }, name: names, position: [], velocity: [], effort: [] };
      this.writeObs = (obs) => {
        const t = Date.now();
        msg.header.stamp.sec = Math.floor(t / 1000);
        msg.header.stamp.nanosec = Math.round((t % 1000) * 1e6);
        fields.forEach((f, k) => (msg[f] = Float64Array.from({ length: per }, (_, i) => obs[k * per + i]!)));
        return msg;
      };
    }
    ros.spin(this.node);
  }

  static async create(o: RosSimRobotOptions): Promise<RosSimRobot> {
    const env = await makeEnv(o.task, { randomization: o.profile, maxEpisodeSteps: o.maxEpisodeSteps });
    try {
      return new RosSimRobot(o, env);
    } catch (e) {
      env.close();
      throw e;
    }
  }

  get spec() {
    return this.env.spec;
  }

  private onAction(m: InMessage): void {
    // The k-th action after the k-th observation answers it; earlier answers (after a timeout) are skipped.
    this.received = Math.min(this.received + 1, this.published);
    if (this.received !== this.published || !this.waiting) return;
    const a = this.action;
    const p = this.p;
    if (p.action_type === 'std_msgs/msg/Float32MultiArray') {
      const d = (m as Float32MultiArrayMsg).data;
      for (let i = 0; i < a.length; i++) a[i] = d[i] ?? 0;
    } else if (p.action_type === 'geometry_msgs/msg/Twist') {
      const t = m as TwistMsg;
      const v = [t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z];
      for (let i = 0; i < a.length; i++) a[i] = v[i] ?? 0;
    } else {
      const js = m as JointStateMsg;
      const d = js[p.action_field as Field] ?? [];
      for (let i = 0; i < a.length; i++) {
        const idx = p.action_joints.length ? js.name.indexOf(p.action_joints[i]!) : i;
        a[i] = idx >= 0 ? (d[idx] ?? 0) : 0;
      }
    }
    const w = this.waiting;
    this.waiting = null;
    w();
  }

  /** Publishes `obs` and waits for its answer; true when one came in time (then this.action holds it). */
  private async ask(obs: ArrayLike<number>, timeoutMs: number): Promise<boolean> {
    const got = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        resolve(false);
      }, timeoutMs);
      this.waiting = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
    this.published++;
    this.obsPub.publish(this.writeObs(obs));
    return got;
  }

  /** Runs `episodes` episodes; episode e resets with seed + e. */
  async run(episodes: number, seed = 0): Promise<RosSimRobotResult> {
    const o = this.o;
    const timeout = o.actionTimeoutMs ?? 1000;
    const returns: number[] = [];
    const lengths: number[] = [];
    const rtts: number[] = [];
    let timeouts = 0;
    let nextTick = performance.now();
    const reward: Float32Msg = { data: 0 };
    const done: BoolMsg = { data: false };
    const trunc: BoolMsg = { data: false };
    for (let ep = 0; ep < episodes && !o.signal?.aborted; ep++) {
      let obs = this.env.reset(seed + ep);
      let total = 0;
      let len = 0;
      for (;;) {
        if (o.rateHz) {
          const wait = nextTick - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          nextTick = Math.max(nextTick + 1000 / o.rateHz, performance.now());
        }
        const t0 = performance.now();
        if (await this.ask(obs, timeout)) rtts.push(performance.now() - t0);
        else {
          timeouts++;
          this.action.fill(0);
          o.log?.(`o2o robot sim: no action on ${this.p.action_topic} within ${timeout} ms; applying zero`);
        }
        const r = this.env.step(this.action);
        o.onStep?.({
          obs: Float32Array.from(obs),
          action: Float32Array.from(this.action),
          reward: r.reward,
          nextObs: Float32Array.from(r.obs),
          terminated: r.terminated,
          truncated: r.truncated,
        });
        reward.data = r.reward;
        done.data = r.terminated;
        trunc.data = r.truncated;
        this.rewardPub.publish(reward);
        this.donePub?.publish(done);
        this.truncPub?.publish(trunc);
        total += r.reward;
        len++;
        obs = r.obs;
        if (r.terminated || r.truncated || o.signal?.aborted) {
          // the final observation: the node's next-observation of this step (its answer is not applied)
          if (!(await this.ask(obs, timeout))) timeouts++;
          break;
        }
      }
      returns.push(total);
      lengths.push(len);
      o.log?.(`o2o robot sim: episode ${ep} (seed ${seed + ep}) return ${total.toFixed(2)} in ${len} steps`);
    }
    return {
      returns,
      lengths,
      meanReturn: returns.reduce((a, b) => a + b, 0) / Math.max(1, returns.length),
      steps: lengths.reduce((a, b) => a + b, 0),
      timeouts,
      roundTripMs: Float64Array.from(rtts),
    };
  }

  close(): void {
    this.node.destroy();
    this.env.close();
  }
}

/** Creates the robot, runs `episodes` episodes from `seed`, closes it. */
export async function runRosSimRobot(o: RosSimRobotOptions & { episodes?: number; seed?: number }): Promise<RosSimRobotResult> {
  const r = await RosSimRobot.create(o);
  try {
    return await r.run(o.episodes ?? 1, o.seed ?? 0);
  } finally {
    r.close();
  }
}
