/**
 * Behaviour policies the D4RL way: train SAC online on a task, keep a 'medium' policy (the first
 * evaluation reaching `mediumReturn`, about a third of the expert return) together with the
 * replay buffer up to that point ('medium-replay'), and an 'expert' policy (the best evaluation).
 * Policies are written as ONNX with their card in metadata_props.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createStore, type Dataset, sliceDataset } from '../data/index.js';
import { serialize } from '../engine/index.js';
import { policyGraph } from '../nn/index.js';
import { makeEnv } from '../../simulators/index.js';
import type { ActorSnapshot } from '../algos/index.js';
import { trainOnlineSac } from './online-sac.js';

export interface BehaviorOptions {
  task: string;
  steps: number;
  seed?: number;
  hidden?: number[];
  /** Return at which the 'medium' policy is taken. */
  mediumReturn: number;
  outDir: string;
  evalEvery?: number;
  evalEpisodes?: number;
  log?: (line: string) => void;
}

export interface PolicyCard {
  task: string;
  level: 'medium' | 'expert';
  algorithm: 'sac';
  evalReturn: number;
  evalEpisodes: number;
  trainingSteps: number;
  seed: number;
  hidden: number[];
}

export function writePolicy(path: string, snap: ActorSnapshot, card: PolicyCard): void {
  const g = policyGraph(snap.spec, snap.layout, snap.params);
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(card)) meta[`o2o.${k}`] = Array.isArray(v) ? v.join(',') : String(v);
  writeFileSync(path, serialize(g, { metadata: meta, docString: `o2o behaviour policy: ${card.task} ${card.level}` }));
  writeFileSync(path.replace(/\.onnx$/, '.card.json'), `${JSON.stringify(card, null, 2)}\n`);
}

export async function trainBehaviorPolicies(o: BehaviorOptions): Promise<{ medium: PolicyCard | null; expert: PolicyCard | null; replay: Dataset }> {
  const env = await makeEnv(o.task);
  const evalEnv = await makeEnv(o.task);
  const seed = o.seed ?? 0;
  const hidden = o.hidden ?? [256, 256];
  const episodes = o.evalEpisodes ?? 5;
  mkdirSync(o.outDir, { recursive: true });
  let medium: PolicyCard | null = null;
  let expert: PolicyCard | null = null;
  let mediumRows = 0;
  const { replay } = await trainOnlineSac({
    env,
    evalEnv,
    steps: o.steps,
    seed,
    config: { actorHidden: hidden, criticHidden: hidden },
    evalEvery: o.evalEvery ?? 10_000,
    evalEpisodes: episodes,
    startSteps: 10_000,
    learningStarts: 10_000,
    onEval: async (step, res, sac, buffer) => {
      o.log?.(`${o.task} step ${step}: return ${res.mean.toFixed(1)} ± ${res.std.toFixed(1)}`);
      const card = (level: 'medium' | 'expert'): PolicyCard => ({ task: o.task, level, algorithm: 'sac', evalReturn: res.mean, evalEpisodes: episodes, trainingSteps: step, seed, hidden });
      if (!medium && res.mean >= o.mediumReturn) {
        medium = card('medium');
        mediumRows = buffer.size;
        writePolicy(join(o.outDir, `${o.task}-medium.onnx`), sac.actor(), medium);
        // The replay buffer so far is 'medium-replay': saved now, so a long run stopped later keeps it.
        const store = await createStore(join(o.outDir, `${o.task}-medium-replay`), { obsDim: buffer.obsDim, actDim: buffer.actDim, envId: o.task, behaviorPolicy: `sac replay buffer until ${o.task}-medium` });
        await store.append(sliceDataset(buffer, 0, mediumRows));
      }
      if (!expert || res.mean > expert.evalReturn) {
        expert = card('expert');
        writePolicy(join(o.outDir, `${o.task}-expert.onnx`), sac.actor(), expert);
      }
    },
  });
  env.close();
  evalEnv.close();
  return { medium, expert, replay };
}
