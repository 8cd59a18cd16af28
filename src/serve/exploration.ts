/**
 * Exploration while collecting online data. A robot that feeds a fine-tuning learner must try
 * actions around the policy's choice, not only its mode: SAC, CQL and Cal-QL collect with actions
 * sampled from their tanh-Gaussian policy, IQL from its Gaussian, TD3(+BC) adds Gaussian noise of
 * 0.1 · max_action to its deterministic action (CORL, d3rlpy). The sampler does the same on the
 * serving path, from the distribution outputs an exported policy carries (card.distribution):
 *   tanh-gaussian: a = scale · tanh(loc + T · exp(logStd) · ε)
 *   gaussian:      a = clip(loc + T · exp(logStd) · ε, low, high)
 *   none:          a = clip(mode + noiseStd · (high − low)/2 · ε, low, high)   (deterministic policies)
 * with ε ~ N(0, I) from a seeded generator and T the temperature. Sampling allocates nothing; the
 * safety filter still bounds and rate-limits what leaves.
 */
import { Rng } from '../util/rng.js';
import type { PolicyDistribution } from './artifact.js';

export interface ExplorationConfig {
  /** Seed of the noise generator (default 0). A fleet server derives one per robot from it. */
  seed?: number;
  /** Multiplies the policy's standard deviation (default 1: sample the policy as trained). */
  temperature?: number;
  /**
   * Deterministic policies: Gaussian noise std as a fraction of half the action range (default
   * 0.1, TD3's expl_noise); for unbounded components, in action units.
   */
  noiseStd?: number;
}

export class ExplorationConfigError extends Error {
  override name = 'ExplorationConfigError';
}

export class ActionSampler {
  readonly temperature: number;
  readonly noiseStd: number;
  private readonly rng: Rng;

  constructor(cfg: ExplorationConfig = {}) {
    this.temperature = cfg.temperature ?? 1;
    this.noiseStd = cfg.noiseStd ?? 0.1;
    if (!(this.temperature >= 0 && Number.isFinite(this.temperature)))
      throw new ExplorationConfigError(`exploration: temperature must be a finite number ≥ 0, got ${this.temperature}; 1 samples the policy as trained`);
    if (!(this.noiseStd >= 0 && Number.isFinite(this.noiseStd)))
      throw new ExplorationConfigError(`exploration: noiseStd must be a finite number ≥ 0, got ${this.noiseStd}; TD3 uses 0.1`);
    this.rng = new Rng(cfg.seed ?? 0);
  }

  /**
   * Replaces `action` (the policy's mode) by a sample. `loc`/`logStd` are the distribution outputs
   * when `dist` is given; [low, high] are the actuator bounds. Non-finite inputs give non-finite
   * samples, which the safety filter then refuses.
   */
  sample(action: Float32Array, dist: PolicyDistribution | null, loc: Float32Array, logStd: Float32Array, low: ArrayLike<number>, high: ArrayLike<number>): void {
    const n = action.length;
    const T = this.temperature;
    for (let i = 0; i < n; i++) {
      const eps = this.rng.normal();
      let a: number;
      if (dist?.kind === 'tanh-gaussian') a = dist.scale * Math.tanh(loc[i]! + T * Math.exp(logStd[i]!) * eps);
      else if (dist?.kind === 'gaussian') a = loc[i]! + T * Math.exp(logStd[i]!) * eps;
      else {
        const half = (high[i]! - low[i]!) / 2;
        a = action[i]! + this.noiseStd * (Number.isFinite(half) ? half : 1) * eps;
      }
      action[i] = a < low[i]! ? low[i]! : Math.min(a, high[i]!);
    }
  }
}

/** A per-robot seed from a base seed and the robot's id (FNV-1a), so robots explore independently. */
export function robotSeed(base: number, robot: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < robot.length; i++) h = Math.imul(h ^ robot.charCodeAt(i), 0x01000193) >>> 0;
  return (base + h) % 4294967296;
}
