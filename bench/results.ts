/**
 * The results table (issue 5): every offline algorithm on each task's 'medium' and 'medium-replay'
 * recipe (built from the shipped behaviour policies), a fixed update budget, several seeds;
 * D4RL normalized score of the greedy policy (mean ± std over seeds, each seed the mean of its
 * evaluation episodes) and update steps/s. The markdown table replaces the block between the
 * results markers in BENCHMARKS.md (or is appended once).
 *
 *   npm run bench -- results
 *   O2O_RESULTS_TASKS=hopper O2O_RESULTS_STEPS=20000 O2O_RESULTS_SEEDS=3 O2O_RESULTS_HIDDEN=256,256 \
 *     O2O_RESULTS_THREADS=1 npm run bench -- results
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { makeEnv } from '../simulators/index.js';
import { episodes, type Dataset } from '../src/data/index.js';
import { evaluateLearner, normalizedScore, taskOf, train } from '../src/train/index.js';
import { generateRecipe } from '../src/train/datasets.js';
import { machine } from './stats.js';

const BEGIN = '<!-- results:begin -->';
const END = '<!-- results:end -->';

const env = (k: string, d: string): string => process.env[k] ?? d;

export async function run(): Promise<void> {
  const tasks = env('O2O_RESULTS_TASKS', 'hopper,halfcheetah,walker2d').split(',');
  const kinds = env('O2O_RESULTS_DATASETS', 'medium,medium-replay').split(',');
  const algos = env('O2O_RESULTS_ALGOS', 'bc,td3bc,iql,cql,calql').split(',');
  const steps = Number(env('O2O_RESULTS_STEPS', '10000'));
  const seeds = Number(env('O2O_RESULTS_SEEDS', '3'));
  const hidden = env('O2O_RESULTS_HIDDEN', '256,256').split(',').map(Number);
  const evalEpisodes = Number(env('O2O_RESULTS_EPISODES', '10'));
  const transitions = Number(env('O2O_RESULTS_TRANSITIONS', '0')) || undefined;
  const threads = Number(env('O2O_RESULTS_THREADS', '2'));
  const started = new Date();
  const lines: string[] = [];
  const scoreRows: string[][] = [];
  for (const task of tasks) {
    const evalEnv = await makeEnv(task);
    const spec = evalEnv.spec;
    const taskSpec = taskOf(spec);
    for (const kind of kinds) {
      const name = `${task}-${kind}`;
      const dataset: Dataset = await generateRecipe(name, 0, { transitions });
      const eps = episodes(dataset);
      const behaviour = normalizedScore(evalEnv, eps.reduce((a, e) => a + e.return, 0) / eps.length);
      const row = [name, `${dataset.size}`, behaviour.toFixed(1)];
      for (const algo of algos) {
        const scores: number[] = [];
        const rates: number[] = [];
        for (let seed = 0; seed < seeds; seed++) {
          const t0 = performance.now();
          const r = await train({
            algo,
            dataset,
            datasetId: name,
            task: taskSpec,
            steps,
            seed,
            config: { hidden, actorHidden: hidden, criticHidden: hidden, maxSteps: steps },
            session: { threads },
          });
          rates.push(steps / ((performance.now() - t0) / 1000));
          const res = await evaluateLearner(evalEnv, r, evalEpisodes, 10_000 * (seed + 1));
          r.learner.dispose();
          scores.push(r.diverged ? Number.NaN : res.normalized);
          console.log(`${name} ${algo} seed ${seed}: normalized ${res.normalized.toFixed(1)}${r.diverged ? ' (diverged)' : ''}, ${rates.at(-1)!.toFixed(1)} steps/s`);
        }
        const m = scores.reduce((a, b) => a + b, 0) / scores.length;
        const sd = Math.sqrt(scores.reduce((a, b) => a + (b - m) ** 2, 0) / scores.length);
        const rate = rates.sort((a, b) => a - b)[rates.length >> 1]!;
        row.push(`${m.toFixed(1)} ± ${sd.toFixed(1)} (${rate.toFixed(0)}/s)`);
      }
      scoreRows.push(row);
    }
    evalEnv.close();
  }
  lines.push(BEGIN);
  lines.push(
    `Measured ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machine()}. Command: \`O2O_RESULTS_TASKS=${tasks.join(',')} O2O_RESULTS_DATASETS=${kinds.join(',')} O2O_RESULTS_STEPS=${steps} O2O_RESULTS_SEEDS=${seeds} O2O_RESULTS_HIDDEN=${hidden.join(',')} O2O_RESULTS_EPISODES=${evalEpisodes} O2O_RESULTS_THREADS=${threads}${transitions ? ` O2O_RESULTS_TRANSITIONS=${transitions}` : ''} npm run bench -- results\`.`,
  );
  lines.push(
    `Each cell: D4RL normalized score of the greedy policy after ${steps} updates (mean ± std over ${seeds} seeds; each seed ${evalEpisodes} evaluation episodes, nominal dynamics), and the median update steps/s. Networks ${hidden.join('x')}, batch 256, ${threads} intra-op thread(s), every other setting at the algorithm's CORL default. 'behaviour' is the dataset's own mean episode return, normalized.`,
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
