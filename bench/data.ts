/**
 * Dataset store throughput: append and read 1M hopper-sized transitions (obs 11, act 3) through
 * the native MCAP store (zstd level 1, 4096-row chunks), plus uniform sampling and peak RSS.
 * Run: npm run bench -- data
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatasetBuilder } from '../src/data/builder.js';
import { datasetBytes } from '../src/data/dataset.js';
import { createStore, openStore } from '../src/data/formats/mcap-store.js';
import { UniformSampler } from '../src/data/samplers.js';
import { Rng } from '../src/util/rng.js';

export async function run(): Promise<void> {
  const N = 1_000_000;
  const o = 11;
  const a = 3;
  let peak = 0;
  const sampleRss = (): void => {
    peak = Math.max(peak, process.memoryUsage().rss);
  };
  const timer = setInterval(sampleRss, 20);
  const rng = new Rng(0);
  const b = new DatasetBuilder(o, a, { capacity: N, validate: false });
  b.reserve(N);
  // smooth trajectories (like real states), not white noise, so compression sees realistic data
  for (let i = 0; i < N; i++) {
    const t = i % 1000;
    for (let k = 0; k < o; k++) {
      b.observations[i * o + k] = Math.sin(0.01 * t * (k + 1)) + 0.01 * rng.normal();
      b.nextObservations[i * o + k] = Math.sin(0.01 * (t + 1) * (k + 1)) + 0.01 * rng.normal();
    }
    for (let k = 0; k < a; k++) b.actions[i * a + k] = rng.uniform(-1, 1);
    b.rewards[i] = 3 + rng.normal();
    b.timeouts[i] = t === 999 ? 1 : 0;
    b.episodeIds[i] = Math.floor(i / 1000);
  }
  b.commit(N);
  const ds = b.build();
  const mb = datasetBytes(ds) / 1e6;
  const dir = mkdtempSync(join(tmpdir(), 'o2o-bench-data-'));
  try {
    const store = createStore(dir, { obsDim: o, actDim: a, envId: 'hopper-bench' });
    let t0 = performance.now();
    const seg = await store.append(ds);
    const tAppend = (performance.now() - t0) / 1000;
    t0 = performance.now();
    // three reads: the first includes JIT warm-up and the zstd WebAssembly compile
    const reads: number[] = [];
    let r = await openStore(dir).read();
    for (let k = 0; k < 3; k++) {
      if (k > 0) r = await openStore(dir).read();
      reads.push((performance.now() - t0) / 1000);
      t0 = performance.now();
    }
    if (r.dataset.size !== N) throw new Error(`read ${r.dataset.size} rows, expected ${N}`);
    const sampler = new UniformSampler(r.dataset, { batchSize: 256, seed: 0 });
    const iters = 2000;
    t0 = performance.now();
    for (let i = 0; i < iters; i++) sampler.sample();
    const tSample = (performance.now() - t0) / 1000;
    sampleRss();
    clearInterval(timer);
    const row = (op: string, secs: number, rows: number, bytes: number): string =>
      `| ${op} | ${secs.toFixed(2)} | ${Math.round(rows / secs).toLocaleString('en-US')} | ${(bytes / secs).toFixed(0)} |`;
    console.log(`\n1M transitions, obs 11, act 3: ${mb.toFixed(0)} MB of columns, ${(seg.bytes / 1e6).toFixed(0)} MB on disk (zstd-1)\n`);
    console.log('| operation | seconds | transitions/s | MB/s (columns) |');
    console.log('|---|---:|---:|---:|');
    console.log(row('append (encode + zstd + write, 4096-row chunks)', tAppend, N, mb));
    console.log(row('read, first (scan + CRC + unzstd + decode into columns)', reads[0]!, N, mb));
    console.log(row('read, best of next 2', Math.min(reads[1]!, reads[2]!), N, mb));
    console.log(row(`uniform sample, batch 256 (${iters} batches)`, tSample, iters * 256, (iters * 256 * mb) / N));
    console.log(`\npeak RSS: ${(peak / 1e6).toFixed(0)} MB\n`);
  } finally {
    clearInterval(timer);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
