import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PENDULUM_EVAL, PENDULUM_POLICY } from '../../policies/make-pendulum-bc.js';
import { readArtifactFile, runSimRobot, serveMqtt, verifyArtifact } from '../../src/serve/index.js';
import { policiesDir } from '../../src/train/datasets.js';
import { missingMosquitto, type Mosquitto, startMosquitto } from '../helpers/mosquitto.js';

const why = missingMosquitto();
if (why) console.warn(`skipped: ${why}`);

describe.skipIf(why !== null && !process.env.CI)('end to end over mosquitto', () => {
  let broker: Mosquitto;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker.stop();
  });

  it("a simulated pendulum driven by the shipped policy served over MQTT reaches the policy card's return", async () => {
    const card = verifyArtifact(readArtifactFile(PENDULUM_POLICY)).card!;
    const ev = card.evaluation!;
    expect(ev).toMatchObject(PENDULUM_EVAL);
    const server = await serveMqtt({ url: broker.url, policy: PENDULUM_POLICY, fleet: 'e2e', log: () => {} });
    try {
      const res = await runSimRobot({ url: broker.url, task: ev.task, profile: ev.profile, fleet: 'e2e', robot: 'pendulum-0', episodes: ev.episodes, seed: ev.seed });
      expect(res.timeouts).toBe(0);
      expect(res.safeActions).toBe(0);
      expect(res.policyVersions).toEqual([card.version]);
      expect(res.steps).toBe(ev.episodes * 200);
      expect(Math.abs(res.meanReturn - ev.meanReturn)).toBeLessThan(1e-3);
      // The card's return is a swing-up: far above a random policy (about −1276 on this task).
      expect(ev.meanReturn).toBeGreaterThan(-400);
    } finally {
      await server.close();
    }
  });

  it("a simulated hopper (MuJoCo) driven by the shipped expert policy over MQTT reaches the card's return", async () => {
    const file = join(policiesDir(), 'hopper-expert.onnx');
    const card = verifyArtifact(readArtifactFile(file)).card!;
    const ev = card.evaluation!;
    expect(ev).toMatchObject({ task: 'hopper', profile: 'nominal' });
    const server = await serveMqtt({ url: broker.url, policy: file, fleet: 'e2e', log: () => {} });
    try {
      const res = await runSimRobot({ url: broker.url, task: 'hopper', profile: ev.profile, fleet: 'e2e', robot: 'hopper-0', episodes: ev.episodes, seed: ev.seed });
      expect(res.timeouts).toBe(0);
      expect(res.safeActions).toBe(0);
      expect(res.policyVersions).toEqual([card.version]);
      expect(Math.abs(res.meanReturn - ev.meanReturn)).toBeLessThan(1e-2 * Math.abs(ev.meanReturn));
      // An expert hopper: far above a random policy (about 23 on this task) and D4RL's medium level.
      expect(ev.meanReturn).toBeGreaterThan(2000);
    } finally {
      await server.close();
    }
  });
});
