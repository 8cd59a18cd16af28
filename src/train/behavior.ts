/**
 * Behaviour policies the D4RL way: train a policy online on a task, keep a 'medium' policy (the
 * first evaluation reaching `mediumReturn`, about a third of the expert return) together with the
 * experience gathered up to that point ('medium-replay'), and an 'expert' policy (the best
 * evaluation). Two trainers:
 *  - 'sac': D4RL's own recipe (online SAC; the replay buffer is medium-replay). One gradient
 *    update per environment step, so it needs hours for a locomotion expert on a 2-core machine.
 *  - 'ars': Augmented Random Search on a linear policy (src/train/ars.ts): simulator steps only,
 *    minutes per task; medium-replay is every training rollout before 'medium' was taken.
 * Policies are written as o2o policy artifacts (src/serve: card in metadata_props, sha256), so
 * `o2o serve` and `o2o eval` take them as they are; each has a `.card.json` beside it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createStore, type Dataset, DatasetBuilder, episodes, sliceDataset } from '../data/index.js';
import { type Env, makeEnv } from '../../simulators/index.js';
import type { ActorSnapshot } from '../algos/index.js';
import { mlpPolicy } from '../nn/index.js';
import { exportPolicy, type PolicyCard, PolicyRuntime } from '../serve/index.js';
import { arsConfig, type ArsConfig, trainArs } from './ars.js';
import { type EvalResult, evaluate } from './evaluate.js';
import { trainOnlineSac } from './online-sac.js';

type BehaviorMethod = 'sac' | 'ars';

/** Reset seeds of the evaluation recorded in every behaviour card (CARD_EVAL_SEED, +1, ...). */
export const CARD_EVAL_SEED = 100;

export interface BehaviorOptions {
  task: string;
  /** Environment steps of training. */
  steps: number;
  method?: BehaviorMethod;
  seed?: number;
  /** SAC network sizes. */
  hidden?: number[];
  /** ARS settings over the task's defaults. */
  ars?: Partial<ArsConfig>;
  /** Return at which the 'medium' policy is taken. */
  mediumReturn: number;
  outDir: string;
  /** Evaluate every this many environment steps. */
  evalEvery?: number;
  evalEpisodes?: number;
  /** Most transitions kept in medium-replay (whole episodes, evenly spaced); default 100k. */
  replayLimit?: number;
  /** Stop once an evaluation reaches this return (after 'medium' is taken). */
  stopReturn?: number;
  log?: (line: string) => void;
}

export interface BehaviorLevel {
  level: 'medium' | 'expert';
  evalReturn: number;
  evalStd: number;
  trainingSteps: number;
  file: string;
}

export interface PolicyWrite {
  task: string;
  level: 'medium' | 'expert';
  algorithm: string;
  trainingSteps: number;
  seed: number;
  evaluation: PolicyCard['evaluation'];
  notes: string;
  obsMean?: Float32Array;
  obsStd?: Float32Array;
}

/** Writes `<task>-<level>.onnx` as a policy artifact and its card as `.card.json` beside it. */
export function writePolicy(path: string, snap: ActorSnapshot, w: PolicyWrite): PolicyCard {
  const { card } = exportPolicy({
    policy: mlpPolicy(snap),
    obsMean: w.obsMean,
    obsStd: w.obsStd,
    card: {
      name: `${w.task}-${w.level}`,
      version: '1.0.0',
      task: w.task,
      algorithm: w.algorithm,
      datasetId: `online:${w.task}`,
      trainingSteps: w.trainingSteps,
      seed: w.seed,
      evaluation: w.evaluation,
      notes: w.notes,
      createdAt: `${new Date().toISOString().slice(0, 10)}T00:00:00Z`,
    },
    out: path,
  });
  writeFileSync(path.replace(/\.onnx$/, '.card.json'), `${JSON.stringify(card, null, 2)}\n`);
  return card;
}

export async function trainBehaviorPolicies(o: BehaviorOptions): Promise<{ medium: BehaviorLevel | null; expert: BehaviorLevel | null; replay: Dataset }> {
  const env = await makeEnv(o.task);
  const evalEnv = await makeEnv(o.task);
  mkdirSync(o.outDir, { recursive: true });
  try {
    return (o.method ?? 'sac') === 'ars' ? await withArs(o, env, evalEnv) : await withSac(o, env, evalEnv);
  } finally {
    env.close();
    evalEnv.close();
  }
}

/**
 * The card's evaluation, measured through the serving runtime on the exported graph (float32, as
 * every transport runs it), with nominal dynamics and reset seeds seed..seed+episodes−1: a robot
 * served over MQTT or ROS reproduces it.
 */
async function measureArtifact(
  env: Env,
  snap: ActorSnapshot & { obsMean?: Float32Array; obsStd?: Float32Array },
  episodes: number,
  seed: number,
): Promise<NonNullable<PolicyCard['evaluation']>> {
  const { bytes } = exportPolicy({
    policy: mlpPolicy(snap),
    obsMean: snap.obsMean,
    obsStd: snap.obsStd,
    card: { name: 'probe', version: '0', task: env.spec.id, algorithm: 'probe' },
  });
  const rt = PolicyRuntime.open({ bytes, source: 'behaviour policy' }, { trust: { allowUnverified: true } });
  try {
    const res = evaluate(env, (obs) => rt.act(obs), episodes, seed);
    return {
      task: env.spec.id,
      profile: 'nominal',
      episodes,
      seed,
      meanReturn: Number(res.mean.toFixed(4)),
      stdReturn: Number(res.std.toFixed(4)),
      measuredAt: new Date().toISOString().slice(0, 10),
      machine: `${hostname()} (deterministic: the same on any machine up to float rounding)`,
    };
  } finally {
    rt.dispose();
  }
}

/** Keeps the medium/expert bookkeeping shared by both trainers. */
class Levels {
  medium: BehaviorLevel | null = null;
  expert: BehaviorLevel | null = null;
  constructor(
    private readonly o: BehaviorOptions,
    private readonly env: Env,
  ) {}
  /** Called after an evaluation; writes what it earns and says whether to stop. */
  async record(
    step: number,
    res: EvalResult,
    snapshot: () => ActorSnapshot & { obsMean?: Float32Array; obsStd?: Float32Array },
    notes: string,
    onMedium: () => Promise<void>,
  ): Promise<boolean> {
    const { o } = this;
    const seed = o.seed ?? 0;
    o.log?.(`${o.task} step ${step}: return ${res.mean.toFixed(1)} ± ${res.std.toFixed(1)}`);
    const write = async (level: 'medium' | 'expert'): Promise<BehaviorLevel> => {
      const file = join(o.outDir, `${o.task}-${level}.onnx`);
      const snap = snapshot();
      const evaluation = await measureArtifact(this.env, snap, o.evalEpisodes ?? 5, CARD_EVAL_SEED);
      writePolicy(file, snap, { task: o.task, level, algorithm: o.method ?? 'sac', trainingSteps: step, seed, evaluation, notes, obsMean: snap.obsMean, obsStd: snap.obsStd });
      o.log?.(`${o.task}: wrote ${file} (card evaluation ${evaluation.meanReturn.toFixed(1)} ± ${evaluation.stdReturn.toFixed(1)})`);
      return { level, evalReturn: res.mean, evalStd: res.std, trainingSteps: step, file };
    };
    if (!this.medium && res.mean >= o.mediumReturn) {
      this.medium = await write('medium');
      await onMedium();
    }
    if (!this.expert || res.mean > this.expert.evalReturn) this.expert = await write('expert');
    return !!this.medium && o.stopReturn !== undefined && res.mean >= o.stopReturn;
  }
}

/**
 * Whole episodes spread evenly over `data`, at most `limit` transitions: a long replay stream
 * keeps its mix of early and late policies in a size that ships (D4RL's medium-replay sets hold
 * 100k–400k transitions).
 */
export function thinEpisodes(data: Dataset, limit: number): Dataset {
  if (data.size <= limit) return data;
  const eps = episodes(data);
  const keep = limit / data.size;
  const b = new DatasetBuilder(data.obsDim, data.actDim, { capacity: limit + 1000, meta: data.meta });
  for (let i = 0; i < eps.length; i++) {
    if (Math.floor((i + 1) * keep) === Math.floor(i * keep)) continue;
    const e = eps[i]!;
    if (b.size + e.length > limit) break;
    b.append(data, e.start, e.end);
  }
  return b.build({ compact: true });
}

async function saveReplay(o: BehaviorOptions, data: Dataset, source: string): Promise<void> {
  const kept = thinEpisodes(data, o.replayLimit ?? 100_000);
  const note = kept.size < data.size ? ` (${kept.size} of ${data.size} transitions: whole episodes, evenly spaced)` : '';
  const store = await createStore(join(o.outDir, `${o.task}-medium-replay`), { obsDim: data.obsDim, actDim: data.actDim, envId: o.task, behaviorPolicy: source + note });
  await store.append(kept);
}

async function withSac(o: BehaviorOptions, env: Env, evalEnv: Env) {
  const seed = o.seed ?? 0;
  const hidden = o.hidden ?? [256, 256];
  const levels = new Levels(o, evalEnv);
  const { replay } = await trainOnlineSac({
    env,
    evalEnv,
    steps: o.steps,
    seed,
    config: { actorHidden: hidden, criticHidden: hidden },
    evalEvery: o.evalEvery ?? 10_000,
    evalEpisodes: o.evalEpisodes ?? 5,
    startSteps: 10_000,
    learningStarts: 10_000,
    onEval: (step, res, sac, buffer) =>
      // The replay buffer so far is 'medium-replay': saved now, so a long run stopped later keeps it.
      levels.record(
        step,
        res,
        () => sac.actor(),
        `SAC ${hidden.join('x')} online, D4RL recipe`,
        () => saveReplay(o, sliceDataset(buffer, 0, buffer.size), `sac replay buffer until ${o.task}-medium`),
      ),
  });
  return { medium: levels.medium, expert: levels.expert, replay };
}

async function withArs(o: BehaviorOptions, env: Env, evalEnv: Env) {
  const seed = o.seed ?? 0;
  const cfg = arsConfig(o.task, o.ars);
  const levels = new Levels(o, evalEnv);
  const episodes = o.evalEpisodes ?? 5;
  const evalEvery = o.evalEvery ?? 50_000;
  const replay = new DatasetBuilder(env.spec.obsDim, env.spec.actDim, { capacity: 65_536, meta: { envId: o.task, behaviorPolicy: `ars rollouts until ${o.task}-medium` } });
  let recording = true;
  let nextEval = evalEvery;
  const notes = `ARS V2-t (Mania et al. 2018) linear-tanh policy, normalized states; α ${cfg.stepSize}, N ${cfg.directions}, b ${cfg.top}, ν ${cfg.noise}, reward shift ${cfg.shift}`;
  await trainArs({
    env,
    config: cfg,
    seed,
    maxEnvSteps: o.steps,
    record: () => recording,
    onTransition: (t) => {
      if (recording) replay.add(t);
    },
    onIteration: async (it, st) => {
      if (st.envSteps < nextEval && st.envSteps < o.steps) return false;
      nextEval = st.envSteps + evalEvery;
      const evalSeed = 1_000_000 + it.iteration;
      const res = evaluate(evalEnv, (ob) => st.policy.act(st.theta, st.mean, st.std, ob), episodes, evalSeed);
      o.log?.(`${o.task} iteration ${it.iteration}: training rollouts ${it.meanReturn.toFixed(1)}, replay ${replay.size}`);
      return levels.record(
        st.envSteps,
        res,
        () => st.policy.snapshot(st.theta, st.mean, st.std),
        notes,
        async () => {
          recording = false;
          await saveReplay(o, replay.build(), `every ars training rollout until ${o.task}-medium`);
        },
      );
    },
  });
  return { medium: levels.medium, expert: levels.expert, replay: replay.build() };
}
