/**
 * Learner side, first stop: one MQTT message → a validated TransitionBatch appended to the
 * online store (crash-safe) and to the in-memory online dataset. Malformed, oversized,
 * wrong-robot, wrong-shape and non-finite messages are counted and dropped, never stored.
 * Duplicates (a resend after a lost PUBACK or a broker restart) are recognized by
 * (robot_id, sequence) and dropped; a jump in sequence numbers is counted as a gap.
 */
import { DataError, type DatasetBuilder, type SegmentAppender, appendDecoded, decodeTransitionBatch } from '../data/index.js';
import { robotOf } from '../transport/index.js';

export interface IngestCounters {
  accepted: number;
  transitions: number;
  duplicates: number;
  gaps: number;
  malformed: number;
  oversized: number;
  wrongRobot: number;
  badShape: number;
  nonFinite: number;
  overBudget: number;
}

export type IngestOutcome = keyof Omit<IngestCounters, 'transitions'>;

export interface IngestOptions {
  appender: SegmentAppender;
  online: DatasetBuilder;
  obsDim: number;
  actDim: number;
  maxBytes?: number;
  /** Sequence high-water marks already stored, per robot (from the store on resume). */
  nextSequence?: Record<string, number>;
  /** Transforms newly appended online rows [start, end) (normalization for training). */
  onRows?: (start: number, end: number) => void;
  /** Returns false when the online budget is spent. */
  admit?: (count: number) => boolean;
  log?: (line: string) => void;
}

export class TransitionIngest {
  readonly counters: IngestCounters = { accepted: 0, transitions: 0, duplicates: 0, gaps: 0, malformed: 0, oversized: 0, wrongRobot: 0, badShape: 0, nonFinite: 0, overBudget: 0 };
  private readonly next: Record<string, number>;

  constructor(private readonly o: IngestOptions) {
    this.next = { ...(o.nextSequence ?? {}) };
  }

  private drop(kind: IngestOutcome, why: string): IngestOutcome {
    this.counters[kind]++;
    this.o.log?.(`ingest: dropped (${kind}): ${why}`);
    return kind;
  }

  /** Handles one message; resolves once it is durably appended (or dropped). */
  async handle(topic: string, payload: Uint8Array): Promise<IngestOutcome> {
    const max = this.o.maxBytes ?? 4 << 20;
    if (payload.byteLength > max) return this.drop('oversized', `${topic}: ${payload.byteLength} bytes > ${max}`);
    const robot = robotOf(topic);
    let d;
    try {
      d = decodeTransitionBatch(payload, topic);
    } catch (e) {
      return this.drop('malformed', (e as Error).message);
    }
    if (robot === null || d.robotId !== robot) return this.drop('wrongRobot', `${topic} carries robot_id '${d.robotId}'`);
    if (d.obsDim !== this.o.obsDim || d.actDim !== this.o.actDim || d.count === 0) {
      return this.drop('badShape', `${topic}: obs ${d.obsDim} / act ${d.actDim} / ${d.count} rows, expected obs ${this.o.obsDim} / act ${this.o.actDim}`);
    }
    const expected = this.next[robot] ?? 0;
    if (d.firstSequence < expected) return this.drop('duplicates', `${robot} seq ${d.firstSequence} < ${expected}`);
    if (this.o.admit && !this.o.admit(d.count)) return this.drop('overBudget', `${robot} seq ${d.firstSequence}: online budget spent`);
    let stored: boolean;
    try {
      stored = await this.o.appender.appendEncoded(payload);
    } catch (e) {
      if (e instanceof DataError && /NaN|Inf|finite/i.test(e.message)) return this.drop('nonFinite', e.message);
      return this.drop('malformed', (e as Error).message);
    }
    if (!stored) return this.drop('duplicates', `${robot} seq ${d.firstSequence} already stored`);
    if (d.firstSequence > expected) {
      this.counters.gaps++;
      this.o.log?.(`ingest: gap for ${robot}: expected seq ${expected}, got ${d.firstSequence}`);
    }
    this.next[robot] = d.firstSequence + d.count;
    const start = this.o.online.size;
    appendDecoded(this.o.online, d, topic);
    this.o.onRows?.(start, this.o.online.size);
    this.counters.accepted++;
    this.counters.transitions += d.count;
    return 'accepted';
  }

  nextSequenceOf(robot: string): number {
    return this.next[robot] ?? 0;
  }
}
