/** Shared fixtures for the eval tests: the shipped pendulum BC policy, real-run stores, temp dirs. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createStore, DatasetBuilder } from '../../src/data/index.js';
import { serialize } from '../../src/engine/index.js';
import { actFn, loadEvalPolicy } from '../../src/eval/index.js';
import { actorLayout, policyGraph, type ActorSpec } from '../../src/nn/index.js';
import { makeEnv } from '../../simulators/index.js';

/** Behaviour cloning of a swing-up controller, 4000 steps (policies/make-pendulum-bc.ts). */
export const PENDULUM_POLICY = fileURLToPath(new URL('../../policies/pendulum-bc.onnx', import.meta.url));

export function tempDir(prefix = 'o2o-eval-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Plays `policy` on `task` under `profile` for `episodes` episodes (reset seeds seed, seed+1, ...)
 * and stores the transitions like a robot recorder would. `unfinished` adds one episode cut off
 * after that many steps (a recording stopped mid-episode). Returns the directly summed returns.
 */
export async function recordRealRuns(dir: string, o: { policy: string; task: string; profile: string; episodes: number; seed: number; unfinished?: number }): Promise<number[]> {
  const { model } = loadEvalPolicy(o.policy);
  const act = actFn(model);
  const env = await makeEnv(o.task, { randomization: o.profile });
  const b = new DatasetBuilder(env.spec.obsDim, env.spec.actDim, { capacity: 1024 });
  const returns: number[] = [];
  const total = o.episodes + (o.unfinished ? 1 : 0);
  for (let ep = 0; ep < total; ep++) {
    let obs = env.reset(o.seed + ep);
    let ret = 0;
    for (let t = 0; ; t++) {
      const a = Array.from(act(obs));
      const r = env.step(a);
      const cut = ep === o.episodes && t + 1 === o.unfinished;
      b.add({ obs, action: a, reward: r.reward, nextObs: r.obs, terminal: r.terminated, timeout: r.truncated && !cut });
      ret += Math.fround(r.reward); // the store keeps float32 rewards
      obs = r.obs;
      if (cut || r.terminated || r.truncated) break;
    }
    if (ep < o.episodes) returns.push(ret);
  }
  env.close();
  model.dispose();
  const store = createStore(dir, { obsDim: env.spec.obsDim, actDim: env.spec.actDim, envId: o.task, behaviorPolicy: o.policy });
  await store.append(b.build(), { robotId: 'robot-1' });
  return returns;
}

/** An 'o2o train --out'-style file (no card, 'o2o.task' metadata) with seeded random weights. */
export function writeRandomPolicy(file: string, spec: Partial<ActorSpec> & { task: string }): string {
  const s: ActorSpec = { kind: 'deterministic', obsDim: 3, actDim: 1, hidden: [16, 16], maxAction: 2, ...spec };
  const layout = actorLayout(s);
  writeFileSync(file, serialize(policyGraph(s, layout, layout.init(1)), { metadata: { 'o2o.task': spec.task, 'o2o.algo': 'random-init' } }));
  return file;
}
