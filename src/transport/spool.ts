/**
 * Robot side of the online loop: transitions are spooled on disk and published as TransitionBatch
 * messages (QoS 1) to o2o/<fleet>/robots/<robot>/transitions. A spool file is deleted only after
 * the broker acknowledged it (PUBACK), so a broker outage or a robot restart loses nothing; the
 * learner dedupes on (robot_id, sequence), so a resend after a lost PUBACK is harmless.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatasetBuilder, encodeTransitionBatch } from '../data/index.js';
import type { MqttLink } from './client.js';
import { robotTopics } from './topics.js';

export interface SpoolOptions {
  dir: string;
  robotId: string;
  fleet?: string;
  obsDim: number;
  actDim: number;
  /** Transitions per message (an episode end also closes a batch). */
  batchRows?: number;
  policyVersion?: () => string;
}

const FILE = /^(\d{12})\.pb$/;

export class TransitionSpool {
  private readonly rows: DatasetBuilder;
  private nextSeq: number;
  private episode = 0;
  private link: MqttLink | null = null;
  private pumping = false;
  private closed = false;
  /** Messages acknowledged by the broker since start. */
  acked = 0;

  constructor(private readonly o: SpoolOptions) {
    mkdirSync(o.dir, { recursive: true });
    this.rows = new DatasetBuilder(o.obsDim, o.actDim, { capacity: o.batchRows ?? 64 });
    const state = join(o.dir, 'state.json');
    let seq = existsSync(state) ? Number(JSON.parse(readFileSync(state, 'utf8')).nextSequence ?? 0) : 0;
    for (const f of this.pending()) {
      const first = Number(FILE.exec(f)![1]);
      seq = Math.max(seq, first + 1);
    }
    this.nextSeq = seq;
  }

  /** Spool files not yet acknowledged, oldest first. */
  pending(): string[] {
    return readdirSync(this.o.dir).filter((f) => FILE.test(f)).sort();
  }

  get nextSequence(): number {
    return this.nextSeq + this.rows.size;
  }

  /** Starts publishing through `link` (and again after every reconnect). */
  attach(link: MqttLink): void {
    this.link = link;
    link.client.on('connect', () => void this.pump());
    void this.pump();
  }

  add(obs: ArrayLike<number>, action: ArrayLike<number>, reward: number, nextObs: ArrayLike<number>, terminated: boolean, truncated: boolean): void {
    this.rows.add({ obs, action, reward, nextObs, terminal: terminated, timeout: truncated, episodeId: this.episode });
    if (terminated || truncated) this.episode++;
    if (terminated || truncated || this.rows.size >= (this.o.batchRows ?? 64)) this.cut();
  }

  /** Writes the buffered rows as one spool file (atomically) and publishes it. */
  cut(): void {
    const n = this.rows.size;
    if (n === 0) return;
    const bytes = encodeTransitionBatch(this.rows, 0, n, { robotId: this.o.robotId, firstSequence: this.nextSeq, policyVersion: this.o.policyVersion?.() ?? '', timeUnixNs: Date.now() * 1e6 });
    const name = `${String(this.nextSeq).padStart(12, '0')}.pb`;
    const tmp = join(this.o.dir, `${name}.tmp`);
    writeFileSync(tmp, bytes);
    renameSync(tmp, join(this.o.dir, name));
    this.nextSeq += n;
    writeFileSync(join(this.o.dir, 'state.json'), JSON.stringify({ nextSequence: this.nextSeq }));
    this.rows.clear();
    void this.pump();
  }

  /**
   * Publishes spool files strictly in sequence order, one at a time: the next file goes out only
   * after the previous PUBACK, so a failure can never let a later batch overtake an earlier one
   * (the learner treats a sequence below its high-water mark as a duplicate).
   */
  private async pump(): Promise<void> {
    if (this.pumping || !this.link || this.closed) return;
    this.pumping = true;
    try {
      const topic = robotTopics(this.o.fleet ?? 'default', this.o.robotId).transitions;
      for (;;) {
        const f = this.pending()[0];
        if (!f || !this.link.connected || this.closed) break;
        const bytes = readFileSync(join(this.o.dir, f));
        try {
          await this.link.client.publishAsync(topic, bytes, { qos: 1 });
        } catch {
          break; // stays spooled; the 'connect' handler pumps again after reconnect
        }
        unlinkSync(join(this.o.dir, f));
        this.acked++;
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Cuts the current rows and waits until every spooled message is acknowledged (or timeout). */
  async drain(timeoutMs = 10_000): Promise<boolean> {
    this.cut();
    const end = Date.now() + timeoutMs;
    while (this.pending().length > 0 && Date.now() < end) {
      await this.pump();
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.pending().length === 0;
  }

  close(): void {
    this.closed = true;
  }
}
