/**
 * EpisodeFeed: a ROS robot's per-step topics (reward, done, truncated: the k-th message of each
 * is the k-th step's) matched with its observations, for a sequence policy's context — in order,
 * and with messages that overtake or trail the observations.
 */
import { describe, expect, it } from 'vitest';
import { EpisodeFeed } from '../../ros/episode-feed.js';

/** What the next observation is: [start, reward] (copied: observation() reuses its object). */
const obs = (f: EpisodeFeed): [boolean, number] => {
  const e = f.observation();
  return [e.start, e.reward];
};

/** One step's messages: reward r, done d, truncated false. */
const stepMsgs = (f: EpisodeFeed, r: number, d = false) => {
  f.reward(r);
  f.done(d);
  f.truncated(false);
};

describe('EpisodeFeed', () => {
  it('in order: rewards go to the next observation; after an end, the final observation stays in the episode and the next one starts another', () => {
    const f = new EpisodeFeed();
    expect(obs(f)).toEqual([true, 0]);
    stepMsgs(f, 1);
    expect(obs(f)).toEqual([false, 1]);
    stepMsgs(f, 2);
    expect(obs(f)).toEqual([false, 2]);
    stepMsgs(f, 3, true); // the episode ends with this step
    expect(obs(f)).toEqual([false, 3]); // the final observation
    expect(obs(f)).toEqual([true, 0]); // the next episode's first
    stepMsgs(f, 10);
    expect(obs(f)).toEqual([false, 10]);
    f.reward(4);
    f.done(false);
    f.truncated(true); // a time limit ends it too
    expect(obs(f)).toEqual([false, 4]);
    expect(obs(f)).toEqual([true, 0]);
    expect(f.late).toBe(0);
  });

  it('messages one observation late: rewards are handed out with the next one (the total stays exact), an end is still placed right', () => {
    const f = new EpisodeFeed();
    expect(obs(f)).toEqual([true, 0]);
    expect(obs(f)).toEqual([false, 0]); // step 0's messages have not arrived yet
    stepMsgs(f, 5);
    stepMsgs(f, 6);
    expect(obs(f)).toEqual([false, 11]);
    expect(obs(f)).toEqual([false, 0]); // step 3 — in fact the final observation: step 2's end is late
    stepMsgs(f, 7, true); // step 2 ended the episode
    expect(obs(f)).toEqual([true, 0]); // so this one starts the next episode
    stepMsgs(f, 1);
    expect(obs(f)).toEqual([false, 1]);
    expect(f.late).toBe(0);
  });

  it('an end more than one observation late restarts the context at the next observation (counted); earlier episodes’ rewards are dropped', () => {
    const f = new EpisodeFeed();
    expect(obs(f)).toEqual([true, 0]);
    expect(obs(f)).toEqual([false, 0]); // (the final one)
    expect(obs(f)).toEqual([false, 0]); // (the next episode's first, taken for a step)
    stepMsgs(f, 9, true); // step 0 ended the episode: two observations ago
    expect(f.late).toBe(1);
    expect(obs(f)).toEqual([true, 0]);
    stepMsgs(f, 2); // the new episode's first step, answered in the old context: before the restart, dropped
    stepMsgs(f, 3);
    expect(obs(f)).toEqual([false, 3]);
  });

  it('reset(): the next observation starts an episode, with or without a final observation before it; without done topics only reset ends episodes', () => {
    const f = new EpisodeFeed();
    expect(obs(f)).toEqual([true, 0]);
    stepMsgs(f, 1, true);
    f.reset(); // a robot that publishes no final observation
    expect(obs(f)).toEqual([true, 0]);
    stepMsgs(f, 2);
    expect(obs(f)).toEqual([false, 2]);
    stepMsgs(f, 3, true);
    expect(obs(f)).toEqual([false, 3]); // final
    f.reset(); // and one that publishes both
    expect(obs(f)).toEqual([true, 0]);
    stepMsgs(f, 4);
    expect(obs(f)).toEqual([false, 4]);

    const g = new EpisodeFeed(); // rewards only
    expect(obs(g)).toEqual([true, 0]);
    g.reward(1);
    expect(obs(g)).toEqual([false, 1]);
    g.reset();
    g.reward(2); // the ended episode's last reward, after the reset: dropped with its episode
    expect(obs(g)[0]).toBe(true);
    g.reward(3);
    expect(obs(g)).toEqual([false, 3]);
  });
});
