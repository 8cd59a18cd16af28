/**
 * One cell of the results table in its own process (bench/results.ts runs one such job per core):
 * train `algo` on the dataset stored in `dir` for `steps` updates with `seed`, evaluate the greedy
 * policy, print one line `RESULT {json}`.
 */
import { makeEnv } from '../simulators/index.js';
import { networkSettings, pickSettings } from '../src/algos/index.js';
import { evaluateLearner, taskOf, train } from '../src/train/index.js';
import { loadDataset } from '../src/train/datasets.js';

export interface ResultJob {
  task: string;
  /** Recipe name (the dataset id: it selects the reference preprocessing). */
  name: string;
  /** Where the parent stored the generated dataset. */
  dir: string;
  algo: string;
  seed: number;
  steps: number;
  hidden: number[];
  /** Settings of an algorithm whose networks are not sized by hidden widths (dt), instead of `hidden`. */
  config?: object;
  threads: number;
  evalEpisodes: number;
}

export interface ResultCell {
  normalized: number;
  diverged: boolean;
  stepsPerSecond: number;
}

export async function runJob(j: ResultJob): Promise<ResultCell> {
  const env = await makeEnv(j.task);
  const { dataset } = await loadDataset(j.dir);
  const t0 = performance.now();
  const r = await train({
    algo: j.algo,
    dataset,
    datasetId: j.name,
    task: taskOf(env.spec),
    steps: j.steps,
    seed: j.seed,
    // Every network at the table's width; IQL's actor learning-rate schedule spans the run.
    config: { ...(j.config ?? networkSettings(j.algo, j.hidden)), ...pickSettings(j.algo, { maxSteps: j.steps }) },
    session: { threads: j.threads },
  });
  const stepsPerSecond = j.steps / ((performance.now() - t0) / 1000);
  const res = await evaluateLearner(env, r, j.evalEpisodes, 10_000 * (j.seed + 1));
  r.learner.dispose();
  env.close();
  return { normalized: r.diverged ? Number.NaN : res.normalized, diverged: !!r.diverged, stepsPerSecond };
}

if (process.argv[1]?.endsWith('results-job.ts')) {
  const cell = await runJob(JSON.parse(process.argv[2]!) as ResultJob);
  console.log(`RESULT ${JSON.stringify(cell)}`);
}
