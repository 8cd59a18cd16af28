import { mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { McapWriter } from '@mcap/core';
import { parse } from '@foxglove/rosmsg';
import { MessageWriter } from '@foxglove/rosmsg2-serialization';
import { FdWritable } from '../../src/data/formats/mcap-io.js';
import { importRosbag2, parseRos2Mapping } from '../../src/data/formats/rosbag2.js';
import { nextObservationsOf } from '../../src/data/next-obs.js';

const root = mkdtempSync(join(tmpdir(), 'o2o-ros-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const JOINT_STATE = `std_msgs/Header header
string[] name
float64[] position
float64[] velocity
float64[] effort
================================================================================
MSG: std_msgs/Header
builtin_interfaces/Time stamp
string frame_id
================================================================================
MSG: builtin_interfaces/Time
int32 sec
uint32 nanosec`;
const F32_ARRAY = `std_msgs/MultiArrayLayout layout
float32[] data
================================================================================
MSG: std_msgs/MultiArrayLayout
MultiArrayDimension[] dim
uint32 data_offset
================================================================================
MSG: std_msgs/MultiArrayDimension
string label
uint32 size
uint32 stride`;
const F32 = 'float32 data';

async function writeBag(file: string): Promise<void> {
  const fd = openSync(file, 'w');
  const w = new McapWriter({ writable: new FdWritable(fd) });
  await w.start({ profile: 'ros2', library: 'test' });
  const chan = async (topic: string, name: string, def: string): Promise<[number, MessageWriter]> => {
    const schemaId = await w.registerSchema({ name, encoding: 'ros2msg', data: new TextEncoder().encode(def) });
    const id = await w.registerChannel({ topic, schemaId, messageEncoding: 'cdr', metadata: new Map() });
    return [id, new MessageWriter(parse(def, { ros2: true }))];
  };
  const [js, jw] = await chan('/joint_states', 'sensor_msgs/msg/JointState', JOINT_STATE);
  const [cmd, cw] = await chan('/cmd', 'std_msgs/msg/Float32MultiArray', F32_ARRAY);
  const [rew, rw] = await chan('/reward', 'std_msgs/msg/Float32', F32);
  await chan('/unmapped', 'std_msgs/msg/Float32', F32);
  const ns = (t: number): bigint => BigInt(Math.round(t * 1e9));
  // joint states at 100 Hz from t=1.00; commands at 10 Hz from t=1.05; reward at 10 Hz from t=1.0
  for (let k = 0; k <= 100; k++) {
    const t = 1 + k * 0.01;
    const data = jw.writeMessage({ header: { stamp: { sec: 1, nanosec: 0 }, frame_id: '' }, name: ['a', 'b'], position: [k, -k], velocity: [0.5 * k, 0], effort: [] });
    await w.addMessage({ channelId: js, sequence: k, logTime: ns(t), publishTime: ns(t), data });
  }
  for (let k = 0; k < 10; k++) {
    const t = 1.05 + k * 0.1;
    await w.addMessage({ channelId: cmd, sequence: k, logTime: ns(t), publishTime: ns(t), data: cw.writeMessage({ layout: { dim: [], data_offset: 0 }, data: [k, k + 0.5] }) });
    await w.addMessage({ channelId: rew, sequence: k, logTime: ns(t - 0.05), publishTime: ns(t - 0.05), data: rw.writeMessage({ data: 10 * k }) });
  }
  await w.end();
  closeSync(fd);
}

describe('rosbag2 MCAP import', () => {
  it('resamples JointState and Float32MultiArray topics with zero-order hold', async () => {
    const file = join(root, 'bag.mcap');
    await writeBag(file);
    const mapping = parseRos2Mapping(`
rate_hz: 10
observation:
  - { topic: /joint_states, field: position }
  - { topic: /joint_states, field: velocity }
action:
  - { topic: /cmd, field: data }
reward: { topic: /reward, field: data }
`);
    const { dataset: ds, ticks } = await importRosbag2(file, mapping);
    // ticks start when every topic has a message (t = 1.05) and run to the last message (t = 2.0)
    expect(ticks).toBe(10);
    expect(ds.size).toBe(9);
    expect(ds.obsDim).toBe(4);
    expect(ds.actDim).toBe(2);
    // tick k at t = 1.05 + 0.1 k: latest joint state is index 5 + 10 k
    for (let k = 0; k < 9; k++) {
      const j = 5 + 10 * k;
      expect(Array.from(ds.observations.subarray(4 * k, 4 * k + 4))).toEqual([j, -j, 0.5 * j, 0]);
      expect(Array.from(nextObservationsOf(ds, k, k + 1))).toEqual([j + 10, -j - 10, 0.5 * (j + 10), 0]);
      expect(Array.from(ds.actions.subarray(2 * k, 2 * k + 2))).toEqual([k, k + 0.5]);
      expect(ds.rewards[k]).toBe(10 * k);
    }
    expect(ds.timeouts[8]).toBe(1);
    expect(ds.terminals.every((v) => v === 0)).toBe(true);
  });

  it('names unknown topics and fields, and bad mappings', async () => {
    const file = join(root, 'bag2.mcap');
    await writeBag(file);
    await expect(importRosbag2(file, 'rate_hz: 10\nobservation: [{topic: /joint_state, field: position}]\naction: [{topic: /cmd, field: data}]')).rejects.toThrow(
      /bag2\.mcap: topic '\/joint_state' from the mapping is not in the recording \(it has: \/cmd, \/joint_states, \/reward\); fix the topic name/,
    );
    await expect(importRosbag2(file, 'rate_hz: 10\nobservation: [{topic: /joint_states, field: pos}]\naction: [{topic: /cmd, field: data}]')).rejects.toThrow(
      /field 'pos' not found .*sensor_msgs\/msg\/JointState/,
    );
    expect(() => parseRos2Mapping('rate_hz: 0\nobservation: []', 'm.yaml')).toThrow(/m\.yaml: rate_hz must be a positive number/);
  });
});
