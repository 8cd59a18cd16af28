/**
 * Training speed by session setting (issue 16 §2): updates/s of every algorithm (halfcheetah sizes
 * 17/6, 2x256 networks, batch 256) for intra-op threads ∈ {1, 2} × spinning ∈ {on, off}
 * (`session.intra_op.allow_spinning`) × updatesPerRun ∈ {1, 4}, on the host as it is ("quiet")
 * and under an artificial demo load, all interleaved: every round times every setting once with
 * the load off and once with it on, so each ratio compares the same minutes of this shared VM.
 *
 * The demo load is a child process that burns one core at a duty cycle (default 80 %: 8 ms busy,
 * 2 ms asleep), roughly what the demo's broker, policy server and three simulated robots together
 * take from one of the two cores; a round switches it on and off by message.
 *
 * Environment: O2O_THREADS_CELL_MS (time per setting per round, default 250), O2O_THREADS_ROUNDS
 * (default 5), O2O_THREADS_ALGOS (comma list, default bc,td3bc,iql,cql,calql),
 * O2O_THREADS_LOAD_DUTY (0–1, default 0.8; 0 skips the loaded half), O2O_THREADS_K (default 4).
 */
import { fork } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLearner, type Learner, networkSettings } from '../src/algos/index.js';
import { type Batch, UniformSampler, batchesLike } from '../src/data/index.js';
import { prepareGemm } from './engine.js';
import { machine, median, table } from './stats.js';
import { syntheticDataset } from './synthetic.js';

const task = { obsDim: 17, actDim: 6, maxAction: 1 };
const h = [256, 256];

const LOAD_SCRIPT = `
let on = false;
const duty = Number(process.argv[2]);
process.on('message', (m) => { on = m === 'on'; process.send('ack'); });
process.on('disconnect', () => process.exit(0));
function tick() {
  if (!on) return setTimeout(tick, 5);
  const t0 = Date.now();
  while (Date.now() - t0 < 10 * duty) {}
  setTimeout(tick, Math.max(0, Math.round(10 * (1 - duty))));
}
tick();
`;

/** A child process burning `duty` of one core while switched on. */
function startLoad(duty: number) {
  const dir = mkdtempSync(join(tmpdir(), 'o2o-load-'));
  const file = join(dir, 'load.cjs');
  writeFileSync(file, LOAD_SCRIPT);
  const child = fork(file, [String(duty)], { stdio: 'ignore' });
  const set = (on: boolean) =>
    new Promise<void>((resolve) => {
      child.once('message', () => resolve());
      child.send(on ? 'on' : 'off');
    });
  return { set, stop: () => child.kill() };
}

interface Setting {
  threads: number;
  spin: boolean;
  K: number;
  label: string;
}

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').trim().split(' ').slice(0, 3).join(' ');

export async function run(): Promise<void> {
  const cellMs = Number(process.env.O2O_THREADS_CELL_MS ?? 250);
  const rounds = Number(process.env.O2O_THREADS_ROUNDS ?? 5);
  const algos = (process.env.O2O_THREADS_ALGOS ?? 'bc,td3bc,iql,cql,calql').split(',');
  const duty = Number(process.env.O2O_THREADS_LOAD_DUTY ?? 0.8);
  const Kc = Number(process.env.O2O_THREADS_K ?? 4);
  const loads = duty > 0 ? ['quiet', 'load'] : ['quiet'];
  const settings: Setting[] = [];
  for (const K of [1, Kc])
    for (const threads of [1, 2]) for (const spin of [true, false]) settings.push({ threads, spin, K, label: `${threads}t ${spin ? 'spin' : 'nospin'} K${K}` });
  const ds = syntheticDataset(200_000);
  const load = duty > 0 ? startLoad(duty) : null;
  const la0 = loadavg();
  const t0 = Date.now();
  console.log(
    `threads bench — ${machine()} — load average at start ${la0}; ${rounds} rounds, ~${cellMs} ms per setting per round; demo load: 1 child at ${(duty * 100).toFixed(0)} % of a core`,
  );
  const rows: (string | number)[][] = [];
  const summary: { algo: string; load: string; best: string; bestUps: number; ups: Record<string, number> }[] = [];
  try {
    for (const algo of algos) {
      const learners: Learner[] = [];
      for (const s of settings) {
        const session = {
          threads: s.threads,
          ...(s.spin ? { ortConfig: { session: { intra_op: { allow_spinning: '1' } } } } : { ortConfig: { session: { intra_op: { allow_spinning: '0' } } } }),
        };
        learners.push(await createLearner(algo, task, { ...networkSettings(algo, h), updatesPerRun: s.K }, 0, session));
      }
      const gemm = await prepareGemm();
      const sampler = new UniformSampler(ds, { batchSize: 256, seed: 1, info: ['mc_return'] });
      const batchSets: Batch[][] = settings.map((s) => (s.K === 1 ? [sampler.batch] : batchesLike(sampler.batch, s.K)));
      const runOnce = (i: number) => {
        const bs = batchSets[i]!;
        for (const b of bs) sampler.sample(b);
        if (bs.length === 1) learners[i]!.update(bs[0]!);
        else learners[i]!.updateMany(bs);
      };
      // Calibrate: runs per cell from a warm-up (3 runs each).
      const runs: number[] = settings.map((_, i) => {
        for (let k = 0; k < 2; k++) runOnce(i);
        const a = performance.now();
        runOnce(i);
        return Math.max(1, Math.round(cellMs / Math.max(0.1, performance.now() - a)));
      });
      const ms: Record<string, number[][]> = Object.fromEntries(loads.map((l) => [l, settings.map(() => [])]));
      const gemmMs: Record<string, number[]> = Object.fromEntries(loads.map((l) => [l, []]));
      for (let r = 0; r < rounds; r++) {
        for (const l of loads) {
          if (load) await load.set(l === 'load');
          // rotate the order of settings round by round so no setting always follows the load switch
          for (let j = 0; j < settings.length; j++) {
            const i = (j + r) % settings.length;
            const a = performance.now();
            for (let k = 0; k < runs[i]!; k++) runOnce(i);
            ms[l]![i]!.push((performance.now() - a) / (runs[i]! * settings[i]!.K));
          }
          const a = performance.now();
          for (let k = 0; k < 4; k++) gemm.run();
          gemmMs[l]!.push((performance.now() - a) / 4);
        }
      }
      if (load) await load.set(false);
      for (const l of loads) {
        const ups = settings.map((_, i) => 1000 / median(ms[l]![i]!));
        const best = Math.max(...ups);
        const bi = ups.indexOf(best);
        summary.push({ algo, load: l, best: settings[bi]!.label, bestUps: best, ups: Object.fromEntries(settings.map((s, i) => [s.label, ups[i]!])) });
        const gemmG = gemm.flops / median(gemmMs[l]!) / 1e6;
        rows.push([
          algo,
          l,
          ...ups.map((u) => `${u.toFixed(1)}${u === best ? ' ★' : ''} (${((u / best) * 100).toFixed(0)}%)`),
          gemmG.toFixed(0),
          (gemmG / (learners[0]!.flopsPerUpdate() / 1e9)).toFixed(0),
        ]);
      }
      for (const l of learners) l.dispose();
      gemm.dispose();
      console.error(`  ${algo} done (${((Date.now() - t0) / 1000).toFixed(0)} s, load average ${loadavg()})`);
    }
  } finally {
    load?.stop();
  }
  console.log(table(['algorithm', 'host', ...settings.map((s) => s.label), '256³ GEMM chain GFLOP/s (2t spin)', 'updates/s if every FLOP ran at that rate'], rows));
  console.log(`\nupdates/s (median of ${rounds} rounds; % of the row's best). load average at start ${la0}, at end ${loadavg()}; ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  if (process.env.O2O_THREADS_JSON) writeFileSync(process.env.O2O_THREADS_JSON, JSON.stringify({ la0, la1: loadavg(), summary }, null, 1));
}
