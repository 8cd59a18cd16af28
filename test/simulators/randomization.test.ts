import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/util/rng.js';
import { BUILTIN_PROFILES, loadProfiles, makeEnv, parseProfiles, PendulumEnv, type RandomizedEnv, resolveProfile, validateProfile, type Env } from '../../simulators/index.js';
import { rollout } from './helpers.js';

const opened: Env[] = [];
async function open(id: string, opts: Parameters<typeof makeEnv>[1] = {}): Promise<Env> {
  const env = await makeEnv(id, opts);
  opened.push(env);
  return env;
}
afterAll(() => opened.forEach((e) => e.close()));

/** Fixed action sequence so that only the dynamics differ between runs. */
function fixedActions(env: Env, n: number, seed: number): number[][] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => Array.from({ length: env.spec.actDim }, (_, i) => rng.uniform(env.spec.actLow[i], env.spec.actHigh[i])));
}

function play(env: Env, seed: number, actions: number[][]): { obs: number[][]; rewards: number[] } {
  const obs = [Array.from(env.reset(seed))];
  const rewards: number[] = [];
  for (const a of actions) {
    const r = env.step(a);
    obs.push(Array.from(r.obs));
    rewards.push(r.reward);
    if (r.terminated || r.truncated) break;
  }
  return { obs, rewards };
}

describe('randomization profiles', () => {
  it('rejects invalid profiles naming the profile and the field', () => {
    expect(() => validateProfile('x', { massScale: [1.2, 0.8] })).toThrow("profile 'x': massScale must be [lo, hi] with 0 < lo <= hi, got [1.2,0.8]");
    expect(() => validateProfile('x', { frictionScale: [0, 1] })).toThrow(/frictionScale must be \[lo, hi\] with 0 < lo/);
    expect(() => validateProfile('x', { actionLatency: [0, 1.5] })).toThrow(/actionLatency .*integers/);
    expect(() => validateProfile('x', { obsNoiseStd: -1 })).toThrow(/obsNoiseStd must be a number/);
    expect(() => validateProfile('x', { controlJitter: 2 })).toThrow(/controlJitter must be a number in \[0, 0.9\]/);
    expect(() => validateProfile('x', { masScale: [1, 1] })).toThrow(/unknown field 'masScale'/);
    expect(() => validateProfile('x', { extends: 'wild' })).toThrow(/extends 'wild' is not a known profile/);
    expect(() => resolveProfile('medium')).toThrow(/unknown randomization profile 'medium'.*nominal, mild, harsh/);
  });

  it('loads YAML and JSON profiles, with extends and scalar shorthands', () => {
    const yaml = parseProfiles('wobbly:\n  extends: mild\n  massScale: [0.8, 1.2]\n  actionLatency: 2\nlate:\n  extends: wobbly\n  obsNoiseStd: 0.1\n');
    expect(yaml.wobbly).toMatchObject({ name: 'wobbly', massScale: [0.8, 1.2], actionLatency: [2, 2], frictionScale: BUILTIN_PROFILES.mild.frictionScale });
    expect(yaml.late).toMatchObject({ massScale: [0.8, 1.2], obsNoiseStd: 0.1 });
    const json = parseProfiles(JSON.stringify({ profiles: { heavy: { massScale: 1.5 } } }));
    expect(json.heavy.massScale).toEqual([1.5, 1.5]);
    const dir = mkdtempSync(join(tmpdir(), 'o2o-profiles-'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'x:\n  gainScale: [2, 1]\n');
    expect(() => loadProfiles(bad)).toThrow(new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: profile 'x': gainScale`));
    expect(() => parseProfiles('[1, 2]')).toThrow(/expected a mapping/);
  });

  it("'nominal' changes nothing", async () => {
    const plain = await open('hopper');
    const nominal = await open('hopper', { randomization: 'nominal' });
    const acts = fixedActions(plain, 50, 1);
    expect(play(nominal, 3, acts)).toEqual(play(plain, 3, acts));
  });

  it('changes the hopper dynamics measurably and restores nominal values each episode', async () => {
    const plain = await open('hopper');
    const harsh = (await open('hopper', { randomization: 'harsh' })) as RandomizedEnv;
    const acts = fixedActions(plain, 15, 2);
    const a = play(plain, 3, acts);
    const b = play(harsh, 3, acts);
    // same initial state (randomization uses its own salted stream), different motion afterwards
    const b0 = harsh.resetInfo().randomization!;
    expect(b.obs[0].map((v, i) => Math.abs(v - a.obs[0][i]) < 0.1)).not.toContain(false);
    const diff = Math.max(...b.obs[10].map((v, i) => Math.abs(v - a.obs[10][i])));
    expect(diff).toBeGreaterThan(1e-3);
    // the base env's parameters are exactly nominal again after setDynamics(null)
    const base = harsh.base;
    base.setDynamics(null);
    expect(play(base, 3, acts)).toEqual(a);
    expect(b0.massScale.length).toBe(4);
    expect(b0.frictionScale.length).toBe(5);
  });

  it('pendulum: heavier/longer pendulum, gain and damping change θ̈ as physics says', () => {
    const base = new PendulumEnv();
    base.reset(1);
    const [th, thdot] = base.state();
    base.setDynamics({ massScale: [2], lengthScale: [1.5], gainScale: [0.5], dampingScale: [1], extraDamping: [0.3], frictionScale: [] });
    base.step([1]);
    const tau = 0.5 * 1 - 0.3 * thdot;
    const expected = thdot + (((3 * 10) / (2 * 1.5)) * Math.sin(th) + (3 / (2 * 1.5 * 1.5)) * tau) * 0.05;
    expect(base.state()[1]).toBeCloseTo(Math.max(-8, Math.min(8, expected)), 10);
  });

  it('is reproducible from the seed recorded in info', async () => {
    const env = await open('pendulum', { randomization: 'harsh' });
    const acts = fixedActions(env, 200, 5);
    env.reset(42);
    play(env, 42, acts);
    env.reset();
    const third = (() => {
      const obs = [Array.from(env.reset())];
      const rewards: number[] = [];
      let rec;
      for (const a of acts) {
        const r = env.step(a);
        obs.push(Array.from(r.obs));
        rewards.push(r.reward);
        rec = r.info.randomization;
        if (r.truncated) break;
      }
      return { obs, rewards, rec: rec! };
    })();
    expect(third.rec.profile).toBe('harsh');
    expect(env.resetInfo().randomization).toBe(third.rec);
    const replay = await open('pendulum', { randomization: 'harsh' });
    const again = play(replay, third.rec.episodeSeed, acts);
    expect(again).toEqual({ obs: third.obs, rewards: third.rewards });
    expect(replay.resetInfo().randomization).toEqual(third.rec);
  });

  it('applies action latency, observation noise and control-period jitter', async () => {
    const late = await open('pendulum', { randomization: { name: 'late', actionLatency: 2 } });
    const plain = new PendulumEnv();
    const acts = fixedActions(plain, 20, 8);
    const delayed = play(late, 0, acts);
    const manual = play(plain, 0, [[0], [0], ...acts.slice(0, 18)]);
    expect(delayed).toEqual(manual);

    const noisy = await open('pendulum', { randomization: { name: 'noisy', obsNoiseStd: 0.1 } });
    const clean = play(plain, 4, acts);
    const n = play(noisy, 4, acts);
    const errs = n.obs.flatMap((o, t) => o.map((v, i) => v - clean.obs[t][i]));
    const std = Math.sqrt(errs.reduce((s, e) => s + e * e, 0) / errs.length);
    expect(std).toBeGreaterThan(0.07);
    expect(std).toBeLessThan(0.13);
    expect(n.rewards).toEqual(clean.rewards); // noise is on observations only

    const jitter = (await open('halfcheetah', { randomization: { name: 'jit', controlJitter: 0.3 } })) as RandomizedEnv;
    jitter.reset(0);
    const scales = Array.from({ length: 20 }, () => jitter.step([0, 0, 0, 0, 0, 0]).info.controlPeriodScale!);
    expect(Math.min(...scales)).toBeGreaterThanOrEqual(0.7);
    expect(Math.max(...scales)).toBeLessThanOrEqual(1.3);
    expect(new Set(scales).size).toBe(20);
  });

  it('validates actions before delaying them', async () => {
    const late = await open('hopper', { randomization: { name: 'late', actionLatency: 3 } });
    late.reset(0);
    expect(() => late.step([NaN, 0, 0])).toThrow(/action\[0\] is NaN/);
    expect(late.step([2, 0, 0]).info.clippedActions).toBe(1);
  });

  it('runs every task under harsh randomization', async () => {
    for (const id of ['pendulum', 'hopper', 'walker2d', 'halfcheetah', 'reacher-arm']) {
      const env = await open(id, { randomization: 'harsh', maxEpisodeSteps: 50 });
      const ep = rollout(env, 1, new Rng(1));
      expect(ep.rewards.every(Number.isFinite)).toBe(true);
    }
  });
});

describe('RandomizedEnv episode rules', () => {
  it('refuses to step after the end without touching its latency queue', async () => {
    const env = await makeEnv('pendulum', { randomization: { name: 'late', actionLatency: 1 }, maxEpisodeSteps: 2 });
    env.reset(0);
    env.step([1]);
    expect(env.step([1]).truncated).toBe(true);
    expect(() => env.step([1])).toThrow(/after the episode ended/);
    const plain = new PendulumEnv({ maxEpisodeSteps: 2 });
    plain.reset(1);
    env.reset(1);
    expect(env.step([2]).obs).toEqual(plain.step([0]).obs); // first step applies the hold action, not a stale one
  });
});
