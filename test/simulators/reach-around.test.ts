import { describe, expect, it } from 'vitest';
import { episodes } from '../../src/data/index.js';
import { rollout as evalRollout } from '../../src/eval/index.js';
import { evaluate } from '../../src/train/evaluate.js';
import { generateRecipe } from '../../src/train/datasets.js';
import { Rng } from '../../src/util/rng.js';
import { BUILTIN_PROFILES, type Env, makeEnv, measureReturns, RandomizedEnv, ReachAroundEnv, scriptedReachAroundPolicy, straightReachPolicy } from '../../simulators/index.js';
import { rollout } from './helpers.js';

/** Runs the demonstrator (action noise std `noise`) for `n` episodes with reset seeds 0..n−1. */
function runDemo(env: Env, n: number, noise: number): { success: number; left: number; returns: number[] } {
  const demo = scriptedReachAroundPolicy();
  const rng = new Rng(0);
  let success = 0;
  let left = 0;
  const returns: number[] = [];
  for (let ep = 0; ep < n; ep++) {
    let obs = env.reset(ep);
    demo.reset(env.resetInfo().episodeSeed);
    if (demo.side() < 0) left++;
    let ret = 0;
    for (;;) {
      const a = demo(obs).map((v) => Math.max(-1, Math.min(1, v + noise * rng.normal())));
      const r = env.step(a);
      ret += r.reward;
      obs = r.obs;
      if (r.terminated || r.truncated) {
        if (r.info.success) success++;
        break;
      }
    }
    returns.push(ret);
  }
  return { success: success / n, left: left / n, returns };
}

describe('reach-around (multimodal planar reaching)', () => {
  it('has its spaces, observation layout and progress reward', async () => {
    const env = (await makeEnv('reach-around')) as ReachAroundEnv;
    expect(env).toBeInstanceOf(ReachAroundEnv);
    expect(env.spec).toMatchObject({ id: 'reach-around', obsDim: 9, actDim: 2, maxEpisodeSteps: 100, dt: 0.1 });
    expect(Array.from(env.spec.actLow)).toEqual([-1, -1]);
    const obs = env.reset(3);
    const s = env.state();
    expect(Array.from(obs)).toEqual(Array.from(Float32Array.from(s)));
    // [px, py, vx, vy, gx, gy, ox, oy, r]: at rest at first; the obstacle lies between start and goal
    expect([s[2], s[3]]).toEqual([0, 0]);
    expect(s[1]!).toBeLessThan(s[7]! - s[8]!);
    expect(s[5]!).toBeGreaterThan(s[7]! + s[8]!);
    // dead ahead: the start is within 0.03 of the obstacle's axis
    expect(Math.abs(s[0]! - s[6]!)).toBeLessThanOrEqual(0.03);
    const d0 = Math.hypot(s[0]! - s[4]!, s[1]! - s[5]!);
    const r = env.step([0.5, 1]);
    const t = env.state();
    expect(t[0]).toBeCloseTo(s[0]! + 0.5 * 0.03, 12);
    expect(t[1]).toBeCloseTo(s[1]! + 0.03, 12);
    // the velocity is the step's displacement in action units
    expect(t[2]).toBeCloseTo(0.5, 10);
    expect(t[3]).toBeCloseTo(1, 10);
    expect(r.reward).toBeCloseTo(10 * (d0 - Math.hypot(t[0]! - t[4]!, t[1]! - t[5]!)), 10);
    expect(r.info.success).toBe(false);
    expect(r.terminated).toBe(false);
  });

  it('is deterministic per seed; another seed differs', () => {
    const a = rollout(new ReachAroundEnv(), 7, new Rng(1));
    const b = rollout(new ReachAroundEnv(), 7, new Rng(1));
    const c = rollout(new ReachAroundEnv(), 8, new Rng(1));
    expect(b.rewards).toEqual(a.rewards);
    expect(b.obs.map((o) => Array.from(o))).toEqual(a.obs.map((o) => Array.from(o)));
    expect(Array.from(c.obs[0]!)).not.toEqual(Array.from(a.obs[0]!));
  });

  it('the demonstrator succeeds in ≥ 95 % of episodes and goes left in 35–65 % of them', () => {
    const r = runDemo(new ReachAroundEnv(), 200, 0.1);
    expect(r.success).toBeGreaterThanOrEqual(0.95);
    expect(r.left).toBeGreaterThanOrEqual(0.35);
    expect(r.left).toBeLessThanOrEqual(0.65);
    // both sides work: forced left and forced right each succeed
    for (const side of [-1, 1] as const) {
      const env = new ReachAroundEnv();
      const demo = scriptedReachAroundPolicy({ forceSide: side });
      let ok = 0;
      for (let ep = 0; ep < 50; ep++) {
        let obs = env.reset(ep);
        demo.reset(ep);
        let sideSeen = 0;
        for (;;) {
          const st = env.step(demo(obs));
          obs = st.obs;
          sideSeen += Math.sign(obs[0]! - obs[6]!);
          if (st.terminated || st.truncated) {
            if (st.info.success) ok++;
            break;
          }
        }
        expect(Math.sign(sideSeen)).toBe(side); // +1 = right of the obstacle→goal direction (+x here)
      }
      expect(ok).toBe(50);
    }
  });

  it('the dodge must start at once: the demonstrator 2 steps late still passes, 4 steps late mostly hits', () => {
    // The demonstrator with its swerve held back `delay` steps (straight on meanwhile), 200 episodes.
    const run = (delay: number) => {
      const env = new ReachAroundEnv();
      const demo = scriptedReachAroundPolicy();
      let collisions = 0;
      for (let ep = 0; ep < 200; ep++) {
        let obs = env.reset(ep);
        demo.reset(env.resetInfo().episodeSeed);
        let held = -1;
        for (;;) {
          let a = demo(obs);
          if (a[0] !== 0 && held < 0) held = 0;
          if (held >= 0 && held < delay) {
            a = [0, 1];
            held++;
          }
          const r = env.step(a);
          obs = r.obs;
          if (r.terminated || r.truncated) {
            if (r.info.terms.collision === 1) collisions++;
            break;
          }
        }
      }
      return collisions / 200;
    };
    expect(run(0)).toBe(0);
    expect(run(2)).toBeLessThanOrEqual(0.05);
    expect(run(4)).toBeGreaterThanOrEqual(0.6);
  });

  it('the straight-line (mode-averaging) policy hits the obstacle: success ≤ 10 %', () => {
    const env = new ReachAroundEnv();
    let success = 0;
    let collisions = 0;
    for (let ep = 0; ep < 100; ep++) {
      let obs = env.reset(ep);
      for (;;) {
        const r = env.step(straightReachPolicy(obs));
        obs = r.obs;
        if (r.terminated || r.truncated) {
          if (r.info.success) success++;
          if (r.info.terms.collision === 1) collisions++;
          break;
        }
      }
    }
    expect(success / 100).toBeLessThanOrEqual(0.1);
    expect(collisions).toBeGreaterThanOrEqual(90);
  });

  it('reference scores: the random policy and the demonstrator are what spec.refScores says', () => {
    const env = new ReachAroundEnv();
    expect(measureReturns(env, 100, 0).mean).toBeCloseTo(env.spec.refScores.random, 1);
    const demo = runDemo(env, 100, 0);
    expect(demo.success).toBe(1);
    expect(demo.returns.reduce((a, b) => a + b, 0) / 100).toBeCloseTo(env.spec.refScores.expert, 1);
  });

  it("recipe 'reach-around-demos' builds 1000 demonstrator episodes deterministically", async () => {
    const ds = await generateRecipe('reach-around-demos', 0);
    const eps = episodes(ds);
    expect(eps.length).toBe(1000);
    const succeeded = eps.filter((e) => e.terminated && ds.rewards[e.end - 1]! > 5).length;
    expect(succeeded / 1000).toBeGreaterThanOrEqual(0.95);
    expect(ds.meta.envId).toBe('reach-around');
    const again = await generateRecipe('reach-around-demos', 0);
    expect(again.size).toBe(ds.size);
    expect(Array.from(again.actions.subarray(0, 200))).toEqual(Array.from(ds.actions.subarray(0, 200)));
    await expect(generateRecipe('pendulum-demos')).rejects.toThrow(/no demonstrator.*reach-around/);
  });

  it('randomization profiles change the dynamics: actuation gain, obstacle size, observation noise', async () => {
    const gain = new RandomizedEnv(new ReachAroundEnv(), { ...BUILTIN_PROFILES.nominal, name: 'g', gainScale: [0.8, 1.2], lengthScale: [1.2, 1.2] });
    gain.reset(5);
    const base = gain.base as ReachAroundEnv;
    const s = base.state();
    const r = gain.step([1, 1]);
    const t = base.state();
    const g = r.info.randomization!.gainScale;
    expect(g).toHaveLength(2);
    expect(t[0]! - s[0]!).toBeCloseTo(g[0]! * 0.03, 10);
    expect(t[1]! - s[1]!).toBeCloseTo(g[1]! * 0.03, 10);
    // the physical radius is scaled, the observed one is not
    expect(t[8]).toBeCloseTo(1.2 * r.obs[8]!, 6);
    const nominal = rollout(await makeEnv('reach-around', { randomization: 'nominal' }), 4, new Rng(2));
    const harsh = rollout(await makeEnv('reach-around', { randomization: 'harsh' }), 4, new Rng(2));
    expect(harsh.obs[1]).not.toEqual(nominal.obs[1]);
  });

  it('evaluation reports the success rate (src/eval rollout and the trainer evaluate); tasks without success report none', async () => {
    const env = new ReachAroundEnv();
    const demo = scriptedReachAroundPolicy();
    const r = evalRollout(env, { act: (obs) => demo(obs), reset: () => demo.reset(env.resetInfo().episodeSeed) }, 10, 0);
    expect(r.successes).toHaveLength(10);
    expect(r.successes!.every(Boolean)).toBe(true);
    expect(evaluate(env, straightReachPolicy, 5, 0).successRate).toBe(0);
    const pendulum = await makeEnv('pendulum');
    expect(evaluate(pendulum, () => [0], 1, 0).successRate).toBeUndefined();
    expect(evalRollout(pendulum, { act: () => [0], reset: () => {} }, 1, 0).successes).toBeNull();
  });
});
