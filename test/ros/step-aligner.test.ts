/**
 * The fleet link's step alignment (no ROS needed): ROS keeps each topic in order but not the order
 * across topics, so the k-th answered observation must meet the k-th reward / done / truncated
 * message whichever arrives first; an episode's final observation is a next observation only.
 */
import { describe, expect, it } from 'vitest';
import { type StepRow, StepAligner } from '../../ros/fleet-link.js';
import { Rng } from '../../src/util/rng.js';

describe('StepAligner', () => {
  it('forms the same transitions whatever order the observation, reward, done and truncated messages interleave in', () => {
    // Two episodes: 3 steps ending terminated, 2 steps ending truncated. Observation k = [k].
    const steps = [
      { r: 1, d: false, t: false },
      { r: 2, d: false, t: false },
      { r: 3, d: true, t: false },
      { r: 4, d: false, t: false },
      { r: 5, d: false, t: true },
    ];
    // The robot's stream per topic: observations 0,1,2,3(final) then 4,5,6(final); one feedback per step.
    const obsStream = [0, 1, 2, 3, 4, 5, 6];
    const expected = [
      { obs: 0, next: 1, r: 1, d: false, t: false },
      { obs: 1, next: 2, r: 2, d: false, t: false },
      { obs: 2, next: 3, r: 3, d: true, t: false },
      { obs: 4, next: 5, r: 4, d: false, t: false },
      { obs: 5, next: 6, r: 5, d: false, t: true },
    ];
    const rng = new Rng(3);
    for (let trial = 0; trial < 200; trial++) {
      const rows: StepRow[] = [];
      const al = new StepAligner((r) => rows.push(r), { done: true, truncated: true });
      const queues: (() => void)[][] = [
        obsStream.map((k) => () => al.answered(Float32Array.of(k), Float32Array.of(10 * k))),
        steps.map((s) => () => al.reward(s.r)),
        steps.map((s) => () => al.done(s.d)),
        steps.map((s) => () => al.truncated(s.t)),
      ];
      while (queues.some((q) => q.length)) {
        const live = queues.filter((q) => q.length);
        live[Math.floor(rng.uniform(0, live.length))]!.shift()!();
      }
      expect(rows.map((r) => ({ obs: r.obs[0], next: r.nextObs[0], r: r.reward, d: r.terminated, t: r.truncated }))).toEqual(expected);
      expect(rows.map((r) => r.action[0])).toEqual(expected.map((e) => 10 * e.obs));
    }
  });

  it('without done / truncated topics, steps never end an episode', () => {
    const rows: StepRow[] = [];
    const al = new StepAligner((r) => rows.push(r), { done: false, truncated: false });
    for (let k = 0; k < 4; k++) al.answered(Float32Array.of(k), Float32Array.of(0));
    al.reward(1);
    al.reward(2);
    expect(rows.map((r) => [r.obs[0], r.nextObs[0], r.reward, r.terminated, r.truncated])).toEqual([
      [0, 1, 1, false, false],
      [1, 2, 2, false, false],
    ]);
  });
});
