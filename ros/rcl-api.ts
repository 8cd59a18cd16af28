/**
 * The narrow slice of rclnodejs the policy node uses. The node depends on this interface only;
 * the real rclnodejs module satisfies it (checked at compile time in ros/proof/rclnodejs.ts against
 * rclnodejs's own .d.ts), and ros/in-process.ts implements it for tests without ROS.
 *
 * Members are function-typed properties, not methods, so TypeScript checks their parameters
 * contravariantly: the proof fails if rclnodejs would not accept what the node passes.
 */

/** ROS message types the node speaks. */
export type ObservationType = 'sensor_msgs/msg/JointState' | 'std_msgs/msg/Float32MultiArray' | 'geometry_msgs/msg/Twist';
export type ActionType = ObservationType;
export type RosTypeName = ObservationType | 'diagnostic_msgs/msg/DiagnosticArray' | 'std_msgs/msg/String' | 'std_msgs/msg/Float32' | 'std_msgs/msg/Bool' | 'std_msgs/msg/Empty';

export interface TimeMsg {
  sec: number;
  nanosec: number;
}
interface HeaderMsg {
  stamp: TimeMsg;
  frame_id: string;
}
export interface JointStateMsg {
  header: HeaderMsg;
  name: string[];
  position: number[] | Float64Array;
  velocity: number[] | Float64Array;
  effort: number[] | Float64Array;
}
interface MultiArrayDimensionMsg {
  label: string;
  size: number;
  stride: number;
}
export interface Float32MultiArrayMsg {
  layout: { dim: MultiArrayDimensionMsg[]; data_offset: number };
  data: number[] | Float32Array;
}
interface Vector3Msg {
  x: number;
  y: number;
  z: number;
}
export interface TwistMsg {
  linear: Vector3Msg;
  angular: Vector3Msg;
}
export interface KeyValueMsg {
  key: string;
  value: string;
}
interface DiagnosticStatusMsg {
  level: number;
  name: string;
  message: string;
  hardware_id: string;
  values: KeyValueMsg[];
}
export interface DiagnosticArrayMsg {
  header: HeaderMsg;
  status: DiagnosticStatusMsg[];
}
export interface StringMsg {
  data: string;
}
export interface Float32Msg {
  data: number;
}
export interface BoolMsg {
  data: boolean;
}
/** std_msgs/msg/Empty. */
type EmptyMsg = Record<string, never>;

/** Messages the node publishes. */
export type OutMessage = JointStateMsg | Float32MultiArrayMsg | TwistMsg | DiagnosticArrayMsg | StringMsg | Float32Msg | BoolMsg | EmptyMsg;
/** Messages the node receives (which one depends on the subscription's type). */
export type InMessage = JointStateMsg | Float32MultiArrayMsg | TwistMsg | StringMsg | Float32Msg | BoolMsg | EmptyMsg;

/** rclnodejs QoS enum values (rmw): history KEEP_LAST = 1; reliability RELIABLE = 1, BEST_EFFORT = 2; durability TRANSIENT_LOCAL = 1, VOLATILE = 2. */
export type HistoryPolicy = 1;
export type ReliabilityPolicy = 1 | 2;
export type DurabilityPolicy = 1 | 2;

/** A QoS object made by the module's own QoS constructor (opaque to the node). */
export interface RosQoS {
  depth: number;
}

/** rclnodejs ParameterType values: BOOL 1, INTEGER 2, DOUBLE 3, STRING 4, DOUBLE_ARRAY 8, STRING_ARRAY 9. */
export type ParamTypeCode = 1 | 2 | 3 | 4 | 8 | 9;

export interface RosParameter {
  readonly name: string;
  readonly value: unknown;
}

export interface RosPublisher {
  publish: (message: OutMessage) => void;
}

export interface RosTimer {
  cancel: () => void;
}

export interface RosLogger {
  info: (message: string) => boolean;
  warn: (message: string) => boolean;
  error: (message: string) => boolean;
}

/** rcl_interfaces/msg/SetParametersResult: what a set-parameters callback answers (false refuses the change). */
export interface SetParametersResultMsg {
  successful: boolean;
  reason: string;
}

export interface RosSubscriptionOptions<Q = RosQoS> {
  qos?: Q;
}

export interface RosNode<Q = RosQoS, P = RosParameter> {
  createPublisher: (typeClass: RosTypeName, topic: string, options?: RosSubscriptionOptions<Q>) => RosPublisher;
  createSubscription: (typeClass: RosTypeName, topic: string, options: RosSubscriptionOptions<Q>, callback: (message: InMessage) => void) => unknown;
  /** Period in nanoseconds. */
  createTimer: (period: bigint, callback: () => void) => RosTimer;
  declareParameter: (parameter: P) => RosParameter;
  getParameter: (name: string) => RosParameter;
  /** Called before parameters change (`ros2 param set`, a parameter client); an unsuccessful result refuses the change. */
  addOnSetParametersCallback: (callback: (parameters: P[]) => SetParametersResultMsg) => void;
  hasParameter: (name: string) => boolean;
  getLogger: () => RosLogger;
  /** Entities created by this node (typed `never`: pass only what this node created). */
  destroyPublisher: (publisher: never) => void;
  destroySubscription: (subscription: never) => void;
  destroyTimer: (timer: never) => void;
  destroy: () => void;
}

/** lifecycle_msgs/msg/Transition TRANSITION_CALLBACK_SUCCESS / FAILURE / ERROR (rclnodejs lifecycle.CallbackReturnCode). */
export type TransitionResult = 97 | 98 | 99;
export const TRANSITION = { SUCCESS: 97, FAILURE: 98, ERROR: 99 } as const;

/** A managed (lifecycle) node: rclnodejs createLifecycleNode; its transitions come over the standard lifecycle services. */
export interface RosLifecycleNode<Q = RosQoS, P = RosParameter> extends RosNode<Q, P> {
  registerOnConfigure: (callback: (previousState: unknown) => TransitionResult) => void;
  registerOnActivate: (callback: (previousState: unknown) => TransitionResult) => void;
  registerOnDeactivate: (callback: (previousState: unknown) => TransitionResult) => void;
  registerOnCleanup: (callback: (previousState: unknown) => TransitionResult) => void;
  registerOnShutdown: (callback: (previousState: unknown) => TransitionResult) => void;
}

/**
 * The module: what `await import('rclnodejs')` provides. Generic over its QoS, Parameter and
 * Node classes, so the objects the policy node hands back are the ones the same module constructed.
 */
export interface RosModule<
  Q extends RosQoS = RosQoS,
  P extends RosParameter = RosParameter,
  N extends RosNode<Q, P> = RosNode<Q, P>,
  L extends RosLifecycleNode<Q, P> = RosLifecycleNode<Q, P>,
> {
  init: (context?: undefined, argv?: string[]) => Promise<void>;
  Node: new (nodeName: string, namespace?: string) => N;
  createLifecycleNode: (nodeName: string, namespace?: string) => L;
  QoS: new (history?: HistoryPolicy, depth?: number, reliability?: ReliabilityPolicy, durability?: DurabilityPolicy) => Q;
  Parameter: new (name: string, type: ParamTypeCode, value?: unknown) => P;
  spin: (node: N, timeout?: number) => void;
  shutdown: () => void;
}
