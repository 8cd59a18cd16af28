/** `o2o eval`: sim-to-real evaluation of a policy with an HTML + JSON report (logic in src/eval). */
import { loadProfiles, type RandomizationProfile } from '../../simulators/index.js';
import { evaluatePolicy, writeReport } from '../eval/index.js';
import { type Args, type CommandSpec, chunkingFlags, descriptionFlag, UsageError, num, optNum, optStr, str } from './args.js';
import { ProgressBar } from './progress.js';

export const EVAL_USAGE = `o2o eval --policy <file.onnx> --task <env id> [--profiles nominal,mild,harsh] [--episodes 20]
  [--seed 0] [--profile-file profiles.yaml] [--real <dataset dir>] [--curve metrics.jsonl]
  [--out eval-report] [--resamples 2000] [--level 0.95] [--bins 20] [--threads 1]
  [--target-return R] [--interface <json | file>] [--action-horizon N | --temporal-ensembling M]
  Rolls the policy out under each randomization profile (same reset seeds for all), compares with
  logged real runs, and writes <out>/report.html (inline SVG charts) and <out>/summary.json.
  A sequence policy (Decision Transformer) gets the rewards and episode starts with its context;
  --target-return replaces its card's target return. --interface describes a foreign ONNX that takes
  a context or returns a chunk of actions (or put the description in <file.onnx>.card.json). A chunked
  policy (Diffusion Policy, ACT) executes --action-horizon actions per plan (default: its card's), or plans
  every step with ACT's temporal ensembling, weights exp(-M·i) (ACT: M = 0.01).`;

export const EVAL_SPEC: CommandSpec = {
  name: 'o2o eval',
  flags: {
    policy: 'string',
    task: 'string',
    profiles: 'list',
    episodes: 'int',
    seed: 'int',
    'profile-file': 'string',
    real: 'string',
    curve: 'string',
    out: 'string',
    resamples: 'int',
    level: 'number',
    bins: 'int',
    threads: 'int',
    'target-return': 'number',
    interface: 'string',
    'action-horizon': 'int',
    'temporal-ensembling': 'number',
  },
};

export async function evalCommand(a: Args): Promise<void> {
  const profiles = (optStr(a, 'profiles') ?? 'nominal,mild,harsh')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (profiles.length === 0) throw new UsageError('--profiles needs at least one profile name, e.g. nominal,mild,harsh');
  const profileFile = optStr(a, 'profile-file');
  const customProfiles: Record<string, RandomizationProfile> = profileFile ? loadProfiles(profileFile) : {};
  const episodes = num(a, 'episodes', 20);
  const out = optStr(a, 'out') ?? 'eval-report';
  const bar = new ProgressBar('eval', profiles.length * episodes);
  let done = 0;
  const s = await evaluatePolicy({
    policy: str(a, 'policy'),
    task: str(a, 'task'),
    profiles,
    customProfiles,
    episodes,
    seed: num(a, 'seed', 0),
    real: optStr(a, 'real'),
    curve: optStr(a, 'curve'),
    resamples: num(a, 'resamples', 2000),
    level: num(a, 'level', 0.95),
    bins: num(a, 'bins', 20),
    model: { threads: num(a, 'threads', 1) },
    targetReturn: optNum(a, 'target-return'),
    description: descriptionFlag(a),
    chunking: chunkingFlags(a),
    onProgress: (p) => bar.update(++done, p.profile),
  });
  bar.done();
  const files = await writeReport(s, out);
  const pct = Math.round(s.ci.level * 100);
  const f = (x: number): string => x.toFixed(1);
  for (const p of s.profiles) {
    const gap = p.gapToNominal ? `  gap to nominal ${f(p.gapToNominal.normalized)} [${f(p.gapToNominal.normalizedCI.lo)}, ${f(p.gapToNominal.normalizedCI.hi)}]` : '';
    const real = p.gapToReal ? `  gap to real ${f(p.gapToReal.normalized)} [${f(p.gapToReal.normalizedCI.lo)}, ${f(p.gapToReal.normalizedCI.hi)}]` : '';
    const success =
      p.successRate !== null
        ? `  success ${(100 * p.successRate).toFixed(0)} %${p.successCI ? ` [${(100 * p.successCI.lo).toFixed(0)}, ${(100 * p.successCI.hi).toFixed(0)}]` : ''}`
        : '';
    console.log(
      `${p.name.padEnd(10)} return ${f(p.mean)} ± ${f(p.std)}${success}  normalized ${f(p.normalizedMean)} (${pct}% CI ${f(p.normalizedCI.lo)}..${f(p.normalizedCI.hi)})${gap}${real}`,
    );
  }
  if (s.real)
    console.log(
      `${'real'.padEnd(10)} return ${f(s.real.mean)} ± ${f(s.real.std)}  normalized ${f(s.real.normalizedMean)} (${pct}% CI ${f(s.real.normalizedCI.lo)}..${f(s.real.normalizedCI.hi)}), ${s.real.returns.length} episodes`,
    );
  const c = s.policy.chunk;
  const chunk = c
    ? c.temporalEnsembling !== null
      ? `, chunk ${c.chunkLength}, temporal ensembling m = ${c.temporalEnsembling}`
      : `, chunk ${c.chunkLength}, ${c.actionHorizon} actions per plan`
    : '';
  if (s.policy.kind !== 'mlp') console.log(`policy: '${s.policy.kind}'${s.policy.targetReturn !== null ? `, target return ${s.policy.targetReturn}` : ''}${chunk}`);
  for (const w of s.warnings) console.error(`warning: ${w}`);
  console.log(`wrote ${files.html} and ${files.json}`);
}
