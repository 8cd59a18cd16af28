import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePolicyUpdate, generateSigningKey, readArtifactFile, serveMqtt, type MqttServer } from '../../src/serve/index.js';
import { ActionDecoder, type EmbeddedBroker, encodeObservation, MqttLink, policyTopic, robotTopics, startBroker } from '../../src/transport/index.js';
import { exportRandom, referenceAction, randomActor, tempDir } from '../serve/fixtures.js';

/** A test robot: publish an observation, wait for the action with its sequence number. */
async function robot(url: string, name: string, fleet = 'lab') {
  const link = await MqttLink.connect(url);
  const t = robotTopics(fleet, name);
  const dec = new ActionDecoder(2);
  const got: { seq: number; values: number[]; safe: boolean; version: string }[] = [];
  const waiters: (() => void)[] = [];
  link.onMessage((topic, payload) => {
    if (topic !== t.action) return;
    dec.decode(payload, topic);
    got.push({ seq: dec.fields.sequence, values: Array.from(dec.values), safe: dec.fields.safe, version: dec.fields.policyVersion });
    waiters.splice(0).forEach((w) => w());
  });
  await link.subscribe(t.action);
  const next = (pred: (a: (typeof got)[number]) => boolean, ms = 3000) =>
    new Promise<(typeof got)[number]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching action within ${ms} ms; got ${JSON.stringify(got.slice(-3))}`)), ms);
      const check = () => {
        const a = got.find(pred);
        if (a) {
          clearTimeout(timer);
          resolve(a);
        } else waiters.push(check);
      };
      check();
    });
  const ask = (seq: number, values: number[]) => {
    link.publish(t.obs, encodeObservation({ robotId: name, sequence: seq, timeUnixNs: 0, reward: 0, terminated: false, truncated: false, episode: 0 }, values));
    return next((a) => a.seq === seq);
  };
  return { link, ask, next, raw: (bytes: Uint8Array) => link.publish(t.obs, bytes) };
}

describe('MQTT serving (embedded aedes broker)', () => {
  let broker: EmbeddedBroker;
  let server: MqttServer;
  const key = generateSigningKey();
  const dir = tempDir();
  const v1 = join(dir, 'policy.onnx');
  const logs: string[] = [];
  beforeAll(async () => {
    broker = await startBroker();
    exportRandom({ version: 'v1', seed: 1, out: v1, signingKey: key.privateKeyPem });
    server = await serveMqtt({
      url: broker.url,
      policy: v1,
      fleet: 'lab',
      trust: { publicKeys: [key.publicKeyPem] },
      safety: { staleAfterMs: 150, safeAction: 'zero' },
      watchFile: false,
      log: (l) => logs.push(l),
    });
  });
  afterAll(async () => {
    await server.close();
    await broker.close();
  });

  it('answers each observation with the policy action, safe actions for bad input, per robot', async () => {
    const a = await robot(broker.url, 'arm-1');
    const b = await robot(broker.url, 'arm-2');
    const obs = [0.1, 0.2, -0.3, 0.4, 0.5];
    const ref = referenceAction(randomActor({}, 1), obs);
    const r1 = await a.ask(1, obs);
    expect(Math.abs(r1.values[0]! - ref[0]!)).toBeLessThan(1e-5);
    expect([r1.safe, r1.version]).toEqual([false, 'v1']);
    expect((await b.ask(7, obs)).seq).toBe(7);
    const bad = await a.ask(2, [NaN, 0, 0, 0, 0]);
    expect([bad.safe, bad.values]).toEqual([true, [0, 0]]);
    expect((await a.ask(3, [1, 2])).safe).toBe(true); // wrong length
    a.raw(Uint8Array.of(0x0a, 0x50, 0x01)); // cut message
    await a.next((x) => x.seq === 0 && x.safe);
    const st = server.status();
    expect(st['arm-1']!.faults).toMatchObject({ nonFiniteObs: 1, obsLength: 1, badMessage: 1 });
    expect(st['arm-2']!.faults.nonFiniteObs).toBe(0);
    // Observations stop: the watchdog sends the safe action (sequence 0) within ~staleAfterMs.
    const wd = await b.next((x) => x.seq === 0 && x.safe, 2000);
    expect(wd.values).toEqual([0, 0]);
    await a.link.close();
    await b.link.close();
  });

  it('hot swap over o2o/<fleet>/policy/current: unsigned and tampered updates are refused, a signed one is served', async () => {
    const r = await robot(broker.url, 'arm-3');
    const pub = await MqttLink.connect(broker.url);
    const unsigned = exportRandom({ version: 'v2-unsigned', seed: 2 });
    await pub.publishAsync(policyTopic('lab'), encodePolicyUpdate({ version: 'v2-unsigned', bytes: unsigned.bytes, sha256: unsigned.sha256 }));
    const signed = exportRandom({ version: 'v2', seed: 2, signingKey: key.privateKeyPem });
    const tampered = Uint8Array.from(signed.bytes);
    tampered[tampered.length >> 1]! ^= 2;
    await pub.publishAsync(policyTopic('lab'), encodePolicyUpdate({ version: 'v2', bytes: tampered, sha256: signed.sha256, signature: signed.signature }));
    await new Promise((res) => setTimeout(res, 200));
    expect(server.version).toBe('v1');
    expect((await r.ask(1, [0, 0, 0, 0, 0])).version).toBe('v1');
    expect(logs.filter((l) => l.includes('refused policy'))).toHaveLength(2);
    expect(logs.some((l) => /unsigned/.test(l))).toBe(true);

    await pub.publishAsync(policyTopic('lab'), encodePolicyUpdate({ version: 'v2', bytes: signed.bytes, sha256: signed.sha256, signature: signed.signature }), { retain: true });
    const obs = [0.3, -0.1, 0.2, 0.9, -0.4];
    const ref = referenceAction(randomActor({}, 2), obs);
    let seq = 10;
    let got = await r.ask(seq, obs);
    while (got.version !== 'v2' && seq < 60) {
      await new Promise((res) => setTimeout(res, 20));
      got = await r.ask(++seq, obs);
    }
    expect(got.version).toBe('v2');
    expect(Math.abs(got.values[0]! - ref[0]!)).toBeLessThan(1e-5);
    await pub.publishAsync(policyTopic('lab'), new Uint8Array(0), { retain: true }); // clear the retained update
    await pub.close();
    await r.link.close();
  });

  it('a policy file that fails verification is refused at start with the reason', async () => {
    const other = generateSigningKey();
    await expect(serveMqtt({ url: broker.url, policy: readArtifactFile(v1), trust: { publicKeys: [other.publicKeyPem] }, log: () => {} })).rejects.toThrow(
      /not among the trusted keys/,
    );
    await expect(serveMqtt({ url: 'mqtt://127.0.0.1:1', policy: v1, log: () => {} })).rejects.toThrow(/cannot connect/);
  });

  it('with exploration each robot gets its own sampled actions around the policy mode', async () => {
    const art = exportRandom({ version: 'stoch', seed: 5, spec: { kind: 'tanh-gaussian', maxAction: 1.5 } });
    const explore = await serveMqtt({
      url: broker.url,
      policy: { bytes: art.bytes, source: 'stoch.onnx' },
      fleet: 'explore',
      exploration: { seed: 1 },
      watchFile: false,
      log: () => {},
    });
    const a = await robot(broker.url, 'arm-1', 'explore');
    const b = await robot(broker.url, 'arm-2', 'explore');
    const obs = [0.1, 0.2, -0.3, 0.4, 0.5];
    const mode = referenceAction(randomActor({ kind: 'tanh-gaussian', maxAction: 1.5 }, 5), obs);
    const fromA: number[][] = [];
    const fromB: number[][] = [];
    for (let i = 1; i <= 20; i++) {
      fromA.push((await a.ask(i, obs)).values);
      fromB.push((await b.ask(i, obs)).values);
    }
    // Samples differ step to step and robot to robot, stay in bounds, and scatter around the mode.
    expect(new Set(fromA.map((x) => x.join())).size).toBe(20);
    expect(fromA.some((x, i) => x.join() === fromB[i]!.join())).toBe(false);
    for (const x of [...fromA, ...fromB]) expect(Math.max(...x.map(Math.abs))).toBeLessThanOrEqual(1.5);
    expect(Object.values(explore.status()).map((s) => s.exploration)).toEqual(['tanh-gaussian', 'tanh-gaussian']);
    expect(fromA.every((x) => x.join() !== mode.join())).toBe(true);
    await a.link.close();
    await b.link.close();
    await explore.close();
  });
});
