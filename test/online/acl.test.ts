import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { openStore } from '../../src/data/index.js';
import { OnlineLearner } from '../../src/online/index.js';
import { runSimRobot, serveMqtt } from '../../src/serve/index.js';
import { train } from '../../src/train/index.js';
import { generateRecipe } from '../../src/train/datasets.js';
import { type Broker, startBrokerProcess } from '../helpers/broker.js';
import { missingMosquitto } from '../helpers/mosquitto.js';
import { requireOrSkip } from '../helpers/python.js';

// The production broker set-up the README describes ("Broker security" includes docs/mosquitto/acl
// verbatim): every client authenticates; three roles — learner, policy server, robot (%u).
const ROOT = new URL('../../', import.meta.url);
const ACL_TEMPLATE = readFileSync(fileURLToPath(new URL('docs/mosquitto/acl', ROOT)), 'utf8');
const FLEET = 'lab';
// A test-only observer that may read and write everything, to check what each role can do.
const ACL = `${ACL_TEMPLATE.replaceAll('FLEET', FLEET)}\nuser test-admin\ntopic readwrite o2o/#\n`;
const PW: Record<string, string> = { learner: 'lpw', 'policy-server': 'spw', 'robot-a': 'apw', 'robot-b': 'bpw', 'test-admin': 'xpw' };
const POLICY = fileURLToPath(new URL('policies/pendulum-bc.onnx', ROOT));

describe('the README ACL', () => {
  it('is docs/mosquitto/acl, included verbatim in README.md', () => {
    const readme = readFileSync(fileURLToPath(new URL('README.md', ROOT)), 'utf8');
    expect(readme).toContain(ACL_TEMPLATE.trimEnd());
  });
});

describe.runIf(requireOrSkip(missingMosquitto()))('mosquitto with passwords and the o2o ACL', () => {
  let broker: Broker;
  const clients: Record<string, MqttClient> = {};
  const inbox = new Map<MqttClient, { topic: string; payload: string }[]>();
  beforeAll(async () => {
    broker = await startBrokerProcess({ users: Object.entries(PW).map(([name, password]) => ({ name, password })), acl: ACL });
    for (const [name, password] of Object.entries(PW)) {
      const c = await mqtt.connectAsync(broker.url, { username: name, password, clientId: `acl-${name}`, reconnectPeriod: 0 });
      inbox.set(c, []);
      c.on('message', (topic, p) => inbox.get(c)!.push({ topic, payload: p.toString() }));
      clients[name] = c;
    }
  });
  afterAll(async () => {
    await Promise.all(Object.values(clients).map((c) => c.endAsync()));
    await broker?.stop();
  });

  let n = 0;
  /** Whether a message `from` publishes on `topic` reaches `to` (subscribed to that topic). */
  async function delivered(from: string, topic: string, to: string): Promise<boolean> {
    const sub = clients[to]!;
    const granted = await sub.subscribeAsync(topic, { qos: 1 });
    if (granted.some((g) => g.qos === 128)) return false;
    const payload = `m${++n}`;
    await clients[from]!.publishAsync(topic, payload, { qos: 1 });
    for (let i = 0; i < 30; i++) {
      if (inbox.get(sub)!.some((m) => m.topic === topic && m.payload === payload)) return true;
      await new Promise((r) => setTimeout(r, 20));
    }
    return false;
  }

  it('refuses clients without valid credentials', async () => {
    await expect(mqtt.connectAsync(broker.url, { reconnectPeriod: 0, connectTimeout: 2000 })).rejects.toThrow();
    await expect(mqtt.connectAsync(broker.url, { username: 'robot-a', password: 'wrong', reconnectPeriod: 0, connectTimeout: 2000 })).rejects.toThrow();
  });

  const t = (leaf: string, robot = 'robot-a') => `o2o/${FLEET}/robots/${robot}/${leaf}`;
  const allowed: [string, string, string][] = [
    ['robot-a', t('obs'), 'policy-server'],
    ['robot-a', t('transitions'), 'learner'],
    ['robot-a', t('status'), 'test-admin'],
    ['policy-server', t('action'), 'robot-a'],
    ['learner', t('ack'), 'robot-a'],
    ['learner', `o2o/${FLEET}/policy/current`, 'robot-a'],
    ['learner', `o2o/${FLEET}/policy/current`, 'policy-server'],
    ['learner', `o2o/${FLEET}/learner/learner-1/status`, 'robot-a'],
    ['policy-server', `o2o/${FLEET}/serve/policy-server/status`, 'robot-a'],
  ];
  it.each(allowed)('allows %s → %s → %s', async (from, topic, to) => {
    expect(await delivered(from, topic, to)).toBe(true);
  });

  const denied: [string, string, string, string][] = [
    ['a robot', 'robot-a', t('transitions', 'robot-b'), 'learner'], // another robot's transitions
    ['a robot', 'robot-a', t('obs', 'robot-b'), 'policy-server'], // another robot's observations
    ['a robot', 'robot-a', `o2o/${FLEET}/policy/current`, 'test-admin'], // the policy
    ['a robot', 'robot-a', t('action', 'robot-b'), 'test-admin'], // actions
    ['a robot', 'robot-a', t('ack', 'robot-b'), 'test-admin'], // acks
    ['a robot', 'robot-a', `o2o/${FLEET}/serve/policy-server/status`, 'test-admin'], // the server's status
    ['a robot', 'robot-a', `o2o/other/robots/robot-a/obs`, 'test-admin'], // another fleet
    ['a robot reading', 'test-admin', t('action', 'robot-b'), 'robot-a'], // another robot's actions
    ['a robot reading', 'test-admin', t('ack', 'robot-b'), 'robot-a'], // another robot's acks
    ['a robot reading', 'test-admin', t('obs', 'robot-b'), 'robot-a'], // another robot's observations
    ['a robot reading', 'test-admin', t('transitions', 'robot-b'), 'robot-a'], // another robot's transitions
    ['the server', 'policy-server', `o2o/${FLEET}/policy/current`, 'test-admin'], // the policy
    ['the server', 'policy-server', t('transitions'), 'learner'], // transitions
    ['the server', 'policy-server', t('ack'), 'test-admin'], // acks
    ['the learner', 'learner', t('action'), 'test-admin'], // actions
    ['the learner', 'learner', t('obs'), 'test-admin'], // observations
    ['the learner', 'learner', `o2o/${FLEET}/serve/policy-server/status`, 'test-admin'], // the server's status
  ];
  it.each(denied)('denies %s: %s → %s → %s', async (_who, from, topic, to) => {
    expect(await delivered(from, topic, to)).toBe(false);
  });

  it('serves a robot through the ACL with credentials; a wrong password fails with a clear error', async () => {
    const server = await serveMqtt({ url: broker.url, username: 'policy-server', password: 'spw', policy: POLICY, fleet: FLEET, watchFile: false, log: () => {} });
    try {
      // The credentials in the URL work too.
      const url = broker.url.replace('mqtt://', 'mqtt://robot-a:apw@');
      const res = await runSimRobot({ url, task: 'pendulum', fleet: FLEET, robot: 'robot-a', episodes: 1, maxEpisodeSteps: 20 });
      expect(res.timeouts).toBe(0);
      expect(res.steps).toBe(20);
      await expect(
        runSimRobot({ url: broker.url, username: 'robot-a', password: 'wrong', task: 'pendulum', fleet: FLEET, robot: 'robot-a', episodes: 1, maxEpisodeSteps: 5 }),
      ).rejects.toThrow(/the broker refused the credentials .*user 'robot-a'.*check --username\/--password/);
    } finally {
      await server.close();
    }
  }, 60_000);

  it("delivers a robot's spooled transitions to the learner through the ACL: acks reach the robot, its spool empties", async () => {
    const pre = await train({
      algo: 'iql',
      dataset: await generateRecipe('pendulum-medium', 0),
      task: { obsDim: 3, actDim: 1, maxAction: 2, maxEpisodeSteps: 200 },
      steps: 4,
      config: { hidden: [8], batchSize: 16 },
      session: { threads: 1 },
    });
    const store = mkdtempSync(join(tmpdir(), 'o2o-acl-store-'));
    const learner = await OnlineLearner.start({
      url: broker.url,
      username: 'learner',
      password: 'lpw',
      fleet: FLEET,
      learnerId: 'learner-1',
      learner: pre.learner,
      offline: pre.prepared,
      obsStats: pre.obsStats,
      rewardTransform: pre.rewardTransform,
      storeDir: store,
      envId: 'pendulum',
      budget: {},
      warmup: 1e9,
      publishEvery: 1e9,
      card: { name: 'x', task: 'pendulum', algorithm: 'iql' },
    });
    const server = await serveMqtt({ url: broker.url, username: 'policy-server', password: 'spw', policy: POLICY, fleet: FLEET, watchFile: false, log: () => {} });
    const spool = mkdtempSync(join(tmpdir(), 'o2o-acl-spool-'));
    try {
      const logs: string[] = [];
      const res = await runSimRobot({
        url: broker.url,
        username: 'robot-b',
        password: 'bpw',
        task: 'pendulum',
        fleet: FLEET,
        robot: 'robot-b',
        episodes: 2,
        maxEpisodeSteps: 30,
        spoolDir: spool,
        drainTimeoutMs: 15_000,
        log: (l) => logs.push(l),
      });
      expect(res.steps).toBe(60);
      expect(logs.join('\n')).not.toMatch(/still spooled/);
      expect(readdirSync(spool).filter((f) => f.endsWith('.pb'))).toEqual([]);
      expect(learner.status().counters).toMatchObject({ transitions: 60, accepted: 2 });
    } finally {
      await server.close();
      await learner.close();
    }
    const stored = await openStore(store).read();
    expect(stored.nextSequence).toEqual({ 'robot-b': 60 });
  }, 60_000);

  it('o2o robot sim with a wrong password exits 1 with the reason, and never prints the password', async () => {
    const err: string[] = [];
    const out: string[] = [];
    const e = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
    const l = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
    try {
      const url = broker.url.replace('mqtt://', 'mqtt://robot-a:s3cret-wrong@');
      expect(await main(['robot', 'sim', '--task', 'pendulum', '--mqtt', url, '--fleet', FLEET, '--robot', 'robot-a'])).toBe(1);
      process.env.O2O_MQTT_USERNAME = 'robot-a';
      process.env.O2O_MQTT_PASSWORD = 's3cret-wrong';
      expect(await main(['robot', 'sim', '--task', 'pendulum', '--mqtt', broker.url, '--fleet', FLEET, '--robot', 'robot-a'])).toBe(1);
    } finally {
      delete process.env.O2O_MQTT_USERNAME;
      delete process.env.O2O_MQTT_PASSWORD;
      e.mockRestore();
      l.mockRestore();
    }
    expect(err.join('\n')).toMatch(/refused the credentials.*user 'robot-a'/);
    expect([...err, ...out].join('\n')).not.toContain('s3cret-wrong');
  }, 60_000);
});
