/**
 * The policy node on real ROS 2 (rclnodejs + rmw). Runs where ROS 2 is sourced and rclnodejs is
 * installed in ros/node_modules (the ros:jazzy CI job: ros/ci/ros-jazzy.yml); skips elsewhere,
 * saying why. O2O_REQUIRE_ROS=1 turns the skip into a failure (set in that job).
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PENDULUM_POLICY } from '../../policies/make-pendulum-bc.js';
import { PolicyRuntime, readArtifactFile } from '../../src/serve/index.js';
import { loadRclnodejs } from '../../ros/main.js';
import { PolicyNode } from '../../ros/policy-node.js';
import type { DiagnosticArrayMsg, Float32MultiArrayMsg, InMessage } from '../../ros/rcl-api.js';

function whyNoRos(): string | null {
  if (!process.env.ROS_DISTRO) return 'ROS 2 is not sourced (ROS_DISTRO unset); Debian bookworm has no ROS 2 packages — this suite runs in the ros:jazzy container (ros/ci/ros-jazzy.yml)';
  if (!existsSync(new URL('../../ros/node_modules/rclnodejs/package.json', import.meta.url))) return "rclnodejs is not installed next to the node; run 'cd ros && npm install' with ROS 2 sourced";
  return null;
}

const why = whyNoRos();
if (why && process.env.O2O_REQUIRE_ROS === '1') throw new Error(`O2O_REQUIRE_ROS=1 but ${why}`);
if (why) console.warn(`skipped test/ros/real-ros.test.ts: ${why}`);

describe.skipIf(why !== null)('policy node on real ROS 2 (rclnodejs)', () => {
  it('serves the shipped pendulum policy: Float32MultiArray in, the same action as in-process out, diagnostics published', async () => {
    const rcl = await loadRclnodejs();
    await rcl.init();
    const node = await PolicyNode.start(rcl, {
      nodeName: 'o2o_policy_test',
      params: { model_path: PENDULUM_POLICY, observation_topic: '/o2o_test/obs', action_topic: '/o2o_test/action', diagnostics_topic: '/o2o_test/diagnostics', diagnostics_period_s: 0.2, control_rate_hz: 50, watch_model: false },
    });
    const robot = new rcl.Node('o2o_test_robot');
    const qos = new rcl.QoS(1, 1, 2, 2);
    const obsPub = robot.createPublisher('std_msgs/msg/Float32MultiArray', '/o2o_test/obs', { qos });
    const actions: number[][] = [];
    let diag: DiagnosticArrayMsg | null = null;
    robot.createSubscription('std_msgs/msg/Float32MultiArray', '/o2o_test/action', { qos }, (m: InMessage) => actions.push(Array.from((m as Float32MultiArrayMsg).data)));
    robot.createSubscription('diagnostic_msgs/msg/DiagnosticArray', '/o2o_test/diagnostics', { qos: new rcl.QoS(1, 10, 1, 2) }, (m: InMessage) => {
      diag = m as unknown as DiagnosticArrayMsg;
    });
    rcl.spin(node.node);
    rcl.spin(robot);
    const obs = [Math.cos(2), Math.sin(2), 0.5];
    const deadline = Date.now() + 10_000;
    while ((actions.length === 0 || !diag) && Date.now() < deadline) {
      obsPub.publish({ layout: { dim: [], data_offset: 0 }, data: Float32Array.from(obs) });
      await new Promise((r) => setTimeout(r, 50));
    }
    const rt = PolicyRuntime.open(readArtifactFile(PENDULUM_POLICY));
    const want = rt.act(obs)[0]!;
    rt.dispose();
    expect(actions.length).toBeGreaterThan(0);
    expect(Math.abs(actions.at(-1)![0]! - want)).toBeLessThan(1e-5);
    expect(diag).not.toBeNull();
    const kv = Object.fromEntries(diag!.status[0]!.values.map((v) => [v.key, v.value]));
    expect(kv.policy_version).toBe('1.0.0');
    await node.close();
    robot.destroy();
    rcl.shutdown();
  });
});
