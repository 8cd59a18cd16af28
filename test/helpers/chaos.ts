/**
 * The fleet fault-injection harness (issue 15): N robots, a policy server and the online learner
 * run as `o2o` CLI processes — as a user starts them — against a real broker (mosquitto, or the
 * embedded aedes as `o2o broker`), all through a TCP proxy that can cut every connection. At
 * seeded random moments it SIGKILLs and restarts the broker, the learner and robots, cuts the
 * network, and fills the learner's disk (a small tmpfs; the learner exits 75, the harness frees
 * the space and starts it again). Then it stops the robots, lets them send what is left
 * (`o2o robot sim --episodes 0` with the same --spool), stops the learner and compares, batch by
 * batch, what every robot produced (its spool's audit trail, --keep-acked) with what the store
 * holds, and every episode a robot logged with the episodes the store gives back.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { join } from 'node:path';
import { DatasetBuilder, type DecodedBatch, appendDecoded, datasetStats, decodeTransitionBatch, episodes, openStore } from '../../src/data/index.js';
import { MqttLink, decodeAck } from '../../src/transport/index.js';
import { Rng } from '../../src/util/rng.js';
import { type Broker, startBrokerProcess } from './broker.js';
import { freePort, listening } from './net.js';

export type FaultKind = 'broker' | 'learner' | 'robot' | 'cut' | 'disk';

export interface ChaosOptions {
  workDir: string;
  robots: number;
  broker: 'mosquitto' | 'embedded';
  /** How long robots run while faults are injected. */
  runMs: number;
  /** Pause between faults, drawn uniformly. */
  faultGapMs: [number, number];
  faults: FaultKind[];
  seed: number;
  rateHz?: number;
  /** Learner store on a tmpfs of this size (MiB) when 'disk' faults are wanted (needs root). */
  tmpfsMiB?: number;
  log?: (line: string) => void;
}

export interface ChaosReport {
  robots: number;
  produced: number;
  stored: number;
  lost: number;
  duplicated: number;
  /** Stored batches whose bytes differ from what the robot sent. */
  corrupted: number;
  episodesProduced: number;
  episodesStored: number;
  manifestEpisodes: number;
  statsEpisodes: number;
  /** Episode lengths and returns the robots logged that the store does not give back. */
  episodeMismatches: string[];
  /** Rows whose stored next observation is not the next row's observation inside an episode. */
  brokenChains: number;
  faults: Record<FaultKind, number>;
  /** Per fault: ms from the fault until every running robot had a new STORED ack. */
  recoveryMs: Record<FaultKind, number[]>;
  wallMs: number;
}

const ROOT = join(import.meta.dirname, '..', '..');
const O2O = join(ROOT, 'bin', 'o2o.mjs');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Proc {
  name: string;
  args: string[];
  p: ChildProcess;
  exited: Promise<number | null>;
  out: string;
}

/** Forwards connections to the broker; cut() drops every one of them (clients reconnect). */
class TcpProxy {
  private server!: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;
  constructor(private readonly upstream: () => number) {}
  async start(): Promise<void> {
    this.port = await freePort();
    this.server = createServer((down) => {
      const up = connect(this.upstream(), '127.0.0.1');
      this.sockets.add(down).add(up);
      const drop = () => {
        down.destroy();
        up.destroy();
        this.sockets.delete(down);
        this.sockets.delete(up);
      };
      down.on('error', drop).on('close', drop);
      up.on('error', drop).on('close', drop);
      down.pipe(up);
      up.pipe(down);
    });
    await new Promise<void>((r) => this.server.listen(this.port, '127.0.0.1', () => r()));
  }
  cut(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }
  async close(): Promise<void> {
    this.cut();
    await new Promise((r) => this.server.close(r));
  }
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const t0 = Date.now();
  const log = (l: string) => {
    appendFileSync(join(o.workDir, 'harness.log'), `${new Date().toISOString()} ${l}\n`);
    o.log?.(l);
  };
  const rng = new Rng(o.seed);
  const W = o.workDir;
  mkdirSync(W, { recursive: true });
  const procs: Proc[] = [];
  const start = (name: string, args: string[]): Proc => {
    const p = spawn(process.execPath, [O2O, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const pr: Proc = { name, args, p, out: '', exited: new Promise((r) => p.once('exit', (c, s) => r(c ?? (s ? 128 : null)))) };
    const file = join(W, `${name}.log`);
    const take = (d: Buffer) => {
      pr.out += d.toString();
      appendFileSync(file, d);
    };
    p.stdout!.on('data', take);
    p.stderr!.on('data', take);
    procs.push(pr);
    return pr;
  };
  const run = async (args: string[]): Promise<void> => {
    const r = spawnSync(process.execPath, [O2O, ...args], { cwd: ROOT, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`o2o ${args.join(' ')} failed: ${r.stdout}${r.stderr}`);
  };

  // --- set-up: dataset, keys, broker, proxy, store on a small tmpfs for disk faults ---------
  const data = join(W, 'data');
  if (!existsSync(join(data, 'manifest.json'))) await run(['dataset', 'generate', 'pendulum-medium', '--dir', data]);
  await run(['keygen', '--dir', join(W, 'keys')]);
  await run(['export', '--from', join(ROOT, 'policies', 'pendulum-bc.onnx'), '--out', join(W, 'policy.onnx'), '--sign', join(W, 'keys', 'o2o-signing.key')]);
  let mosquitto: Broker | null = null;
  let embedded: Proc | null = null;
  let embeddedPort = 0;
  if (o.broker === 'mosquitto') mosquitto = await startBrokerProcess({ persistence: false });
  else {
    embeddedPort = await freePort();
    embedded = start('broker', ['broker', '--port', String(embeddedPort)]);
    await waitForPort(embeddedPort);
  }
  const brokerPort = () => mosquitto?.port ?? embeddedPort;
  const proxy = new TcpProxy(brokerPort);
  await proxy.start();
  const url = `mqtt://127.0.0.1:${proxy.port}`;
  const diskFaults = o.faults.includes('disk');
  const mnt = join(W, 'disk');
  mkdirSync(mnt, { recursive: true });
  if (diskFaults) {
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${o.tmpfsMiB ?? 8}m`, 'tmpfs', mnt], { encoding: 'utf8' });
    if (m.status !== 0) throw new Error(`cannot mount a tmpfs for the disk-full faults (root needed): ${m.stderr}`);
  }
  const store = join(mnt, 'store');

  // --- acks seen by the harness (directly on the broker: recovery times) ----------------------
  const lastStored = new Map<string, number>();
  let watcher: MqttLink | null = null;
  const watch = async () => {
    watcher = await MqttLink.connect(`mqtt://127.0.0.1:${brokerPort()}`, { clientId: 'chaos-watcher' });
    watcher.onMessage((_topic, payload) => {
      try {
        const a = decodeAck(payload);
        if (a.result === 'STORED') lastStored.set(a.robotId, Date.now());
      } catch {
        /* not an ack */
      }
    });
    await watcher.subscribe('o2o/default/robots/+/ack', 1);
  };
  await watch();

  const learnerArgs = [
    'learn',
    '--mqtt',
    url,
    '--task',
    'pendulum',
    '--dataset',
    data,
    '--store',
    store,
    '--checkpoints',
    join(W, 'ckpt'),
    '--pretrain-steps',
    '20',
    '--utd',
    '0.02',
    '--publish-every',
    '400',
    '--sign',
    join(W, 'keys', 'o2o-signing.key'),
    '--config',
    '{"actorHidden":[16,16],"criticHidden":[16,16],"batchSize":32,"nActions":2}',
  ];
  let learner = start('learner', learnerArgs);
  const server = start('server', [
    'serve',
    '--mqtt',
    url,
    '--policy',
    join(W, 'policy.onnx'),
    '--trusted-key',
    join(W, 'keys', 'o2o-signing.pub'),
    '--explore',
    '--robot-idle-ms',
    '5000',
  ]);
  const names = Array.from({ length: o.robots }, (_, i) => `r${i}`);
  const robotArgs = (name: string, i: number, episodes: number) => [
    'robot',
    'sim',
    '--task',
    'pendulum',
    '--profile',
    'mild',
    '--mqtt',
    url,
    '--robot',
    name,
    '--episodes',
    String(episodes),
    '--seed',
    String(1000 * (i + 1)),
    '--spool',
    join(W, 'spool', name),
    '--spool-batch-rows',
    '25',
    '--keep-acked',
    '--action-timeout-ms',
    '300',
    '--rate-hz',
    String(o.rateHz ?? 50),
    '--drain-timeout-ms',
    '60000',
  ];
  const robots = new Map<string, Proc>();
  const launchRobot = (name: string, i: number, part: number) => robots.set(name, start(`${name}-${part}`, robotArgs(name, i, 100_000)));
  names.forEach((n, i) => launchRobot(n, i, 0));
  const parts = new Map(names.map((n) => [n, 1]));

  // --- faults -------------------------------------------------------------------------------
  const faults: Record<FaultKind, number> = { broker: 0, learner: 0, robot: 0, cut: 0, disk: 0 };
  const recoveryMs: Record<FaultKind, number[]> = { broker: [], learner: [], robot: [], cut: [], disk: [] };
  const recovered = async (kind: FaultKind, at: number) => {
    const end = Date.now() + 60_000;
    while (Date.now() < end) {
      if (names.every((n) => (lastStored.get(n) ?? 0) > at)) {
        recoveryMs[kind].push(Date.now() - at);
        return;
      }
      await sleep(50);
    }
    log(`fault ${kind}: no STORED ack for every robot within 60 s`);
    recoveryMs[kind].push(Number.POSITIVE_INFINITY);
  };
  const order = [...o.faults];
  const runEnd = Date.now() + o.runMs;
  await sleep(8000); // everybody up (the learner pretrains a few updates)
  for (const p of [learner, server, ...robots.values()]) if (p.p.exitCode !== null) throw new Error(`${p.name} exited at start with ${p.p.exitCode}: ${p.out.slice(-800)}`);
  let k = 0;
  while (Date.now() < runEnd) {
    await sleep(rng.uniform(o.faultGapMs[0], o.faultGapMs[1]));
    if (Date.now() >= runEnd) break;
    if (k % order.length === 0)
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(rng.uniform(0, i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
    const kind = order[k++ % order.length]!;
    const at = Date.now();
    faults[kind]++;
    log(`fault ${faults[kind]} of kind ${kind}`);
    if (kind === 'broker') {
      (watcher as MqttLink | null)?.close().catch(() => {});
      if (mosquitto) await mosquitto.crash(rng.uniform(200, 1500));
      else {
        embedded!.p.kill('SIGKILL');
        await embedded!.exited;
        await sleep(rng.uniform(200, 1500));
        embedded = start('broker', ['broker', '--port', String(embeddedPort)]);
        await waitForPort(embeddedPort);
      }
      await watch();
    } else if (kind === 'learner') {
      learner.p.kill('SIGKILL');
      await learner.exited;
      learner = start('learner', learnerArgs);
    } else if (kind === 'robot') {
      const i = Math.floor(rng.uniform(0, names.length));
      const name = names[i]!;
      const r = robots.get(name)!;
      r.p.kill('SIGKILL');
      await r.exited;
      launchRobot(name, i, parts.get(name)!);
      parts.set(name, parts.get(name)! + 1);
    } else if (kind === 'cut') {
      proxy.cut();
    } else if (kind === 'disk') {
      const filler = join(mnt, 'filler');
      mkdirSync(filler, { recursive: true });
      fillDisk(filler);
      const code = await Promise.race([learner.exited, sleep(20_000).then(() => 'still running')]);
      log(`disk full: learner exited with ${String(code)}`);
      if (code !== 75) throw new Error(`a learner whose disk is full must exit 75, got ${String(code)}: ${learner.out.slice(-800)}`);
      rmSync(filler, { recursive: true, force: true });
      learner = start('learner', learnerArgs);
    }
    await recovered(kind, at);
  }

  // --- stop the robots, let them send what is left, stop the learner ------------------------------
  for (const r of robots.values()) r.p.kill('SIGTERM');
  await Promise.all([...robots.values()].map((r) => r.exited));
  const drains = names.map((n, i) => start(`${n}-drain`, robotArgs(n, i, 0)));
  const codes = await Promise.all(drains.map((d) => d.exited));
  const pending = names.filter((n) => readdirSync(join(W, 'spool', n)).some((f) => f.endsWith('.pb')));
  if (pending.length) throw new Error(`robots ${pending.join(', ')} still hold unacknowledged batches after their drain runs (exit codes ${codes.join(', ')})`);
  learner.p.kill('SIGTERM');
  const lc = await learner.exited;
  if (lc !== 0) throw new Error(`the learner did not stop cleanly on SIGTERM (exit ${String(lc)}): ${learner.out.slice(-800)}`);
  server.p.kill('SIGTERM');
  await server.exited;
  await (watcher as MqttLink | null)?.close().catch(() => {});
  await proxy.close();
  if (embedded) {
    embedded.p.kill('SIGTERM');
    await embedded.exited;
  }
  await mosquitto?.stop();

  const report = await compare(W, store, names, [...procs.filter((p) => /^r\d+-(\d+|drain)$/.test(p.name))]);
  if (diskFaults) spawnSync('umount', ['-l', mnt]);
  return { ...report, robots: o.robots, faults, recoveryMs, wallMs: Date.now() - t0 };
}

type Compared = Omit<ChaosReport, 'robots' | 'faults' | 'recoveryMs' | 'wallMs'>;

/** What the robots sent (spool audit trail) against what the store holds. */
async function compare(W: string, store: string, names: string[], robotProcs: Proc[]): Promise<Compared> {
  // produced: every batch file a robot wrote (acknowledged ones are kept in acked/)
  const produced = new Map<string, Map<number, Uint8Array>>();
  let producedRows = 0;
  for (const n of names) {
    const m = new Map<number, Uint8Array>();
    const dir = join(W, 'spool', n);
    for (const sub of [join(dir, 'acked'), dir]) {
      if (!existsSync(sub)) continue;
      for (const f of readdirSync(sub).filter((x) => x.endsWith('.pb'))) {
        const bytes = readFileSync(join(sub, f));
        const d = decodeTransitionBatch(bytes);
        if (m.has(d.firstSequence)) throw new Error(`robot ${n} wrote seq ${d.firstSequence} twice`);
        m.set(d.firstSequence, bytes);
        producedRows += d.count;
      }
    }
    produced.set(n, m);
  }
  // stored: every batch in every segment, duplicates included
  const st = openStore(store);
  const seen = new Map<string, number>();
  let stored = 0;
  let duplicated = 0;
  let corrupted = 0;
  let storedBatches: DecodedBatch[] = [];
  await st.forEachBatch((b) => {
    storedBatches.push(b);
  });
  for (const b of storedBatches) {
    const key = `${b.robotId}/${b.firstSequence}`;
    if (seen.has(key)) {
      duplicated += b.count;
      continue;
    }
    seen.set(key, b.count);
    stored += b.count;
    const sent = produced.get(b.robotId)?.get(b.firstSequence);
    // the stored message is the robot's file byte for byte, plus at most the acked_below field the
    // robot appends when it sends (TransitionBatch field 16)
    const got = Buffer.from(b.bytes);
    const same =
      !!sent &&
      got.subarray(0, sent.length).equals(Buffer.from(sent)) &&
      (got.length === sent.length || (got[sent.length] === 0x80 && got[sent.length + 1] === 0x01 && got.length - sent.length <= 12));
    if (!same) corrupted++;
  }
  storedBatches = [];
  let lost = 0;
  for (const [n, m] of produced) for (const [seq, bytes] of m) if (!seen.has(`${n}/${seq}`)) lost += decodeTransitionBatch(bytes).count;

  // episodes: what the robots logged vs what the store gives back (lengths and returns)
  const res = await st.read();
  const eps = episodes(res.dataset);
  const storedEps = eps.map((e) => `${e.length}:${e.return.toFixed(2)}`);
  const logged: string[] = [];
  for (const p of robotProcs) for (const m of p.out.matchAll(/episode \d+ \(seed \d+\) return (-?[\d.]+) in (\d+) steps/g)) logged.push(`${m[2]}:${Number(m[1]).toFixed(2)}`);
  const pool = new Map<string, number>();
  for (const e of storedEps) pool.set(e, (pool.get(e) ?? 0) + 1);
  const episodeMismatches: string[] = [];
  for (const l of logged) {
    const c = pool.get(l) ?? 0;
    if (c === 0) episodeMismatches.push(`logged ${l} not stored`);
    else pool.set(l, c - 1);
  }
  let brokenChains = 0;
  const ds = res.dataset;
  const o = ds.obsDim;
  for (const e of eps) {
    for (let i = e.start; i < e.end - 1; i++) {
      if (!ds.nextObservations) break; // implicit: chained by construction of the builder
      for (let q = 0; q < o; q++) if (ds.nextObservations[i * o + q] !== ds.observations[(i + 1) * o + q]) brokenChains++;
    }
  }
  const producedEpisodes = new Set<string>();
  for (const [n, m] of produced)
    for (const bytes of m.values()) {
      const d = decodeTransitionBatch(bytes);
      const b = new DatasetBuilder(d.obsDim, d.actDim, { capacity: d.count, validate: false });
      appendDecoded(b, d);
      for (let i = 0; i < d.count; i++) producedEpisodes.add(`${n}/${b.episodeIds[i]}`);
    }
  return {
    produced: producedRows,
    stored,
    lost,
    duplicated,
    corrupted,
    episodesProduced: producedEpisodes.size,
    episodesStored: eps.length,
    manifestEpisodes: st.manifest.counts.episodes,
    statsEpisodes: (await datasetStats(store, { verifyChecksums: true })).episodes,
    episodeMismatches,
    brokenChains,
  };
}

/** Writes files into `dir` until the file system is full (down to its last few hundred bytes). */
function fillDisk(dir: string): void {
  let i = 0;
  for (const size of [1 << 20, 64 << 10, 4 << 10, 512, 64]) {
    for (;;) {
      try {
        writeFileSync(join(dir, String(i++)), Buffer.alloc(size));
      } catch {
        break;
      }
    }
  }
}

async function waitForPort(port: number): Promise<void> {
  const end = Date.now() + 20_000;
  while (!(await listening(port))) {
    if (Date.now() > end) throw new Error(`nothing listens on ${port}`);
    await sleep(100);
  }
}

export function formatReport(r: ChaosReport): string {
  const q = (xs: number[], p: number) => {
    const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
    return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : NaN;
  };
  const all = Object.values(r.recoveryMs).flat();
  return [
    `robots ${r.robots}, wall ${(r.wallMs / 1000).toFixed(0)} s`,
    `transitions produced ${r.produced}, stored ${r.stored}, lost ${r.lost}, duplicated ${r.duplicated}, corrupted batches ${r.corrupted}`,
    `episodes produced ${r.episodesProduced}, stored ${r.episodesStored}, manifest ${r.manifestEpisodes}, stats ${r.statsEpisodes}, logged-but-missing ${r.episodeMismatches.length}, broken chains ${r.brokenChains}`,
    `faults ${Object.entries(r.faults)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')} (total ${Object.values(r.faults).reduce((a, b) => a + b, 0)})`,
    `recovery ms p50 ${q(all, 0.5).toFixed(0)}, p99 ${q(all, 0.99).toFixed(0)}; by kind: ${Object.entries(r.recoveryMs)
      .filter(([, v]) => v.length)
      .map(([k, v]) => `${k} p50 ${q(v, 0.5).toFixed(0)} / max ${Math.max(...v).toFixed(0)}`)
      .join('; ')}`,
  ].join('\n');
}
