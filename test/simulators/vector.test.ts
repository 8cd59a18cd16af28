import { describe, expect, it } from 'vitest';
import { makeEnv, makeVectorEnv, PendulumEnv, VectorEnv } from '../../simulators/index.js';

describe('VectorEnv', () => {
  it('steps N copies with per-copy seeds and Gymnasium-style auto-reset', async () => {
    const vec = await makeVectorEnv('pendulum', 3, { seed: 10, maxEpisodeSteps: 5 });
    const obs0 = Array.from(vec.reset(10));
    expect(obs0.slice(0, 3)).toEqual(Array.from(new PendulumEnv().reset(10)));
    expect(obs0.slice(3, 6)).toEqual(Array.from(new PendulumEnv().reset(11)));
    const actions = new Float32Array([0.1, -0.2, 0.3]);
    let r = vec.step(actions);
    for (let t = 1; t < 4; t++) r = vec.step(actions);
    expect(Array.from(r.truncated)).toEqual([0, 0, 0]);
    const ref = new PendulumEnv({ maxEpisodeSteps: 5 });
    ref.reset(11);
    let last;
    for (let t = 0; t < 5; t++) last = ref.step([Math.fround(-0.2)]); // the batch is float32
    r = vec.step(actions);
    expect(Array.from(r.truncated)).toEqual([1, 1, 1]);
    expect(Array.from(r.terminated)).toEqual([0, 0, 0]);
    expect(Array.from(r.infos[1].finalObs!)).toEqual(Array.from(last!.obs));
    expect(r.infos[1].finalInfo!.episodeStep).toBe(5);
    expect(r.rewards[1]).toBe(last!.reward);
    // row 1 now holds the first observation of copy 1's next episode (its seed stream continues)
    const next = new PendulumEnv();
    next.reset(11);
    expect(Array.from(r.obs.slice(3, 6))).toEqual(Array.from(next.reset()));
    expect(() => vec.step([0, 0])).toThrow(/expected numEnvs × actDim = 3 × 1 = 3/);
    expect(() => vec.step([0, NaN, 0])).toThrow(/VectorEnv copy 1: pendulum\.step: action\[0\] is NaN/);
    vec.close();
  });

  it('auto-resets terminated MuJoCo copies', async () => {
    const vec = await makeVectorEnv('hopper', 2, { seed: 0 });
    vec.reset(0);
    const acts = new Float32Array(6).fill(1);
    let ended = 0;
    for (let t = 0; t < 300 && ended === 0; t++) {
      const r = vec.step(acts);
      for (let i = 0; i < 2; i++) {
        if (r.terminated[i]) {
          ended++;
          expect(r.infos[i].finalObs!.length).toBe(11);
          expect(r.obs[i * 11]).toBeGreaterThan(1.24); // fresh episode: torso back at 1.25
        }
      }
    }
    expect(ended).toBeGreaterThan(0);
    vec.close();
  });

  it('rejects mixing tasks', async () => {
    expect(() => new VectorEnv([new PendulumEnv(), new PendulumEnv({ maxEpisodeSteps: 3 })])).not.toThrow();
    const hopper = await makeEnv('hopper');
    expect(() => new VectorEnv([new PendulumEnv(), hopper])).toThrow(/same task/);
    hopper.close();
  });
});
