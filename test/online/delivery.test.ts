/**
 * End-to-end delivery: robots keep every batch until the LEARNER has stored it (not the broker),
 * a late learner or an emptied broker loses nothing, a full disk is a storage failure (never
 * "malformed"), robots killed mid-episode lose nothing, and concurrent robots' episodes come
 * back whole.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeEnv } from '../../simulators/index.js';
import {
  DatasetBuilder,
  createStore,
  datasetStats,
  decodeTransitionBatch,
  encodeTransitionBatch,
  episodes,
  nextObservationsOf,
  o2oType,
  openStore,
  repairDataset,
  withAckedBelow,
} from '../../src/data/index.js';
import { OnlineLearner, type OnlineLearnerOptions } from '../../src/online/index.js';
import { train } from '../../src/train/index.js';
import { generateRecipe } from '../../src/train/datasets.js';
import { type EmbeddedBroker, MqttLink, TransitionSpool, decodeStatusMessage, learnerStatusTopic, startBroker } from '../../src/transport/index.js';
import { Rng } from '../../src/util/rng.js';

const task = { obsDim: 3, actDim: 1, maxAction: 2, maxEpisodeSteps: 200 };
const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

let pre: Awaited<ReturnType<typeof train>> | null = null;
async function pretrained() {
  pre ??= await train({
    algo: 'calql',
    dataset: await generateRecipe('pendulum-medium', 0),
    datasetId: 'pendulum-medium',
    task,
    steps: 20,
    config: { actorHidden: [16, 16], criticHidden: [16, 16], batchSize: 32, nActions: 2 },
    rewardNormalization: 'episode-return-range',
    session: { threads: 1 },
  });
  return pre;
}

async function startLearner(url: string, storeDir: string, extra: Partial<OnlineLearnerOptions> = {}): Promise<OnlineLearner> {
  const p = await pretrained();
  return OnlineLearner.start({
    url,
    learner: p.learner,
    offline: p.prepared,
    obsStats: p.obsStats,
    rewardTransform: p.rewardTransform,
    storeDir,
    envId: 'pendulum',
    utd: 0.02,
    warmup: 10_000_000,
    budget: {},
    publishEvery: 1_000_000,
    card: { name: 'x', task: 'pendulum', algorithm: 'calql' },
    ...extra,
  });
}

interface Robot {
  name: string;
  link: MqttLink;
  spool: TransitionSpool;
}

async function robot(url: string, name: string, dir = tmp(`spool-${name}-`)): Promise<Robot> {
  const link = await MqttLink.connect(url, { clientId: `robot-${name}` });
  const spool = new TransitionSpool({ dir, robotId: name, obsDim: 3, actDim: 1, batchRows: 16, resendAfterMs: 300 });
  await spool.attach(link);
  return { name, link, spool };
}

/** Steps `steps` transitions of a pendulum with random actions into the spool; 200-step episodes. */
async function drive(r: Robot, steps: number, seed: number, every?: (t: number) => Promise<void>): Promise<void> {
  const env = await makeEnv('pendulum');
  const rng = new Rng(seed);
  let obs = env.reset(seed);
  for (let t = 0; t < steps; t++) {
    const a = [rng.uniform(-2, 2)];
    const s = env.step(a);
    r.spool.add(obs, a, s.reward, s.obs, s.terminated, s.truncated);
    obs = s.terminated || s.truncated ? env.reset(seed + t) : s.obs;
    if (t % 25 === 0) await sleep(1);
    await every?.(t);
  }
  env.close();
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('end-to-end delivery', () => {
  it('keeps every batch while no learner listens, and delivers all once one starts (a late learner)', async () => {
    const broker = await startBroker({ port: 0 });
    cleanups.push(() => broker.close());
    const a = await robot(broker.url, 'early-a');
    const b = await robot(broker.url, 'early-b');
    cleanups.push(
      () => a.link.close(),
      () => b.link.close(),
    );
    await Promise.all([drive(a, 400, 1), drive(b, 400, 2)]);
    a.spool.cut();
    b.spool.cut();
    await sleep(500);
    // The broker acknowledged every publish; nobody stored anything, so nothing was deleted.
    expect(a.spool.pendingTransitions).toBe(400);
    expect(b.spool.pendingTransitions).toBe(400);
    const store = tmp('o2o-late-');
    const learner = await startLearner(broker.url, store);
    cleanups.push(() => learner.close());
    expect(await a.spool.drain(20_000)).toBe(true);
    expect(await b.spool.drain(20_000)).toBe(true);
    expect(learner.status().counters).toMatchObject({ transitions: 800, malformed: 0 });
    await learner.close();
    const r = await openStore(store).read();
    expect(r.dataset.size).toBe(800);
    expect(r.nextSequence).toMatchObject({ 'early-a': 400, 'early-b': 400 });
  }, 60_000);

  it('loses nothing when the embedded broker restarts empty in the middle of a stream', async () => {
    let broker: EmbeddedBroker = await startBroker({ port: 0 });
    const port = broker.port;
    cleanups.push(() => broker.close());
    const store = tmp('o2o-restart-');
    const learner = await startLearner(broker.url, store);
    const robots = await Promise.all(['r1', 'r2', 'r3'].map((n) => robot(broker.url, n)));
    cleanups.push(...robots.map((r) => () => r.link.close()));
    let restarted = 0;
    await Promise.all(
      robots.map((r, i) =>
        drive(r, 1000, 10 + i, async (t) => {
          if (i === 0 && (t === 300 || t === 700)) {
            await broker.close(); // aedes keeps nothing: in-flight and queued messages are gone
            await sleep(200);
            broker = await startBroker({ port });
            restarted++;
          }
        }),
      ),
    );
    for (const r of robots) expect(await r.spool.drain(30_000)).toBe(true);
    expect(restarted).toBe(2);
    await learner.close();
    const res = await openStore(store).read();
    expect(res.dataset.size).toBe(3000);
    expect(res.nextSequence).toMatchObject({ r1: 1000, r2: 1000, r3: 1000 });
    expect(res.duplicateBatches).toBe(0);
  }, 120_000);

  it('a robot whose earlier transitions a first learner stored delivers the rest to a second learner with a new store', async () => {
    const broker = await startBroker({ port: 0 });
    cleanups.push(() => broker.close());
    const first = await startLearner(broker.url, tmp('o2o-store-a-'), { budget: { transitions: 160 } });
    const r = await robot(broker.url, 'mover');
    cleanups.push(() => r.link.close());
    await drive(r, 400, 3);
    r.spool.cut();
    await Promise.race([first.done, sleep(20_000)]);
    await sleep(300);
    const acked = r.spool.ackedTransitions;
    expect(acked).toBeGreaterThanOrEqual(160);
    expect(r.spool.pendingTransitions).toBe(400 - acked);
    await first.close();
    // a new session, a new store: it has never seen 'mover', whose oldest spooled batch starts at `acked`
    const storeB = tmp('o2o-store-b-');
    const second = await startLearner(broker.url, storeB);
    cleanups.push(() => second.close());
    expect(await r.spool.drain(20_000)).toBe(true);
    await second.close();
    const res = await openStore(storeB).read();
    expect(res.dataset.size).toBe(400 - acked);
    expect(res.nextSequence).toEqual({ mover: 400 });
    // the field robots append is plain protobuf: protobufjs reads it
    const bytes = withAckedBelow(encodeTransitionBatch(res.dataset, 0, 1, { robotId: 'mover', firstSequence: acked }), acked);
    expect(Number((o2oType('TransitionBatch').decode(bytes) as unknown as { acked_below: number }).acked_below)).toBe(acked);
    expect(decodeTransitionBatch(bytes).ackedBelow).toBe(acked);
  }, 60_000);

  it("stores concurrent robots' episodes whole: manifest, read and stats agree", async () => {
    const broker = await startBroker({ port: 0 });
    cleanups.push(() => broker.close());
    const store = tmp('o2o-episodes-');
    const learner = await startLearner(broker.url, store);
    const robots = await Promise.all(['e1', 'e2', 'e3'].map((n) => robot(broker.url, n)));
    cleanups.push(...robots.map((r) => () => r.link.close()));
    // 200-step pendulum episodes, started at different moments: batches interleave in the store
    await Promise.all(robots.map((r, i) => sleep(37 * i).then(() => drive(r, 600, 20 + i))));
    for (const r of robots) expect(await r.spool.drain(20_000)).toBe(true);
    await learner.close();
    const s = openStore(store);
    const res = await s.read();
    const eps = episodes(res.dataset);
    expect(eps.map((e) => e.length)).toEqual(new Array(9).fill(200));
    expect(eps.every((e) => e.truncated)).toBe(true);
    expect(res.assembled).toBe(true);
    expect(s.manifest.counts.episodes).toBe(9);
    expect((await datasetStats(store)).episodes).toBe(9);
    // within an episode each row's next observation is the next row's observation
    const ds = res.dataset;
    let breaks = 0;
    for (const e of eps) {
      const next = nextObservationsOf(ds, e.start, e.end);
      for (let i = e.start; i < e.end - 1; i++) for (let k = 0; k < 3; k++) if (next[(i - e.start) * 3 + k] !== ds.observations[(i + 1) * 3 + k]) breaks++;
    }
    expect(breaks).toBe(0);
  }, 60_000);

  it('a robot killed mid-episode loses nothing: its journal becomes a batch, the next episode gets a new id', async () => {
    const dir = tmp('spool-killed-');
    const s1 = new TransitionSpool({ dir, robotId: 'k', obsDim: 3, actDim: 1, batchRows: 64 });
    for (let t = 0; t < 100; t++) s1.add([t, 0, 0], [0.5], -1, [t + 1, 0, 0], false, false);
    // no close(): the process "dies" with 100 - 64 = 36 rows journaled and not cut
    expect(readdirSync(dir).filter((f) => f.endsWith('.pb'))).toEqual(['000000000000-64.pb']);
    const s2 = new TransitionSpool({ dir, robotId: 'k', obsDim: 3, actDim: 1, batchRows: 64 });
    expect(s2.pending()).toEqual(['000000000000-64.pb', '000000000064-36.pb']);
    expect(s2.nextSequence).toBe(100);
    expect(s2.episode).toBe(1); // episode 0 was interrupted; it stays unfinished
    s2.add([0, 0, 0], [0], 0, [1, 0, 0], false, true);
    s2.close();
    const s3 = new TransitionSpool({ dir, robotId: 'k', obsDim: 3, actDim: 1 });
    expect(s3.episode).toBe(2);
    expect(s3.pendingTransitions).toBe(101);
    s3.close();
    // one process per spool: a spool held by another live process is refused
    writeFileSync(join(dir, 'spool.lock'), String(process.ppid));
    expect(() => new TransitionSpool({ dir, robotId: 'k', obsDim: 3, actDim: 1 })).toThrow(/process \d+ is using this spool.*its own --spool folder/);
    writeFileSync(join(dir, 'spool.lock'), '999999999'); // a dead process's lock is taken over
    new TransitionSpool({ dir, robotId: 'k', obsDim: 3, actDim: 1 }).close();
  });

  it('reads spools written before counts were in file names, and stores written before per-robot episode counts are recounted by repair', async () => {
    // an old spool: <first>.pb files and a state.json with nextSequence only
    const dir = tmp('spool-old-');
    const b = new DatasetBuilder(3, 1);
    for (let t = 0; t < 30; t++) b.add({ obs: [t, 0, 0], action: [0], reward: 1, nextObs: [t + 1, 0, 0], timeout: t === 29 });
    writeFileSync(join(dir, '000000000000.pb'), encodeTransitionBatch(b, 0, 30, { robotId: 'old', firstSequence: 0 }));
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ nextSequence: 30 }));
    const sp = new TransitionSpool({ dir, robotId: 'old', obsDim: 3, actDim: 1 });
    expect(sp.pendingTransitions).toBe(30);
    expect(sp.nextSequence).toBe(30);
    sp.close();
    // an old fleet store: two robots' batches interleaved, manifest without episodesByRobot
    const store = tmp('o2o-old-store-');
    const st = createStore(store, { obsDim: 3, actDim: 1 });
    const app = await st.openAppender({ robotId: 'learner' });
    const part = (robot: string, first: number, n: number, end: boolean) => {
      const x = new DatasetBuilder(3, 1);
      for (let t = 0; t < n; t++)
        x.add({ obs: [first + t, robot.length, 0], action: [0], reward: 1, nextObs: [first + t + 1, robot.length, 0], timeout: end && t === n - 1, episodeId: 0 });
      return encodeTransitionBatch(x, 0, n, { robotId: robot, firstSequence: first });
    };
    for (const [robot, first, end] of [
      ['a', 0, false],
      ['bb', 0, false],
      ['a', 10, true],
      ['bb', 10, true],
    ] as const)
      expect(await app.appendEncoded(part(robot, first, 10, end))).toBe(true);
    await app.close();
    const m = JSON.parse(readFileSync(join(store, 'manifest.json'), 'utf8'));
    delete m.segments[0].episodesByRobot;
    m.segments[0].episodeStarts = 4; // what the old writer counted for a, bb, a, bb
    m.counts.episodes = 4;
    writeFileSync(join(store, 'manifest.json'), JSON.stringify(m));
    expect(episodes((await openStore(store).read()).dataset).map((e) => e.length)).toEqual([20, 20]);
    const rep = await repairDataset(store);
    expect(rep.recounted).toEqual(['seg-0000.mcap']);
    expect(openStore(store).manifest.counts.episodes).toBe(2);
  });

  it.runIf(canMountTmpfs())(
    'a full disk is a storage failure: nothing acknowledged, status ERROR, robots keep their spools; a restarted learner takes everything',
    async () => {
      const broker = await startBroker({ port: 0 });
      cleanups.push(() => broker.close());
      const mnt = tmp('o2o-tmpfs-');
      expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]).status).toBe(0);
      cleanups.push(() => void spawnSync('umount', ['-l', mnt]));
      const store = join(mnt, 'store');
      const logs: string[] = [];
      const learner = await startLearner(broker.url, store, { learnerId: 'disk', log: (l) => logs.push(l) });
      const watcher = await MqttLink.connect(broker.url);
      cleanups.push(() => watcher.close());
      const states: string[] = [];
      watcher.onMessage((_t, p) => states.push(`${decodeStatusMessage(p).state}:${decodeStatusMessage(p).message}`));
      await watcher.subscribe(learnerStatusTopic('default', 'disk'), 1);
      const r = await robot(broker.url, 'full');
      cleanups.push(() => r.link.close());
      await drive(r, 300, 5);
      expect(await r.spool.drain(20_000)).toBe(true);
      // fill the disk, then send more
      mkdirSync(join(mnt, 'filler'));
      for (let i = 0; ; i++) {
        try {
          writeFileSync(join(mnt, 'filler', String(i)), Buffer.alloc(64 * 1024));
        } catch {
          break;
        }
      }
      await drive(r, 300, 6);
      r.spool.cut();
      await Promise.race([learner.done, sleep(20_000)]);
      const st = learner.status();
      expect(st.error).toMatch(/ENOSPC/);
      expect(st.counters.malformed).toBe(0);
      await until(() => states.some((s) => s.startsWith('ERROR:') && /ENOSPC/.test(s)), 5000, 'status ERROR on the learner topic');
      expect(logs.some((l) => /STORAGE FAILURE \(ENOSPC\)/.test(l))).toBe(true);
      await sleep(500);
      expect(r.spool.pendingTransitions).toBeGreaterThanOrEqual(300 - st.onlineTransitions + 300 - 16);
      expect(r.spool.lastError?.result).toBe('STORAGE_FAILED');
      await learner.close();
      // free the disk and restart: the store repairs its partial, the robot resends, nothing is lost
      rmSync(join(mnt, 'filler'), { recursive: true });
      const again = await startLearner(broker.url, store, { learnerId: 'disk' });
      cleanups.push(() => again.close());
      expect(await r.spool.drain(20_000)).toBe(true);
      await again.close();
      const res = await openStore(store).read();
      expect(res.dataset.size).toBe(600);
      expect(res.nextSequence).toMatchObject({ full: 600 });
    },
    90_000,
  );
});

function canMountTmpfs(): boolean {
  if (process.getuid?.() !== 0) {
    if (process.env.CI) throw new Error('CI runs as root: the disk-full test needs to mount a tmpfs');
    console.warn('skipped: the disk-full test mounts a small tmpfs, which needs root');
    return false;
  }
  return existsSync('/bin/mount') || existsSync('/usr/bin/mount');
}
