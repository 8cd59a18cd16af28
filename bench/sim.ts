/**
 * Simulator benchmark: env steps/s per task (single env, uniform-random actions, auto-reset) and
 * for an 8-copy VectorEnv (best of 3 timed runs each, after a warm-up), plus the reference returns of a random policy (and of the scripted
 * arm controller) that the env specs quote.
 *
 *   npm run bench -- sim
 */
import { Rng } from '../src/util/rng.js';
import { makeEnv, makeVectorEnv, scriptedArmPolicy, type Env, type MakeEnvOptions } from '../simulators/index.js';
import { measureReturns } from '../simulators/refscores.js';

interface Row {
  task: string;
  note: string;
  single: number;
  vector: number;
}

function stepsPerSecond(env: Env, steps: number): number {
  const rng = new Rng(0);
  const { actDim, actLow, actHigh } = env.spec;
  const act = new Float32Array(actDim);
  env.reset(0);
  const run = (n: number): number => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < actDim; k++) act[k] = rng.uniform(actLow[k], actHigh[k]);
      const r = env.step(act);
      if (r.terminated || r.truncated) env.reset();
    }
    return performance.now() - t0;
  };
  run(Math.min(2000, steps)); // warm-up (JIT)
  // best of 3: the dev machine is shared, bursts of other work only ever slow a run down
  const third = Math.ceil(steps / 3);
  return (third / Math.min(run(third), run(third), run(third))) * 1000;
}

async function vectorStepsPerSecond(id: string, opts: MakeEnvOptions, n: number, steps: number): Promise<number> {
  const vec = await makeVectorEnv(id, n, { ...opts, seed: 0 });
  const rng = new Rng(0);
  const { actDim, actLow, actHigh } = vec.spec;
  const acts = new Float32Array(n * actDim);
  vec.reset(0);
  const iters = Math.ceil(steps / n);
  const fill = (): void => {
    for (let i = 0; i < acts.length; i++) acts[i] = rng.uniform(actLow[i % actDim], actHigh[i % actDim]);
  };
  for (let i = 0; i < Math.min(250, iters); i++) {
    fill();
    vec.step(acts);
  }
  const third = Math.ceil(iters / 3);
  let best = Infinity;
  for (let rep = 0; rep < 3; rep++) {
    const t0 = performance.now();
    for (let i = 0; i < third; i++) {
      fill();
      vec.step(acts);
    }
    best = Math.min(best, performance.now() - t0);
  }
  vec.close();
  return ((third * n) / best) * 1000;
}

const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');

export async function run(): Promise<void> {
  const configs: [string, string, MakeEnvOptions, number][] = [
    ['pendulum', '', {}, 400_000],
    ['hopper', 'rk4 (Gymnasium), frame skip 4', {}, 20_000],
    ['hopper', 'euler, frame skip 4', { integrator: 'euler' }, 40_000],
    ['walker2d', 'rk4 (Gymnasium), frame skip 4', {}, 20_000],
    ['halfcheetah', 'euler (Gymnasium), frame skip 5', {}, 40_000],
    ['reacher-arm', 'implicitfast, frame skip 4', {}, 40_000],
    ['hopper', "rk4 + 'harsh' randomization", { randomization: 'harsh' }, 20_000],
  ];
  const rows: Row[] = [];
  for (const [id, note, opts, steps] of configs) {
    const env = await makeEnv(id, opts);
    const single = stepsPerSecond(env, steps);
    env.close();
    const vector = await vectorStepsPerSecond(id, opts, 8, steps);
    rows.push({ task: id, note, single, vector });
  }
  console.log('| task | physics | env steps/s (1 env) | env steps/s (VectorEnv N=8, total) |');
  console.log('|---|---|---:|---:|');
  for (const r of rows) console.log(`| ${r.task} | ${r.note || '—'} | ${fmt(r.single)} | ${fmt(r.vector)} |`);

  console.log('\nReference returns (100 episodes, reset seeds 0..99, actions from Rng(0)):\n');
  console.log('| task | policy | mean return | std | mean episode length |');
  console.log('|---|---|---:|---:|---:|');
  for (const id of ['pendulum', 'hopper', 'walker2d', 'halfcheetah', 'reacher-arm']) {
    const env = await makeEnv(id);
    const s = measureReturns(env, 100, 0);
    console.log(`| ${id} | uniform random | ${s.mean.toFixed(2)} | ${s.std.toFixed(2)} | ${s.meanLength.toFixed(1)} |`);
    if (id === 'reacher-arm') {
      const e = measureReturns(env, 100, 0, scriptedArmPolicy());
      console.log(`| ${id} | scriptedArmPolicy() | ${e.mean.toFixed(2)} | ${e.std.toFixed(2)} | ${e.meanLength.toFixed(1)} |`);
    }
    env.close();
  }
}

const isMain = import.meta.url === `file://${process.argv[1]}`;
if (isMain) await run();
