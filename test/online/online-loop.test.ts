import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeEnv } from '../../simulators/index.js';
import { DatasetBuilder, encodeTransitionBatch, openStore } from '../../src/data/index.js';
import { OnlineLearner, fineTuneOnline } from '../../src/online/index.js';
import { generateSigningKey, policyUpdateToArtifact, verifyArtifact } from '../../src/serve/index.js';
import { train } from '../../src/train/index.js';
import { generateRecipe } from '../../src/train/datasets.js';
import { MqttLink, TransitionSpool, policyTopic, robotTopics } from '../../src/transport/index.js';
import { Rng } from '../../src/util/rng.js';
import { type Broker, startBrokerProcess } from '../helpers/broker.js';
import { missingMosquitto } from '../helpers/mosquitto.js';
import { requireOrSkip } from '../helpers/python.js';

const task = { obsDim: 3, actDim: 1, maxAction: 2, maxEpisodeSteps: 200 };
const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));

async function pretrained() {
  const ds = await generateRecipe('pendulum-medium', 0);
  return train({
    algo: 'calql',
    dataset: ds,
    datasetId: 'pendulum-medium',
    task,
    steps: 50,
    config: { actorHidden: [32, 32], criticHidden: [32, 32], batchSize: 64, nActions: 2 },
    rewardNormalization: 'episode-return-range',
    session: { threads: 1 },
  });
}

/** A robot that acts randomly in the 'mild' pendulum and spools every transition. */
async function robotRun(url: string, name: string, steps: number, spoolDir: string, midway?: () => Promise<void>): Promise<TransitionSpool> {
  const env = await makeEnv('pendulum', { randomization: 'mild' });
  const link = await MqttLink.connect(url, { clientId: `robot-${name}` });
  const spool = new TransitionSpool({ dir: spoolDir, robotId: name, obsDim: 3, actDim: 1, batchRows: 25 });
  await spool.attach(link);
  const rng = new Rng(name.length);
  let obs = env.reset(1);
  for (let t = 0; t < steps; t++) {
    const a = [rng.uniform(-2, 2)];
    const r = env.step(a);
    spool.add(obs, a, r.reward, r.obs, r.terminated, r.truncated);
    obs = r.terminated || r.truncated ? env.reset() : r.obs;
    if (t === Math.floor(steps / 2) && midway) await midway();
    if (t % 20 === 0) await new Promise((r) => setTimeout(r, 1));
  }
  expect(await spool.drain(20_000)).toBe(true);
  await link.close();
  env.close();
  return spool;
}

describe.runIf(requireOrSkip(missingMosquitto()))('online fine-tuning over mosquitto', () => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await startBrokerProcess({ persistence: false }); // the broker keeps nothing across its restart: delivery must not need it
  });
  afterAll(async () => broker?.stop());

  it('ingests every transition exactly once across a broker restart, fine-tunes and publishes a signed update', async () => {
    const pre = await pretrained();
    const key = generateSigningKey();
    const storeDir = tmp('o2o-online-');
    let restarted = false;
    const restart = async () => {
      if (restarted) return;
      restarted = true;
      await broker.restart();
    };
    // The library's loop (fineTuneOnline), with robots that act randomly and spool every transition.
    const st = await fineTuneOnline({
      pre,
      url: broker.url,
      storeDir,
      envId: 'pendulum',
      utd: 0.25,
      warmup: 64,
      budget: { transitions: 600 },
      publishEvery: 50,
      card: { name: 'pendulum-calql', task: 'pendulum', algorithm: 'calql' },
      signingKey: key.privateKeyPem,
      checkpointDir: join(storeDir, 'ckpt'),
      robots: () =>
        Promise.all([
          robotRun(broker.url, 'robot-a', 200, tmp('spool-a-'), restart),
          robotRun(broker.url, 'robot-b', 200, tmp('spool-b-')),
          robotRun(broker.url, 'robot-c', 200, tmp('spool-c-')),
        ]),
      timeoutMs: 60_000,
    });

    expect(restarted).toBe(true);
    expect(st.counters.transitions).toBe(600);
    expect(st.onlineTransitions).toBe(600);
    expect(st.counters.ahead).toBe(0);
    expect(st.updates).toBeGreaterThanOrEqual(150);
    expect(st.published.length).toBeGreaterThanOrEqual(1);
    // The store holds each robot's sequence 0..199 exactly once.
    const stored = await openStore(storeDir).read();
    expect(stored.dataset.size).toBe(600);
    expect(stored.nextSequence).toMatchObject({ 'robot-a': 200, 'robot-b': 200, 'robot-c': 200 });

    // The retained PolicyUpdate verifies against the learner's public key.
    const sub = await mqtt.connectAsync(broker.url);
    const got = new Promise<Buffer>((resolve) => sub.on('message', (_t, p) => resolve(p)));
    await sub.subscribeAsync(policyTopic('default'), { qos: 1 });
    const payload = await got;
    await sub.endAsync();
    const art = verifyArtifact(policyUpdateToArtifact(payload, 'policy/current'), { publicKeys: [key.publicKeyPem] });
    expect(art.verifiedBy).toBe('signature');
    expect(art.version).toBe(st.published.at(-1));
  }, 180_000);

  it('counts and drops malformed, oversized, wrong-robot and non-finite messages', async () => {
    const pre = await pretrained();
    const storeDir = tmp('o2o-online-bad-');
    const learner = await OnlineLearner.start({
      url: broker.url,
      clientId: 'learner-bad',
      fleet: 'bad',
      learner: pre.learner,
      offline: pre.prepared,
      obsStats: pre.obsStats,
      rewardTransform: pre.rewardTransform,
      storeDir,
      envId: 'pendulum',
      budget: { transitions: 1000 },
      publishEvery: 1000,
      card: { name: 'x', task: 'pendulum', algorithm: 'calql' },
    });
    const pub = await mqtt.connectAsync(broker.url);
    const t = robotTopics('bad', 'robot-x').transitions;
    const b = new DatasetBuilder(3, 1, { validate: false });
    b.add({ obs: [1, 0, 0], action: [0], reward: -1, nextObs: [1, 0, 0] });
    const good = encodeTransitionBatch(b, 0, 1, { robotId: 'robot-x', firstSequence: 0 });
    const nan = new DatasetBuilder(3, 1, { validate: false });
    nan.add({ obs: [Number.NaN, 0, 0], action: [0], reward: -1, nextObs: [1, 0, 0] });
    await pub.publishAsync(t, Buffer.from([1, 2, 3, 255, 255]), { qos: 1 });
    await pub.publishAsync(t, Buffer.alloc(5 << 20), { qos: 1 });
    await pub.publishAsync(robotTopics('bad', 'robot-y').transitions, Buffer.from(good), { qos: 1 });
    await pub.publishAsync(t, Buffer.from(encodeTransitionBatch(nan, 0, 1, { robotId: 'robot-x', firstSequence: 0 })), { qos: 1 });
    await pub.publishAsync(t, Buffer.from(good), { qos: 1 });
    await pub.publishAsync(t, Buffer.from(good), { qos: 1 });
    // Wait (bounded) until all six messages were handled, whatever the machine's load.
    const handled = () => {
      const k = learner.status().counters;
      return k.malformed + k.oversized + k.wrongRobot + k.nonFinite + k.accepted + k.duplicates;
    };
    for (let i = 0; i < 200 && handled() < 6; i++) await new Promise((r) => setTimeout(r, 50));
    const c = learner.status().counters;
    await pub.endAsync();
    await learner.close();
    expect(c).toMatchObject({ malformed: 1, oversized: 1, wrongRobot: 1, nonFinite: 1, accepted: 1, duplicates: 1, transitions: 1 });
  }, 120_000);
});

describe('fineTuneOnline (the loop shared by the demo, the fleet bench and these tests)', () => {
  it("says so when the robots stop before the budget is spent, and closes the learner; with until 'robots' it returns the robots' outcome", async () => {
    const { startBroker } = await import('../../src/transport/index.js');
    const broker = await startBroker({ port: 0 });
    const pre = await pretrained();
    const base = {
      pre,
      url: broker.url,
      envId: 'pendulum',
      budget: { transitions: 100 },
      publishEvery: 1000,
      card: { name: 'x', task: 'pendulum', algorithm: 'calql' },
    };
    let ran = 0;
    await expect(fineTuneOnline({ ...base, storeDir: tmp('o2o-ft-'), robots: async () => void ran++, timeoutMs: 300 })).rejects.toThrow(/did not spend its budget within 300 ms/);
    // the learner was closed: a second one with the same client id connects and is not kicked off
    const st = await fineTuneOnline({
      ...base,
      storeDir: tmp('o2o-ft-'),
      until: 'robots',
      robots: async (ctx) => {
        ran++;
        expect(ctx.done()).toBe(false);
        const link = await MqttLink.connect(broker.url, { clientId: 'ft-robot' });
        const spool = new TransitionSpool({ dir: tmp('ft-spool-'), robotId: 'ft-robot', obsDim: 3, actDim: 1, batchRows: 10 });
        await spool.attach(link);
        for (let t = 0; t < 30; t++) spool.add([1, 0, 0], [0], -1, [1, 0, 0], false, t === 29);
        expect(await spool.drain(10_000)).toBe(true);
        spool.close();
        await link.close();
      },
    });
    expect(ran).toBe(2);
    expect(st.onlineTransitions).toBe(30);
    expect(st.done).toBe(false);
    await broker.close();
  }, 60_000);
});
