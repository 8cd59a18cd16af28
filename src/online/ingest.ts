/**
 * Learner side, first stop: one MQTT message → a validated TransitionBatch appended to the
 * online store and fsynced (then, and only then, the learner acknowledges it to the robot), and
 * to the in-memory online dataset. Malformed, oversized, wrong-robot, wrong-shape and non-finite
 * messages are counted and dropped, never stored. Each robot's batches are stored strictly in
 * sequence order: a resend of stored data is a duplicate (dropped, acknowledged again), a batch
 * that starts after the next expected sequence is 'ahead' (an earlier one was lost on the way:
 * dropped, and the ack tells the robot where to resume). A storage failure (disk full, I/O
 * error) is not bad input: it throws StorageError and nothing is acknowledged.
 */
import { DataError, type DatasetBuilder, type SegmentAppender, appendDecoded, decodeTransitionBatch } from '../data/index.js';
import { robotOf } from '../transport/index.js';

export interface IngestCounters {
  accepted: number;
  transitions: number;
  duplicates: number;
  /** Batches that arrived before an earlier one of the same robot (dropped; the robot resends). */
  ahead: number;
  malformed: number;
  oversized: number;
  wrongRobot: number;
  badShape: number;
  nonFinite: number;
  overBudget: number;
}

export type IngestOutcome = keyof Omit<IngestCounters, 'transitions'>;

export interface IngestResult {
  outcome: IngestOutcome;
  /** The robot named by the topic (null if the topic is not a robot's). */
  robot: string | null;
  firstSequence: number;
  /** Why it was dropped ('' when accepted). */
  message: string;
}

/** Writing to the store failed (ENOSPC, EIO, ...): the data was not stored and must not be acknowledged. */
export class StorageError extends Error {
  override name = 'StorageError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export interface IngestOptions {
  appender: SegmentAppender;
  online: DatasetBuilder;
  obsDim: number;
  actDim: number;
  maxBytes?: number;
  /** Sequence high-water marks already stored, per robot (from the store on resume). */
  nextSequence?: Record<string, number>;
  /** First episode id of the in-memory online dataset not used yet (robots' own episode ids are mapped to new ones). */
  nextEpisodeId?: number;
  /** Transforms newly appended online rows [start, end) (normalization for training). */
  onRows?: (start: number, end: number) => void;
  /** Returns false when the online budget is spent. */
  admit?: (count: number) => boolean;
  log?: (line: string) => void;
}

export class TransitionIngest {
  readonly counters: IngestCounters = { accepted: 0, transitions: 0, duplicates: 0, ahead: 0, malformed: 0, oversized: 0, wrongRobot: 0, badShape: 0, nonFinite: 0, overBudget: 0 };
  private readonly next: Record<string, number>;
  private readonly episodeIds = new Map<string, number>();
  private nextEpisodeId: number;

  constructor(private readonly o: IngestOptions) {
    this.next = { ...(o.nextSequence ?? {}) };
    this.nextEpisodeId = o.nextEpisodeId ?? 0;
  }

  private drop(kind: IngestOutcome, robot: string | null, first: number, why: string): IngestResult {
    this.counters[kind]++;
    if (kind !== 'duplicates') this.o.log?.(`ingest: dropped (${kind}): ${why}`);
    return { outcome: kind, robot, firstSequence: first, message: why };
  }

  /** Handles one message; resolves once it is durably stored (fsynced) or dropped. */
  async handle(topic: string, payload: Uint8Array): Promise<IngestResult> {
    const max = this.o.maxBytes ?? 4 << 20;
    const robot = robotOf(topic);
    if (payload.byteLength > max) return this.drop('oversized', robot, 0, `${topic}: ${payload.byteLength} bytes > ${max}`);
    let d;
    try {
      d = decodeTransitionBatch(payload, topic);
    } catch (e) {
      return this.drop('malformed', robot, 0, (e as Error).message);
    }
    if (robot === null || d.robotId !== robot) return this.drop('wrongRobot', null, d.firstSequence, `${topic} carries robot_id '${d.robotId}'`);
    if (d.obsDim !== this.o.obsDim || d.actDim !== this.o.actDim || d.count === 0) {
      return this.drop('badShape', robot, d.firstSequence, `${topic}: obs ${d.obsDim} / act ${d.actDim} / ${d.count} rows, expected obs ${this.o.obsDim} / act ${this.o.actDim}`);
    }
    const stored = this.next[robot] ?? 0;
    // transitions the robot says a learner acknowledged before (another store, another learner)
    // will never be resent: continue after them rather than wait
    const expected = Math.max(stored, d.ackedBelow);
    if (d.firstSequence < expected) return this.drop('duplicates', robot, d.firstSequence, `${robot} seq ${d.firstSequence} < ${expected}: stored already`);
    if (this.o.admit && !this.o.admit(d.count)) return this.drop('overBudget', robot, d.firstSequence, `${robot} seq ${d.firstSequence}: online budget spent`);
    if (d.firstSequence > expected)
      return this.drop('ahead', robot, d.firstSequence, `${robot} seq ${d.firstSequence} > ${expected}: an earlier batch is missing; the robot resends from ${expected}`);
    let written: boolean;
    try {
      written = await this.o.appender.appendEncoded(payload);
      if (written) this.o.appender.sync();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (typeof code === 'string' && !(e instanceof DataError))
        throw new StorageError(`cannot store ${robot} seq ${d.firstSequence} in ${this.o.appender.file}: ${(e as Error).message}`, code);
      if (e instanceof DataError && /NaN|Inf|finite/i.test(e.message)) return this.drop('nonFinite', robot, d.firstSequence, e.message);
      return this.drop('malformed', robot, d.firstSequence, (e as Error).message);
    }
    if (!written) return this.drop('duplicates', robot, d.firstSequence, `${robot} seq ${d.firstSequence} already stored`);
    if (expected > stored) this.o.log?.(`ingest: ${robot} continues at seq ${expected}: seq ${stored}..${expected - 1} were acknowledged to it by another learner or store`);
    this.next[robot] = d.firstSequence + d.count;
    const start = this.o.online.size;
    appendDecoded(this.o.online, d, topic);
    // a robot numbers its own episodes: give each (robot, episode) an id of the online dataset
    const eps = this.o.online.episodeIds;
    for (let i = start; i < this.o.online.size; i++) {
      const key = `${robot}\u0000${eps[i]}`;
      let id = this.episodeIds.get(key);
      if (id === undefined) this.episodeIds.set(key, (id = this.nextEpisodeId++));
      eps[i] = id;
    }
    this.o.onRows?.(start, this.o.online.size);
    this.counters.accepted++;
    this.counters.transitions += d.count;
    return { outcome: 'accepted', robot, firstSequence: d.firstSequence, message: '' };
  }

  nextSequenceOf(robot: string): number {
    return this.next[robot] ?? 0;
  }
}
