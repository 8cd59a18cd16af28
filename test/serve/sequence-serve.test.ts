/**
 * `o2o serve` (serveMqtt) with a sequence policy: each robot has its own context, fed from the
 * Observation's own fields (the reward of the step that led to it, its episode number, the end
 * flags, the sequence number), and a robot's target return can differ from the card's.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeEnv } from '../../simulators/index.js';
import { rollout } from '../../src/eval/index.js';
import { type MqttServer, PolicyRuntime, runSimRobot, serveMqtt, type StepInfo } from '../../src/serve/index.js';
import { ActionDecoder, type EmbeddedBroker, encodeObservation, MqttLink, robotTopics, startBroker } from '../../src/transport/index.js';
import { exportRandom, randomActor, referenceAction, tempDir } from './fixtures.js';
import { ACT, ContractModel, exportToy, foreignDescription, foreignDtBytes, relErr, TARGET } from './sequence-fixtures.js';

interface Obs {
  seq: number;
  obs: number[];
  reward?: number;
  episode?: number;
  terminated?: boolean;
  truncated?: boolean;
}

/** A test robot that sends Observations with all their fields and waits for each answer. */
async function robot(url: string, name: string) {
  const link = await MqttLink.connect(url);
  const t = robotTopics('seq', name);
  const dec = new ActionDecoder(ACT);
  const waiting = new Map<number, (a: number[]) => void>();
  link.onMessage((topic, payload) => {
    if (topic !== t.action) return;
    dec.decode(payload, topic);
    waiting.get(dec.fields.sequence)?.(Array.from(dec.values));
  });
  await link.subscribe(t.action);
  const ask = (o: Obs) =>
    new Promise<number[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`robot ${name}: no action for ${o.seq}`)), 3000);
      waiting.set(o.seq, (a) => {
        clearTimeout(timer);
        waiting.delete(o.seq);
        resolve(a);
      });
      const f = {
        robotId: name,
        sequence: o.seq,
        timeUnixNs: 0,
        reward: o.reward ?? 0,
        terminated: o.terminated ?? false,
        truncated: o.truncated ?? false,
        episode: o.episode ?? 0,
      };
      link.publish(t.obs, encodeObservation(f, o.obs));
    });
  return { ask, close: () => link.close() };
}

const obsAt = (i: number): number[] => [0.1 * i, -0.2 + 0.05 * i, 1 + (i % 3)];
/** float32, as rewards travel in an Observation. */
const f32 = Math.fround;

describe('o2o serve with a sequence policy (embedded broker)', () => {
  let broker: EmbeddedBroker;
  let server: MqttServer;
  beforeAll(async () => {
    broker = await startBroker();
    server = await serveMqtt({
      url: broker.url,
      policy: { bytes: exportToy().bytes, source: 'toy.onnx' },
      fleet: 'seq',
      watchFile: false,
      targetReturns: { 'arm-b': 1000 },
      log: () => {},
    });
  });
  afterAll(async () => {
    await server.close();
    await broker.close();
  });

  it("keeps each robot's context: rewards lower its return-to-go, a new episode number / an episode end / a new session / reset() start it again; targets per robot", async () => {
    const a = await robot(broker.url, 'arm-a');
    const b = await robot(broker.url, 'arm-b');
    const ma = new ContractModel(TARGET);
    const mb = new ContractModel(1000);
    let seqA = 0;
    let seqB = 100;
    /** One step of robot r: the expected action from the contract model, then the server's. */
    const go = async (r: typeof a, m: ContractModel, o: Obs, start: boolean) => {
      m.begin(f32(o.reward ?? 0), start);
      m.put(o.obs);
      const got = await r.ask(o);
      expect(relErr(got, m.toyAction())).toBeLessThan(1e-5);
      m.executed(got);
    };
    // Interleaved robots, episode 0 each: padding, shifting, rewards, timesteps.
    for (let i = 0; i < 6; i++) {
      await go(a, ma, { seq: ++seqA, obs: obsAt(i), reward: i === 0 ? 0 : 10 + i, episode: 0 }, i === 0);
      await go(b, mb, { seq: ++seqB, obs: obsAt(i + 7), reward: i === 0 ? 0 : 2.5 * i, episode: 3 }, i === 0);
    }
    expect(server.status()['arm-a']).toMatchObject({ episodeStep: 5, returnToGo: TARGET - (11 + 12 + 13 + 14 + 15), targetReturn: TARGET });
    expect(server.status()['arm-b']).toMatchObject({ episodeStep: 5, targetReturn: 1000 });
    // A new episode number starts robot a again (its reward field belongs to the old episode).
    await go(a, ma, { seq: ++seqA, obs: obsAt(20), reward: 99, episode: 1 }, true);
    await go(a, ma, { seq: ++seqA, obs: obsAt(21), reward: 5, episode: 1 }, false);
    // An observation that ended the episode is answered in it; the next one starts again (same episode number).
    await go(a, ma, { seq: ++seqA, obs: obsAt(22), reward: 7, episode: 1, terminated: true }, false);
    await go(a, ma, { seq: ++seqA, obs: obsAt(23), reward: 0, episode: 1 }, true);
    await go(a, ma, { seq: ++seqA, obs: obsAt(24), reward: 3, episode: 1 }, false);
    // A robot whose sequence numbers start again is a new session: a new context.
    seqA = 0;
    await go(a, ma, { seq: ++seqA, obs: obsAt(30), reward: 1, episode: 1 }, true);
    await go(a, ma, { seq: ++seqA, obs: obsAt(31), reward: 1, episode: 1 }, false);
    // An explicit reset from the library (the robot's next observation starts again).
    expect(server.reset('arm-a')).toBe(true);
    expect(server.reset('nobody')).toBe(false);
    await go(a, ma, { seq: ++seqA, obs: obsAt(32), reward: 1, episode: 1 }, true);
    // Robot b was not disturbed by any of it.
    await go(b, mb, { seq: ++seqB, obs: obsAt(40), reward: 4, episode: 3 }, false);
    expect(server.status()['arm-b']).toMatchObject({ episodeStep: 6, returnToGo: 1000 - (2.5 + 5 + 7.5 + 10 + 12.5 + 4) });
    await a.close();
    await b.close();
  });

  it('hot swap to an mlp policy and back, for every robot: the mlp acts as before, the sequence policy starts a new context', async () => {
    const c = await robot(broker.url, 'arm-c');
    const mlp = exportRandom({ spec: { obsDim: 3, actDim: ACT } });
    const m = new ContractModel();
    for (let i = 0; i < 3; i++) {
      m.begin(f32(5), i === 0);
      m.put(obsAt(i));
      const got = await c.ask({ seq: i + 1, obs: obsAt(i), reward: 5 });
      expect(relErr(got, m.toyAction())).toBeLessThan(1e-5);
      m.executed(got);
    }
    expect(server.swap({ bytes: mlp.bytes, source: 'mlp.onnx' }).ok).toBe(true);
    const actor = randomActor({ obsDim: 3, actDim: ACT });
    expect(relErr(await c.ask({ seq: 4, obs: obsAt(4), reward: 5 }), referenceAction(actor, obsAt(4)))).toBeLessThan(1e-5);
    expect(server.swap({ bytes: exportToy().bytes, source: 'toy.onnx' }).ok).toBe(true);
    const fresh = new ContractModel();
    fresh.begin(0, true);
    fresh.put(obsAt(5));
    expect(relErr(await c.ask({ seq: 5, obs: obsAt(5), reward: 5 }), fresh.toyAction())).toBeLessThan(1e-5);
    await c.close();
  });
});

describe('a foreign Decision Transformer served over MQTT to a simulated robot', () => {
  it('with --interface (the description) and a target return: the robot lives exactly the episodes of a local rollout with the same policy', async () => {
    const broker = await startBroker();
    const file = join(tempDir(), 'dt.onnx');
    writeFileSync(file, foreignDtBytes());
    const server = await serveMqtt({
      url: broker.url,
      policy: file,
      description: foreignDescription(),
      targetReturn: -300,
      trust: { allowUnverified: true },
      fleet: 'dt',
      watchFile: false,
      log: () => {},
    });
    const sim = await runSimRobot({ url: broker.url, task: 'pendulum', fleet: 'dt', robot: 'p-1', episodes: 2, seed: 5 });
    await server.close();
    await broker.close();
    expect(sim.timeouts).toBe(0);
    // The same policy, rolled out here with the same target, rewards rounded to float32 as on the wire.
    const env = await makeEnv('pendulum');
    const rt = PolicyRuntime.open({ bytes: foreignDtBytes(), source: 'dt.onnx', description: foreignDescription() }, { trust: { allowUnverified: true }, targetReturn: -300 });
    const wire = {
      act: (obs: Float32Array, s: StepInfo) => rt.act(obs, { ...s, reward: f32(s.reward ?? 0) }),
      reset: () => rt.reset(),
    };
    const local = rollout(env, wire, 2, 5);
    expect(sim.returns).toEqual(local.returns);
    expect(sim.lengths).toEqual(local.lengths);
    // …and the target return matters: another target is another trajectory.
    rt.setTargetReturn(-1500);
    expect(rollout(env, wire, 1, 5).returns[0]).not.toBeCloseTo(local.returns[0]!, 3);
    rt.dispose();
    env.close();
  }, 30_000);
});
