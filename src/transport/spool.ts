/**
 * Robot side of the online loop: every transition is journaled on disk the moment it is added,
 * cut into TransitionBatch files (<first sequence>-<count>.pb, written with fsync and renamed) and
 * published (QoS 1) to o2o/<fleet>/robots/<robot>/transitions. A batch file is deleted only when
 * the LEARNER's ack (o2o/<fleet>/robots/<robot>/ack, TransitionAck.next_sequence) covers it, i.e.
 * once the learner has written and fsynced it — never on the broker's PUBACK. Unacknowledged
 * batches are sent again after a timeout (doubling while nobody answers), on reconnect, when a
 * learner announces itself (retained learner status RUNNING) and when the learner says a batch
 * came ahead of its sequence (go-back-N). The learner dedupes on (robot_id, sequence), so resends
 * are harmless. A robot killed mid-episode loses nothing: the journal (open.rows) is cut into a
 * batch when the spool is opened again, and its interrupted episode stays unfinished (the store
 * reads it as truncated); the next episode gets the next id (state.json keeps the counters).
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { writeFileDurably } from '../util/durable.js';
import { pidAlive } from '../util/pid-lock.js';
import { DataError, DatasetBuilder, decodeTransitionBatch, encodeTransitionBatch, withAckedBelow } from '../data/index.js';
import { type TransitionAck, decodeAck, decodeStatusMessage } from './ack.js';
import type { MqttLink } from './client.js';
import { learnerStatusFilter, robotTopics } from './topics.js';

export interface SpoolOptions {
  dir: string;
  robotId: string;
  fleet?: string;
  obsDim: number;
  actDim: number;
  /** Transitions per message (an episode end also closes a batch). */
  batchRows?: number;
  policyVersion?: () => string;
  /** Batches published and not yet acknowledged, at most (default 16). */
  window?: number;
  /** Resend unacknowledged batches after this long without an ack (default 3000 ms; doubles up to 30 s while nobody answers). */
  resendAfterMs?: number;
  /** Move acknowledged batches to <dir>/acked/ instead of deleting them (an audit trail; the fault harness compares it with the store). */
  keepAcked?: boolean;
  log?: (line: string) => void;
}

export interface SpoolFile {
  name: string;
  first: number;
  count: number;
}

const FILE = /^(\d{12})(?:-(\d+))?\.pb$/;
const JOURNAL = 'open.rows';
const STATE = 'state.json';
const MAX_RESEND_MS = 30_000;

interface SpoolState {
  nextSequence: number;
  /** Episode id the next transition gets. */
  episode: number;
  /** The last transition added did not end its episode. */
  episodeOpen: boolean;
}

export class TransitionSpool {
  private readonly rows: DatasetBuilder;
  private readonly st: SpoolState;
  private readonly files: SpoolFile[];
  private readonly journal: number;
  private readonly record: Float32Array;
  private readonly recordBytes: Uint8Array;
  private link: MqttLink | null = null;
  private closed = false;
  /** files[0 .. sent) were published in the current pass and await the learner's ack. */
  private sent = 0;
  private lastProgress = Date.now();
  private resendMs: number;
  private timer: NodeJS.Timeout | null = null;
  private lastGoBack = 0;
  private lastRefusal = '';
  private journalAt = 0;
  /** Batches acknowledged by the learner since start. */
  acked = 0;
  /** Transitions acknowledged by the learner since start. */
  ackedTransitions = 0;
  /** Batches published (first sends and resends) since start. */
  published = 0;
  /** The learner's last refusal (REJECTED, STORAGE_FAILED, OVER_BUDGET), if any. */
  lastError: TransitionAck | null = null;
  private lastErrorAt = 0;
  /** After a refusal (over budget, storage failure, rejected) nothing is sent before this time. */
  private pausedUntil = 0;

  constructor(private readonly o: SpoolOptions) {
    mkdirSync(o.dir, { recursive: true });
    // one process per spool: two robots writing one journal would interleave their transitions
    const lock = join(o.dir, 'spool.lock');
    const holder = existsSync(lock) ? Number(readFileSync(lock, 'utf8')) : 0;
    if (holder && holder !== process.pid && pidAlive(holder)) {
      throw new DataError(`process ${holder} is using this spool`, { file: o.dir }, 'give every robot process its own --spool folder (and its own --robot id)');
    }
    writeFileSync(lock, String(process.pid));
    if (o.keepAcked) mkdirSync(join(o.dir, 'acked'), { recursive: true });
    this.rows = new DatasetBuilder(o.obsDim, o.actDim, { capacity: o.batchRows ?? 64 });
    this.resendMs = o.resendAfterMs ?? 3000;
    this.files = this.scan();
    this.st = this.readState();
    const last = this.files.at(-1);
    if (last) this.st.nextSequence = Math.max(this.st.nextSequence, last.first + last.count);
    // one journal record: seq f64 | episode u32 | terminal u8 | timeout u8 | pad u16 | reward f32 | obs | action | next obs
    this.record = new Float32Array(5 + 2 * o.obsDim + o.actDim);
    this.recordBytes = new Uint8Array(this.record.buffer);
    this.journal = openSync(join(o.dir, JOURNAL), existsSync(join(o.dir, JOURNAL)) ? 'r+' : 'w+');
    this.recoverJournal();
  }

  private log(line: string): void {
    this.o.log?.(`spool ${this.o.robotId}: ${line}`);
  }

  private scan(): SpoolFile[] {
    const out: SpoolFile[] = [];
    for (const name of readdirSync(this.o.dir)) {
      const m = FILE.exec(name);
      if (!m) continue;
      let count = m[2] === undefined ? -1 : Number(m[2]);
      if (count < 0) count = decodeTransitionBatch(readFileSync(join(this.o.dir, name)), join(this.o.dir, name)).count; // spools written before counts were in names
      out.push({ name, first: Number(m[1]), count });
    }
    return out.sort((a, b) => a.first - b.first);
  }

  private readState(): SpoolState {
    const p = join(this.o.dir, STATE);
    if (!existsSync(p)) return { nextSequence: 0, episode: 0, episodeOpen: false };
    try {
      const j = JSON.parse(readFileSync(p, 'utf8')) as Partial<SpoolState>;
      return { nextSequence: Number(j.nextSequence ?? 0), episode: Number(j.episode ?? 0), episodeOpen: Boolean(j.episodeOpen) };
    } catch (e) {
      throw new DataError(
        `spool state is unreadable (${(e as Error).message})`,
        { file: p },
        'the spool folder is damaged; move it away and start the robot with a new --robot id',
      );
    }
  }

  private writeState(): void {
    writeFileDurably(join(this.o.dir, STATE), JSON.stringify(this.st), { tmp: join(this.o.dir, `${STATE}.tmp`) });
  }

  /** Rows journaled by a process that died before it cut them become a batch now. */
  private recoverJournal(): void {
    const size = fstatSync(this.journal).size;
    const rec = this.recordBytes.byteLength;
    const n = Math.floor(size / rec);
    const buf = new Uint8Array(rec);
    const f = new Float32Array(buf.buffer);
    const dv = new DataView(buf.buffer);
    const o = this.o.obsDim;
    const a = this.o.actDim;
    let recovered = 0;
    for (let i = 0; i < n; i++) {
      readSync(this.journal, buf, 0, rec, i * rec);
      const seq = dv.getFloat64(0, true);
      if (seq !== this.st.nextSequence + this.rows.size) continue; // already in a batch file (cut before the journal was cleared)
      const ep = dv.getUint32(8, true);
      const term = buf[12] === 1;
      const tout = buf[13] === 1;
      this.rows.add({
        obs: f.subarray(5, 5 + o),
        action: f.subarray(5 + o, 5 + o + a),
        reward: f[4]!,
        nextObs: f.subarray(5 + o + a, 5 + 2 * o + a),
        terminal: term,
        timeout: tout,
        episodeId: ep,
      });
      this.st.episode = term || tout ? ep + 1 : ep;
      this.st.episodeOpen = !(term || tout);
      recovered++;
    }
    if (recovered) this.log(`recovered ${recovered} journaled transitions of an earlier run`);
    if (size % rec !== 0) this.log(`dropped a torn journal record (${size % rec} bytes) of an earlier run`);
    this.cut();
    ftruncateSync(this.journal, 0);
    this.journalAt = 0;
    if (this.st.episodeOpen) {
      // the earlier run stopped inside an episode: that episode stays unfinished; this run starts the next one
      this.st.episode++;
      this.st.episodeOpen = false;
      this.writeState();
    }
  }

  /** Spool files not yet acknowledged, oldest first. */
  pending(): string[] {
    return this.files.map((f) => f.name);
  }

  /** Transitions spooled and not yet acknowledged (buffered rows included). */
  get pendingTransitions(): number {
    return this.files.reduce((s, f) => s + f.count, 0) + this.rows.size;
  }

  get nextSequence(): number {
    return this.st.nextSequence + this.rows.size;
  }

  /** Episode id of the next transition. */
  get episode(): number {
    return this.st.episode;
  }

  /** Starts publishing through `link` (and again after every reconnect); listens for the learner's acks. */
  async attach(link: MqttLink): Promise<void> {
    this.link = link;
    const fleet = this.o.fleet ?? 'default';
    const topics = robotTopics(fleet, this.o.robotId);
    link.onMessage((topic, payload) => {
      if (topic === topics.ack) this.onAck(payload);
      else if (topic.startsWith(`o2o/${fleet}/learner/`)) this.onLearnerStatus(payload);
    });
    link.client.on('connect', () => this.goBack('reconnected'));
    await link.subscribe(topics.ack, 1);
    await link.subscribe(learnerStatusFilter(fleet), 1);
    this.timer = setInterval(() => this.tick(), 100);
    this.timer.unref?.();
    this.pump();
  }

  add(obs: ArrayLike<number>, action: ArrayLike<number>, reward: number, nextObs: ArrayLike<number>, terminated: boolean, truncated: boolean): void {
    if (this.closed) throw new Error(`spool ${this.o.robotId} is closed`);
    const ep = this.st.episode;
    // validates shapes and values (NaN/Inf) before anything is written
    this.rows.add({ obs, action, reward, nextObs, terminal: terminated, timeout: truncated, episodeId: ep });
    const r = this.record;
    const dv = new DataView(r.buffer);
    const o = this.o.obsDim;
    const a = this.o.actDim;
    dv.setFloat64(0, this.st.nextSequence + this.rows.size - 1, true);
    dv.setUint32(8, ep, true);
    this.recordBytes[12] = terminated ? 1 : 0;
    this.recordBytes[13] = truncated ? 1 : 0;
    r[4] = reward;
    for (let k = 0; k < o; k++) r[5 + k] = obs[k]!;
    for (let k = 0; k < a; k++) r[5 + o + k] = action[k]!;
    for (let k = 0; k < o; k++) r[5 + o + a + k] = nextObs[k]!;
    writeSync(this.journal, this.recordBytes, 0, this.recordBytes.byteLength, this.journalAt);
    this.journalAt += this.recordBytes.byteLength;
    this.st.episode = terminated || truncated ? ep + 1 : ep;
    this.st.episodeOpen = !(terminated || truncated);
    if (terminated || truncated || this.rows.size >= (this.o.batchRows ?? 64)) this.cut();
  }

  /** Writes the buffered rows as one spool file (fsynced, renamed) and publishes it. */
  cut(): void {
    const n = this.rows.size;
    if (n === 0) return;
    const first = this.st.nextSequence;
    const bytes = encodeTransitionBatch(this.rows, 0, n, {
      robotId: this.o.robotId,
      firstSequence: first,
      policyVersion: this.o.policyVersion?.() ?? '',
      timeUnixNs: Date.now() * 1e6,
    });
    const name = `${String(first).padStart(12, '0')}-${n}.pb`;
    writeFileDurably(join(this.o.dir, name), bytes, { tmp: join(this.o.dir, `${name}.tmp`) });
    this.st.nextSequence = first + n;
    this.writeState();
    ftruncateSync(this.journal, 0);
    this.journalAt = 0;
    this.rows.clear();
    this.files.push({ name, first, count: n });
    this.pump();
  }

  /** Publishes unacknowledged files in sequence order, at most `window` awaiting an ack. */
  private pump(): void {
    const link = this.link;
    if (!link || this.closed || !link.connected || Date.now() < this.pausedUntil) return;
    const topic = robotTopics(this.o.fleet ?? 'default', this.o.robotId).transitions;
    const window = this.o.window ?? 16;
    while (this.sent < this.files.length && this.sent < window) {
      const f = this.files[this.sent]!;
      let bytes: Uint8Array;
      try {
        bytes = readFileSync(join(this.o.dir, f.name));
      } catch (e) {
        this.log(`cannot read ${f.name}: ${(e as Error).message}`);
        return;
      }
      if (this.sent === 0) this.lastProgress = Date.now();
      // everything below our oldest file was acknowledged by a learner: say so, so that a learner
      // with a new store takes this batch instead of waiting for transitions we no longer hold
      bytes = withAckedBelow(bytes, this.files[0]!.first);
      link.client.publish(topic, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { qos: 1 }, () => {});
      this.sent++;
      this.published++;
    }
  }

  /** Sends every unacknowledged file again, from the oldest. */
  private goBack(why: string): void {
    if (this.closed) return;
    if (this.sent > 0 && why !== 'timeout') this.log(`resending from seq ${this.files[0]?.first ?? this.nextSequence} (${why})`);
    this.sent = 0;
    this.lastGoBack = Date.now();
    this.pump();
  }

  private tick(): void {
    if (this.closed || !this.link?.connected) return;
    if (this.sent === 0) {
      this.pump();
      return;
    }
    if (Date.now() - this.lastProgress >= this.resendMs) {
      this.resendMs = Math.min(MAX_RESEND_MS, this.resendMs * 2);
      this.goBack('timeout');
    }
  }

  private onAck(payload: Uint8Array): void {
    let a: TransitionAck;
    try {
      a = decodeAck(payload);
    } catch (e) {
      this.log(`ignored a malformed ack (${(e as Error).message})`);
      return;
    }
    if (a.robotId !== this.o.robotId) return;
    if (a.nextSequence > this.nextSequence) {
      this.log(
        `ERROR: the learner has stored up to seq ${a.nextSequence}, more than this spool ever produced (${this.nextSequence}): the spool folder was reset; start this robot with a new --robot id`,
      );
      return;
    }
    let removed = 0;
    while (this.files.length && this.files[0]!.first + this.files[0]!.count <= a.nextSequence) {
      const f = this.files.shift()!;
      const p = join(this.o.dir, f.name);
      try {
        if (this.o.keepAcked) renameSync(p, join(this.o.dir, 'acked', f.name));
        else unlinkSync(p);
      } catch {
        /* already gone */
      }
      removed++;
      this.acked++;
      this.ackedTransitions += f.count;
    }
    this.sent = Math.max(0, this.sent - removed);
    if (removed) {
      this.pausedUntil = 0;
      this.lastProgress = Date.now();
      this.resendMs = this.o.resendAfterMs ?? 3000;
      this.lastRefusal = '';
      this.lastError = null;
    }
    if (a.result === 'AHEAD' && this.files[0]?.first === a.nextSequence && Date.now() - this.lastGoBack > 200) this.goBack(`learner expects seq ${a.nextSequence}`);
    else if (a.result === 'REJECTED' || a.result === 'STORAGE_FAILED' || a.result === 'OVER_BUDGET') {
      this.lastError = a;
      this.lastErrorAt = Date.now();
      // the learner will refuse the rest too: pause, then try again (sooner if a learner comes up)
      this.sent = 0;
      this.pausedUntil = Date.now() + this.resendMs;
      this.resendMs = Math.min(MAX_RESEND_MS, this.resendMs * 2);
      const key = `${a.result}:${a.message}`;
      if (key !== this.lastRefusal) this.log(`the learner ('${a.learnerId}') did not store seq ${a.batchFirstSequence} (${a.result}): ${a.message}; kept spooled`);
      this.lastRefusal = key;
    }
    this.pump();
  }

  private onLearnerStatus(payload: Uint8Array): void {
    try {
      if (decodeStatusMessage(payload).state !== 'RUNNING') return;
    } catch {
      return;
    }
    this.resendMs = this.o.resendAfterMs ?? 3000;
    this.lastError = null;
    this.pausedUntil = 0;
    this.goBack('a learner is running');
  }

  /**
   * Cuts the current rows and waits until the learner has acknowledged every spooled batch, the
   * timeout passes, or the learner refuses to take more now (over budget, storage failure,
   * rejected): what is left stays spooled either way.
   */
  async drain(timeoutMs = 10_000): Promise<boolean> {
    this.cut();
    const end = Date.now() + timeoutMs;
    const since = Date.now();
    while (this.files.length > 0 && Date.now() < end && !this.closed && !(this.lastError && this.lastErrorAt >= since)) {
      this.pump();
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.files.length === 0;
  }

  /** Stops publishing; buffered rows are cut to a file first (nothing is lost). */
  close(): void {
    if (this.closed) return;
    this.cut();
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    closeSync(this.journal);
    try {
      unlinkSync(join(this.o.dir, 'spool.lock'));
    } catch {
      /* already gone */
    }
  }
}
