/**
 * The online learner service (offline-to-online fine-tuning, Cal-QL):
 *   robots ──TransitionBatch (QoS 1)──▶ ingest ──▶ online store (crash-safe) + online dataset
 *   offline ⊕ online (mixing ratio) ──▶ Cal-QL updates at `utd` updates per new transition
 *   every `publishEvery` updates: export + sign ──▶ retained PolicyUpdate ──▶ servers hot-swap
 * A budget (transitions, episodes, wall time) bounds the online experience. MQTT acks are sent
 * only after a message is stored, with a persistent session, so a learner killed mid-run gets the
 * unacknowledged messages again and loses nothing; checkpoints make its training resume.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { IClientPublishOptions, MqttClient } from 'mqtt';
import { type Learner, NO_MC_BOUND } from '../algos/index.js';
import { type Batch, batchesLike, type Dataset, DatasetBuilder, MixSampler, type ObsStats, type RewardTransform, createStore, openStore, type SegmentAppender } from '../data/index.js';
import { encodePolicyUpdate, exportPolicy, type CardInput } from '../serve/index.js';
import { policyTopic } from '../transport/index.js';
import { readCheckpoint, writeCheckpoint } from '../train/checkpoint.js';
import { type IngestCounters, TransitionIngest } from './ingest.js';

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
  readonly done: Promise<void>;

  private constructor(private readonly o: OnlineLearnerOptions) {
    this.done = new Promise((r) => (this.finished = r));
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
    const store = existsSync(join(o.storeDir, 'manifest.json')) ? openStore(o.storeDir) : await createStore(o.storeDir, { obsDim, actDim, envId: o.envId, behaviorPolicy: 'online fine-tuning' });
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
      onRows: (s, e) => this.prepareRows(s, e),
      admit: () => !this.budgetSpent(),
      log: (l) => this.log(l),
    });
    this.sampler = new MixSampler(o.offline, this.online, { batchSize: o.learner.batchSize, seed: (o.seed ?? 0) + 101, offlineRatio: o.mixRatio ?? 0.5, info: this.withMc ? ['mc_return'] : [] });
    this.batches = o.learner.updatesPerRun === 1 ? [this.sampler.batch] : batchesLike(this.sampler.batch, o.learner.updatesPerRun);
    o.learner.startOnline?.();
    if (o.checkpointDir) {
      mkdirSync(o.checkpointDir, { recursive: true });
      const last = readdirSync(o.checkpointDir).filter((f) => /^online-\d+\.o2o$/.test(f)).sort((a, b) => Number(a.slice(7, -4)) - Number(b.slice(7, -4))).at(-1);
      if (last) {
        const c = readCheckpoint(join(o.checkpointDir, last));
        o.learner.restore(c.learner);
        this.sampler.setRngState(c.samplerRng);
        this.updates = Number(c.meta.updates ?? 0);
        this.log(`resumed from ${last}: ${this.updates} updates, ${this.online.size} online transitions on disk`);
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
      clean: false, // persistent session: QoS 1 messages wait for us while we are away
      protocolVersion: 4,
      reconnectPeriod: 500,
      username: o.username,
      password: o.password,
    });
    // Acknowledge a transition batch only once it is stored: mqtt.js sends the PUBACK when
    // handleMessage calls back, and reads the next packet only then (works on MQTT 3.1.1 and 5).
    this.client.handleMessage = (packet, callback) => {
      if (packet.cmd !== 'publish') return callback();
      const topic = String(packet.topic);
      const payload = packet.payload as Buffer;
      this.queue = this.queue
        .then(() => this.ingest.handle(topic, payload))
        .catch((e) => this.log(`online learner: ingest failed on ${topic}: ${(e as Error).message}`))
        .then(() => {
          callback();
          this.kick();
        });
    };
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`online learner: cannot connect to ${o.url}; check that the broker runs`)), 10_000);
      this.client.once('connect', () => {
        clearTimeout(t);
        resolve();
      });
    });
    this.client.on('error', (e) => this.log(`online learner: MQTT error: ${e.message}`));
    await this.client.subscribeAsync(`o2o/${fleet}/robots/+/transitions`, { qos: 1 });
    this.log(`online learner: subscribed to o2o/${fleet}/robots/+/transitions`);
    this.kick();
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
    this.training = this.trainLoop().finally(() => {
      this.training = null;
    });
  }

  private async trainLoop(): Promise<void> {
    const o = this.o;
    const utd = o.utd ?? 1;
    // A learner chaining K updates per run trains in whole runs of K (once K are due).
    const K = o.learner.updatesPerRun;
    for (;;) {
      const target = Math.floor(this.online.size * utd);
      const ready = this.online.size >= (o.warmup ?? o.learner.batchSize);
      if (!ready || this.updates + K > target) break;
      for (const b of this.batches) this.sampler.sample(b);
      const r = (K === 1 ? [o.learner.update(this.batches[0]!)] : o.learner.updateMany(this.batches)).at(-1)!;
      if (r.diverged) {
        this.log(`online learner: update diverged (${JSON.stringify(r.metrics)}); stopping with the last good policy`);
        await this.finish();
        return;
      }
      const before = this.updates;
      this.updates += K;
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
      actor: o.learner.actor(),
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
    writeCheckpoint(join(this.o.checkpointDir, `online-${this.updates}.o2o`), { learner: this.o.learner.checkpoint(), samplerRng: this.sampler.rngState(), meta: { updates: this.updates, online: this.online.size } });
  }

  private async finish(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.published.at(-1) !== `online-${this.updates}`) await this.publish();
    this.finished();
  }

  status(): OnlineLearnerStatus {
    return { counters: { ...this.ingest.counters }, updates: this.updates, onlineTransitions: this.online.size, episodes: this.episodes, published: [...this.published], done: this.stopped };
  }

  /** Stops training, finalizes the online segment and disconnects. */
  async close(): Promise<void> {
    this.stopped = true;
    await this.training;
    await this.queue;
    await this.client.endAsync();
    await this.appender.close();
  }
}

function countEpisodeEnds(ds: Dataset): number {
  let n = 0;
  for (let i = 0; i < ds.size; i++) if (ds.terminals[i] || ds.timeouts[i]) n++;
  return n;
}
