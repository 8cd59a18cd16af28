/**
 * The robots of the offline-to-online loop, as one interface whatever they are: a fleet serves a
 * signed policy, runs episodes until told to stop, streams its transitions to the learner over MQTT
 * (spooled until acknowledged) and takes the learner's signed updates. `simulatedMqttFleet` is the
 * embedded default: one MQTT policy server (`serveMqtt`) and N simulated robots (`runSimRobot`);
 * ros/demo-fleet.ts provides the same interface with each robot behind a ROS 2 policy node.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { serveMqtt } from './serve-mqtt.js';
import { runSimRobot } from './sim-robot.js';

export interface FleetSetup {
  /** The fleet's MQTT broker (the learner's). */
  url: string;
  /** The signed policy every robot starts with, and the public key file its updates must be signed by. */
  policy: string;
  trustedKeyFile: string;
  robots: number;
  task: string;
  /** Randomization profile of the robots' simulators. */
  profile: string;
  seed: number;
  /** Collect with actions sampled from the policy (each robot its own noise) instead of its mode. */
  explore: boolean;
  /** Spools go to <dir>/spool/sim-<i>. */
  dir: string;
  logFor: (robot: number) => (line: string) => void;
}

export interface RobotFleet {
  /** The policy version the fleet serves now (robot 0's, where each robot has its own server). */
  readonly version: string;
  /** Runs episodes on every robot (robot i's k-th episode seeded 1000·(i+1) + k) until `done()`. */
  run(done: () => boolean): Promise<unknown>;
  /** Waits until every robot serves `version`; false after `ms`. */
  waitForVersion(version: string, ms: number): Promise<boolean>;
  close(): Promise<void>;
}

export type StartFleet = (setup: FleetSetup) => Promise<RobotFleet>;

/** One MQTT policy server and `robots` simulated robots, all in this process. */
export const simulatedMqttFleet: StartFleet = async (s) => {
  const server = await serveMqtt({
    url: s.url,
    policy: s.policy,
    trust: { publicKeys: [readFileSync(s.trustedKeyFile, 'utf8')] },
    watchFile: false,
    log: () => {},
    exploration: s.explore ? { seed: s.seed } : null,
  });
  return {
    get version() {
      return server.version;
    },
    async run(done) {
      await Promise.all(
        Array.from({ length: s.robots }, async (_, i) => {
          for (let ep = 0; !done(); ep++) {
            await runSimRobot({
              url: s.url,
              task: s.task,
              profile: s.profile,
              robot: `sim-${i}`,
              episodes: 1,
              seed: 1000 * (i + 1) + ep,
              spoolDir: join(s.dir, 'spool', `sim-${i}`),
              log: s.logFor(i),
            });
          }
        }),
      );
    },
    async waitForVersion(version, ms) {
      const end = Date.now() + ms;
      while (server.version !== version) {
        if (Date.now() > end) return false;
        await new Promise((r) => setTimeout(r, 20));
      }
      return true;
    },
    close: () => server.close(),
  };
};
