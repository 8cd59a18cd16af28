/**
 * End-to-end delivery messages (o2o.proto TransitionAck, RobotStatus of a learner). The learner
 * acknowledges a robot's transitions only once they are written and fsynced; a robot keeps every
 * spooled batch until an ack's next_sequence covers it.
 */
import { o2oType } from '../data/schema/proto.js';

export type AckResult = 'STORED' | 'DUPLICATE' | 'AHEAD' | 'REJECTED' | 'STORAGE_FAILED' | 'OVER_BUDGET';

const RESULTS: AckResult[] = ['STORED', 'DUPLICATE', 'AHEAD', 'REJECTED', 'STORAGE_FAILED', 'OVER_BUDGET'];

export interface TransitionAck {
  robotId: string;
  /** Every transition of the robot below this sequence number is durably stored. */
  nextSequence: number;
  result: AckResult;
  /** first_sequence of the batch this answers. */
  batchFirstSequence: number;
  learnerId: string;
  message: string;
}

export function encodeAck(a: TransitionAck): Uint8Array {
  const T = o2oType('TransitionAck');
  return T.encode(
    T.create({
      robot_id: a.robotId,
      next_sequence: a.nextSequence,
      result: RESULTS.indexOf(a.result) + 1,
      batch_first_sequence: a.batchFirstSequence,
      learner_id: a.learnerId,
      message: a.message,
      time_unix_ns: Date.now() * 1e6,
    }),
  ).finish();
}

/** Decodes an ack; throws on bytes that are not one. */
export function decodeAck(bytes: Uint8Array): TransitionAck {
  const m = o2oType('TransitionAck').decode(bytes) as unknown as Record<string, unknown>;
  const r = Number(m.result ?? 0);
  if (r < 1 || r > RESULTS.length) throw new Error(`TransitionAck with unknown result ${r}`);
  return {
    robotId: String(m.robot_id ?? ''),
    nextSequence: Number(m.next_sequence ?? 0),
    result: RESULTS[r - 1]!,
    batchFirstSequence: Number(m.batch_first_sequence ?? 0),
    learnerId: String(m.learner_id ?? ''),
    message: String(m.message ?? ''),
  };
}

/** RobotStatus.State values (o2o.proto). */
export const STATUS_STATE = { UNKNOWN: 0, IDLE: 1, RUNNING: 2, SAFE_STOP: 3, OFFLINE: 4, ERROR: 5 } as const;

export interface StatusMessage {
  id: string;
  state: keyof typeof STATUS_STATE;
  policyVersion?: string;
  message?: string;
  lastSequence?: number;
}

export function encodeStatusMessage(s: StatusMessage): Uint8Array {
  const T = o2oType('RobotStatus');
  return T.encode(
    T.create({
      robot_id: s.id,
      state: STATUS_STATE[s.state],
      policy_version: s.policyVersion ?? '',
      message: s.message ?? '',
      last_sequence: s.lastSequence ?? 0,
      time_unix_ns: Date.now() * 1e6,
    }),
  ).finish();
}

export function decodeStatusMessage(bytes: Uint8Array): StatusMessage {
  const m = o2oType('RobotStatus').decode(bytes) as unknown as Record<string, unknown>;
  const n = Number(m.state ?? 0);
  const state = (Object.keys(STATUS_STATE) as (keyof typeof STATUS_STATE)[]).find((k) => STATUS_STATE[k] === n) ?? 'UNKNOWN';
  return { id: String(m.robot_id ?? ''), state, policyVersion: String(m.policy_version ?? ''), message: String(m.message ?? ''), lastSequence: Number(m.last_sequence ?? 0) };
}
