import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { o2oType, PROTO_PATH } from '../../src/data/index.js';
import { ActionDecoder, CodecError, encodeAction, encodeObservation, ObservationDecoder } from '../../src/transport/index.js';
import { robotOf, robotTopics, policyTopic } from '../../src/transport/index.js';
import { dirname } from 'node:path';

// biome-ignore lint/correctness/noPrecisionLoss: the value is exact as a double (the test is about that)
const T_NS = 1_795_000_000_123_456_768; // a 2026 timestamp in ns (exact as a double)

describe('control-path codecs', () => {
  it('Observation bytes decode identically with protobufjs and with our decoder (and back)', () => {
    const f = { robotId: 'arm-7', sequence: 123456789, timeUnixNs: T_NS, reward: -0.75, terminated: false, truncated: true, episode: 4 };
    const vals = Float32Array.of(1.5, -2.25, 0, 3.4028234663852886e38, -1e-30);
    const bytes = encodeObservation(f, vals);
    const T = o2oType('Observation');
    const m = T.toObject(T.decode(bytes), { longs: String }) as Record<string, unknown>;
    expect(m).toMatchObject({ robot_id: 'arm-7', sequence: '123456789', time_unix_ns: BigInt(T_NS).toString(), reward: -0.75, truncated: true, episode: 4 });
    expect(Float32Array.from(m.values as number[])).toEqual(vals);
    // protobufjs-encoded bytes (what another client would send) decode with ours.
    const theirs = T.encode(T.fromObject({ robot_id: 'arm-7', sequence: 9, values: Array.from(vals), terminated: true })).finish();
    const d = new ObservationDecoder(5);
    expect(d.decode(theirs, 't')).toBe(5);
    expect(d.values).toEqual(vals);
    expect(d.fields).toMatchObject({ robotId: 'arm-7', sequence: 9, terminated: true, truncated: false, reward: 0 });
    expect(d.decode(bytes, 't')).toBe(5);
    expect(d.fields).toMatchObject({ ...f, timeUnixNs: T_NS });
  });

  it('Action round trip, and protoc decodes our bytes with o2o.proto', () => {
    const f = { robotId: 'r', sequence: 5, timeUnixNs: T_NS, policyVersion: '1.0.0', safe: true, faults: 3 };
    const bytes = encodeAction(f, [0.5, -1]);
    const d = new ActionDecoder(2);
    expect(d.decode(bytes, 'a')).toBe(2);
    expect(Array.from(d.values)).toEqual([0.5, -1]);
    expect(d.fields).toEqual(f);
    const r = spawnSync('protoc', [`--proto_path=${dirname(PROTO_PATH)}`, '--decode=o2o.Action', 'o2o.proto'], { input: bytes, encoding: 'buffer' });
    if (r.error) console.warn('skipped protoc cross-check: protoc not installed (apt-get install -y protobuf-compiler)');
    else {
      const text = r.stdout.toString();
      expect(text).toContain('robot_id: "r"');
      expect(text).toContain(`time_unix_ns: ${BigInt(T_NS)}`);
      expect(text).toContain('policy_version: "1.0.0"');
      expect(text).toContain('safe: true');
    }
  });

  it('malformed bytes raise CodecError (never a crash); wrong lengths are reported by count', () => {
    const d = new ObservationDecoder(3);
    const good = encodeObservation({ robotId: 'x', sequence: 1, timeUnixNs: 0, reward: 0, terminated: false, truncated: false, episode: 0 }, [1, 2, 3]);
    for (let cut = 1; cut < good.length; cut++) {
      try {
        d.decode(good.subarray(0, cut), 'cut');
      } catch (e) {
        expect(e).toBeInstanceOf(CodecError);
      }
    }
    expect(() => d.decode(Uint8Array.of(0x00, 0x01), 'zero')).toThrow(/field number 0/);
    expect(() => d.decode(Uint8Array.of(0x22, 0x05, 1, 2, 3, 4, 5), 'odd')).toThrow(/not a multiple of 4/);
    expect(d.decode(encodeObservation({ robotId: 'x', sequence: 1, timeUnixNs: 0, reward: 0, terminated: false, truncated: false, episode: 0 }, [1, 2, 3, 4]), 'long')).toBe(4);
  });

  it('topic tree', () => {
    expect(robotTopics('lab', 'arm-1')).toEqual({
      obs: 'o2o/lab/robots/arm-1/obs',
      action: 'o2o/lab/robots/arm-1/action',
      status: 'o2o/lab/robots/arm-1/status',
      transitions: 'o2o/lab/robots/arm-1/transitions',
      ack: 'o2o/lab/robots/arm-1/ack',
    });
    expect(policyTopic('lab')).toBe('o2o/lab/policy/current');
    expect(robotOf('o2o/lab/robots/arm-1/obs')).toBe('arm-1');
    expect(() => robotTopics('lab', 'a/b')).toThrow(/may only use/);
    expect(() => robotTopics('+', 'a')).toThrow(/fleet name/);
  });
});
