/**
 * `npm run bench -- serve`: serving latency.
 *  1. In-process PolicyRuntime.act() beside the raw ORT run of the same session (2x256 MLP,
 *     17 → 6, batch 1), interleaved blocks so machine noise hits both alike; per-call p50/p99.
 *     The same for the Decision Transformer (src/algos/dt.ts at CORL's size: context 20, 60 tokens
 *     of 128, 3 blocks; untrained weights) — act() keeps the context (shift, rtg, timesteps,
 *     mask) and feeds the executed action back, the raw run takes the same inputs as they stand.
 *     A chunked policy (the Diffusion Policy, untrained: 2 observations of 17 and a 16 × 6 noise (× 11 with η = 1, the default)
 *     in, 10 DDIM steps of its FiLM MLP, a 15 × 6 chunk out; action horizon 8): act() between plans (a queue
 *     pop plus the safety filter) and act() that plans (history, noise draw, ORT, filter).
 *     `O2O_BENCH_SERVE=act` runs only these (no MQTT, no 1 kHz loop); `=chunk` only the chunked one.
 *  2. Observation → action round trip through a real mosquitto on loopback (and the embedded
 *     aedes broker) with serveMqtt and an MQTT client standing in for the robot.
 *  3. A 1 kHz control loop (busy-wait scheduler, act() every period) for O2O_BENCH_LOOP_S seconds
 *     (default 60): period-jitter percentiles.
 */
import { DIFFUSION_DEFAULTS, DT_DEFAULTS, createLearner } from '../src/algos/index.js';
import { actorLayout, type ActorSpec, mlpPolicy } from '../src/nn/index.js';
import { exportPolicy, PolicyRuntime, serveMqtt, type StepInfo } from '../src/serve/index.js';
import { ActionDecoder, encodeObservation, MqttLink, robotTopics, startBroker } from '../src/transport/index.js';
import { missingMosquitto, startMosquitto } from '../test/helpers/mosquitto.js';
import { median, table } from './stats.js';

function percentile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))]!;
}

function policyBytes(): Uint8Array {
  const spec: ActorSpec = { kind: 'deterministic', obsDim: 17, actDim: 6, hidden: [256, 256], maxAction: 1 };
  const layout = actorLayout(spec);
  return exportPolicy({
    policy: mlpPolicy({ spec, layout, params: layout.init(0) }),
    card: { name: 'bench-2x256', version: 'bench', task: 'hopper-like', algorithm: 'random-init', createdAt: '2026-11-27T00:00:00Z' },
  }).bytes;
}

/** The Decision Transformer at CORL dt.py's size (128 wide, 3 layers, 1 head, context 20), hopper-like 17 → 6, untrained. */
const DT_TASK = { obsDim: 17, actDim: 6, maxAction: 1 };

/** act() at batch 1 for the Decision Transformer, beside the raw ORT run of the same session on the same inputs. */
async function sequenceLatency(rounds = 7, perBlock = 1000): Promise<{ raw50: number; raw99: number; act50: number; act99: number; over50: number; mflop: number }> {
  const learner = await createLearner('dt', DT_TASK, { targetReturn: 3600 }, 0, { threads: 1 });
  const policy = learner.policy();
  learner.dispose();
  // matrix-product FLOPs of one call: embeddings, per block QKV/out projections, scores, context, the 4× MLP; the head
  const { embeddingDim: d, layers, contextLength: K } = DT_DEFAULTS;
  const T = 3 * K;
  const mflop = (2 * (K * (DT_TASK.obsDim + DT_TASK.actDim + 1) * d + layers * (4 * T * d * d + 2 * T * T * d + 2 * T * d * 4 * d) + d * DT_TASK.actDim)) / 1e6;
  const bytes = exportPolicy({
    policy,
    card: { name: 'bench-dt', version: 'bench', task: 'hopper-like', algorithm: 'dt', createdAt: '2026-12-01T00:00:00Z' },
  }).bytes;
  const rt = PolicyRuntime.open({ bytes, source: 'bench-dt' }, { safety: { maxDelta: 0.5, staleAfterMs: 1000 } });
  const obs = new Float32Array(DT_TASK.obsDim);
  const step: StepInfo = { reward: 1, episodeStart: true, now: 0, obsTime: 0 };
  // Episodes of 200 steps: most calls see a full window, some the padded start of an episode.
  const call = (i: number) => {
    obs[i % DT_TASK.obsDim] = (i % 100) * 0.01;
    step.episodeStart = i % 200 === 0;
    step.now = step.obsTime = performance.now();
    rt.act(obs, step);
  };
  const r = interleaved(rt, call, rounds, perBlock);
  rt.dispose();
  return { ...r, mflop };
}

/** Diffusion Policy (src/algos/diffusion.ts) at diffusion_policy's low-dim sizes, untrained: 2 observations of 17, 16 × 6 noise (× 11 with η = 1, the default), 10 DDIM steps unrolled; 8 actions per plan. */
const CHUNK = { obs: 17, act: 6, horizon: DIFFUSION_DEFAULTS.nAction };
async function chunkBytes(): Promise<Uint8Array> {
  const learner = await createLearner('diffusion', { obsDim: CHUNK.obs, actDim: CHUNK.act, maxAction: 1 }, {}, 0, { threads: 1 });
  const policy = learner.policy();
  learner.dispose();
  return exportPolicy({
    policy,
    card: { name: 'bench-chunk', version: 'bench', task: 'hopper-like', algorithm: 'diffusion', createdAt: '2026-12-01T00:00:00Z' },
  }).bytes;
}

async function chunkLatency(rounds = 7, perBlock = 4000) {
  const rt = PolicyRuntime.open({ bytes: await chunkBytes(), source: 'bench-chunk' }, { safety: { maxDelta: 0.5, staleAfterMs: 1000 }, chunking: { seed: 1 } });
  const m = rt.model;
  const obs = new Float32Array(CHUNK.obs);
  const step: StepInfo = { episodeStart: true, now: 0, obsTime: 0 };
  const pops = new Float64Array(perBlock);
  const plans = new Float64Array(perBlock);
  const raw = new Float64Array(perBlock / CHUNK.horizon);
  const out = { pop50: [] as number[], pop99: [] as number[], plan50: [] as number[], plan99: [] as number[], raw50: [] as number[], perAction: [] as number[] };
  for (let r = -1; r < rounds; r++) {
    let np = 0;
    let nq = 0;
    let nr = 0;
    let total = 0;
    for (let i = 0; i < perBlock; i++) {
      obs[i % CHUNK.obs] = (i % 100) * 0.01;
      step.episodeStart = i % 200 === 0; // episodes of 200 steps: a plan every 8
      step.now = step.obsTime = performance.now();
      const t0 = performance.now();
      rt.act(obs, step);
      const dt = (performance.now() - t0) * 1000;
      total += dt;
      if ((i % 200) % CHUNK.horizon === 0) {
        plans[nq++] = dt;
        const t1 = performance.now();
        m.infer();
        raw[nr++] = (performance.now() - t1) * 1000;
      } else pops[np++] = dt;
    }
    if (r < 0) continue; // warm-up
    const p = pops.subarray(0, np).sort();
    const q = plans.subarray(0, nq).sort();
    const w = raw.subarray(0, nr).sort();
    out.pop50.push(percentile(p, 0.5));
    out.pop99.push(percentile(p, 0.99));
    out.plan50.push(percentile(q, 0.5));
    out.plan99.push(percentile(q, 0.99));
    out.raw50.push(percentile(w, 0.5));
    out.perAction.push(total / perBlock);
  }
  rt.dispose();
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, median(v)])) as Record<keyof typeof out, number>;
}

/** Temporal ensembling (m = 0.01): a plan every step and the average over up to 16 chunks, beside the raw ORT run. */
async function ensembleLatency(rounds = 7, perBlock = 1000) {
  const rt = PolicyRuntime.open(
    { bytes: await chunkBytes(), source: 'bench-chunk' },
    { safety: { maxDelta: 0.5, staleAfterMs: 1000 }, chunking: { seed: 1, temporalEnsembling: 0.01 } },
  );
  const obs = new Float32Array(CHUNK.obs);
  const step: StepInfo = { episodeStart: true, now: 0, obsTime: 0 };
  const r = interleaved(
    rt,
    (i) => {
      obs[i % CHUNK.obs] = (i % 100) * 0.01;
      step.episodeStart = i % 200 === 0;
      step.now = step.obsTime = performance.now();
      rt.act(obs, step);
    },
    rounds,
    perBlock,
  );
  rt.dispose();
  return r;
}

async function printChunk(): Promise<void> {
  const c = await chunkLatency();
  const e = await ensembleLatency();
  console.log(
    `
Chunked policy: Diffusion Policy (untrained, diffusion_policy's low-dim sizes: 2 × 17 observations + 16 × 6 noise (× 11 with η = 1, the default) → 10 DDIM steps of a 3×256 FiLM MLP → 15 × 6 chunk; action horizon 8), batch 1, µs per call, medians of 7 rounds of 4000 calls:
`,
  );
  console.log(
    table(
      ['path', 'p50 µs', 'p99 µs'],
      [
        ['act() between plans (queue pop + safety filter)', c.pop50.toFixed(2), c.pop99.toFixed(2)],
        ['act() that plans (history, noise draw, ORT, filter)', c.plan50.toFixed(1), c.plan99.toFixed(1)],
        ['raw ORT run (same session, same inputs)', c.raw50.toFixed(1), ''],
        ['act() amortized per executed action (mean)', c.perAction.toFixed(2), ''],
        ['temporal ensembling m = 0.01: act() (a plan every step + the weighted mean of ≤ 16 chunks)', e.act50.toFixed(1), e.act99.toFixed(1)],
        ['… raw ORT run beside it (interleaved)', e.raw50.toFixed(1), e.raw99.toFixed(1)],
      ],
    ),
  );
}

/** µs per call, p50 and p99, of raw ORT and `call`, in interleaved blocks; medians over rounds. */
function interleaved(rt: PolicyRuntime, call: (i: number) => void, rounds: number, perBlock: number) {
  const m = rt.model;
  const raw = new Float64Array(perBlock);
  const act = new Float64Array(perBlock);
  const r50: number[] = [];
  const r99: number[] = [];
  const a50: number[] = [];
  const a99: number[] = [];
  const over: number[] = [];
  for (let i = 0; i < 500; i++) {
    call(i);
    m.infer();
  }
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < perBlock; i++) {
      const t0 = performance.now();
      m.infer();
      const t1 = performance.now();
      call(i);
      const t2 = performance.now();
      raw[i] = (t1 - t0) * 1000;
      act[i] = (t2 - t1) * 1000;
    }
    raw.sort();
    act.sort();
    r50.push(percentile(raw, 0.5));
    r99.push(percentile(raw, 0.99));
    a50.push(percentile(act, 0.5));
    a99.push(percentile(act, 0.99));
    over.push(percentile(act, 0.5) - percentile(raw, 0.5));
  }
  return { raw50: median(r50), raw99: median(r99), act50: median(a50), act99: median(a99), over50: median(over) };
}

/** µs per call, p50 and p99, of raw ORT and act() for the 2x256 MLP, in interleaved blocks; medians over rounds. */
function actLatency(rounds = 7, perBlock = 4000): { raw50: number; raw99: number; act50: number; act99: number; over50: number } {
  const rt = PolicyRuntime.open({ bytes: policyBytes(), source: 'bench' }, { safety: { maxDelta: 0.5, staleAfterMs: 1000 } });
  const obs = new Float32Array(17);
  const r = interleaved(
    rt,
    (i) => {
      obs[i % 17] = (i % 100) * 0.01;
      rt.act(obs);
    },
    rounds,
    perBlock,
  );
  rt.dispose();
  return r;
}

/** Round trips (ms) obs → serveMqtt → action through the broker at `url`. */
async function roundTrips(url: string, n: number): Promise<Float64Array> {
  const server = await serveMqtt({ url, policy: { bytes: policyBytes(), source: 'bench' }, fleet: 'bench', log: () => {} });
  const link = await MqttLink.connect(url);
  const t = robotTopics('bench', 'r0');
  const dec = new ActionDecoder(6);
  let resolve: (() => void) | null = null;
  let want = 0;
  link.onMessage((_topic, payload) => {
    dec.decode(payload, 'a');
    if (dec.fields.sequence === want && resolve) {
      const r = resolve;
      resolve = null;
      r();
    }
  });
  await link.subscribe(t.action);
  const out = new Float64Array(n);
  const obs = new Float32Array(17);
  const fields = { robotId: 'r0', sequence: 0, timeUnixNs: 0, reward: 0, terminated: false, truncated: false, episode: 0 };
  for (let i = -200; i < n; i++) {
    fields.sequence = want = i + 1000;
    const t0 = performance.now();
    const p = new Promise<void>((r) => (resolve = r));
    link.publish(t.obs, encodeObservation(fields, obs));
    await p;
    if (i >= 0) out[i] = performance.now() - t0;
  }
  await link.close();
  await server.close();
  return out.sort();
}

/** A 1 kHz loop: busy-wait to each deadline, act(), record the actual period. */
function controlLoop(seconds: number): { p50: number; p99: number; p999: number; max: number; missed: number; periods: number } {
  const rt = PolicyRuntime.open({ bytes: policyBytes(), source: 'bench' });
  const obs = new Float32Array(17);
  const periodMs = 1;
  const n = Math.round((seconds * 1000) / periodMs);
  const periods = new Float64Array(n);
  let next = performance.now() + periodMs;
  let last = next;
  let missed = 0;
  for (let i = 0; i < n; i++) {
    let now = performance.now();
    while (now < next) now = performance.now();
    if (i > 0) periods[i - 1] = now - last;
    last = now;
    obs[0] = i * 1e-3;
    rt.act(obs, now);
    next += periodMs;
    if (performance.now() > next) {
      missed++; // the step overran the next deadline: skip ahead instead of bursting
      next = performance.now() + periodMs;
    }
  }
  rt.dispose();
  const jitter = Float64Array.from(periods.subarray(0, n - 1), (p) => Math.abs(p - periodMs) * 1000).sort();
  return { p50: percentile(jitter, 0.5), p99: percentile(jitter, 0.99), p999: percentile(jitter, 0.999), max: jitter[jitter.length - 1]!, missed, periods: n };
}

export async function run(): Promise<void> {
  if (process.env.O2O_BENCH_SERVE === 'chunk') return await printChunk();
  const loopSeconds = Number(process.env.O2O_BENCH_LOOP_S ?? 60);
  const trips = Number(process.env.O2O_BENCH_TRIPS ?? 5000);
  const l = actLatency();
  console.log('In-process, batch 1, 2x256 MLP (17 → 256 → 256 → 6), µs per call, medians of 7 interleaved rounds of 4000 calls:\n');
  console.log(
    table(
      ['path', 'p50 µs', 'p99 µs'],
      [
        ['raw ORT run (same session, preallocated tensors)', l.raw50.toFixed(1), l.raw99.toFixed(1)],
        ['PolicyRuntime.act() (checks, copy, ORT, safety filter)', l.act50.toFixed(1), l.act99.toFixed(1)],
        ['overhead (p50 act − p50 raw)', l.over50.toFixed(1), ''],
      ],
    ),
  );
  const q = await sequenceLatency();
  console.log(
    `\nDecision Transformer (src/algos/dt.ts at CORL's size: context 20 → 60 tokens × 128, 3 blocks, ${q.mflop.toFixed(1)} MFLOP of matrix products per call), batch 1, µs per call, medians of 7 interleaved rounds of 1000 calls:\n`,
  );
  console.log(
    table(
      ['path', 'p50 µs', 'p99 µs'],
      [
        ['raw ORT run (same session, same inputs)', q.raw50.toFixed(1), q.raw99.toFixed(1)],
        ['PolicyRuntime.act() (context shift, rtg, timestep, mask, ORT, filter, action fed back)', q.act50.toFixed(1), q.act99.toFixed(1)],
        [`overhead (p50 act − p50 raw) = ${((100 * q.over50) / q.raw50).toFixed(1)} % of raw`, q.over50.toFixed(1), ''],
      ],
    ),
  );
  await printChunk();
  if (process.env.O2O_BENCH_SERVE === 'act') return;

  const rows: (string | number)[][] = [];
  const why = missingMosquitto();
  if (why) console.log(`\nmosquitto round trip skipped: ${why}`);
  else {
    const broker = await startMosquitto();
    try {
      const rt = await roundTrips(broker.url, trips);
      rows.push(['mosquitto 2.0 (loopback)', percentile(rt, 0.5).toFixed(3), percentile(rt, 0.99).toFixed(3), percentile(rt, 0.999).toFixed(3)]);
    } finally {
      await broker.stop();
    }
  }
  const aedes = await startBroker();
  try {
    const rt = await roundTrips(aedes.url, trips);
    rows.push(['aedes (embedded, same process as the server)', percentile(rt, 0.5).toFixed(3), percentile(rt, 0.99).toFixed(3), percentile(rt, 0.999).toFixed(3)]);
  } finally {
    await aedes.close();
  }
  console.log(`\nObservation → action round trip over MQTT (QoS 0, serveMqtt + a client robot in one process), ${trips} trips, ms:\n`);
  console.log(table(['broker', 'p50 ms', 'p99 ms', 'p99.9 ms'], rows));

  const c = controlLoop(loopSeconds);
  console.log(`\n1 kHz loop, ${loopSeconds} s (${c.periods} periods), busy-wait scheduler, act() each period; |period − 1 ms| in µs:\n`);
  console.log(table(['p50 µs', 'p99 µs', 'p99.9 µs', 'max µs', 'overruns'], [[c.p50.toFixed(1), c.p99.toFixed(1), c.p999.toFixed(1), c.max.toFixed(0), c.missed]]));
}

if (process.argv[1]?.endsWith('bench/serve.ts')) await run();
