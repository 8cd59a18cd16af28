/**
 * Online SAC in a simulator: the D4RL recipe for behaviour policies. Random actions for the first
 * `startSteps`, then the stochastic policy; one gradient step per environment step after
 * `learningStarts`; every transition is kept (the replay buffer is the 'medium-replay' dataset).
 */
import { type Dataset, DatasetBuilder, UniformSampler } from '../data/index.js';
import { Graph, Session, params } from '../engine/index.js';
import { actorLayout, sampleTanhGaussian } from '../nn/index.js';
import { SAC, type SacConfig } from '../algos/index.js';
import type { Env } from '../../simulators/index.js';
import { Rng } from '../util/rng.js';
import { type EvalResult, evaluate } from './evaluate.js';
import { taskOf } from './task.js';

export interface OnlineSacOptions {
  env: Env;
  evalEnv: Env;
  steps: number;
  seed?: number;
  config?: Partial<SacConfig>;
  startSteps?: number;
  learningStarts?: number;
  evalEvery?: number;
  evalEpisodes?: number;
  threads?: number;
  /** Called after each evaluation; return true to stop early. */
  onEval?: (step: number, result: EvalResult, sac: SAC, replay: DatasetBuilder) => boolean | undefined | Promise<boolean | undefined>;
  onProgress?: (step: number, episodeReturn: number | null) => void;
}

/** A batch-1 session that samples the SAC policy (stochastic) or returns its mean. */
async function actingSession(
  sac: SAC,
  threads: number,
): Promise<{ act: (obs: Float32Array, stochastic: boolean, rng: Rng) => Float32Array; sync: () => void; dispose: () => void }> {
  const spec = sac.specs.actor;
  const layout = actorLayout(spec);
  const g = new Graph();
  const { views } = params(g, layout, 'actor');
  const obs = g.input('obs', [1, spec.obsDim]);
  const eps = g.input('eps', [1, spec.actDim]);
  g.output('action', sampleTanhGaussian(g, spec, views, obs, eps).action);
  const s = await Session.create(g, { threads, name: 'sac-act' });
  const o = s.input('obs') as Float32Array;
  const e = s.input('eps') as Float32Array;
  return {
    act: (ob, stochastic, rng) => {
      o.set(ob);
      if (stochastic) rng.fillNormal(e);
      else e.fill(0); // tanh(μ): the mean action
      return s.run().action as Float32Array;
    },
    sync: () => s.set('actor', sac.store.value('actor') as Float32Array),
    dispose: () => s.dispose(),
  };
}

export async function trainOnlineSac(o: OnlineSacOptions): Promise<{ sac: SAC; replay: Dataset; evals: { step: number; result: EvalResult }[] }> {
  const { env } = o;
  const seed = o.seed ?? 0;
  const spec = env.spec;
  const sac = await SAC.create(taskOf(spec), o.config ?? {}, seed, { threads: o.threads ?? 2 });
  const actor = await actingSession(sac, 1);
  const rng = new Rng(seed + 17);
  const replay = new DatasetBuilder(spec.obsDim, spec.actDim, { capacity: Math.min(o.steps, 1_000_000), meta: { envId: spec.id, behaviorPolicy: 'sac-replay' } });
  const sampler = new UniformSampler(replay, { batchSize: sac.batchSize, seed: seed + 31 });
  const startSteps = o.startSteps ?? 10_000;
  const learningStarts = o.learningStarts ?? 1_000;
  const evals: { step: number; result: EvalResult }[] = [];
  const action = new Float32Array(spec.actDim);
  let obs = env.reset(seed);
  let epReturn = 0;
  for (let t = 1; t <= o.steps; t++) {
    if (t <= startSteps) for (let k = 0; k < spec.actDim; k++) action[k] = rng.uniform(spec.actLow[k]!, spec.actHigh[k]!);
    else action.set(actor.act(obs, true, rng));
    const r = env.step(action);
    epReturn += r.reward;
    replay.add({ obs, action, reward: r.reward, nextObs: r.obs, terminal: r.terminated, timeout: r.truncated });
    obs = r.obs;
    let finished: number | null = null;
    if (r.terminated || r.truncated) {
      finished = epReturn;
      epReturn = 0;
      obs = env.reset();
    }
    if (t >= learningStarts) {
      const u = sac.update(sampler.sample());
      if (u.diverged) throw new Error(`SAC diverged at step ${t}: ${JSON.stringify(u.metrics)}`);
      actor.sync();
    }
    o.onProgress?.(t, finished);
    if (o.evalEvery && t % o.evalEvery === 0) {
      const res = evaluate(o.evalEnv, (ob) => actor.act(ob, false, rng), o.evalEpisodes ?? 5, 1_000_000 + t);
      evals.push({ step: t, result: res });
      if (await o.onEval?.(t, res, sac, replay)) break;
    }
  }
  actor.dispose();
  return { sac, replay: replay.build(), evals };
}
