/**
 * The online learner service (offline-to-online fine-tuning, Cal-QL):
 *   robots ──TransitionBatch (QoS 1)──▶ ingest ──▶ online store (crash-safe) + online dataset
 *   offline ⊕ online (mixing ratio) ──▶ Cal-QL updates at `utd` updates per new transition
 *   every `publishEvery` updates: export + sign ──▶ retained PolicyUpdate ──▶ servers hot-swap
 * A budget (transitions, episodes, wall time) bounds the online experience.
 * Delivery is end to end: after a batch is written and fsynced the learner publishes a
 * TransitionAck (retained) on o2o/<fleet>/robots/<robot>/ack; robots delete spooled batches only
 * then, and resend the rest (after a timeout, on reconnect, and when this learner announces
 * itself RUNNING on o2o/<fleet>/learner/<id>/status). Nothing depends on the broker keeping
 * messages. A storage failure (ENOSPC, EIO) stops ingesting: nothing more is acknowledged, the
 * status goes to ERROR with the reason, and `done` resolves with `status().error` set (the CLI
 * exits 75); the robots keep their spools until a learner can store again. Checkpoints make
 * training resume after a restart.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import mqtt from 'mqtt';
import type { IClientPublishOptions, MqttClient } from 'mqtt';
import { type Learner, NO_MC_BOUND } from '../algos/index.js';
import {
  type Batch,
  batchesLike,
  type Dataset,
  DatasetBuilder,
  MixSampler,
  type ObsStats,
  type RewardTransform,
  createStore,
  openStore,
  type SegmentAppender,
} from '../data/index.js';
import { encodePolicyUpdate, exportPolicy, type CardInput } from '../serve/index.js';
import { type AckResult, fleetTransitionsFilter, policyTopic, redactUrl, robotOf } from '../transport/index.js';
import { newestCheckpoint, readCheckpoint, writeCheckpoint } from '../train/checkpoint.js';
import { ACK_FOR, LearnerDelivery } from './delivery.js';
import { type IngestCounters, type IngestResult, StorageError, TransitionIngest } from './ingest.js';

/** Limits of the online phase. Checked per message: the last admitted batch may overshoot the
 * transition budget by less than one batch. */
export interface OnlineBudget {
  transitions?: number;
  episodes?: number;
  wallSeconds?: number;
}

export interface OnlineLearnerOptions {
  url: string;
  fleet?: string;
  clientId?: string;
  /** Name on the status topic and in acks (default 'learner'). */
  learnerId?: string;
  username?: string;
  password?: string;
  /** Pretrained learner (Cal-QL, or CQL/IQL/TD3+BC for comparison). */
  learner: Learner;
  /** Offline data as the learner sees it: normalized, reward-scaled, with 'mc_return'. */
  offline: Dataset;
  obsStats: ObsStats | null;
  rewardTransform: RewardTransform | null;
  /** Online experience is appended here (created when missing). */
  storeDir: string;
  envId: string;
  mixRatio?: number;
  /** Gradient updates per new online transition. */
  utd?: number;
  /** Online transitions needed before fine-tuning starts. */
  warmup?: number;
  budget: OnlineBudget;
  publishEvery: number;
  card: Omit<CardInput, 'version'>;
  signingKey?: string;
  checkpointDir?: string;
  seed?: number;
  log?: (line: string) => void;
  /** Called after each publish, e.g. to evaluate the new policy. */
  onPublish?: (version: string, updates: number, onlineTransitions: number) => void | Promise<void>;
}

export interface OnlineLearnerStatus {
  counters: IngestCounters;
  updates: number;
  onlineTransitions: number;
  episodes: number;
  published: string[];
  done: boolean;
  /** Why the learner stopped ingesting (a storage failure), if it did. */
  error?: string;
  /** errno code of a storage failure (ENOSPC, EIO, ...), or 'ETRAIN' when training itself failed. */
  errorCode?: string;
}

export class OnlineLearner {
  private client!: MqttClient;
  private appender!: SegmentAppender;
  private ingest!: TransitionIngest;
  private online!: DatasetBuilder;
  private sampler!: MixSampler;
  private batches!: Batch[];
  private updates = 0;
  private episodes = 0;
  private readonly published: string[] = [];
  private readonly started = Date.now();
  private stopped = false;
  private training: Promise<void> | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private finished!: () => void;
  private withMc = false;
  private failure: StorageError | null = null;
  private readonly delivery: LearnerDelivery;
  private closing: Promise<void> | null = null;
  readonly done: Promise<void>;

  private constructor(private readonly o: OnlineLearnerOptions) {
    this.done = new Promise((r) => (this.finished = r));
    this.delivery = new LearnerDelivery(o.fleet ?? 'default', o.learnerId ?? 'learner');
  }

  static async start(o: OnlineLearnerOptions): Promise<OnlineLearner> {
    const l = new OnlineLearner(o);
    await l.open();
    return l;
  }

  private log(line: string): void {
    this.o.log?.(line);
  }

  private async open(): Promise<void> {
    const o = this.o;
    const { obsDim, actDim } = o.offline;
    const store = existsSync(join(o.storeDir, 'manifest.json'))
      ? openStore(o.storeDir)
      : await createStore(o.storeDir, { obsDim, actDim, envId: o.envId, behaviorPolicy: 'online fine-tuning' });
    // Resume: everything already stored is online experience (normalized again below).
    const prior = await store.read({ includePartials: true });
    if (prior.partials.length) await store.repair();
    // Cal-QL batches carry mc_return (online rows: NO_MC_BOUND); other learners need none.
    this.withMc = 'mc_return' in o.offline.info;
    this.online = new DatasetBuilder(obsDim, actDim, { capacity: 4096, infoDims: this.withMc ? { mc_return: 1 } : {} });
    this.online.append(prior.dataset);
    this.prepareRows(0, this.online.size);
    this.episodes = prior.dataset.size ? countEpisodeEnds(prior.dataset) : 0;
    this.appender = await store.openAppender({ robotId: 'learner' });
    this.ingest = new TransitionIngest({
      appender: this.appender,
      online: this.online,
      obsDim,
      actDim,
      nextSequence: prior.nextSequence,
      nextEpisodeId: prior.nextEpisodeId,
      onRows: (s, e) => this.prepareRows(s, e),
      admit: () => !this.budgetSpent(),
      log: (l) => this.log(l),
    });
    this.sampler = new MixSampler(o.offline, this.online, {
      batchSize: o.learner.batchSize,
      seed: (o.seed ?? 0) + 101,
      offlineRatio: o.mixRatio ?? 0.5,
      info: this.withMc ? ['mc_return'] : [],
    });
    this.batches = o.learner.updatesPerRun === 1 ? [this.sampler.batch] : batchesLike(this.sampler.batch, o.learner.updatesPerRun);
    o.learner.startOnline?.();
    if (o.checkpointDir) {
      mkdirSync(o.checkpointDir, { recursive: true });
      const last = newestCheckpoint(o.checkpointDir, 'online');
      if (last) {
        const c = readCheckpoint(last);
        o.learner.restore(c.learner);
        this.sampler.setRngState(c.samplerRng);
        this.updates = Number(c.meta.updates ?? 0);
        this.log(`resumed from ${basename(last)}: ${this.updates} updates, ${this.online.size} online transitions on disk`);
      }
    }
    await this.connect();
  }

  /** Normalizes new online rows the way the offline data was, and marks them as having no MC bound. */
  private prepareRows(start: number, end: number): void {
    const { obsStats, rewardTransform } = this.o;
    const d = this.online.obsDim;
    if (obsStats) {
      const { mean, std } = obsStats;
      // observations and the stored next observations of the new rows (implicit ones follow)
      this.online.mapObservations(start, end, (v, p) => {
        for (let k = 0; k < d; k++) v[p + k] = (v[p + k]! - mean[k]!) / std[k]!;
      });
    }
    const rew = this.online.rewards;
    for (let i = start; i < end; i++) {
      if (rewardTransform) rew[i] = rew[i]! * rewardTransform.scale + rewardTransform.bias;
      if (this.online.terminals[i] || this.online.timeouts[i]) this.episodes++;
    }
    if (this.withMc) this.online.info.mc_return!.data.fill(NO_MC_BOUND, start, end);
  }

  private async connect(): Promise<void> {
    const o = this.o;
    const fleet = o.fleet ?? 'default';
    this.client = mqtt.connect(o.url, {
      clientId: o.clientId ?? `o2o-learner-${fleet}`,
      clean: false, // persistent session: QoS 1 messages wait for us while we are away (a bonus: robots resend anyway)
      protocolVersion: 4,
      reconnectPeriod: 500,
      username: o.username,
      password: o.password,
      will: this.delivery.will(),
    });
    // Messages are handled one at a time, in order: store + fsync, then the robot's ack, then the
    // broker's PUBACK (mqtt.js reads the next packet only when the callback runs).
    this.client.handleMessage = (packet, callback) => {
      if (packet.cmd !== 'publish') return callback();
      const topic = String(packet.topic);
      const payload = packet.payload as Buffer;
      this.queue = this.queue
        .then(() => this.receive(topic, payload))
        .catch((e) => this.log(`online learner: ingest failed on ${topic}: ${(e as Error).message}`))
        .then(() => {
          callback();
          this.kick();
        });
    };
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`online learner: cannot connect to ${redactUrl(o.url)}; check that the broker runs`)), 10_000);
      this.client.once('connect', () => {
        clearTimeout(t);
        resolve();
      });
    });
    // one line per outage, not one per reconnect attempt
    let outage = '';
    this.client.on('error', (e) => {
      if (e.message !== outage) this.log(`online learner: MQTT error: ${e.message} (reconnecting every 0.5 s)`);
      outage = e.message;
    });
    this.client.on('connect', () => {
      if (outage) this.log(`online learner: reconnected to ${redactUrl(o.url)}`);
      outage = '';
    });
    await this.client.subscribeAsync(fleetTransitionsFilter(fleet), { qos: 1 });
    // announce ourselves (again after every reconnect): robots resend what is not acknowledged
    this.client.on('connect', () => this.announce());
    this.announce();
    this.log(`online learner: subscribed to ${fleetTransitionsFilter(fleet)}`);
    this.kick();
  }

  private announce(): void {
    const state = this.failure ? 'ERROR' : this.stopped ? 'IDLE' : 'RUNNING';
    const message = this.failure ? this.failure.message : `${this.online.size} online transitions stored`;
    this.delivery.status(this.client, state, message).catch(() => {}); // a broker that is gone gets it after the reconnect
  }

  /** One transition batch: store it (or not) and tell its robot what is durably stored. */
  private async receive(topic: string, payload: Uint8Array): Promise<void> {
    let r: IngestResult;
    if (this.failure) {
      const robot = robotOf(topic);
      r = { outcome: 'malformed', robot, firstSequence: 0, message: this.failure.message };
      if (robot) this.ack(robot, 'STORAGE_FAILED', r);
      return;
    }
    try {
      r = await this.ingest.handle(topic, payload);
    } catch (e) {
      if (!(e instanceof StorageError)) throw e;
      await this.storageFailed(e, topic);
      return;
    }
    const result = ACK_FOR[r.outcome];
    if (r.robot && result) this.ack(r.robot, result, r);
  }

  private ack(robot: string, result: AckResult, r: IngestResult): void {
    this.delivery.ack(this.client, robot, result, this.ingest.nextSequenceOf(robot), r);
  }

  private async storageFailed(e: StorageError, topic: string): Promise<void> {
    this.failure = e;
    const robot = robotOf(topic);
    this.log(
      `online learner: STORAGE FAILURE (${e.code}): ${e.message}. Nothing more is acknowledged; the robots keep their spools. Free space or fix the disk, then restart the learner (it resumes from the store and its checkpoints).`,
    );
    if (robot) this.ack(robot, 'STORAGE_FAILED', { outcome: 'malformed', robot, firstSequence: 0, message: e.message });
    this.announce();
    await this.appender.abort().catch(() => {}); // the partial keeps every complete chunk; repair finalizes it on the next start
    this.stopped = true;
    this.finished();
  }

  budgetSpent(): boolean {
    const b = this.o.budget;
    return (
      (b.transitions !== undefined && this.online.size >= b.transitions) ||
      (b.episodes !== undefined && this.episodes >= b.episodes) ||
      (b.wallSeconds !== undefined && (Date.now() - this.started) / 1000 >= b.wallSeconds)
    );
  }

  /** Starts the training loop if there is work and it is not running. */
  private kick(): void {
    if (this.training || this.stopped) return;
    this.training = this.trainLoop()
      .catch(async (e: NodeJS.ErrnoException) => {
        // a checkpoint or export that cannot be written (ENOSPC, EIO) is a storage failure too
        if (typeof e.code === 'string') await this.storageFailed(new StorageError(`cannot write a checkpoint or policy: ${e.message}`, e.code), '');
        else {
          this.log(`online learner: training failed: ${e.stack ?? e.message}`);
          this.failure = new StorageError(`training failed: ${e.message}`, 'ETRAIN');
          this.announce();
          this.stopped = true;
          this.finished();
        }
      })
      .finally(() => {
        this.training = null;
      });
  }

  private async trainLoop(): Promise<void> {
    const o = this.o;
    const utd = o.utd ?? 1;
    // A learner chaining K updates per run trains in whole runs of K (once K are due, from a
    // multiple of K); single updates bring it to a multiple of K, and do what is due short of K
    // once the budget is spent (so the updates match the budget exactly).
    const K = o.learner.updatesPerRun;
    for (;;) {
      if (this.stopped) return; // close(): stop at the next run boundary
      const target = Math.floor(this.online.size * utd);
      const ready = this.online.size >= (o.warmup ?? o.learner.batchSize);
      const due = target - this.updates;
      const aligned = o.learner.steps % K === 0;
      const chained = K > 1 && aligned && due >= K;
      if (!ready || (!chained && !(due >= 1 && (K === 1 || !aligned || this.budgetSpent())))) break;
      let r;
      if (chained) {
        for (const b of this.batches) this.sampler.sample(b);
        r = o.learner.updateMany(this.batches).at(-1)!;
      } else r = o.learner.update(this.sampler.sample(this.batches[0]!));
      if (r.diverged) {
        this.log(`online learner: update diverged (${JSON.stringify(r.metrics)}); stopping with the last good policy`);
        await this.finish();
        return;
      }
      const before = this.updates;
      this.updates += chained ? K : 1;
      if (Math.floor(this.updates / o.publishEvery) > Math.floor(before / o.publishEvery)) await this.publish();
      if (Math.floor(this.updates / 4) > Math.floor(before / 4)) await new Promise((r) => setImmediate(r)); // let MQTT and the robots in
    }
    if (this.budgetSpent()) await this.finish();
  }

  /** Exports, signs and publishes the current policy as the retained PolicyUpdate. */
  async publish(): Promise<string> {
    const o = this.o;
    const version = `online-${this.updates}`;
    const res = exportPolicy({
      policy: o.learner.policy(),
      card: { ...o.card, version, trainingSteps: o.learner.steps },
      obsMean: o.obsStats?.mean,
      obsStd: o.obsStats?.std,
      signingKey: o.signingKey,
    });
    const msg = encodePolicyUpdate({ version, bytes: res.bytes, sha256: res.sha256, signature: res.signature, cardJson: JSON.stringify(res.card) });
    this.checkpoint(); // before the publish: a crash while waiting for the broker keeps this state
    await this.client.publishAsync(policyTopic(o.fleet ?? 'default'), Buffer.from(msg), { qos: 1, retain: true } as IClientPublishOptions);
    this.published.push(version);
    this.log(`online learner: published ${version} after ${this.online.size} online transitions`);
    await o.onPublish?.(version, this.updates, this.online.size);
    return version;
  }

  private checkpoint(): void {
    if (!this.o.checkpointDir) return;
    writeCheckpoint(join(this.o.checkpointDir, `online-${this.updates}.o2o`), {
      learner: this.o.learner.checkpoint(),
      samplerRng: this.sampler.rngState(),
      meta: { updates: this.updates, online: this.online.size },
    });
  }

  private async finish(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.announce();
    if (this.published.at(-1) !== `online-${this.updates}`) await this.publish();
    this.finished();
  }

  status(): OnlineLearnerStatus {
    return {
      counters: { ...this.ingest.counters },
      updates: this.updates,
      onlineTransitions: this.online.size,
      episodes: this.episodes,
      published: [...this.published],
      done: this.stopped,
      ...(this.failure ? { error: this.failure.message, errorCode: this.failure.code } : {}),
    };
  }

  /** Stops training, finalizes the online segment and disconnects. */
  async close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.stopped = true;
    // Training stops at its next run boundary; a policy publish waiting for a broker that is gone
    // would hold it forever (the checkpoint is already written): do not wait for that.
    const training = this.training;
    if (training) await Promise.race([training, new Promise((r) => setTimeout(r, 800).unref())]);
    await this.queue;
    if (this.client.connected) {
      await this.delivery.status(this.client, this.failure ? 'ERROR' : 'OFFLINE', this.failure?.message ?? 'stopped').catch(() => {});
    }
    await this.client.endAsync(!this.client.connected); // force when the broker is gone: nothing is in flight to keep
    if (!this.failure) await this.appender.close();
  }
}

function countEpisodeEnds(ds: Dataset): number {
  let n = 0;
  for (let i = 0; i < ds.size; i++) if (ds.terminals[i] || ds.timeouts[i]) n++;
  return n;
}
