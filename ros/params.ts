/**
 * Parameters of the o2o policy node, read from a ROS 2 params YAML:
 *
 *   /**:                       # or the node's name, e.g. o2o_policy:
 *     ros__parameters:
 *       model_path: /opt/policies/arm.onnx
 *       control_rate_hz: 50.0
 *       ...
 *
 * Entries under '/**' apply to every node; entries under the node's own name override them.
 * Unknown keys are refused (a typo must not silently leave a safety setting at its default).
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { type ExplorationConfig, type RuntimeOptions, robotSeed, type SafeActionMode } from '../src/serve/index.js';
import type { ActionType, ObservationType, ParamTypeCode, RosModule, RosNode, RosParameter } from './rcl-api.js';

export interface PolicyNodeParams {
  model_path: string;
  /** ed25519 public key files (PEM); when set, only artifacts signed by one of them load. */
  trusted_keys: string[];
  /** Accept foreign models without a hash or signature. */
  allow_unverified: boolean;
  execution_provider: string;
  observation_topic: string;
  observation_type: ObservationType;
  /** JointState fields concatenated into the observation, in order. */
  observation_fields: string[];
  /** JointState joint order the policy expects (empty: as received). */
  observation_joints: string[];
  action_topic: string;
  action_type: ActionType;
  /** JointState output: names and the field the action fills (position | velocity | effort). */
  action_joints: string[];
  action_field: string;
  control_rate_hz: number;
  /** Answer each observation as it arrives (the control timer then only runs the stale watchdog). */
  act_on_observation: boolean;
  qos_depth: number;
  qos_reliability: string;
  qos_durability: string;
  safe_action: string;
  safe_pose: number[];
  max_delta: number;
  stale_after_ms: number;
  action_low: number[];
  action_high: number[];
  diagnostics_topic: string;
  diagnostics_period_s: number;
  /** Swap when model_path changes on disk. */
  watch_model: boolean;
  /** std_msgs/msg/String with the path of a new artifact ('' = off). */
  policy_update_topic: string;
  /** Dataset folder to record (obs, action, reward, done) into ('' = off). */
  record_dir: string;
  /** std_msgs/msg/Float32: the reward of each step the robot took (recording and fleet uplink). */
  reward_topic: string;
  /** std_msgs/msg/Bool: the step ended the episode (terminated: no bootstrapping past it). */
  done_topic: string;
  /** std_msgs/msg/Bool: the step ended the episode by a time limit (truncated: bootstrapped). */
  truncated_topic: string;
  /**
   * MQTT broker of the fleet ('' = off): transitions go up to the online learner through a spool
   * (kept on disk until the learner acknowledges them), signed policy updates come down on
   * o2o/<fleet>/policy/current. Credentials: O2O_MQTT_USERNAME / O2O_MQTT_PASSWORD.
   */
  fleet_mqtt_url: string;
  fleet: string;
  /** The robot's id in the fleet ('' = the node's name). */
  robot_id: string;
  /** Where unacknowledged transitions are kept (required with fleet_mqtt_url). */
  spool_dir: string;
  /** Transitions per TransitionBatch (an episode end also closes one). */
  spool_batch_rows: number;
  /** Sample exploratory actions (while recording data for online fine-tuning). */
  explore: boolean;
  /** Multiplies the policy's standard deviation when exploring. */
  explore_temperature: number;
  /** Deterministic policies: noise std as a fraction of half the action range. */
  explore_noise_std: number;
  explore_seed: number;
  /**
   * Sequence policies (Decision Transformer): the target return each episode starts from; NaN (the
   * default, `.nan` in YAML) = the card's. Set live, it applies from the next episode.
   */
  target_return: number;
  /**
   * std_msgs/msg/Empty: the robot's next observation starts a new episode (a sequence policy's
   * context starts again) ('' = off). done_topic / truncated_topic end episodes too.
   */
  reset_topic: string;
  /**
   * Chunked policies (Diffusion Policy, ACT): actions of each chunk executed before the policy plans
   * again; 0 (the default) = the card's.
   */
  action_horizon: number;
  /** Chunked policies: ACT's temporal ensembling (a plan every step, weights exp(−m·i)) with this m (ACT: 0.01); negative (the default) = off. */
  temporal_ensembling: number;
}

export const DEFAULT_PARAMS: PolicyNodeParams = {
  model_path: '',
  trusted_keys: [],
  allow_unverified: false,
  execution_provider: 'cpu',
  observation_topic: '/o2o/observation',
  observation_type: 'std_msgs/msg/Float32MultiArray',
  observation_fields: ['position', 'velocity'],
  observation_joints: [],
  action_topic: '/o2o/action',
  action_type: 'std_msgs/msg/Float32MultiArray',
  action_joints: [],
  action_field: 'effort',
  control_rate_hz: 50,
  act_on_observation: false,
  qos_depth: 1,
  qos_reliability: 'best_effort',
  qos_durability: 'volatile',
  safe_action: 'hold',
  safe_pose: [],
  max_delta: 0,
  stale_after_ms: 200,
  action_low: [],
  action_high: [],
  diagnostics_topic: '/diagnostics',
  diagnostics_period_s: 1,
  watch_model: true,
  policy_update_topic: '/o2o/policy_update',
  record_dir: '',
  reward_topic: '',
  done_topic: '',
  truncated_topic: '',
  fleet_mqtt_url: '',
  fleet: 'default',
  robot_id: '',
  spool_dir: '',
  spool_batch_rows: 64,
  explore: false,
  explore_temperature: 1,
  explore_noise_std: 0.1,
  explore_seed: 0,
  target_return: Number.NaN,
  reset_topic: '',
  action_horizon: 0,
  temporal_ensembling: -1,
};

const TYPES: readonly string[] = ['sensor_msgs/msg/JointState', 'std_msgs/msg/Float32MultiArray', 'geometry_msgs/msg/Twist'];

export class ParamError extends Error {
  override name = 'ParamError';
}

/** rclnodejs ParameterType of each parameter (from its default). */
function paramType(name: keyof PolicyNodeParams): ParamTypeCode {
  const v = DEFAULT_PARAMS[name];
  if (typeof v === 'boolean') return 1;
  if (typeof v === 'string') return 4;
  if (typeof v === 'number') return name === 'qos_depth' || name === 'explore_seed' || name === 'spool_batch_rows' || name === 'action_horizon' ? 2 : 3;
  return name === 'trusted_keys' || name === 'observation_fields' || name === 'observation_joints' || name === 'action_joints' ? 9 : 8;
}

/** Validates and completes raw parameters; throws ParamError naming the parameter and the fix. */
function checkParams(raw: Record<string, unknown>, where: string): PolicyNodeParams {
  const p: Record<string, unknown> = { ...DEFAULT_PARAMS };
  for (const [k, v] of Object.entries(raw)) {
    if (!(k in DEFAULT_PARAMS)) throw new ParamError(`${where}: unknown parameter '${k}' (known: ${Object.keys(DEFAULT_PARAMS).join(', ')})`);
    const d = DEFAULT_PARAMS[k as keyof PolicyNodeParams];
    const bad = (want: string) => new ParamError(`${where}: parameter '${k}' must be ${want}, got ${JSON.stringify(v)}`);
    if (typeof d === 'boolean' && typeof v !== 'boolean') throw bad('true or false');
    if (typeof d === 'number' && (typeof v !== 'number' || !(Number.isFinite(v) || (k === 'target_return' && Number.isNaN(v)))))
      throw bad(k === 'target_return' ? "a number (or .nan for the card's)" : 'a number');
    if (typeof d === 'string' && typeof v !== 'string') throw bad('a string');
    if (Array.isArray(d)) {
      if (!Array.isArray(v)) throw bad('a list');
      const numeric = paramType(k as keyof PolicyNodeParams) === 8;
      if (v.some((x) => (numeric ? typeof x !== 'number' : typeof x !== 'string'))) throw bad(numeric ? 'a list of numbers' : 'a list of strings');
      // ROS 2 YAML cannot type an empty list, so [""] stands for "none".
      p[k] = numeric ? v : v.filter((x) => x !== '');
      continue;
    }
    p[k] = v;
  }
  const q = p as unknown as PolicyNodeParams;
  if (!q.model_path) throw new ParamError(`${where}: parameter 'model_path' is required (the policy artifact, e.g. policies/pendulum-bc.onnx)`);
  for (const k of ['observation_type', 'action_type'] as const) {
    if (!TYPES.includes(q[k])) throw new ParamError(`${where}: parameter '${k}' is '${q[k]}'; use one of ${TYPES.join(', ')}`);
  }
  if (!(q.control_rate_hz > 0 && q.control_rate_hz <= 10000)) throw new ParamError(`${where}: control_rate_hz must be in (0, 10000], got ${q.control_rate_hz}`);
  if (!['reliable', 'best_effort'].includes(q.qos_reliability)) throw new ParamError(`${where}: qos_reliability must be reliable or best_effort, got '${q.qos_reliability}'`);
  if (!['volatile', 'transient_local'].includes(q.qos_durability)) throw new ParamError(`${where}: qos_durability must be volatile or transient_local, got '${q.qos_durability}'`);
  if (!(Number.isInteger(q.qos_depth) && q.qos_depth >= 1)) throw new ParamError(`${where}: qos_depth must be an integer >= 1, got ${q.qos_depth}`);
  if (!['zero', 'hold', 'pose'].includes(q.safe_action)) throw new ParamError(`${where}: safe_action must be zero, hold or pose, got '${q.safe_action}'`);
  if (!['position', 'velocity', 'effort'].includes(q.action_field)) throw new ParamError(`${where}: action_field must be position, velocity or effort, got '${q.action_field}'`);
  for (const f of q.observation_fields) {
    if (!['position', 'velocity', 'effort'].includes(f)) throw new ParamError(`${where}: observation_fields entry '${f}' is not position, velocity or effort`);
  }
  if (q.max_delta < 0 || q.stale_after_ms < 0) throw new ParamError(`${where}: max_delta and stale_after_ms must be >= 0 (0 turns them off)`);
  if (!(q.explore_temperature >= 0 && q.explore_noise_std >= 0))
    throw new ParamError(`${where}: explore_temperature and explore_noise_std must be >= 0 (1 and 0.1 are the usual values)`);
  if (!(Number.isInteger(q.action_horizon) && q.action_horizon >= 0))
    throw new ParamError(`${where}: action_horizon must be an integer >= 0 (0: the card's), got ${q.action_horizon}`);
  if (q.action_horizon > 0 && q.temporal_ensembling >= 0)
    throw new ParamError(`${where}: action_horizon and temporal_ensembling exclude each other (temporal ensembling plans at every step); set one`);
  if (q.fleet_mqtt_url) {
    if (!/^(mqtts?|wss?|tcp):\/\//.test(q.fleet_mqtt_url))
      throw new ParamError(`${where}: fleet_mqtt_url must be an mqtt://host:port URL (or mqtts://, ws://, wss://), got '${q.fleet_mqtt_url}'`);
    if (!q.spool_dir) throw new ParamError(`${where}: fleet_mqtt_url is set, so spool_dir is required (transitions are kept there until the learner acknowledges them)`);
    if (!q.reward_topic)
      throw new ParamError(
        `${where}: fleet_mqtt_url is set, so reward_topic is required (a transition needs the reward of each step; done_topic and truncated_topic mark episode ends)`,
      );
    for (const [k, v] of [
      ['fleet', q.fleet],
      ['robot_id', q.robot_id],
    ] as const) {
      if (v && !/^[A-Za-z0-9_.-]+$/.test(v)) throw new ParamError(`${where}: ${k} '${v}' may only use letters, digits, '_', '.' and '-' (it is part of MQTT topic names)`);
    }
    if (!(Number.isInteger(q.spool_batch_rows) && q.spool_batch_rows >= 1)) throw new ParamError(`${where}: spool_batch_rows must be an integer >= 1, got ${q.spool_batch_rows}`);
  }
  if (!Number.isInteger(q.explore_seed)) throw new ParamError(`${where}: explore_seed must be an integer, got ${q.explore_seed}`);
  return q;
}

/** Parameters for `nodeName` from a ROS 2 params YAML ('/**' first, then the node's own section). */
export function loadParamsFile(file: string, nodeName: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ParamError(`${file}: cannot read params YAML (${(e as Error).message})`);
  }
  if (!doc || typeof doc !== 'object') throw new ParamError(`${file}: expected a mapping with '/**:' or '${nodeName}:' sections`);
  const out: Record<string, unknown> = {};
  let found = false;
  for (const key of ['/**', nodeName, `/${nodeName}`]) {
    const sec = (doc as Record<string, unknown>)[key];
    if (sec === undefined) continue;
    const rp = (sec as Record<string, unknown> | null)?.ros__parameters;
    if (!rp || typeof rp !== 'object') throw new ParamError(`${file}: section '${key}' has no 'ros__parameters:' mapping`);
    Object.assign(out, rp);
    found = true;
  }
  if (!found) throw new ParamError(`${file}: no '/**:' or '${nodeName}:' section; parameters go under '/**: ros__parameters:'`);
  return out;
}

/** The node's parameter sources: a ROS 2 params YAML, then values on top (tests, embedding). */
export interface ParamSources {
  paramsFile?: string;
  params?: Partial<PolicyNodeParams>;
}

/** The file's values for `nodeName`, then the caller's on top (not yet checked). */
export function rawParams(sources: ParamSources, nodeName: string): Record<string, unknown> {
  return { ...(sources.paramsFile ? loadParamsFile(sources.paramsFile, nodeName) : {}), ...sources.params };
}

/**
 * Declares every node parameter (the file's / caller's value as default) on `node` unless already
 * declared, so `ros2 param get/list` shows them and --params-file / launch overrides apply.
 */
export function declareNodeParameters(ros: RosModule, node: RosNode, nodeName: string, raw: Record<string, unknown>): void {
  for (const k of Object.keys(raw)) {
    if (!(k in DEFAULT_PARAMS)) throw new ParamError(`node '${nodeName}' parameters: unknown parameter '${k}' (known: ${Object.keys(DEFAULT_PARAMS).join(', ')})`);
  }
  for (const name of Object.keys(DEFAULT_PARAMS) as (keyof PolicyNodeParams)[]) {
    if (!node.hasParameter(name)) node.declareParameter(new ros.Parameter(name, paramType(name), raw[name] ?? DEFAULT_PARAMS[name]));
  }
}

/** A parameter's value as a plain value (integers as numbers, arrays as arrays). */
function paramValue(v: unknown): unknown {
  return typeof v === 'bigint' ? Number(v) : Array.isArray(v) || ArrayBuffer.isView(v) ? Array.from(v as ArrayLike<unknown>) : v;
}

/** The declared parameters' effective values (overrides applied), checked. */
export function readNodeParameters(node: RosNode, where: string): PolicyNodeParams {
  const effective: Record<string, unknown> = {};
  for (const name of Object.keys(DEFAULT_PARAMS) as (keyof PolicyNodeParams)[]) effective[name] = paramValue(node.getParameter(name).value);
  return checkParams(effective, where);
}

/**
 * Parameters a running node applies when they are set (`ros2 param set`, a parameter client). The
 * others shape topics, QoS, message layouts and the safety filter at start: setting one is refused
 * with the reason, so `ros2 param set` never reports success for a value the node does not use.
 */
const LIVE_PARAMS = [
  'model_path',
  'control_rate_hz',
  'act_on_observation',
  'diagnostics_period_s',
  'explore',
  'explore_temperature',
  'explore_noise_std',
  'explore_seed',
  'target_return',
] as const;

/**
 * A set-parameters request against the current values: the checked result and what changed, or
 * why it is refused (a parameter read only at start, or a value checkParams rejects). All or none.
 */
export function parameterChange(
  current: PolicyNodeParams,
  ps: readonly RosParameter[],
  where: string,
): { next: PolicyNodeParams; changed: Record<string, unknown> } | { refused: string } {
  const changed: Record<string, unknown> = {};
  for (const q of ps) {
    changed[q.name] = paramValue(q.value);
    if (!(LIVE_PARAMS as readonly string[]).includes(q.name))
      return {
        refused: `'${q.name}' is read when the node starts (topics, QoS, message layout, safety filter); restart the node with the new value (live: ${LIVE_PARAMS.join(', ')})`,
      };
  }
  try {
    return { next: checkParams({ ...current, ...changed }, where), changed };
  } catch (e) {
    return { refused: (e as Error).message };
  }
}

/** The exploration the parameters ask for (null: the policy's greedy action). */
export function explorationOf(p: PolicyNodeParams): ExplorationConfig | null {
  return p.explore ? { temperature: p.explore_temperature, noiseStd: p.explore_noise_std, seed: p.explore_seed } : null;
}

/**
 * What the parameters mean for the PolicyRuntime: trusted keys, the safety filter, exploration, the
 * target return and chunking (its noise seeded from robot_id, else `nodeName`). The node adds the
 * model's execution provider and its event log.
 */
export function runtimeOptions(p: PolicyNodeParams, nodeName: string): Pick<RuntimeOptions, 'trust' | 'safety' | 'exploration' | 'targetReturn' | 'chunking'> {
  return {
    trust: { publicKeys: p.trusted_keys.map((f) => readFileSync(f, 'utf8')), allowUnverified: p.allow_unverified },
    safety: {
      ...(p.action_low.length ? { low: p.action_low } : {}),
      ...(p.action_high.length ? { high: p.action_high } : {}),
      ...(p.max_delta > 0 ? { maxDelta: p.max_delta } : {}),
      ...(p.stale_after_ms > 0 ? { staleAfterMs: p.stale_after_ms } : {}),
      safeAction: p.safe_action as SafeActionMode,
      ...(p.safe_action === 'pose' ? { pose: 'safe_pose', poses: { safe_pose: p.safe_pose } } : {}),
    },
    exploration: explorationOf(p),
    targetReturn: Number.isNaN(p.target_return) ? undefined : p.target_return,
    chunking: {
      ...(p.action_horizon > 0 ? { actionHorizon: p.action_horizon } : {}),
      ...(p.temporal_ensembling >= 0 ? { temporalEnsembling: p.temporal_ensembling } : {}),
      seed: robotSeed(0, p.robot_id || nodeName),
    },
  };
}
