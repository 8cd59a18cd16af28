/**
 * Compile-time proof that the real rclnodejs module satisfies the node's narrow interface.
 * Never executed (type-only import). Checked by `npm run typecheck:ros` (tsc -p ros), which needs
 * rclnodejs's type definitions in ros/node_modules ('cd ros && npm ci --ignore-scripts' is enough:
 * the native part is not needed to type-check).
 *
 * Where rclnodejs generated its message interfaces (types/interfaces.d.ts, made at install time
 * on a machine with ROS 2 sourced — the ros:jazzy CI job), message shapes are checked too; without
 * them the API surface is checked (Node, QoS, Parameter, Timer, Logging, init/spin/shutdown).
 */
import type * as rclnodejs from 'rclnodejs';
import type { RosModule, RosNode } from '../rcl-api.js';

export function moduleProof(m: typeof rclnodejs): RosModule<rclnodejs.QoS, rclnodejs.Parameter, rclnodejs.Node, rclnodejs.lifecycle.LifecycleNode> {
  return m;
}

export function nodeProof(n: rclnodejs.Node): RosNode<rclnodejs.QoS, rclnodejs.Parameter> {
  return n;
}
