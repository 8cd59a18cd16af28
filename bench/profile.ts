/**
 * Where one update's time goes (issue 16 §2): runs O2O_PROFILE_UPDATES updates (default 200) of
 * each algorithm in O2O_PROFILE_ALGOS (default td3bc,iql,cql) at halfcheetah sizes, 2x256, batch
 * 256, with ORT's per-kernel profiler on, then sums kernel time by operator type: GEMMs
 * (MatMul/Gemm/FusedMatMul) against elementwise passes, reductions and copies, and the part of a
 * session.run spent outside any kernel. Session settings: the learners' defaults.
 */
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLearner, networkSettings } from '../src/algos/index.js';
import { type Batch, UniformSampler, batchesLike } from '../src/data/index.js';
import { syntheticDataset } from './synthetic.js';
import { table } from './stats.js';

const task = { obsDim: 17, actDim: 6, maxAction: 1 };
const h = [256, 256];

interface Event {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string };
}

const GEMM = new Set(['MatMul', 'Gemm', 'FusedMatMul', 'FusedGemm']);

export async function run(): Promise<void> {
  const algos = (process.env.O2O_PROFILE_ALGOS ?? 'td3bc,iql,cql').split(',');
  const n = Number(process.env.O2O_PROFILE_UPDATES ?? 200);
  const ds = syntheticDataset(50_000);
  for (const algo of algos) {
    const dir = mkdtempSync(join(tmpdir(), 'o2o-prof-'));
    process.env.O2O_ORT_PROFILE = join(dir, 'p');
    const l = await createLearner(algo, task, networkSettings(algo, h), 0);
    delete process.env.O2O_ORT_PROFILE;
    const s = new UniformSampler(ds, { batchSize: 256, seed: 1, info: ['mc_return'] });
    const K = l.updatesPerRun;
    const bs: Batch[] = K === 1 ? [s.batch] : batchesLike(s.batch, K);
    const runs = Math.max(1, Math.round((algo.includes('cql') ? n / 10 : n) / K));
    const t0 = performance.now();
    for (let i = 0; i < runs; i++) {
      for (const b of bs) s.sample(b);
      if (K === 1) l.update(bs[0]!);
      else l.updateMany(bs);
    }
    const wallMs = performance.now() - t0;
    l.dispose(); // writes the profile files
    const byOp = new Map<string, { us: number; count: number }>();
    let runUs = 0;
    for (const f of readdirSync(dir)) {
      const events = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Event[];
      // the first run of each session is ORT's warm-up; we count every run (runs ≫ 1)
      for (const e of events) {
        if (e.cat === 'Session' && e.name === 'model_run') runUs += e.dur;
        if (e.cat === 'Node' && e.name.endsWith('_kernel_time')) {
          const op = e.args?.op_name ?? '?';
          const x = byOp.get(op) ?? { us: 0, count: 0 };
          x.us += e.dur;
          x.count++;
          byOp.set(op, x);
        }
      }
    }
    const updates = runs * K;
    const kernelUs = [...byOp.values()].reduce((a, b) => a + b.us, 0);
    const gemmUs = [...byOp].filter(([op]) => GEMM.has(op)).reduce((a, [, b]) => a + b.us, 0);
    const rows = [...byOp]
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, 12)
      .map(([op, x]) => [op, (x.us / updates / 1000).toFixed(3), `${((x.us / runUs) * 100).toFixed(1)}%`, (x.count / updates).toFixed(1)]);
    console.log(
      `\n### ${algo} (updatesPerRun ${K}, ${updates} updates): ${(wallMs / updates).toFixed(2)} ms per update wall, ${(runUs / updates / 1000).toFixed(2)} ms in session.run, kernels ${(kernelUs / updates / 1000).toFixed(2)} ms (GEMM ${(gemmUs / updates / 1000).toFixed(2)} ms = ${((gemmUs / runUs) * 100).toFixed(0)}% of run); run time outside kernels ${(((runUs - kernelUs) / runUs) * 100).toFixed(0)}%\n`,
    );
    console.log(table(['op', 'ms per update', 'share of session.run', 'kernels per update'], rows));
  }
}
