/**
 * serveMqtt secure and bounded by default (embedded aedes broker): unsigned policy updates are
 * refused unless allowed, idle robots lose their slot, and a robot sending observations of the
 * wrong size is told so once.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeRobotStatus, encodePolicyUpdate, serveMqtt } from '../../src/serve/index.js';
import { ActionDecoder, type EmbeddedBroker, encodeObservation, MqttLink, policyTopic, robotTopics, serverStatusTopic, startBroker } from '../../src/transport/index.js';
import { exportRandom } from './fixtures.js';

const OBS = [0.1, 0.2, -0.3, 0.4, 0.5];

async function robot(url: string, fleet: string, name: string) {
  const link = await MqttLink.connect(url);
  const t = robotTopics(fleet, name);
  const dec = new ActionDecoder(2);
  const got: { seq: number; version: string; safe: boolean }[] = [];
  link.onMessage((topic, payload) => {
    if (topic !== t.action) return;
    dec.decode(payload, topic);
    got.push({ seq: dec.fields.sequence, version: dec.fields.policyVersion, safe: dec.fields.safe });
  });
  await link.subscribe(t.action);
  const send = (seq: number, values = OBS) =>
    link.publish(t.obs, encodeObservation({ robotId: name, sequence: seq, timeUnixNs: 0, reward: 0, terminated: false, truncated: false, episode: 0 }, values));
  /** Sends until an answer to one of its sequence numbers arrives, or gives up after ms. */
  const ask = async (seq: number, ms = 1500, values = OBS): Promise<{ seq: number; version: string; safe: boolean } | null> => {
    const t0 = Date.now();
    while (Date.now() - t0 < ms) {
      send(seq, values);
      await new Promise((r) => setTimeout(r, 50));
      const a = got.find((x) => x.seq === seq);
      if (a) return a;
    }
    return null;
  };
  return { link, send, ask, got };
}

describe('serveMqtt limits (embedded broker)', () => {
  let broker: EmbeddedBroker;
  beforeAll(async () => {
    broker = await startBroker();
  });
  afterAll(async () => broker.close());

  it('refuses an unsigned PolicyUpdate when started without allowUnverified', async () => {
    const v1 = exportRandom({ version: 'v1', seed: 1 });
    const v2 = exportRandom({ version: 'v2', seed: 2 });
    const logs: string[] = [];
    const server = await serveMqtt({ url: broker.url, policy: { bytes: v1.bytes, source: 'v1.onnx' }, fleet: 'unsigned', watchFile: false, log: (l) => logs.push(l) });
    const status: string[] = [];
    const watcher = await MqttLink.connect(broker.url);
    watcher.onMessage((_t, p) => status.push(decodeRobotStatus(p).message));
    await watcher.subscribe(serverStatusTopic('unsigned', 'policy-server'), 1);
    const pub = await MqttLink.connect(broker.url);
    // sha256 matches the bytes: the update is intact, only unsigned.
    await pub.publishAsync(policyTopic('unsigned'), encodePolicyUpdate({ version: 'v2', bytes: v2.bytes, sha256: createHash('sha256').update(v2.bytes).digest('hex') }), {
      retain: true,
    });
    for (let i = 0; i < 60 && !(logs.some((l) => l.includes('refused')) && status.some((m) => m.includes('refused'))); i++) await new Promise((r) => setTimeout(r, 50));
    expect(logs.find((l) => l.includes('refused'))).toMatch(/unsigned, and this server has no trusted key.*--trusted-key/);
    expect(status.some((m) => /refused update: unsigned/.test(m))).toBe(true);
    const r = await robot(broker.url, 'unsigned', 'r1');
    expect((await r.ask(1))?.version).toBe('v1');
    expect(server.version).toBe('v1');

    // With allowUnverified (development), the same update is taken.
    const dev = await serveMqtt({
      url: broker.url,
      policy: { bytes: v1.bytes, source: 'v1.onnx' },
      fleet: 'unsigned',
      serverId: 'dev',
      trust: { allowUnverified: true },
      watchFile: false,
      log: () => {},
    });
    for (let i = 0; i < 60 && dev.version !== 'v2'; i++) await new Promise((r) => setTimeout(r, 50));
    expect(dev.version).toBe('v2');
    await pub.publishAsync(policyTopic('unsigned'), new Uint8Array(0), { retain: true });
    await Promise.all([r.link.close(), pub.close(), watcher.close(), server.close(), dev.close()]);
  });

  it('frees the slots of idle robots: junk robot ids cannot lock a new robot out', async () => {
    const v1 = exportRandom({ version: 'v1', seed: 1 });
    const logs: string[] = [];
    const server = await serveMqtt({
      url: broker.url,
      policy: { bytes: v1.bytes, source: 'v1.onnx' },
      fleet: 'slots',
      maxRobots: 3,
      robotIdleMs: 400,
      watchFile: false,
      log: (l) => logs.push(l),
    });
    const junk = await robot(broker.url, 'slots', 'junk-0');
    for (let i = 0; i < 3; i++)
      junk.link.publish(
        robotTopics('slots', `junk-${i}`).obs,
        encodeObservation({ robotId: `junk-${i}`, sequence: 1, timeUnixNs: 0, reward: 0, terminated: false, truncated: false, episode: 0 }, OBS),
      );
    for (let i = 0; i < 40 && Object.keys(server.status()).length < 3; i++) await new Promise((r) => setTimeout(r, 25));
    expect(Object.keys(server.status()).sort()).toEqual(['junk-0', 'junk-1', 'junk-2']);
    // Full: the new robot waits until the junk goes silent (here 0.4 s), then is served.
    const fresh = await robot(broker.url, 'slots', 'fresh');
    const a = await fresh.ask(1, 3000);
    expect(a?.version).toBe('v1');
    expect(logs.some((l) => /robot 'junk-\d' (sent no observation|silent)/.test(l))).toBe(true);
    expect(Object.keys(server.status())).toContain('fresh');
    // Idle robots expire even when the server is not full.
    for (let i = 0; i < 60 && Object.keys(server.status()).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(server.status()).toEqual({});
    expect((await fresh.ask(2))?.version).toBe('v1'); // and come back when they speak again
    await Promise.all([junk.link.close(), fresh.link.close(), server.close()]);
  });

  it('tells a robot with the wrong observation size what is wrong, once, on the server status topic and in the log', async () => {
    const v1 = exportRandom({ version: 'v1', seed: 1 });
    const logs: string[] = [];
    const server = await serveMqtt({ url: broker.url, policy: { bytes: v1.bytes, source: 'v1.onnx' }, fleet: 'dims', watchFile: false, log: (l) => logs.push(l) });
    const errors: ReturnType<typeof decodeRobotStatus>[] = [];
    const watcher = await MqttLink.connect(broker.url);
    watcher.onMessage((_t, p) => {
      const s = decodeRobotStatus(p);
      if (s.state === 5) errors.push(s);
    });
    await watcher.subscribe(serverStatusTopic('dims', 'policy-server'), 1);
    const r = await robot(broker.url, 'dims', 'short');
    for (let seq = 1; seq <= 5; seq++) expect((await r.ask(seq, 1500, [1, 2, 3]))?.safe).toBe(true);
    await new Promise((res) => setTimeout(res, 200));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ robotId: 'short', policyVersion: 'v1' });
    expect(errors[0]!.message).toMatch(/robot 'short': observation has 3 values, policy v1 expects 5/);
    expect(logs.filter((l) => l.includes('observation has 3 values'))).toHaveLength(1);
    await Promise.all([r.link.close(), watcher.close(), server.close()]);
  });
});
