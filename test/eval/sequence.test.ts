/**
 * Evaluation of a sequence policy (a Decision Transformer's interface): the one rollout loop
 * (src/eval/rollout.ts) gives it each episode's start and, with each observation, the reward the
 * previous step earned; `o2o eval` conditions it on the card's target return or --target-return.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeEnv } from '../../simulators/index.js';
import { type EvalSummary, evaluatePolicy, rollout } from '../../src/eval/index.js';
import { Session } from '../../src/engine/index.js';
import { mlpPolicy, servingGraph } from '../../src/nn/index.js';
import { PolicyRuntime, type StepInfo } from '../../src/serve/index.js';
import { evaluate } from '../../src/train/index.js';
import { randomActor } from '../serve/fixtures.js';
import { capture } from '../helpers/cli.js';
import { foreignDescription, foreignDtBytes } from '../serve/sequence-fixtures.js';
import { PENDULUM_POLICY, tempDir } from './fixtures.js';

function dtFile(withCard = true): string {
  const file = join(tempDir(), 'dt.onnx');
  writeFileSync(file, foreignDtBytes());
  if (withCard) writeFileSync(`${file}.card.json`, JSON.stringify(foreignDescription(1800)));
  return file;
}

describe('rollout: one loop for mlp and sequence policies', () => {
  it('gives a sequence policy each episode start and the previous step’s reward, so its return-to-go falls from the target', async () => {
    const env = await makeEnv('pendulum');
    const rt = PolicyRuntime.open({ bytes: foreignDtBytes(), source: 'dt.onnx', description: foreignDescription() }, { trust: { allowUnverified: true }, targetReturn: -400 });
    const seen: { start: boolean; reward: number; rtg: number | null; step: number | null }[] = [];
    const rewards: number[] = [];
    const recording = {
      act(obs: Float32Array, s: StepInfo) {
        const a = rt.act(obs, s);
        const st = rt.status();
        seen.push({ start: s.episodeStart ?? false, reward: s.reward ?? 0, rtg: st.returnToGo, step: st.episodeStep });
        return a;
      },
      reset: () => rt.reset(),
    };
    const envStep = env.step.bind(env);
    env.step = (a) => {
      const r = envStep(a);
      rewards.push(r.reward);
      return r;
    };
    const res = rollout(env, recording, 2, 9);
    expect(res.lengths.reduce((x, y) => x + y, 0)).toBe(seen.length);
    let i = 0;
    for (let ep = 0; ep < 2; ep++) {
      let rtg = -400;
      for (let t = 0; t < res.lengths[ep]!; t++, i++) {
        expect(seen[i]!.start).toBe(t === 0);
        if (t > 0) {
          expect(seen[i]!.reward).toBe(rewards[i - 1]);
          rtg -= rewards[i - 1]!;
        }
        expect(seen[i]!.step).toBe(t);
        expect(seen[i]!.rtg).toBeCloseTo(rtg, 6);
      }
    }
    rt.dispose();
    env.close();
  });
  it("PolicyRuntime.fromServingGraph: a learner's serving graph rolls out here as the trainer's evaluate() rolls it out today (mlp)", async () => {
    const policy = mlpPolicy(randomActor({ obsDim: 3, actDim: 1, maxAction: 2 }, 4));
    const obsMean = Float32Array.of(0.1, -0.2, 0.3);
    const obsStd = Float32Array.of(1.5, 0.5, 2);
    const env = await makeEnv('pendulum');
    const rt = PolicyRuntime.fromServingGraph(policy, { obsMean, obsStd });
    const here = rollout(env, rt, 3, 4);
    const s = await Session.create(servingGraph(policy, { obsMean, obsStd }), { threads: 1, name: 'policy' });
    const there = evaluate(env, (obs) => s.run({ obs }).action as Float32Array, 3, 4);
    expect(here.returns).toEqual(there.returns);
    expect(here.lengths).toEqual(there.lengths);
    s.dispose();
    rt.dispose();
    env.close();
  });
});

describe('o2o eval with a sequence policy', () => {
  it("evaluates a foreign Decision Transformer described in <file>.card.json at its card's target, or at --target-return", async () => {
    const file = dtFile();
    const card = await evaluatePolicy({ policy: file, task: 'pendulum', profiles: ['nominal'], episodes: 2, seed: 1 });
    expect(card.policy).toMatchObject({ kind: 'sequence', targetReturn: 1800, obsDim: 3, actDim: 1, inputName: 'states', outputName: 'action_preds' });
    const low = await evaluatePolicy({ policy: file, task: 'pendulum', profiles: ['nominal'], episodes: 2, seed: 1, targetReturn: -300 });
    expect(low.policy.targetReturn).toBe(-300);
    expect(low.profiles[0]!.returns).not.toEqual(card.profiles[0]!.returns);
    // The same as an explicit rollout at that target, through a runtime opened here.
    const env = await makeEnv('pendulum', { randomization: 'nominal', seed: 1 });
    const rt = PolicyRuntime.open({ bytes: foreignDtBytes(), source: 'dt', description: foreignDescription() }, { trust: { allowUnverified: true }, targetReturn: -300 });
    expect(rollout(env, rt, 2, 1).returns).toEqual(low.profiles[0]!.returns);
    rt.dispose();
    env.close();
  });

  it('--target-return needs a policy conditioned on a return; a context policy without its description is refused', async () => {
    await expect(evaluatePolicy({ policy: PENDULUM_POLICY, task: 'pendulum', profiles: ['nominal'], episodes: 1, targetReturn: 10 })).rejects.toThrow(
      /--target-return is for policies conditioned on a return .* this is a 'mlp' policy without one/,
    );
    await expect(evaluatePolicy({ policy: dtFile(false), task: 'pendulum', profiles: ['nominal'], episodes: 1 })).rejects.toThrow(/has 5 inputs/);
  });

  it('o2o eval --interface <json> --target-return R', async () => {
    const out = join(tempDir(), 'report');
    const r = await capture([
      'eval',
      '--policy',
      dtFile(false),
      '--task',
      'pendulum',
      '--profiles',
      'nominal',
      '--episodes',
      '2',
      '--interface',
      JSON.stringify(foreignDescription()),
      '--target-return',
      '-250',
      '--out',
      out,
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/policy: 'sequence', target return -250/);
    const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as EvalSummary;
    expect(s.policy).toMatchObject({ kind: 'sequence', targetReturn: -250 });
    const bad = await capture(['eval', '--policy', PENDULUM_POLICY, '--task', 'pendulum', '--interface', '{"kind": "sequence"}']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--interface: the interface is not valid: contextLength undefined/);
  });
});
