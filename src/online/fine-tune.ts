/**
 * Online fine-tuning with a fleet: start the online learner on a pretrained policy, let robots
 * collect until the budget is spent (or until the robots stop), close the learner. The demo, the
 * fleet bench and the tests all run their robots through this one function; only the robots differ
 * (simulated MQTT robots behind a policy server, ROS 2 nodes, raw spools driven by a bench loop).
 */
import type { TrainResult } from '../train/index.js';
import { OnlineLearner, type OnlineLearnerOptions, type OnlineLearnerStatus } from './learner-service.js';

/** What the robots see of the learner while they run. */
export interface FleetContext {
  /** True once the learner has spent its budget (or stopped on an error): robots should stop. */
  done(): boolean;
  status(): OnlineLearnerStatus;
}

export interface FineTuneOptions extends Omit<OnlineLearnerOptions, 'learner' | 'offline' | 'obsStats' | 'rewardTransform'> {
  /** The offline run to fine-tune: its learner, prepared data, observation statistics and reward transform. */
  pre: Pick<TrainResult, 'learner' | 'prepared' | 'obsStats' | 'rewardTransform'>;
  /** Runs the robots; resolves when they stop (normally once `ctx.done()`). */
  robots: (ctx: FleetContext) => Promise<unknown>;
  /**
   * 'budget' (default): after the robots stop, wait for the learner to spend its budget.
   * 'robots': close the learner as soon as the robots stop (a budget-less learner, e.g. a load test).
   */
  until?: 'budget' | 'robots';
  /** Give up waiting for the budget after this long (default: wait forever). */
  timeoutMs?: number;
  /** Called every `progressMs` (default 500) while the robots run. */
  onProgress?: (status: OnlineLearnerStatus) => void;
  progressMs?: number;
}

export class FineTuneError extends Error {
  override name = 'FineTuneError';
}

/** Fine-tunes `pre.learner` online with the fleet `robots`; returns the learner's final status. */
export async function fineTuneOnline(o: FineTuneOptions): Promise<OnlineLearnerStatus> {
  const { pre, robots, until = 'budget', timeoutMs, onProgress, progressMs = 500, ...rest } = o;
  const learner = await OnlineLearner.start({ ...rest, learner: pre.learner, offline: pre.prepared, obsStats: pre.obsStats, rewardTransform: pre.rewardTransform });
  const ticker = onProgress ? setInterval(() => onProgress(learner.status()), progressMs) : null;
  try {
    await robots({ done: () => learner.status().done, status: () => learner.status() });
    if (until === 'budget') await withTimeout(learner.done, timeoutMs);
    const st = learner.status();
    if (st.error) throw new FineTuneError(`online learner stopped: ${st.error}`);
    return st;
  } finally {
    if (ticker) clearInterval(ticker);
    onProgress?.(learner.status());
    await learner.close();
  }
}

async function withTimeout(p: Promise<unknown>, ms: number | undefined): Promise<void> {
  if (ms === undefined) {
    await p;
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      p,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new FineTuneError(`the online learner did not spend its budget within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
