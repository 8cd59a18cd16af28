import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/util/rng.js';
import { armForwardKinematics, makeEnv, type ReacherArmEnv, scriptedArmPolicy } from '../../simulators/index.js';
import { mean, rollout } from './helpers.js';

describe('reacher-arm', () => {
  const envs: ReacherArmEnv[] = [];
  afterAll(() => envs.forEach((e) => e.close()));

  it('observes joints, fingertip and goal consistently with the analytic kinematics', async () => {
    const env = (await makeEnv('reacher-arm')) as ReacherArmEnv;
    envs.push(env);
    expect(env.spec).toMatchObject({ obsDim: 17, actDim: 4, maxEpisodeSteps: 200 });
    const obs = env.reset(1);
    const tip = new Float64Array(3);
    armForwardKinematics(obs, tip);
    for (let k = 0; k < 3; k++) {
      expect(obs[8 + k]).toBeCloseTo(tip[k], 5);
      expect(obs[14 + k]).toBeCloseTo(obs[11 + k] - obs[8 + k], 5);
    }
    expect(Array.from(obs.slice(11, 14))).toEqual(Array.from(env.goalPosition()).map(Math.fround));
  });

  it('a scripted IK + PD controller reaches every sampled goal; a random policy does not', async () => {
    const env = (await makeEnv('reacher-arm')) as ReacherArmEnv;
    envs.push(env);
    const policy = scriptedArmPolicy();
    const finals: number[] = [];
    for (let seed = 0; seed < 12; seed++) {
      const ep = rollout(env, seed, new Rng(0), policy);
      expect(ep.truncated).toBe(true);
      expect(ep.terminated).toBe(false);
      finals.push(env.distance());
    }
    expect(Math.max(...finals)).toBeLessThan(env.successRadius);
    const randomFinals: number[] = [];
    for (let seed = 0; seed < 12; seed++) {
      rollout(env, seed, new Rng(seed));
      randomFinals.push(env.distance());
    }
    expect(mean(randomFinals)).toBeGreaterThan(0.1);
  });
});
