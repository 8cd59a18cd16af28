import { describe, expect, it } from 'vitest';
import { makeEnv, measureReturns, scriptedArmPolicy } from '../../simulators/index.js';

// The reference scores in the specs must be what bench/sim.ts measures (deterministic: seeded).
// halfcheetah (100 × 1000 steps) is left to the benchmark to keep the suite fast.
describe('reference scores', () => {
  it.each(['pendulum', 'hopper', 'walker2d', 'reacher-arm'])('%s: spec.refScores.random is the measured random return', async (id) => {
    const env = await makeEnv(id);
    const s = measureReturns(env, 100, 0);
    expect(s.mean).toBeCloseTo(env.spec.refScores.random, 1);
    if (id === 'reacher-arm') expect(measureReturns(env, 100, 0, scriptedArmPolicy()).mean).toBeCloseTo(env.spec.refScores.expert, 1);
    expect(env.spec.refScores.note).toMatch(/2026-11-27/);
    env.close();
  });
});

describe('expert reference scores', () => {
  it('pendulum: the swing-up controller the recipes use as expert', async () => {
    const { pendulumSwingUp } = await import('../../src/train/datasets.js');
    const env = await makeEnv('pendulum');
    expect(measureReturns(env, 100, 0, (o) => pendulumSwingUp(o)).mean).toBeCloseTo(env.spec.refScores.expert, 1);
    env.close();
  });

  it.each(['hopper', 'halfcheetah', 'walker2d'])('%s: the shipped expert policy’s card evaluation', async (id) => {
    const { join } = await import('node:path');
    const { readArtifactFile, verifyArtifact } = await import('../../src/serve/index.js');
    const { policiesDir } = await import('../../src/train/datasets.js');
    const card = verifyArtifact(readArtifactFile(join(policiesDir(), `${id}-expert.onnx`))).card!;
    const env = await makeEnv(id);
    expect(card.evaluation!.meanReturn).toBeCloseTo(env.spec.refScores.expert, 0);
    env.close();
  });
});
