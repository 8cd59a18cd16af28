/**
 * Import a rosbag2 MCAP recording (profile 'ros2', messages 'cdr', schemas 'ros2msg') into a
 * dataset using a YAML mapping from topics/fields to observation, action, reward and done, resampled
 * at a fixed control rate: at each tick the latest message of every topic is held (zero-order hold).
 *
 *   rate_hz: 20
 *   observation:
 *     - { topic: /joint_states, field: position }
 *     - { topic: /joint_states, field: velocity }
 *   action:
 *     - { topic: /cmd, field: data }
 *   reward: { topic: /reward, field: data }     # optional, default 0
 *   done: { topic: /done, field: data }         # optional; a nonzero message ends the episode at the next tick (terminal)
 *
 * Ticks run from the first time every mapped topic has a message to the last message time; tick k
 * gives transition (obs_k, act_k, reward_k, obs_{k+1}); the recording's last transition is a timeout.
 */
import { parse as parseYaml } from 'yaml';
import { parse as parseMsgDef } from '@foxglove/rosmsg';
import { MessageReader } from '@foxglove/rosmsg2-serialization';
import { DatasetBuilder } from '../builder.js';
import { validateDataset, type Dataset, type DatasetMeta } from '../dataset.js';
import { DataError, type ProgressFn } from '../errors.js';
import { ready, scanMcap } from './mcap-io.js';

interface FieldRef {
  topic: string;
  /** Dotted path into the message, e.g. 'position', 'pose.position.x', 'data'. */
  field: string;
}

export interface Ros2Mapping {
  rate_hz: number;
  observation: FieldRef[];
  action: FieldRef[];
  reward?: FieldRef;
  done?: FieldRef;
}

/** Parse and check a YAML mapping; `source` names it in errors. */
export function parseRos2Mapping(yamlText: string, source = 'mapping.yaml'): Ros2Mapping {
  let m: Partial<Ros2Mapping>;
  try {
    m = parseYaml(yamlText) as Partial<Ros2Mapping>;
  } catch (e) {
    throw new DataError(`invalid YAML (${(e as Error).message})`, { file: source }, 'fix the YAML syntax');
  }
  const fix = 'see the mapping format in src/data/formats/rosbag2.ts (rate_hz, observation, action, reward, done)';
  if (!m || typeof m !== 'object') throw new DataError('mapping is empty', { file: source }, fix);
  if (!(typeof m.rate_hz === 'number' && m.rate_hz > 0)) throw new DataError(`rate_hz must be a positive number, got ${String(m.rate_hz)}`, { file: source }, fix);
  const refs = (k: 'observation' | 'action'): FieldRef[] => {
    const v = m[k];
    if (!Array.isArray(v) || v.length === 0) throw new DataError(`'${k}' must be a non-empty list of {topic, field}`, { file: source }, fix);
    return v.map((r) => checkRef(r, k, source, fix));
  };
  return {
    rate_hz: m.rate_hz,
    observation: refs('observation'),
    action: refs('action'),
    ...(m.reward ? { reward: checkRef(m.reward, 'reward', source, fix) } : {}),
    ...(m.done ? { done: checkRef(m.done, 'done', source, fix) } : {}),
  };
}

function checkRef(r: unknown, k: string, source: string, fix: string): FieldRef {
  const x = r as Partial<FieldRef>;
  if (!x || typeof x.topic !== 'string' || typeof x.field !== 'string') throw new DataError(`'${k}' entry needs string 'topic' and 'field'`, { file: source }, fix);
  return { topic: x.topic, field: x.field };
}

interface Series {
  times: number[];
  values: number[][];
}

function extract(msg: unknown, path: string): number[] | undefined {
  let v: unknown = msg;
  for (const p of path.split('.')) {
    if (v === null || typeof v !== 'object' || !(p in (v as object))) return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  if (typeof v === 'number') return [v];
  if (typeof v === 'boolean') return [v ? 1 : 0];
  if (typeof v === 'bigint') return [Number(v)];
  if (ArrayBuffer.isView(v) || Array.isArray(v)) return Array.from(v as ArrayLike<number>, Number);
  return undefined;
}

/** Read a rosbag2 MCAP file with a mapping (object or YAML text). */
export async function importRosbag2(
  file: string,
  mapping: Ros2Mapping | string,
  opts: { meta?: DatasetMeta; progress?: ProgressFn } = {},
): Promise<{ dataset: Dataset; ticks: number }> {
  await ready();
  const map = typeof mapping === 'string' ? parseRos2Mapping(mapping) : mapping;
  const all: FieldRef[] = [...map.observation, ...map.action, ...(map.reward ? [map.reward] : []), ...(map.done ? [map.done] : [])];
  const key = (r: FieldRef): string => `${r.topic}#${r.field}`;
  const series = new Map<string, Series>(all.map((r) => [key(r), { times: [], values: [] }]));
  const wanted = new Set(all.map((r) => r.topic));
  const readers = new Map<number, MessageReader>();
  const topics = new Map<string, string>();
  const scan = scanMcap(file, {
    onMessage: (m) => {
      topics.set(m.channel.topic, m.schema?.name ?? '');
      if (!wanted.has(m.channel.topic)) return;
      if (m.channel.messageEncoding !== 'cdr' || m.schema?.encoding !== 'ros2msg') {
        throw new DataError(
          `topic ${m.channel.topic} has message encoding '${m.channel.messageEncoding}', schema encoding '${m.schema?.encoding}'`,
          { file, offset: m.chunkOffset },
          'map only ROS 2 topics recorded as cdr with ros2msg schemas (ros2 bag record -s mcap)',
        );
      }
      let reader = readers.get(m.channel.id);
      if (!reader) {
        reader = new MessageReader(parseMsgDef(new TextDecoder().decode(m.schema.data), { ros2: true }));
        readers.set(m.channel.id, reader);
      }
      let decoded: unknown;
      try {
        decoded = reader.readMessage(m.data);
      } catch (e) {
        throw new DataError(
          `cannot decode a ${m.schema.name} message on ${m.channel.topic} (${(e as Error).message})`,
          { file, offset: m.chunkOffset },
          'the recording is corrupt or its schema does not match the messages',
        );
      }
      const t = Number(m.logTime) / 1e9;
      for (const r of all) {
        if (r.topic !== m.channel.topic) continue;
        const v = extract(decoded, r.field);
        if (!v) {
          throw new DataError(
            `field '${r.field}' not found (or not numeric) in ${m.schema.name} on ${r.topic}`,
            { file, offset: m.chunkOffset },
            `use a numeric field of ${m.schema.name}; see its definition with 'ros2 interface show'`,
          );
        }
        const s = series.get(key(r))!;
        s.times.push(t);
        s.values.push(v);
      }
    },
  });
  if (scan.profile !== 'ros2') opts.progress?.(0, 0, `warning: profile '${scan.profile}', expected 'ros2'`);
  for (const r of all) {
    if (!topics.has(r.topic)) {
      throw new DataError(
        `topic '${r.topic}' from the mapping is not in the recording (it has: ${[...topics.keys()].sort().join(', ')})`,
        { file },
        'fix the topic name in the mapping YAML',
      );
    }
  }
  // Dimensions from the first message of each field; later messages must match.
  const dims = new Map<string, number>();
  for (const r of all) {
    const s = series.get(key(r))!;
    const d = s.values[0]!.length;
    s.values.forEach((v, i) => {
      if (v.length !== d) throw new DataError(`${r.topic} ${r.field} has ${v.length} values in message ${i}, ${d} in the first`, { file, row: i }, 'map fields of constant length');
    });
    dims.set(key(r), d);
  }
  const obsDim = map.observation.reduce((a, r) => a + dims.get(key(r))!, 0);
  const actDim = map.action.reduce((a, r) => a + dims.get(key(r))!, 0);
  const start = Math.max(...all.map((r) => series.get(key(r))!.times[0]!));
  const end = Math.max(
    ...all.map((r) => {
      const t = series.get(key(r))!.times;
      return t[t.length - 1]!;
    }),
  );
  const dt = 1 / map.rate_hz;
  const ticks = Math.floor((end - start) / dt + 1e-9) + 1;
  if (ticks < 2) throw new DataError(`only ${ticks} control tick(s) between ${start}s and ${end}s at ${map.rate_hz} Hz`, { file }, 'use a longer recording or a higher rate_hz');
  const cursor = new Map<string, number>(all.map((r) => [key(r), 0]));
  const hold = (r: FieldRef, t: number): number[] => {
    const s = series.get(key(r))!;
    let i = cursor.get(key(r))!;
    while (i + 1 < s.times.length && s.times[i + 1]! <= t + 1e-12) i++;
    cursor.set(key(r), i);
    return s.values[i]!;
  };
  // done is an event: true at a tick when a nonzero done message arrived since the previous tick.
  const eventIn = (r: FieldRef, t0: number, t1: number): boolean => {
    const s = series.get(key(r))!;
    for (let i = 0; i < s.times.length; i++) if (s.times[i]! > t0 + 1e-12 && s.times[i]! <= t1 + 1e-12 && s.values[i]![0] !== 0) return true;
    return false;
  };
  const obsAt: Float32Array[] = [];
  const b = new DatasetBuilder(obsDim, actDim, { capacity: ticks, meta: opts.meta, validate: false });
  const rows: { act: Float32Array; rew: number; done: boolean }[] = [];
  for (let k = 0; k < ticks; k++) {
    const t = start + k * dt;
    obsAt.push(Float32Array.from(map.observation.flatMap((r) => hold(r, t))));
    rows.push({
      act: Float32Array.from(map.action.flatMap((r) => hold(r, t))),
      rew: map.reward ? hold(map.reward, t)[0]! : 0,
      done: map.done ? eventIn(map.done, t - dt, t) : false,
    });
  }
  let ep = 0;
  for (let k = 0; k + 1 < ticks; k++) {
    const r = rows[k]!;
    const last = k + 2 === ticks;
    b.add({ obs: obsAt[k]!, nextObs: obsAt[k + 1]!, action: r.act, reward: r.rew, terminal: r.done, timeout: last && !r.done, episodeId: ep });
    if (r.done) ep++;
  }
  const ds = b.build();
  validateDataset(ds, file);
  return { dataset: ds, ticks };
}
