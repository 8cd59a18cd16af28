/**
 * The robots of `o2o demo --transport ros`: each robot is a policy node (ros/policy-node.ts) with
 * its fleet link to the demo's MQTT broker, and a `robot sim --ros` robot (ros/sim-robot-ros.ts)
 * talking to it over DDS, as on a robot where ROS 2 is the local bus and MQTT the link to the
 * learner. All run in this process (one rclnodejs context); each robot's topics live under its
 * own namespace, /o2o_demo_<pid>/sim_<i>/..., so robots (and demos running side by side in the
 * same ROS domain) never hear each other.
 */
import { join } from 'node:path';
import { type FleetSetup, type RobotFleet, robotSeed } from '../src/serve/index.js';
import { loadRclnodejs } from './main.js';
import type { PolicyNodeParams } from './params.js';
import { PolicyNode } from './policy-node.js';
import { RosSimRobot } from './sim-robot-ros.js';

/** The ROS 2 fleet of the offline-to-online loop (src/online/offline-to-online.ts): the loop's `StartFleet`. */
export interface RosFleet extends RobotFleet {
  /** Versions served now, per robot. */
  versions(): string[];
  run(done: () => boolean): Promise<{ episodes: number; steps: number; timeouts: number }>;
}

export async function startRosFleet(o: FleetSetup): Promise<RosFleet> {
  const rcl = await loadRclnodejs();
  await rcl.init();
  const ns = `/o2o_demo_${process.pid}`;
  const nodes: PolicyNode[] = [];
  const robots: RosSimRobot[] = [];
  try {
    for (let i = 0; i < o.robots; i++) {
      const id = `sim-${i}`;
      const base = `${ns}/sim_${i}`;
      const params: Partial<PolicyNodeParams> = {
        model_path: o.policy,
        trusted_keys: [o.trustedKeyFile],
        observation_topic: `${base}/observation`,
        action_topic: `${base}/action`,
        reward_topic: `${base}/reward`,
        done_topic: `${base}/terminated`,
        truncated_topic: `${base}/truncated`,
        diagnostics_topic: `${base}/diagnostics`,
        policy_update_topic: '',
        watch_model: false,
        // answer every observation once, no watchdog actions in between: the robot steps in lockstep
        act_on_observation: true,
        stale_after_ms: 0,
        qos_reliability: 'reliable',
        qos_depth: 10,
        explore: o.explore,
        explore_seed: robotSeed(o.seed, id), // as `o2o serve` seeds each robot
        fleet_mqtt_url: o.url,
        robot_id: id,
        spool_dir: join(o.dir, 'spool', id),
      };
      const log = o.logFor(i);
      const logger = { info: (m: string) => (log(m), true), warn: (m: string) => (log(`WARN ${m}`), true), error: (m: string) => (log(`ERROR ${m}`), true) };
      const node = await PolicyNode.start(rcl, { nodeName: `o2o_policy_sim_${i}`, params, logger });
      nodes.push(node);
      rcl.spin(node.node);
      robots.push(await RosSimRobot.create({ ros: rcl, task: o.task, profile: o.profile, params, nodeName: `o2o_sim_robot_${i}`, log }));
    }
  } catch (e) {
    for (const r of robots) r.close();
    for (const n of nodes) await n.close();
    rcl.shutdown();
    throw e;
  }
  return {
    get version() {
      return nodes[0]!.runtime.version;
    },
    versions: () => nodes.map((n) => n.runtime.version),
    async waitForVersion(version, ms) {
      const end = Date.now() + ms;
      while (nodes.some((n) => n.runtime.version !== version)) {
        if (Date.now() > end) return false;
        await new Promise((r) => setTimeout(r, 20));
      }
      return true;
    },
    async run(done) {
      const totals = { episodes: 0, steps: 0, timeouts: 0 };
      await Promise.all(
        robots.map(async (r, i) => {
          for (let ep = 0; !done(); ep++) {
            const res = await r.run(1, 1000 * (i + 1) + ep);
            totals.episodes++;
            totals.steps += res.steps;
            totals.timeouts += res.timeouts;
          }
        }),
      );
      return totals;
    },
    async close() {
      for (const r of robots) r.close();
      await Promise.all(nodes.map((n) => n.close()));
      rcl.shutdown();
    },
  };
}
