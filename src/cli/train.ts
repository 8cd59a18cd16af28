import { ALGOS, ALGO_DESCRIPTORS, type AlgoDescriptor, LearnerError, batchNeeds, networkSettings, settingsOf } from '../algos/index.js';
import { makeEnv } from '../../simulators/index.js';
import { exportPolicy } from '../serve/index.js';
import { evaluateLearner, taskOf, train } from '../train/index.js';
import { loadDataset } from '../train/datasets.js';
import { type Args, type CommandSpec, UsageError, bool, configFlag, num, optNum, optStr, str } from './args.js';
import { ProgressBar } from './progress.js';

export const TRAIN_USAGE = `o2o train --algo <${ALGOS.join('|')}> --dataset <dir|file.hdf5|recipe> --task <env id> --steps N
  [--seed N] [--batch N] [--hidden 256,256] [--eval-every N] [--eval-episodes N]
  [--log metrics.jsonl] [--checkpoints <dir>] [--checkpoint-every N] [--resume] [--out policy.onnx]
  [--config '{"alpha": 2.5}'] [--reward-norm auto|none|episode-return-range] [--threads N] [--spin] [--ep cpu|cuda|webgpu]
  (--spin: ORT's intra-op threads spin between kernels; 10–20 % faster on an otherwise idle machine,
   up to 2–3× slower when anything else wants the cores; default: they sleep)
  algorithms (--config takes the algorithm's own settings; 'o2o train --algo <name> --help' lists them with their defaults):
${ALGO_DESCRIPTORS.map((d) => `    ${d.name.padEnd(7)} ${d.title}`).join('\n')}`;

/** A setting's value as the help shows it (JSON has no Infinity). */
const shown = (v: unknown): string => (typeof v === 'number' ? String(v) : JSON.stringify(v));

/** `o2o train --algo <name> --help`: the algorithm's paper, defaults and settings. */
function algorithmHelp(d: AlgoDescriptor): string {
  const defaults = d.defaults as Record<string, unknown>;
  const needs = batchNeeds(d.name);
  const unit = needs.chunk
    ? `chunks of ${needs.chunk.nObs} observations and ${needs.chunk.horizon} actions`
    : needs.sequenceLength === 1
      ? 'transitions'
      : `${needs.sequenceLength}-step sequences`;
  const batches = [unit, ...needs.columns.map((c) => `with ${c.name}`)].join(', ');
  const width = Math.max(...Object.keys(defaults).map((k) => k.length));
  return [
    `${d.name}: ${d.title}`,
    `  paper: ${d.paper}`,
    `  defaults: ${d.defaultsFrom}`,
    `  batches: ${batches}`,
    `  --hidden sets: ${d.networks ? Object.keys(d.networks([256, 256])).join(', ') : '(nothing: its sizes are settings)'}`,
    `  settings (--config '{"name": value}'), with their defaults:`,
    ...settingsOf(d.name).map((k) => `    ${k.padEnd(width)}  ${shown(defaults[k])}`),
  ].join('\n');
}

/** `o2o train --help`, with the algorithm's own page when --algo names one. */
export function trainHelp(argv: string[]): string {
  const i = argv.findIndex((x) => x === '--algo' || x.startsWith('--algo='));
  const name = i < 0 ? undefined : argv[i]!.includes('=') ? argv[i]!.slice('--algo='.length) : argv[i + 1];
  const d = ALGO_DESCRIPTORS.find((x) => x.name === name);
  return d ? `${TRAIN_USAGE}\n\n${algorithmHelp(d)}` : TRAIN_USAGE;
}

export const TRAIN_SPEC: CommandSpec = {
  name: 'o2o train',
  flags: {
    algo: 'string',
    dataset: 'string',
    task: 'string',
    steps: 'int',
    seed: 'int',
    batch: 'int',
    hidden: 'numbers',
    'eval-every': 'int',
    'eval-episodes': 'int',
    log: 'string',
    checkpoints: 'string',
    'checkpoint-every': 'int',
    resume: 'bool',
    out: 'string',
    config: 'string',
    'reward-norm': ['auto', 'none', 'episode-return-range'],
    threads: 'int',
    spin: 'bool',
    ep: ['cpu', 'cuda', 'webgpu'],
  },
};

export async function trainCommand(a: Args): Promise<void> {
  const algo = str(a, 'algo');
  // The algorithm's settings are checked against its descriptor before any work.
  const config = configFlag(a, algo);
  const taskId = str(a, 'task');
  const steps = num(a, 'steps');
  const seed = num(a, 'seed', 0);
  if (a.flags.has('batch')) config.batchSize = num(a, 'batch');
  if (optStr(a, 'hidden')) {
    const h = str(a, 'hidden').split(',').map(Number);
    if (h.some((v) => !Number.isInteger(v) || v <= 0)) throw new UsageError(`--hidden must be a comma-separated list of widths, got '${str(a, 'hidden')}'`);
    try {
      Object.assign(config, networkSettings(algo, h));
    } catch (e) {
      if (e instanceof LearnerError) throw new UsageError(`--hidden: ${e.message}`);
      throw e;
    }
  }
  const env = await makeEnv(taskId);
  const { dataset, id } = await loadDataset(str(a, 'dataset'), seed);
  const bar = new ProgressBar(`train ${algo}`, steps);
  const evalEvery = num(a, 'eval-every', Math.max(1, Math.floor(steps / 10)));
  const evalEpisodes = num(a, 'eval-episodes', 10);
  const res = await train({
    algo,
    dataset,
    datasetId: id,
    task: taskOf(env.spec),
    steps,
    seed,
    config,
    logPath: optStr(a, 'log'),
    checkpointDir: optStr(a, 'checkpoints'),
    checkpointEvery: num(a, 'checkpoint-every', 0),
    resume: bool(a, 'resume'),
    rewardNormalization: (optStr(a, 'reward-norm') ?? 'auto') as 'auto',
    session: {
      ...(optNum(a, 'threads') !== undefined ? { threads: optNum(a, 'threads') } : {}),
      ...(bool(a, 'spin') ? { ortConfig: { session: { intra_op: { allow_spinning: '1' } } } } : {}),
      executionProvider: (optStr(a, 'ep') ?? 'cpu') as 'cpu',
    },
    evaluate: { every: evalEvery, run: (v) => evaluateLearner(env, v, evalEpisodes, 1_000_000 + seed) },
    onProgress: (p) => bar.update(p.step, p.eval ? `score ${p.eval.normalized.toFixed(1)}` : ''),
  });
  bar.done();
  if (res.resumed) {
    const changed = Object.entries(res.resumed.changedSettings).map(([k, v]) => `${k} ${JSON.stringify(v.was)} → ${JSON.stringify(v.now)}`);
    console.error(`resumed from ${res.resumed.checkpoint} at step ${res.resumed.step}${changed.length ? `; settings changed since: ${changed.join(', ')}` : ''}`);
  }
  if (res.diverged) {
    console.error(`training diverged at step ${res.diverged.step} (${JSON.stringify(res.diverged.metrics)}); last good checkpoint: ${res.diverged.lastCheckpoint ?? 'none'}`);
    process.exitCode = 3;
  }
  const last = res.evals.at(-1);
  if (last)
    console.log(
      JSON.stringify({
        algo,
        dataset: id,
        steps: res.steps,
        return: last.result.mean,
        normalized: last.result.normalized,
        ...(last.result.successRate !== undefined ? { successRate: last.result.successRate } : {}),
      }),
    );
  const out = optStr(a, 'out');
  if (out) {
    const r = exportPolicy({
      policy: res.learner.policy(),
      card: {
        name: `${taskId}-${algo}`,
        version: `steps-${res.steps}`,
        task: taskId,
        algorithm: algo,
        datasetId: id,
        trainingSteps: res.steps,
        seed,
        actLow: env.spec.actLow,
        actHigh: env.spec.actHigh,
        // the settings that made it (a diffusion policy's sampler among them: k, η, temperature)
        notes: `settings ${JSON.stringify(res.learner.checkpoint().config, (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v))}`,
      },
      obsMean: res.obsStats?.mean,
      obsStd: res.obsStats?.std,
      out,
    });
    console.log(`wrote ${out} (sha256 ${r.sha256.slice(0, 12)}…); sign it with 'o2o export --from ${out} --sign <key>'`);
  }
  res.learner.dispose();
  env.close();
}
