/**
 * The shipped behaviour policies and replay stores (policies/) build every D4RL-style recipe of
 * the MuJoCo locomotion tasks: right spaces, deterministic, medium below expert on their cards, and
 * the medium policy's data far above random data.
 */
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { makeEnv } from '../../simulators/index.js';
import { episodes, validateDataset } from '../../src/data/index.js';
import { readArtifactFile, verifyArtifact } from '../../src/serve/index.js';
import { generateRecipe, policiesDir } from '../../src/train/datasets.js';

const meanReturn = (ds: Parameters<typeof episodes>[0]) => {
  const eps = episodes(ds).filter((e) => e.terminated || e.truncated);
  return eps.reduce((a, e) => a + e.return, 0) / eps.length;
};

describe.each(['hopper', 'halfcheetah', 'walker2d'])('%s recipes from the shipped policies', (task) => {
  it('medium-replay is the shipped store; medium / expert / random are generated deterministically', async () => {
    const env = await makeEnv(task);
    const { obsDim, actDim } = env.spec;
    const card = (level: string) => verifyArtifact(readArtifactFile(join(policiesDir(), `${task}-${level}.onnx`))).card!;
    expect(card('medium').evaluation!.meanReturn).toBeLessThan(card('expert').evaluation!.meanReturn);

    const replay = await generateRecipe(`${task}-medium-replay`, 0);
    expect([replay.obsDim, replay.actDim]).toEqual([obsDim, actDim]);
    expect(replay.size).toBeGreaterThan(50_000);
    expect(replay.size).toBeLessThanOrEqual(100_000);
    validateDataset(replay, `${task}-medium-replay`);
    expect(replay.meta.behaviorPolicy).toMatch(new RegExp(`until ${task}-medium`));

    // One full-length episode of each kind is enough to see the levels (halfcheetah never ends early).
    const n = 1000;
    const medium = await generateRecipe(`${task}-medium`, 0, { transitions: n });
    const again = await generateRecipe(`${task}-medium`, 0, { transitions: n });
    expect(Array.from(again.actions)).toEqual(Array.from(medium.actions));
    const random = await generateRecipe(`${task}-random`, 0, { transitions: n });
    const expert = await generateRecipe(`${task}-expert`, 0, { transitions: n });
    expect([medium.size, expert.size, random.size]).toEqual([n, n, n]);
    expect(expert.meta.behaviorPolicy).toBe(`${task}-expert`);
    expect(meanReturn(medium)).toBeGreaterThan(meanReturn(random) + 200);
    env.close();
  }, 120_000);
});
