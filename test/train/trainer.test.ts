import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Learner } from '../../src/algos/index.js';
import { DatasetBuilder } from '../../src/data/index.js';
import { CheckpointError, TrainError, readCheckpoint, train } from '../../src/train/index.js';
import { generateRecipe } from '../../src/train/datasets.js';

const task = { obsDim: 3, actDim: 1, maxAction: 2, maxEpisodeSteps: 200 };
// bc, td3bc and iql: every network 2x16.
const small = { hidden: [16, 16], batchSize: 32 };
const tmp = () => mkdtempSync(join(tmpdir(), 'o2o-train-'));
/** The actor's parameters in the learner's serving graph. */
const actorParams = (l: Learner): Float32Array => l.policy().weights.actor!.values;

describe('trainer refuses bad datasets before training', () => {
  it('empty', async () => {
    const ds = new DatasetBuilder(3, 1).build();
    await expect(train({ algo: 'bc', dataset: ds, datasetId: 'empty.mcap', task, steps: 1 })).rejects.toThrow(/empty\.mcap: the dataset is empty/);
  });
  it('dimensions that do not match the task', async () => {
    const b = new DatasetBuilder(4, 1);
    b.add({ obs: [0, 0, 0, 0], action: [0], reward: 0, nextObs: [0, 0, 0, 0], terminal: true });
    await expect(train({ algo: 'iql', dataset: b.build(), task, steps: 1 })).rejects.toThrow(/dataset has obs 4 \/ act 1, the task needs obs 3 \/ act 1/);
  });
  it('NaN rewards, naming the row', async () => {
    const b = new DatasetBuilder(3, 1, { validate: false });
    for (let i = 0; i < 5; i++) b.add({ obs: [0, 0, 0], action: [0], reward: i === 3 ? Number.NaN : 0, nextObs: [0, 0, 0], terminal: i === 4 });
    await expect(train({ algo: 'td3bc', dataset: b.build(), datasetId: 'bad.hdf5', task, steps: 1 })).rejects.toThrow(/bad\.hdf5.*row 3.*rewards|rewards.*row 3/);
  });
  it('an unknown algorithm', async () => {
    const ds = await generateRecipe('pendulum-random');
    await expect(train({ algo: 'ppo', dataset: ds, task, steps: 1 })).rejects.toThrow(/unknown algorithm 'ppo'; choose one of bc, td3bc/);
  });
});

describe('updatesPerRun', () => {
  it('chained runs train like single updates; evaluations and checkpoints fall exactly on their steps', async () => {
    const ds = await generateRecipe('pendulum-medium');
    const evalAt: number[] = [];
    const evaluate = { every: 10, run: async () => ({ returns: [0], lengths: [1], mean: 0, std: 0, normalized: 0 }) };
    const dir = tmp();
    const four = await train({
      algo: 'td3bc',
      dataset: ds,
      task,
      steps: 40,
      seed: 3,
      config: { ...small, updatesPerRun: 4 },
      evaluate,
      checkpointDir: dir,
      checkpointEvery: 10,
      onProgress: (p) => p.eval && evalAt.push(p.step),
      session: { threads: 1 },
    });
    expect(evalAt).toEqual([10, 20, 30, 40]);
    expect(readdirSync(dir).sort()).toEqual(['ckpt-10.o2o', 'ckpt-20.o2o', 'ckpt-30.o2o', 'ckpt-40.o2o']);
    const one = await train({ algo: 'td3bc', dataset: ds, task, steps: 40, seed: 3, config: { ...small, updatesPerRun: 1 }, session: { threads: 1 } });
    const [a, b] = [actorParams(one.learner), actorParams(four.learner)];
    a.forEach((v, i) => expect(Math.abs(v - b[i]!)).toBeLessThan(1e-4));
    one.learner.dispose();
    four.learner.dispose();
  });

  it('steps that are no multiple of updatesPerRun end at exactly steps updates (a last, shorter run of single updates)', async () => {
    const ds = await generateRecipe('pendulum-medium');
    for (const algo of ['bc', 'td3bc', 'iql']) {
      const steps: number[] = [];
      const r = await train({
        algo,
        dataset: ds,
        task,
        steps: 10,
        seed: 1,
        config: { ...small, updatesPerRun: 4 },
        onProgress: (p) => steps.push(p.step),
        session: { threads: 1 },
      });
      expect(r.learner.steps).toBe(10);
      expect(steps).toEqual([4, 8, 10]);
      const one = await train({ algo, dataset: ds, task, steps: 10, seed: 1, config: { ...small, updatesPerRun: 1 }, session: { threads: 1 } });
      const [a, b] = [actorParams(one.learner), actorParams(r.learner)];
      a.forEach((v, i) => expect(Math.abs(v - b[i]!)).toBeLessThan(1e-4));
      r.learner.dispose();
      one.learner.dispose();
    }
  });

  it('a run resumed from a checkpoint at a step that is no multiple of updatesPerRun ends bit-identical to an uninterrupted run', async () => {
    const ds = await generateRecipe('pendulum-medium');
    for (const algo of ['td3bc', 'iql']) {
      const config = { ...small, updatesPerRun: 4 };
      const full = await train({ algo, dataset: ds, task, steps: 30, seed: 3, config, checkpointDir: tmp(), checkpointEvery: 7, session: { threads: 1 } });
      const dir = tmp();
      const first = await train({ algo, dataset: ds, task, steps: 15, seed: 3, config, checkpointDir: dir, checkpointEvery: 7, session: { threads: 1 } });
      expect(readdirSync(dir).sort()).toEqual(['ckpt-14.o2o', 'ckpt-15.o2o', 'ckpt-7.o2o']);
      first.learner.dispose();
      const resumed = await train({ algo, dataset: ds, task, steps: 30, seed: 3, config, checkpointDir: dir, checkpointEvery: 7, resume: true, session: { threads: 1 } });
      expect(resumed.steps).toBe(30);
      expect(Array.from(actorParams(resumed.learner))).toEqual(Array.from(actorParams(full.learner)));
      expect(Array.from(resumed.learner.checkpoint().state.critic!)).toEqual(Array.from(full.learner.checkpoint().state.critic!));
      full.learner.dispose();
      resumed.learner.dispose();
    }
  });
});

describe('checkpoints', () => {
  it('a run resumed from its checkpoint ends bit-identical to an uninterrupted run', async () => {
    const ds = await generateRecipe('pendulum-medium');
    const full = await train({ algo: 'td3bc', dataset: ds, task, steps: 40, seed: 3, config: small, session: { threads: 1 } });
    const dir = tmp();
    const first = await train({ algo: 'td3bc', dataset: ds, task, steps: 25, seed: 3, config: small, checkpointDir: dir, checkpointEvery: 25, session: { threads: 1 } });
    expect(existsSync(join(dir, 'ckpt-25.o2o'))).toBe(true);
    first.learner.dispose();
    const resumed = await train({
      algo: 'td3bc',
      dataset: ds,
      task,
      steps: 40,
      seed: 3,
      config: small,
      checkpointDir: dir,
      checkpointEvery: 25,
      resume: true,
      session: { threads: 1 },
    });
    expect(resumed.steps).toBe(40);
    expect(Array.from(actorParams(resumed.learner))).toEqual(Array.from(actorParams(full.learner)));
  });

  it('without checkpointEvery the run’s end is kept; resuming a finished run makes no updates', async () => {
    const ds = await generateRecipe('pendulum-medium');
    const dir = tmp();
    const first = await train({ algo: 'bc', dataset: ds, task, steps: 12, seed: 2, config: small, checkpointDir: dir, session: { threads: 1 } });
    expect(readdirSync(dir)).toEqual(['ckpt-12.o2o']);
    const again = await train({ algo: 'bc', dataset: ds, task, steps: 12, seed: 2, config: small, checkpointDir: dir, resume: true, session: { threads: 1 } });
    expect(again.steps).toBe(12);
    expect(again.resumed).toEqual({ checkpoint: join(dir, 'ckpt-12.o2o'), step: 12, changedSettings: {} });
    expect(readdirSync(dir)).toEqual(['ckpt-12.o2o']);
    expect(Array.from(actorParams(again.learner))).toEqual(Array.from(actorParams(first.learner)));
    // settings that differ from the checkpoint's are reported (they apply from the resumed step on)
    const changed = await train({
      algo: 'bc',
      dataset: ds,
      task,
      steps: 14,
      seed: 2,
      config: { ...small, actorLr: 1e-4 },
      checkpointDir: dir,
      resume: true,
      session: { threads: 1 },
    });
    expect(changed.resumed?.changedSettings).toEqual({ actorLr: { was: 3e-4, now: 1e-4 } });
    expect(changed.steps).toBe(14);
    // a network of another size cannot continue the checkpoint: refused, naming the setting
    await expect(
      train({ algo: 'bc', dataset: ds, task, steps: 16, seed: 2, config: { ...small, hidden: [8, 8] }, checkpointDir: dir, resume: true, session: { threads: 1 } }),
    ).rejects.toThrow(/cannot resume from .*ckpt-14\.o2o: .*the checkpoint was trained with .*hidden \[16,16\] \(this run: \[8,8\]\) — resume with the checkpoint's settings/);
    first.learner.dispose();
    again.learner.dispose();
    changed.learner.dispose();
  });

  it('a truncated checkpoint is refused with the file, the byte and the fix', async () => {
    const ds = await generateRecipe('pendulum-medium');
    const dir = tmp();
    await train({ algo: 'bc', dataset: ds, task, steps: 10, config: small, checkpointDir: dir, checkpointEvery: 10, session: { threads: 1 } });
    const path = join(dir, 'ckpt-10.o2o');
    const bytes = (await import('node:fs')).readFileSync(path);
    writeFileSync(path, bytes.subarray(0, bytes.length - 100));
    expect(() => readCheckpoint(path)).toThrow(CheckpointError);
    expect(() => readCheckpoint(path)).toThrow(/ckpt-10\.o2o: byte \d+: payload has .* use an earlier checkpoint/);
    await expect(train({ algo: 'bc', dataset: ds, task, steps: 20, config: small, checkpointDir: dir, resume: true })).rejects.toThrow(TrainError);
  });

  it('a diverging run stops at the NaN step and keeps the last good checkpoint', async () => {
    // An absurd critic learning rate makes Q explode to Inf after a few good steps.
    const ds = await generateRecipe('pendulum-medium');
    const dir = tmp();
    const r = await train({ algo: 'td3bc', dataset: ds, task, steps: 200, config: { ...small, criticLr: 1e9 }, checkpointDir: dir, checkpointEvery: 1, session: { threads: 1 } });
    expect(r.diverged).toBeDefined();
    expect(r.steps).toBeGreaterThan(0);
    expect(r.diverged!.step).toBe(r.steps + 1);
    expect(Object.values(r.diverged!.metrics).some((v) => !Number.isFinite(v))).toBe(true);
    expect(r.diverged!.lastCheckpoint).toBe(join(dir, `ckpt-${r.steps}.o2o`));
    const files = readdirSync(dir).filter((f) => f.endsWith('.o2o'));
    expect(files.every((f) => Number(f.slice(5, -4)) <= r.steps)).toBe(true);
    // The learner and the last checkpoint hold the last good (finite) parameters.
    expect([...actorParams(r.learner)].every(Number.isFinite)).toBe(true);
    const c = readCheckpoint(r.diverged!.lastCheckpoint!);
    expect(Object.values(c.learner.state).every((v) => v.every(Number.isFinite))).toBe(true);
  });
});

describe('recipes from shipped ONNX behaviour policies', () => {
  it('builds <task>-medium from policies/<task>-medium.onnx, and says what is missing otherwise', async () => {
    const { writePolicy } = await import('../../src/train/behavior.js');
    const { actorLayout } = await import('../../src/nn/index.js');
    const dir = tmp();
    const spec = { kind: 'deterministic' as const, obsDim: 11, actDim: 3, hidden: [16], maxAction: 1 };
    const layout = actorLayout(spec);
    const card = { task: 'hopper', level: 'medium' as const, algorithm: 'sac', trainingSteps: 0, seed: 0, evaluation: null, notes: 'test' };
    process.env.O2O_POLICIES_DIR = dir;
    try {
      await expect(generateRecipe('hopper-medium', 0, { transitions: 500 })).rejects.toThrow(/no behaviour policy for task 'hopper': expected .*hopper-medium\.onnx/);
      writePolicy(join(dir, 'hopper-medium.onnx'), { spec, layout, params: layout.init(1) }, card);
      writePolicy(join(dir, 'hopper-expert.onnx'), { spec, layout, params: layout.init(2) }, { ...card, level: 'expert' });
      const ds = await generateRecipe('hopper-medium', 0, { transitions: 500 });
      expect(ds.size).toBe(500);
      expect(ds.obsDim).toBe(11);
      expect(ds.meta.behaviorPolicy).toBe('hopper-medium');
      const again = await generateRecipe('hopper-medium', 0, { transitions: 500 });
      expect(Array.from(again.actions.subarray(0, 300))).toEqual(Array.from(ds.actions.subarray(0, 300)));
      await expect(generateRecipe('hopper-medium-replay', 0)).rejects.toThrow(/no replay buffer for 'hopper-medium-replay'/);
    } finally {
      delete process.env.O2O_POLICIES_DIR;
    }
  });
});

describe('stopping a run', () => {
  it('an aborted signal stops the run at the next update boundary and keeps a checkpoint to resume from', async () => {
    const ds = await generateRecipe('pendulum-random');
    const dir = tmp();
    const ctl = new AbortController();
    const r = await train({
      algo: 'bc',
      dataset: ds,
      task,
      steps: 1000,
      seed: 1,
      config: { ...small, updatesPerRun: 1 },
      checkpointDir: dir,
      signal: ctl.signal,
      onProgress: (p) => p.step === 7 && ctl.abort(),
      session: { threads: 1 },
    });
    expect(r.aborted).toBe(true);
    expect(r.steps).toBe(7);
    expect(readdirSync(dir)).toContain('ckpt-7.o2o');
    const resumed = await train({ algo: 'bc', dataset: ds, task, steps: 10, seed: 1, config: small, checkpointDir: dir, resume: true, session: { threads: 1 } });
    expect([resumed.aborted, resumed.steps]).toEqual([undefined, 10]);
    r.learner.dispose();
    resumed.learner.dispose();
  });
});
