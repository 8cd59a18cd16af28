import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/util/rng.js';
import { type LocomotionEnv, makeEnv, type Env } from '../../simulators/index.js';
import { mean, rollout, sum } from './helpers.js';

const opened: Env[] = [];
async function open(id: string, opts: Parameters<typeof makeEnv>[1] = {}): Promise<Env> {
  const env = await makeEnv(id, opts);
  opened.push(env);
  return env;
}
afterAll(() => {
  for (const e of opened) e.close();
});

describe('MuJoCo locomotion (Gymnasium v4 semantics)', () => {
  it('has the Gymnasium spaces, dt and initial state', async () => {
    const expected = {
      hopper: { obsDim: 11, actDim: 3, dt: 0.008 },
      walker2d: { obsDim: 17, actDim: 6, dt: 0.008 },
      halfcheetah: { obsDim: 17, actDim: 6, dt: 0.05 },
    };
    for (const [id, e] of Object.entries(expected)) {
      const env = await open(id);
      expect(env.spec).toMatchObject({ id, obsDim: e.obsDim, actDim: e.actDim, maxEpisodeSteps: 1000 });
      expect(env.spec.dt).toBeCloseTo(e.dt, 12);
      expect(Array.from(env.spec.actLow).every((v) => v === -1)).toBe(true);
      const obs = env.reset(0);
      expect(obs.length).toBe(e.obsDim);
      // x position is excluded: obs[0] is the torso height (1.25 for hopper/walker, ~0 rel. for cheetah)
      if (id !== 'halfcheetah') expect(Math.abs(obs[0] - 1.25)).toBeLessThan(0.006);
    }
  });

  it('is deterministic: same seed and actions → identical trajectory', async () => {
    const a = rollout(await open('hopper'), 11, new Rng(3));
    const b = rollout(await open('hopper'), 11, new Rng(3));
    expect(b.rewards).toEqual(a.rewards);
    expect(b.obs.map((o) => Array.from(o))).toEqual(a.obs.map((o) => Array.from(o)));
    const c = rollout(await open('hopper'), 12, new Rng(3));
    expect(Array.from(c.obs[0])).not.toEqual(Array.from(a.obs[0]));
  });

  it('random-policy returns and lengths fall in the known Gymnasium ranges', async () => {
    const rng = new Rng(0);
    const stats = async (id: string, n: number) => {
      const env = await open(id);
      const eps = Array.from({ length: n }, (_, i) => rollout(env, i, rng));
      return { ret: mean(eps.map((e) => sum(e.rewards))), len: mean(eps.map((e) => e.rewards.length)), eps };
    };
    const hopper = await stats('hopper', 30);
    // Gymnasium Hopper-v4 random: episodes of ~20 steps, return ~18
    expect(hopper.len).toBeGreaterThan(10);
    expect(hopper.len).toBeLessThan(40);
    expect(hopper.ret).toBeGreaterThan(0);
    expect(hopper.ret).toBeLessThan(40);
    expect(hopper.eps.every((e) => e.terminated && !e.truncated)).toBe(true);
    const walker = await stats('walker2d', 30);
    expect(walker.len).toBeGreaterThan(8);
    expect(walker.len).toBeLessThan(60);
    expect(walker.ret).toBeGreaterThan(-10);
    expect(walker.ret).toBeLessThan(30);
    const cheetah = await stats('halfcheetah', 3);
    // HalfCheetah never terminates; random return ≈ −280 (D4RL REF_MIN −280.2)
    expect(cheetah.eps.every((e) => e.truncated && !e.terminated && e.rewards.length === 1000)).toBe(true);
    expect(cheetah.ret).toBeGreaterThan(-600);
    expect(cheetah.ret).toBeLessThan(0);
  });

  it('terminates a fallen hopper and truncates at the step limit', async () => {
    const env = (await open('hopper')) as LocomotionEnv;
    env.reset(0);
    const { qpos, qvel } = env.state();
    qpos[1] = 0.5; // torso height below healthy_z_range (0.7, inf)
    env.setState(qpos, qvel);
    const r = env.step([0, 0, 0]);
    expect(r.terminated).toBe(true);
    expect(r.truncated).toBe(false);
    expect(r.reward).toBeGreaterThan(0.5); // healthy_reward is still paid on the terminal step (v4)
    expect(() => env.step([0, 0, 0])).toThrow(/after the episode ended/);

    env.reset(0);
    const tilted = env.state();
    tilted.qpos[2] = 0.3; // angle outside (-0.2, 0.2)
    env.setState(tilted.qpos, tilted.qvel);
    expect(env.step([0, 0, 0]).terminated).toBe(true);

    const limited = await open('hopper', { maxEpisodeSteps: 30, locomotion: { terminateWhenUnhealthy: false } });
    const ep = rollout(limited, 0, new Rng(0));
    expect(ep.rewards.length).toBe(30);
    expect(ep.truncated).toBe(true);
    expect(ep.terminated).toBe(false);
  });

  it('forward reward is Δx/dt: info.x_velocity matches the x displacement', async () => {
    const env = await open('halfcheetah');
    env.reset(0);
    let x0 = 0;
    const first = env.step([0.5, -0.5, 0.2, 0.1, 0, -0.3]);
    x0 = first.info.terms.x_position;
    const r = env.step([0.5, -0.5, 0.2, 0.1, 0, -0.3]);
    const dx = r.info.terms.x_position - x0;
    expect(r.info.terms.x_velocity).toBeCloseTo(dx / 0.05, 9);
    const ctrl = 0.1 * (0.25 + 0.25 + 0.04 + 0.01 + 0 + 0.09);
    expect(r.reward).toBeCloseTo(dx / 0.05 - ctrl, 9);
  });

  it('rejects bad actions with clear errors and clips out-of-bounds ones', async () => {
    const env = await open('hopper');
    expect(() => env.step([0, 0, 0])).toThrow(/before reset\(\)/);
    env.reset(0);
    expect(() => env.step([0, NaN, 0])).toThrow(/hopper\.step: action\[1\] is NaN/);
    expect(() => env.step([0, 0, -Infinity])).toThrow(/action\[2\] is -Infinity/);
    expect(() => env.step([0, 0])).toThrow(/length 2, expected 3/);
    const r = env.step([3, -2, 0.5]);
    expect(r.info.clippedActions).toBe(2);
    expect(r.info.terms.reward_ctrl).toBeCloseTo(-1e-3 * (1 + 1 + 0.25), 12);
  });

  it('keeps stepping correctly after WASM memory grows (many envs created later)', async () => {
    const a = await open('walker2d');
    const ref = rollout(await open('walker2d'), 4, new Rng(9));
    a.reset(4);
    const rng = new Rng(9);
    const before = (a as unknown as { v: { qpos: Float64Array } }).v.qpos;
    // allocate enough models to force the WASM heap to grow, invalidating cached views
    for (let i = 0; i < 12 && before.byteLength > 0; i++) await open('halfcheetah');
    expect(before.byteLength).toBe(0); // the heap did grow: the old view is detached
    const obs: number[][] = [];
    for (let t = 0; t < ref.rewards.length; t++) {
      const r = a.step(Array.from({ length: 6 }, () => rng.uniform(-1, 1)));
      obs.push(Array.from(r.obs));
    }
    expect(obs).toEqual(ref.obs.slice(1).map((o) => Array.from(o)));
  });

  it('close() frees the model and later use fails clearly', async () => {
    const env = await makeEnv('hopper');
    env.reset(0);
    env.close();
    env.close(); // idempotent
    expect(() => env.step([0, 0, 0])).toThrow(/closed/);
  });
});
