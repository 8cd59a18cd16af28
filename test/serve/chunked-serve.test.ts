/**
 * `o2o serve` (serveMqtt) and `o2o robot sim` with a chunked policy: each robot has its own action
 * queue, observation history and noise generator (seeded from the fleet seed and its id), started
 * again at its episode boundaries; a simulated robot lives exactly the episodes of a local rollout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeEnv } from '../../simulators/index.js';
import { rollout } from '../../src/eval/index.js';
import { type MqttServer, PolicyRuntime, robotSeed, runSimRobot, serveMqtt } from '../../src/serve/index.js';
import { ActionDecoder, type EmbeddedBroker, encodeObservation, MqttLink, robotTopics, startBroker } from '../../src/transport/index.js';
import { ACT, exportChunk, pendulumChunk } from './chunk-fixtures.js';

async function robot(url: string, name: string) {
  const link = await MqttLink.connect(url);
  const t = robotTopics('chunks', name);
  const dec = new ActionDecoder(ACT);
  const waiting = new Map<number, (a: number[]) => void>();
  link.onMessage((topic, payload) => {
    if (topic !== t.action) return;
    dec.decode(payload, topic);
    waiting.get(dec.fields.sequence)?.(Array.from(dec.values));
  });
  await link.subscribe(t.action);
  const ask = (seq: number, obs: number[], episode: number) =>
    new Promise<number[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`robot ${name}: no action for ${seq}`)), 3000);
      waiting.set(seq, (a) => {
        clearTimeout(timer);
        waiting.delete(seq);
        resolve(a);
      });
      link.publish(t.obs, encodeObservation({ robotId: name, sequence: seq, timeUnixNs: 0, reward: 0, terminated: false, truncated: false, episode }, obs));
    });
  return { ask, close: () => link.close() };
}

const obsAt = (i: number): number[] => [0.1 * i, -0.2 + 0.05 * i, 1 + (i % 3)];

describe('o2o serve with a chunked policy (embedded broker)', () => {
  let broker: EmbeddedBroker;
  let server: MqttServer;
  const policy = { bytes: exportChunk().bytes, source: 'chunk.onnx' };
  beforeAll(async () => {
    broker = await startBroker();
    server = await serveMqtt({ url: broker.url, policy, fleet: 'chunks', watchFile: false, chunking: { seed: 42 }, log: () => {} });
  });
  afterAll(async () => {
    await server.close();
    await broker.close();
  });

  it("keeps each robot's queue and noise: interleaved robots get what a runtime of their own (seeded from their id) gives; a new episode starts the queue again", async () => {
    const names = ['arm-a', 'arm-b'];
    const robots = await Promise.all(names.map((n) => robot(broker.url, n)));
    const local = names.map((n) => PolicyRuntime.open(policy, { chunking: { seed: robotSeed(42, n) } }));
    let seq = 0;
    for (let t = 0; t < 10; t++) {
      const episode = t < 7 ? 0 : 1;
      for (let r = 0; r < 2; r++) {
        const o = obsAt(t + 10 * r);
        const want = Array.from(local[r]!.act(o, { episodeStart: t === 0 || t === 7 }));
        const got = await robots[r]!.ask(++seq, o, episode);
        expect(
          got.map((v, i) => Math.abs(v - want[i]!)).every((e) => e < 1e-6),
          `robot ${r} step ${t}`,
        ).toBe(true);
      }
    }
    expect(server.status()['arm-a']).toMatchObject({ episodeStep: 2, chunk: { actionHorizon: 3, replans: 4, queued: 0 } });
    for (const rt of local) rt.dispose();
    for (const r of robots) await r.close();
  });
});

describe('a chunked policy served over MQTT to a simulated robot (o2o robot sim)', () => {
  it('the robot lives exactly the episodes of a local rollout (o2o eval’s path) with the same queue and noise seed', async () => {
    const broker = await startBroker();
    const { bytes } = pendulumChunk();
    const server = await serveMqtt({ url: broker.url, policy: { bytes, source: 'p.onnx' }, fleet: 'dp', watchFile: false, chunking: { seed: 3 }, log: () => {} });
    const sim = await runSimRobot({ url: broker.url, task: 'pendulum', fleet: 'dp', robot: 'p-1', episodes: 2, seed: 5 });
    await server.close();
    await broker.close();
    expect(sim.timeouts).toBe(0);
    const env = await makeEnv('pendulum');
    const rt = PolicyRuntime.open({ bytes, source: 'p.onnx' }, { chunking: { seed: robotSeed(3, 'p-1') } });
    const local = rollout(env, rt, 2, 5);
    expect(sim.returns).toEqual(local.returns);
    expect(sim.lengths).toEqual(local.lengths);
    expect(rt.status().chunk!.replans).toBe(local.lengths.reduce((s, n) => s + Math.ceil(n / 4), 0));
    rt.dispose();
    env.close();
  }, 30_000);
});
