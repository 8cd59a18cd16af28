/**
 * Recorder: (obs, action, reward, done) from a serving loop into a dataset segment for the online
 * loop. Each step is joined with the next observation into a transition; rows are buffered and
 * appended to one MCAP segment every `flushRows`; close() finalizes the segment (a crash leaves
 * a `.partial` that the store recovers). Recording never stops serving: an error is reported
 * once and recording turns itself off.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createStore, DatasetBuilder, openStore, type SegmentAppender } from '../data/index.js';

export interface RecorderOptions {
  dir: string;
  obsDim: number;
  actDim: number;
  robotId?: string;
  policyVersion?: string;
  envId?: string;
  /** Rows buffered before an append (default 1000). */
  flushRows?: number;
  onError?: (message: string) => void;
}

export class Recorder {
  private builder: DatasetBuilder;
  private flushed = 0;
  private readonly prevObs: Float32Array;
  private readonly prevAct: Float32Array;
  private havePrev = false;
  private failed = false;
  private pending: Promise<void> = Promise.resolve();
  rows = 0;

  private constructor(
    private readonly appender: SegmentAppender,
    private readonly o: RecorderOptions,
  ) {
    this.builder = new DatasetBuilder(o.obsDim, o.actDim, { capacity: (o.flushRows ?? 1000) + 1 });
    this.builder.nextEpisodeId = appender.nextEpisodeId;
    this.prevObs = new Float32Array(o.obsDim);
    this.prevAct = new Float32Array(o.actDim);
  }

  static async open(o: RecorderOptions): Promise<Recorder> {
    const store = existsSync(join(o.dir, 'manifest.json'))
      ? openStore(o.dir)
      : createStore(o.dir, { obsDim: o.obsDim, actDim: o.actDim, envId: o.envId, behaviorPolicy: o.policyVersion });
    if (store.manifest.obsDim !== o.obsDim || store.manifest.actDim !== o.actDim) {
      throw new Error(`${o.dir}: dataset has obs ${store.manifest.obsDim} / act ${store.manifest.actDim}, the policy ${o.obsDim} / ${o.actDim}; record into a new folder`);
    }
    const appender = await store.openAppender({ robotId: o.robotId ?? 'ros', policyVersion: o.policyVersion, batchRows: o.flushRows ?? 1000 });
    return new Recorder(appender, o);
  }

  /**
   * One control step: the observation acted on, the action sent, and the reward / end flags that
   * the environment reported for the previous step (they close the previous transition).
   */
  step(obs: ArrayLike<number>, action: ArrayLike<number>, reward: number, terminal: boolean, timeout: boolean): void {
    if (this.failed) return;
    if (this.havePrev) {
      this.builder.add({ obs: this.prevObs, action: this.prevAct, reward, nextObs: obs, terminal, timeout });
      this.rows++;
      if (this.builder.size - this.flushed >= (this.o.flushRows ?? 1000)) this.flush();
    }
    if (terminal || timeout) {
      this.havePrev = false; // the next observation starts a new episode
      return;
    }
    for (let i = 0; i < this.o.obsDim; i++) this.prevObs[i] = obs[i]!;
    for (let i = 0; i < this.o.actDim; i++) this.prevAct[i] = action[i]!;
    this.havePrev = true;
  }

  private flush(): void {
    const b = this.builder;
    const from = this.flushed;
    const to = b.size;
    if (to <= from) return;
    // A fresh builder per flush keeps memory bounded; the pending append still holds the old one.
    this.builder = new DatasetBuilder(this.o.obsDim, this.o.actDim, { capacity: (this.o.flushRows ?? 1000) + 1 });
    this.builder.nextEpisodeId = b.nextEpisodeId;
    this.flushed = 0;
    this.pending = this.pending
      .then(() => this.appender.append(b, from, to))
      .catch((e: Error) => {
        if (!this.failed) this.o.onError?.(`recording stopped: ${e.message}`);
        this.failed = true;
      });
  }

  /** Appends what is buffered and finalizes the segment. */
  async close(): Promise<void> {
    this.flush();
    await this.pending;
    await this.appender.close();
  }
}
