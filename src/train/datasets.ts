/**
 * Datasets by name: a native store folder, a D4RL HDF5 file, or a recipe '<task>-<kind>' built
 * deterministically the way D4RL builds its datasets (random / medium / expert / medium-replay /
 * medium-expert). Tasks with a scripted controller (pendulum swing-up, reacher-arm IK+PD,
 * reach-around's two-sided demonstrator) use it as their expert; 'medium' and 'medium-replay'
 * degrade it with seeded action noise. 'demos' (tasks with a demonstrator: reach-around) is a
 * fixed number of whole demonstrator episodes with a little action noise — multimodal when the
 * demonstrator picks a mode per episode.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { type Dataset, DatasetBuilder, importD4rl, openStore } from '../data/index.js';
import { Session } from '../engine/index.js';
import { type Env, makeEnv, scriptedArmPolicy, scriptedReachAroundPolicy } from '../../simulators/index.js';
import { Rng } from '../util/rng.js';

export const RECIPE_KINDS = ['random', 'medium', 'expert', 'medium-replay', 'medium-expert', 'demos'] as const;

/** A controller; one with `reset` is told each episode's seed before its first step (it may pick a mode). */
type Controller = ((obs: ArrayLike<number>) => ArrayLike<number>) & { reset?: (episodeSeed: number) => void };

/** Energy-pumping swing-up with a PD catch near the top (Pendulum-v1 return ≈ −180). */
export function pendulumSwingUp(o: ArrayLike<number>): number[] {
  const c = o[0]!;
  const s = o[1]!;
  const w = o[2]!;
  if (c > 0.9) return [Math.max(-2, Math.min(2, (-15 * s - 20 * Math.atan2(s, c) - 6 * w) / 3))];
  const e = 0.5 * w * w + 15 * c;
  return [e < 15 ? (w >= 0 ? 2 : -2) : w >= 0 ? -0.5 : 0.5];
}

const SCRIPTED: Partial<Record<string, () => Controller>> = {
  pendulum: () => pendulumSwingUp,
  'reacher-arm': () => scriptedArmPolicy(),
  'reach-around': () => scriptedReachAroundPolicy(),
};

/** Tasks with a 'demos' recipe: episodes and the action-noise std (fraction of the half-range). */
const DEMOS: Record<string, { episodes: number; noise: number }> = {
  'reach-around': { episodes: 1000, noise: 0.1 }, // left/right ½ each, all succeed (BENCHMARKS.md "Multimodal task")
};

/** Shipped behaviour policies: policies/<task>-medium.onnx, <task>-expert.onnx (+ <task>-medium-replay/);
 * O2O_POLICIES_DIR points elsewhere. */
export function policiesDir(): string {
  return process.env.O2O_POLICIES_DIR ?? fileURLToPath(new URL('../../policies/', import.meta.url));
}

/** A shipped ONNX policy as a controller (deterministic action; the recipe adds the noise). */
async function shippedController(task: string, level: 'medium' | 'expert'): Promise<Controller | null> {
  const file = join(policiesDir(), `${task}-${level}.onnx`);
  if (!existsSync(file)) return null;
  const s = await Session.fromOnnx(new Uint8Array(readFileSync(file)), { name: file, threads: 1 });
  const input = [...s.inputNames()][0]!;
  const output = [...s.outputNames()][0]!;
  return (obs) => s.run({ [input]: obs instanceof Float32Array ? obs : Float32Array.from(obs) })[output] as Float32Array;
}

/** Per task: transitions per recipe and the action-noise std (fraction of the action range) of 'medium'. */
const SIZES: Record<string, { transitions: number; mediumNoise: number }> = {
  pendulum: { transitions: 20_000, mediumNoise: 1.2 }, // 'medium' returns ≈ −700 (normalized ≈ 50)
  'reacher-arm': { transitions: 20_000, mediumNoise: 0.6 },
  'reach-around': { transitions: 20_000, mediumNoise: 0.6 },
};
/** Tasks whose behaviour policies are shipped ONNX files (D4RL-style: noise 0.1 around the policy). */
const SHIPPED_SIZE = { transitions: 200_000, mediumNoise: 0.1 };

interface CollectOptions {
  transitions: number;
  seed: number;
  /** Gaussian action noise std as a fraction of each action's half-range, per episode index. */
  noise: (episode: number) => number;
  /** Probability that a whole episode acts uniformly at random. */
  randomEpisodes?: number;
  /** Stop after this many whole episodes instead (`transitions` is then only the capacity). */
  episodes?: number;
  id: string;
}

/** Rolls out a controller with seeded noise into a dataset (env-unit actions, D4RL flags). */
function collect(env: Env, controller: Controller | null, o: CollectOptions): Dataset {
  const rng = new Rng(o.seed);
  const { actDim, actLow, actHigh } = env.spec;
  const b = new DatasetBuilder(env.spec.obsDim, actDim, {
    capacity: o.transitions,
    meta: { envId: env.spec.id, behaviorPolicy: o.id, refScores: { random: env.spec.refScores.random, expert: env.spec.refScores.expert } },
  });
  const a = new Float32Array(actDim);
  const more = (ep: number): boolean => (o.episodes === undefined ? b.size < o.transitions : ep < o.episodes);
  for (let ep = 0; more(ep); ep++) {
    const random = controller === null || rng.uniform() < (o.randomEpisodes ?? 0);
    const sigma = o.noise(ep);
    let obs = env.reset(o.seed * 100_003 + ep);
    controller?.reset?.(env.resetInfo().episodeSeed);
    for (;;) {
      const base = random ? null : controller!(obs);
      for (let k = 0; k < actDim; k++) {
        const lo = actLow[k]!;
        const hi = actHigh[k]!;
        const v = base ? base[k]! + sigma * ((hi - lo) / 2) * rng.normal() : rng.uniform(lo, hi);
        a[k] = Math.max(lo, Math.min(hi, v));
      }
      const r = env.step(a);
      b.add({ obs, action: a, reward: r.reward, nextObs: r.obs, terminal: r.terminated, timeout: r.truncated || b.size + 1 === o.transitions });
      obs = r.obs;
      if (r.terminated || r.truncated || b.size >= o.transitions) break;
    }
  }
  return b.build({ compact: true });
}

class DatasetSpecError extends Error {
  override name = 'DatasetSpecError';
}

/** Builds '<task>-<kind>' (e.g. 'pendulum-medium-replay'); `transitions` overrides the size. */
export async function generateRecipe(name: string, seed = 0, opts: { transitions?: number } = {}): Promise<Dataset> {
  const kind = RECIPE_KINDS.find((k) => name.endsWith(`-${k}`) && !(k === 'expert' && name.endsWith('-medium-expert')));
  const task = kind ? name.slice(0, -(kind.length + 1)) : '';
  if (!kind || !task) throw new DatasetSpecError(`'${name}' is not a recipe; use <task>-<${RECIPE_KINDS.join('|')}>`);
  if (kind === 'demos' && !DEMOS[task]) throw new DatasetSpecError(`'${name}': task '${task}' has no demonstrator; '-demos' recipes exist for ${Object.keys(DEMOS).join(', ')}`);
  const scripted = SCRIPTED[task];
  let medium: Controller | null = scripted ? scripted() : await shippedController(task, 'medium');
  let expert: Controller | null = scripted ? scripted() : await shippedController(task, 'expert');
  if (kind === 'medium-replay' && !scripted) {
    const dir = join(policiesDir(), `${task}-medium-replay`);
    if (existsSync(join(dir, 'manifest.json'))) return (await openStore(dir).read()).dataset;
    throw new DatasetSpecError(
      `no replay buffer for '${name}': expected ${dir}; make it with 'o2o behavior train --task ${task} ...' (it saves the buffer when the medium policy is taken)`,
    );
  }
  if (kind !== 'random' && (!medium || !expert)) {
    throw new DatasetSpecError(
      `no behaviour policy for task '${task}': expected ${join(policiesDir(), `${task}-medium.onnx`)} and -expert.onnx; train them with 'o2o behavior train --task ${task} --steps N --medium-return R --out policies', or import a D4RL file (o2o dataset import --format d4rl)`,
    );
  }
  const env = await makeEnv(task);
  const size = { ...(SIZES[task] ?? SHIPPED_SIZE) };
  if (opts.transitions) size.transitions = opts.transitions;
  const id = name;
  const randomEps = scripted ? 0.3 : 0;
  try {
    switch (kind) {
      case 'random':
        return collect(env, null, { transitions: size.transitions, seed, noise: () => 0, id });
      case 'expert':
        return collect(env, expert, { transitions: size.transitions, seed, noise: () => 0.05, id });
      case 'demos': {
        const d = DEMOS[task]!;
        return collect(env, expert, { transitions: d.episodes * env.spec.maxEpisodeSteps, episodes: d.episodes, seed, noise: () => d.noise, id });
      }
      case 'medium':
        return collect(env, medium, { transitions: size.transitions, seed, noise: () => size.mediumNoise, randomEpisodes: randomEps, id });
      case 'medium-replay': {
        // A replay buffer on the way to 'medium': noise anneals from random-like to the medium level.
        const episodes = Math.ceil(size.transitions / env.spec.maxEpisodeSteps);
        return collect(env, medium, { transitions: size.transitions, seed, noise: (ep) => size.mediumNoise + 2 * Math.max(0, 1 - ep / episodes), randomEpisodes: randomEps, id });
      }
      case 'medium-expert': {
        const half = Math.floor(size.transitions / 2);
        const m = collect(env, medium, { transitions: half, seed, noise: () => size.mediumNoise, randomEpisodes: randomEps, id });
        const e = collect(env, expert, { transitions: half, seed: seed + 1, noise: () => 0.05, id });
        const b = new DatasetBuilder(m.obsDim, m.actDim, { capacity: m.size + e.size, meta: m.meta });
        b.append(m);
        b.append(e);
        return b.build({ compact: true });
      }
    }
  } finally {
    env.close();
    medium = null;
    expert = null;
  }
}

/** A dataset by folder, D4RL file or recipe name. */
export async function loadDataset(spec: string, seed = 0): Promise<{ dataset: Dataset; id: string }> {
  if (existsSync(spec)) {
    if (statSync(spec).isDirectory()) {
      if (!existsSync(join(spec, 'manifest.json')))
        throw new DatasetSpecError(`${spec}: a folder without manifest.json is not an o2o dataset; create one with 'o2o dataset import' or 'o2o dataset generate'`);
      const r = await openStore(spec).read();
      return { dataset: r.dataset, id: spec };
    }
    if (/\.(hdf5|h5)$/i.test(spec)) return { dataset: (await importD4rl(spec)).dataset, id: spec };
    throw new DatasetSpecError(`${spec}: unknown dataset file type; use a dataset folder, a D4RL .hdf5 file, or a recipe name`);
  }
  return { dataset: await generateRecipe(spec, seed), id: spec };
}
