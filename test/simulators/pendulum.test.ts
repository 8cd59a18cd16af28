import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/util/rng.js';
import { makeEnv, PendulumEnv } from '../../simulators/index.js';
import { mean, rollout, sum } from './helpers.js';

describe('pendulum (Gymnasium Pendulum-v1 semantics)', () => {
  it('has the Pendulum-v1 spaces and follows its dynamics and reward', () => {
    const env = new PendulumEnv();
    expect(env.spec).toMatchObject({ id: 'pendulum', obsDim: 3, actDim: 1, maxEpisodeSteps: 200, dt: 0.05 });
    expect(Array.from(env.spec.actLow)).toEqual([-2]);
    const obs = env.reset(3);
    const [th, thdot] = env.state();
    expect(obs[0]).toBeCloseTo(Math.cos(th), 6);
    expect(obs[1]).toBeCloseTo(Math.sin(th), 6);
    expect(obs[2]).toBeCloseTo(thdot, 6);
    const r = env.step([1.5]);
    const an = ((((th + Math.PI) % (2 * Math.PI)) + 2 * Math.PI) % (2 * Math.PI)) - Math.PI;
    expect(r.reward).toBeCloseTo(-(an * an + 0.1 * thdot * thdot + 0.001 * 1.5 * 1.5), 10);
    const newThdot = thdot + (15 * Math.sin(th) + 3 * 1.5) * 0.05;
    expect(env.state()[1]).toBeCloseTo(Math.max(-8, Math.min(8, newThdot)), 10);
  });

  it('truncates at 200 steps and never terminates', () => {
    const env = new PendulumEnv();
    const ep = rollout(env, 0, new Rng(0));
    expect(ep.rewards.length).toBe(200);
    expect(ep.truncated).toBe(true);
    expect(ep.terminated).toBe(false);
    expect(() => env.step([0])).toThrow(/after the episode ended.*reset\(\)/);
  });

  it('is deterministic: same seed, same actions → identical trajectory; other seed differs', () => {
    const a = rollout(new PendulumEnv(), 7, new Rng(1));
    const b = rollout(new PendulumEnv(), 7, new Rng(1));
    const c = rollout(new PendulumEnv(), 8, new Rng(1));
    expect(b.rewards).toEqual(a.rewards);
    expect(b.obs.map((o) => Array.from(o))).toEqual(a.obs.map((o) => Array.from(o)));
    expect(c.rewards).not.toEqual(a.rewards);
  });

  it('continues the seed stream on reset() without a seed, reproducibly', () => {
    const env = new PendulumEnv();
    env.reset(5);
    const second = env.reset();
    const info = env.resetInfo();
    expect(info).toMatchObject({ seed: 5, episodeIndex: 1 });
    expect(Array.from(new PendulumEnv().reset(info.episodeSeed))).toEqual(Array.from(second));
  });

  it('a random policy scores like Gymnasium Pendulum-v1 random (≈ −1200)', async () => {
    const env = await makeEnv('pendulum');
    const rng = new Rng(0);
    const returns = Array.from({ length: 30 }, (_, i) => sum(rollout(env, i, rng).rewards));
    expect(mean(returns)).toBeGreaterThan(-1700);
    expect(mean(returns)).toBeLessThan(-800);
  });

  it('rejects NaN/Inf and wrong lengths, clips and counts out-of-bounds actions', () => {
    const env = new PendulumEnv();
    expect(() => env.step([0])).toThrow(/before reset\(\)/);
    env.reset(0);
    expect(() => env.step([NaN])).toThrow(/action\[0\] is NaN/);
    expect(() => env.step([Infinity])).toThrow(/finite/);
    expect(() => env.step([0, 1])).toThrow(/length 2, expected 1/);
    const [th, thdot] = env.state();
    const r = env.step([5]);
    expect(r.info.clippedActions).toBe(1);
    expect(r.info.terms.torque).toBe(2);
    const clippedThdot = thdot + (15 * Math.sin(th) + 3 * 2) * 0.05;
    expect(env.state()[1]).toBeCloseTo(Math.max(-8, Math.min(8, clippedThdot)), 10);
    expect(env.step([1]).info.clippedActions).toBe(0);
  });
});
