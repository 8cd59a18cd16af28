import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetBuilder, encodeTransitionBatch } from '../../src/data/index.js';
import { policyTopic, robotTopics } from '../../src/transport/index.js';
import { type Broker, startBrokerProcess } from '../helpers/broker.js';
import { missingMosquitto } from '../helpers/mosquitto.js';
import { requireOrSkip } from '../helpers/python.js';

// The production broker set-up the README describes: every client authenticates, a robot may
// write only its own topics and read only the policy; the learner reads transitions and writes policies.
const ACL = `user learner
topic read o2o/+/robots/+/transitions
topic readwrite o2o/+/policy/current

pattern write o2o/fleet/robots/%u/#
pattern read o2o/fleet/policy/current
`;

describe.runIf(requireOrSkip(missingMosquitto()))('mosquitto with passwords and an ACL', () => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await startBrokerProcess({ users: [{ name: 'learner', password: 'lpw' }, { name: 'robot-a', password: 'apw' }, { name: 'robot-b', password: 'bpw' }], acl: ACL });
  });
  afterAll(async () => broker?.stop());

  it('refuses clients without valid credentials', async () => {
    await expect(mqtt.connectAsync(broker.url, { reconnectPeriod: 0, connectTimeout: 2000 })).rejects.toThrow();
    await expect(mqtt.connectAsync(broker.url, { username: 'robot-a', password: 'wrong', reconnectPeriod: 0, connectTimeout: 2000 })).rejects.toThrow();
  });

  it("lets a robot write only its own topics and never the policy", async () => {
    const learner = await mqtt.connectAsync(broker.url, { username: 'learner', password: 'lpw' });
    const seen: string[] = [];
    learner.on('message', (t) => seen.push(t));
    await learner.subscribeAsync('o2o/fleet/robots/+/transitions', { qos: 1 });
    await learner.subscribeAsync(policyTopic('fleet'), { qos: 1 });

    const b = new DatasetBuilder(3, 1);
    b.add({ obs: [1, 0, 0], action: [0], reward: 0, nextObs: [1, 0, 0] });
    const batch = Buffer.from(encodeTransitionBatch(b, 0, 1, { robotId: 'robot-a', firstSequence: 0 }));
    const robot = await mqtt.connectAsync(broker.url, { username: 'robot-a', password: 'apw' });
    await robot.publishAsync(robotTopics('fleet', 'robot-a').transitions, batch, { qos: 1 });
    await robot.publishAsync(robotTopics('fleet', 'robot-b').transitions, batch, { qos: 1 }); // another robot's topic
    await robot.publishAsync(policyTopic('fleet'), Buffer.from('forged'), { qos: 1, retain: true }); // the policy
    // The permitted message arrives (bounded wait); anything the ACL let through would too.
    for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toEqual([robotTopics('fleet', 'robot-a').transitions]);

    // The learner may publish the policy, and the robot may read it.
    const got = new Promise<string>((resolve) => robot.on('message', (_t, p) => resolve(p.toString())));
    await robot.subscribeAsync(policyTopic('fleet'), { qos: 1 });
    await learner.publishAsync(policyTopic('fleet'), Buffer.from('signed-update'), { qos: 1, retain: true });
    expect(await got).toBe('signed-update');
    await robot.endAsync();
    await learner.endAsync();
  });
});
