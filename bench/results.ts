/**
 * The results table (issue 5): every offline algorithm on each task's 'medium' and 'medium-replay'
 * recipe (built from the shipped behaviour policies), a fixed update budget, several seeds;
 * D4RL normalized score of the greedy policy (mean ± std over seeds, each seed the mean of its
 * evaluation episodes) and update steps/s. The markdown table replaces the block between the
 * results markers in BENCHMARKS.md (or is appended once).
 *
 *   npm run bench -- results
 *   O2O_RESULTS_TASKS=hopper O2O_RESULTS_STEPS=20000 O2O_RESULTS_SEEDS=3 O2O_RESULTS_HIDDEN=256,256 \
 *     O2O_RESULTS_JOBS=2 O2O_RESULTS_THREADS=1 npm run bench -- results
 * The Decision Transformer is sized by its own settings, O2O_RESULTS_DT (JSON; default 64 wide,
 * 2 layers, the lr warm-up a tenth of the run as CORL's 10k of 100k; every other setting CORL's);
 * Diffusion Policy by O2O_RESULTS_DIFFUSION (JSON; default 128 wide, the cosine decay over the run).
 * Every (dataset, algorithm, seed) is one job in its own process, one single-threaded job per core
 * (O2O_RESULTS_JOBS, default the number of cores); datasets are generated once and stored.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeEnv } from '../simulators/index.js';
import { algoDescriptor } from '../src/algos/index.js';
import { createStore, type Dataset, episodes } from '../src/data/index.js';
import { normalizedScore } from '../src/train/index.js';
import type { ResultCell, ResultJob } from './results-job.js';
import { generateRecipe } from '../src/train/datasets.js';
import { machine } from './stats.js';

const BEGIN = '<!-- results:begin -->';
const END = '<!-- results:end -->';

const env = (k: string, d: string): string => process.env[k] ?? d;

/** Runs jobs in child processes, at most `parallel` at a time; results in job order. */
async function runPool(jobs: ResultJob[], parallel: number, label: (j: ResultJob) => string): Promise<ResultCell[]> {
  const out: ResultCell[] = new Array(jobs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      const j = jobs[i]!;
      out[i] = await new Promise<ResultCell>((resolve, reject) => {
        const p = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'results-job.ts'), JSON.stringify(j)], { stdio: ['ignore', 'pipe', 'inherit'] });
        let text = '';
        p.stdout.on('data', (d: Buffer) => (text += d.toString()));
        p.on('exit', (code) => {
          const m = /^RESULT (.*)$/m.exec(text);
          if (code !== 0 || !m) reject(new Error(`${label(j)}: job exited with ${code}: ${text.slice(-500)}`));
          else resolve(JSON.parse(m[1]!) as ResultCell);
        });
      });
      const c = out[i]!;
      console.log(`${label(j)}: normalized ${c.normalized.toFixed(1)}${c.diverged ? ' (diverged)' : ''}, ${c.stepsPerSecond.toFixed(1)} steps/s`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, jobs.length) }, worker));
  return out;
}

export async function run(): Promise<void> {
  const tasks = env('O2O_RESULTS_TASKS', 'hopper,halfcheetah,walker2d').split(',');
  const kinds = env('O2O_RESULTS_DATASETS', 'medium,medium-replay').split(',');
  const algos = env('O2O_RESULTS_ALGOS', 'bc,td3bc,iql,cql,calql').split(',');
  const steps = Number(env('O2O_RESULTS_STEPS', '10000'));
  const seeds = Number(env('O2O_RESULTS_SEEDS', '3'));
  const hidden = env('O2O_RESULTS_HIDDEN', '256,256').split(',').map(Number);
  const evalEpisodes = Number(env('O2O_RESULTS_EPISODES', '10'));
  const transitions = Number(env('O2O_RESULTS_TRANSITIONS', '0')) || undefined;
  // one single-threaded training job per core (2×1 thread beat 1×2 threads per job here: BENCHMARKS.md)
  const parallel = Number(env('O2O_RESULTS_JOBS', String(availableParallelism())));
  const threads = Number(env('O2O_RESULTS_THREADS', parallel > 1 ? '1' : '2'));
  const dtConfig = JSON.parse(env('O2O_RESULTS_DT', JSON.stringify({ embeddingDim: 64, layers: 2, warmupSteps: Math.round(steps / 10) }))) as object;
  const diffusionConfig = JSON.parse(env('O2O_RESULTS_DIFFUSION', JSON.stringify({ width: 128, maxSteps: steps }))) as object;
  const ownConfig: Record<string, object> = { dt: dtConfig, diffusion: diffusionConfig };
  const configOf = (algo: string): object | undefined => (algoDescriptor(algo).networks ? undefined : (ownConfig[algo] ?? {}));
  const started = new Date();
  const lines: string[] = [];
  const scoreRows: string[][] = [];
  const work = mkdtempSync(join(tmpdir(), 'o2o-results-'));
  const jobs: ResultJob[] = [];
  const rowsOf: { name: string; cells: string[] }[] = [];
  for (const task of tasks) {
    const evalEnv = await makeEnv(task);
    for (const kind of kinds) {
      const name = `${task}-${kind}`;
      const dataset: Dataset = await generateRecipe(name, 0, { transitions });
      const dir = join(work, name);
      const infoDims = Object.fromEntries(Object.entries(dataset.info).map(([k, c]) => [k, c.dim]));
      const store = createStore(dir, {
        obsDim: dataset.obsDim,
        actDim: dataset.actDim,
        envId: task,
        infoDims,
        ...(dataset.meta.refScores ? { refScores: dataset.meta.refScores } : {}),
      });
      await store.append(dataset, { keepEpisodeIds: true });
      const eps = episodes(dataset);
      const behaviour = normalizedScore(evalEnv, eps.reduce((a, e) => a + e.return, 0) / eps.length);
      rowsOf.push({ name, cells: [name, `${dataset.size}`, behaviour.toFixed(1)] });
      for (const algo of algos) for (let seed = 0; seed < seeds; seed++) jobs.push({ task, name, dir, algo, seed, steps, hidden, config: configOf(algo), threads, evalEpisodes });
    }
    evalEnv.close();
  }
  console.log(`${jobs.length} training jobs, ${parallel} at a time, ${threads} intra-op thread(s) each`);
  const cells = await runPool(jobs, parallel, (j) => `${j.name} ${j.algo} seed ${j.seed}`);
  for (const row of rowsOf) {
    for (const algo of algos) {
      const mine = cells.filter((_, i) => jobs[i]!.name === row.name && jobs[i]!.algo === algo);
      const scores = mine.map((c) => c.normalized);
      const m = scores.reduce((a, b) => a + b, 0) / scores.length;
      const sd = Math.sqrt(scores.reduce((a, b) => a + (b - m) ** 2, 0) / scores.length);
      const rates = mine.map((c) => c.stepsPerSecond).sort((a, b) => a - b);
      row.cells.push(`${m.toFixed(1)} ± ${sd.toFixed(1)} (${rates[rates.length >> 1]!.toFixed(0)}/s)`);
    }
    scoreRows.push(row.cells);
  }
  rmSync(work, { recursive: true, force: true });
  lines.push(BEGIN);
  lines.push(
    `Measured ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machine()}. Command: \`O2O_RESULTS_TASKS=${tasks.join(',')} O2O_RESULTS_DATASETS=${kinds.join(',')} O2O_RESULTS_ALGOS=${algos.join(',')} O2O_RESULTS_STEPS=${steps} O2O_RESULTS_SEEDS=${seeds} O2O_RESULTS_HIDDEN=${hidden.join(',')} O2O_RESULTS_EPISODES=${evalEpisodes} O2O_RESULTS_JOBS=${parallel} O2O_RESULTS_THREADS=${threads}${algos.includes('dt') ? ` O2O_RESULTS_DT='${JSON.stringify(dtConfig)}'` : ''}${algos.includes('diffusion') ? ` O2O_RESULTS_DIFFUSION='${JSON.stringify(diffusionConfig)}'` : ''}${transitions ? ` O2O_RESULTS_TRANSITIONS=${transitions}` : ''} npm run bench -- results\`.`,
  );
  lines.push(
    `Each cell: D4RL normalized score of the greedy policy after ${steps} updates (mean ± std over ${seeds} seeds; each seed ${evalEpisodes} evaluation episodes, nominal dynamics), and the median update steps/s (${parallel} jobs side by side, ${threads} intra-op thread(s) each). Networks ${hidden.join('x')}, batch 256, every other setting at the algorithm's CORL default. 'behaviour' is the dataset's own mean episode return, normalized.`,
  );
  lines.push('');
  lines.push(`| dataset | transitions | behaviour | ${algos.join(' | ')} |`);
  lines.push(`|---|---:|---:|${algos.map(() => '---:').join('|')}|`);
  for (const r of scoreRows) lines.push(`| ${r.join(' | ')} |`);
  lines.push(END);
  const table = lines.join('\n');
  console.log(`\n${table}\n`);
  const file = 'BENCHMARKS.md';
  if (process.env.O2O_RESULTS_WRITE !== '0' && existsSync(file)) {
    const md = readFileSync(file, 'utf8');
    const a = md.indexOf(BEGIN);
    const b = md.indexOf(END);
    const next = a >= 0 && b > a ? md.slice(0, a) + table + md.slice(b + END.length) : `${md.trimEnd()}\n\n## Results (npm run bench -- results)\n\n${table}\n`;
    writeFileSync(file, next);
    console.log(`wrote the table into ${file}`);
  }
}
