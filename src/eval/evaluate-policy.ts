/**
 * Sim-to-real evaluation: roll a policy out under randomization profiles (and compare with logged
 * real runs), with normalized scores, bootstrap confidence intervals, the gap per profile, return
 * histograms and, for fine-tuning runs, the learning curve. The result is a plain JSON-able
 * summary; report.ts turns it into HTML.
 *
 * Every profile replays the same reset seeds seed, seed+1, ... (common random numbers); the
 * comparisons still treat profiles as independent samples, which is conservative.
 */
import { cpus } from 'node:os';
import { makeEnv, resolveProfile, type RandomizationProfile, type RefScores } from '../../simulators/index.js';
import type { ChunkingOptions, ModelOptions, PolicyDescription, PolicyModel, PolicyRuntime } from '../serve/index.js';
import { readCurve, type LearningCurve } from './curve.js';
import { EvaluationError } from './errors.js';
import { checkPolicyFits, loadEvalPolicy, type PolicyInfo } from './policy.js';
import { readRealRuns } from './real.js';
import { rollout } from './rollout.js';
import {
  CI_METHOD,
  DEFAULT_LEVEL,
  DEFAULT_RESAMPLES,
  binEdges,
  bootstrapDiffCI,
  bootstrapMeanCI,
  histogram,
  mean,
  std,
  welchTTest,
  wilsonInterval,
  type HistogramBin,
  type Interval,
  type WelchResult,
} from './stats.js';

export interface EvaluatePolicyOptions {
  /** A policy file, an open runtime or a loaded mlp model (neither disposed here). */
  policy: string | PolicyRuntime | PolicyModel;
  /** A sequence policy's target return (return units) instead of its card's. */
  targetReturn?: number;
  /** How to call a foreign file that takes a context (instead of `<file>.card.json` beside it). */
  description?: PolicyDescription;
  /** A chunked policy's action horizon or temporal ensembling (default: its card's horizon). */
  chunking?: ChunkingOptions;
  /** Env id: pendulum, hopper, halfcheetah, walker2d, reacher-arm. */
  task: string;
  /** Profile names (built-in or in `customProfiles`) or profile objects; default nominal, mild, harsh. */
  profiles?: readonly (string | RandomizationProfile)[];
  /** Named profiles loaded with loadProfiles()/parseProfiles(). */
  customProfiles?: Readonly<Record<string, RandomizationProfile>>;
  /** Episodes per profile. */
  episodes: number;
  /** Reset seeds are seed, seed+1, ...; the bootstrap streams derive from it too (default 0). */
  seed?: number;
  /** A dataset store of logged real runs to compare with. */
  real?: string;
  /** A metrics JSONL log of a fine-tuning run. */
  curve?: string;
  /** Bootstrap resamples (default 2000) and confidence level (default 0.95). */
  resamples?: number;
  level?: number;
  /** Histogram bins (default 20). */
  bins?: number;
  /** Passed to PolicyModel.load when `policy` is a path. */
  model?: ModelOptions;
  onProgress?: (p: { profile: string; episode: number; episodes: number }) => void;
}

export interface SampleSummary {
  returns: number[];
  lengths: number[];
  /** Per-episode D4RL normalized scores. */
  normalized: number[];
  mean: number;
  std: number;
  ci: Interval;
  normalizedMean: number;
  normalizedCI: Interval;
  meanLength: number;
  histogram: HistogramBin[];
}

export interface Gap {
  /** mean(reference) − mean(this), in return units. */
  return: number;
  /** The same in normalized points. */
  normalized: number;
  /** Bootstrap CI of the normalized difference. */
  normalizedCI: Interval;
  /** Welch's t-test of the difference (null with fewer than 2 episodes on a side). */
  welch: WelchResult | null;
}

export interface ProfileResult extends SampleSummary {
  name: string;
  profile: RandomizationProfile;
  /** Episodes that ended before the time limit (terminated: the robot fell). */
  terminated: number;
  /** Fraction of episodes whose last step reported `info.success` (goal reached); null for tasks that report no success. */
  successRate: number | null;
  /** Wilson score interval of the success rate at the summary's level (null with successRate). */
  successCI: Interval | null;
  /** nominal − this profile (null for nominal itself, or when nominal was not evaluated). */
  gapToNominal: Gap | null;
  /** this profile − real runs (null without real runs). */
  gapToReal: Gap | null;
}

export interface RealResult extends SampleSummary {
  source: string;
  /** Episodes that ended by a terminal (rather than a timeout). */
  terminated: number;
  envId: string;
  incomplete: number;
}

export interface EvalSummary {
  format: 'o2o-eval-summary/1';
  createdAt: string;
  machine: string;
  task: string;
  refScores: RefScores;
  policy: PolicyInfo;
  episodes: number;
  seed: number;
  ci: { method: string; level: number; resamples: number; seed: number };
  gapDefinition: string;
  test: string;
  profiles: ProfileResult[];
  real: RealResult | null;
  curve: LearningCurve | null;
  warnings: string[];
}

function checkInt(name: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min) throw new EvaluationError(`evaluatePolicy: ${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

/** Resolves profile names up front so a typo fails before any rollout. */
function resolveProfiles(list: readonly (string | RandomizationProfile)[], custom: Readonly<Record<string, RandomizationProfile>>): RandomizationProfile[] {
  if (list.length === 0) throw new EvaluationError('evaluatePolicy: no profiles given; pass e.g. --profiles nominal,mild,harsh');
  const out = list.map((p) => {
    try {
      return resolveProfile(p, custom);
    } catch (e) {
      throw new EvaluationError(`${(e as Error).message}; with the CLI, load custom profiles with --profile-file profiles.yaml`);
    }
  });
  const names = out.map((p) => p.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new EvaluationError(`evaluatePolicy: profile '${dup}' is listed twice; list each profile once`);
  return out;
}

function summarize(returns: number[], lengths: number[], ref: RefScores, edges: number[], boot: { resamples: number; level: number; seed: number }): SampleSummary {
  const norm = (r: number): number => (100 * (r - ref.random)) / (ref.expert - ref.random);
  const normalized = returns.map(norm);
  const ci = bootstrapMeanCI(returns, boot);
  const m = mean(returns);
  return {
    returns,
    lengths,
    normalized,
    mean: m,
    std: std(returns),
    ci,
    normalizedMean: norm(m),
    // The normalization is affine with a positive slope (expert > random), so the interval maps through it.
    normalizedCI: { lo: norm(ci.lo), hi: norm(ci.hi) },
    meanLength: mean(lengths),
    histogram: histogram(returns, edges),
  };
}

function gap(ref: SampleSummary, other: SampleSummary, boot: { resamples: number; level: number; seed: number }): Gap {
  return {
    return: ref.mean - other.mean,
    normalized: ref.normalizedMean - other.normalizedMean,
    normalizedCI: bootstrapDiffCI(ref.normalized, other.normalized, boot),
    welch: ref.returns.length >= 2 && other.returns.length >= 2 ? welchTTest(ref.returns, other.returns) : null,
  };
}

export async function evaluatePolicy(o: EvaluatePolicyOptions): Promise<EvalSummary> {
  const episodes = checkInt('episodes', o.episodes, 1);
  const seed = checkInt('seed', o.seed ?? 0, 0);
  const resamples = checkInt('resamples', o.resamples ?? DEFAULT_RESAMPLES, 100);
  const level = o.level ?? DEFAULT_LEVEL;
  if (!(level > 0 && level < 1)) throw new EvaluationError(`evaluatePolicy: level must be in (0, 1), e.g. 0.95, got ${level}`);
  const bins = checkInt('bins', o.bins ?? 20, 1);
  const profiles = resolveProfiles(o.profiles ?? ['nominal', 'mild', 'harsh'], o.customProfiles ?? {});
  const probe = await makeEnv(o.task);
  const spec = probe.spec;
  probe.close();
  const ref = spec.refScores;
  if (!(ref.expert > ref.random))
    throw new EvaluationError(`task '${o.task}': reference scores expert ${ref.expert} <= random ${ref.random}; normalized scores are undefined (see simulators/refscores.ts)`);
  // Inputs that can fail cheaply are read before the rollouts.
  const curve = o.curve ? readCurve(o.curve) : null;
  const loaded = loadEvalPolicy(o.policy, { ...o.model, targetReturn: o.targetReturn, description: o.description, chunking: o.chunking });
  const warnings: string[] = [];
  if (/placeholder/i.test(ref.note))
    warnings.push(`task '${spec.id}': its reference scores are marked as a placeholder (its note says PLACEHOLDER); normalized scores are provisional — compare raw returns too`);
  try {
    warnings.push(...checkPolicyFits(loaded.info, spec));
    const realRuns = o.real ? await readRealRuns(o.real, spec) : null;
    if (realRuns) warnings.push(...realRuns.warnings);
    const raw: { profile: RandomizationProfile; returns: number[]; lengths: number[]; terminated: number; successes: boolean[] | null }[] = [];
    for (const profile of profiles) {
      const env = await makeEnv(o.task, { randomization: profile, seed });
      try {
        const returns: number[] = [];
        const lengths: number[] = [];
        let terminated = 0;
        const r = rollout(env, loaded.policy, episodes, seed, (ep, ret, len) => {
          returns.push(ret);
          lengths.push(len);
          if (len < spec.maxEpisodeSteps) terminated++;
          o.onProgress?.({ profile: profile.name, episode: ep + 1, episodes });
        });
        raw.push({ profile, returns, lengths, terminated, successes: r.successes });
      } finally {
        env.close();
      }
    }
    const edges = binEdges([...raw.map((r) => r.returns), ...(realRuns ? [realRuns.returns] : [])], bins);
    // Each bootstrap gets its own stream derived from the seed, so adding a profile changes no other interval.
    const boot = (k: number): { resamples: number; level: number; seed: number } => ({ resamples, level, seed: seed * 1000 + k });
    const real: RealResult | null = realRuns
      ? {
          source: realRuns.source,
          envId: realRuns.envId,
          incomplete: realRuns.incomplete,
          terminated: realRuns.terminated,
          ...summarize(realRuns.returns, realRuns.lengths, ref, edges, boot(999)),
        }
      : null;
    const sums = raw.map((r, i) => summarize(r.returns, r.lengths, ref, edges, boot(i)));
    const nominalIdx = raw.findIndex((r) => r.profile.name === 'nominal');
    if (nominalIdx < 0 && raw.length > 1) warnings.push("'nominal' was not evaluated, so there is no gap to nominal; add it to the profiles");
    const results: ProfileResult[] = raw.map((r, i) => ({
      name: r.profile.name,
      profile: r.profile,
      terminated: r.terminated,
      successRate: r.successes ? r.successes.filter(Boolean).length / r.successes.length : null,
      successCI: r.successes ? wilsonInterval(r.successes.filter(Boolean).length, r.successes.length, level) : null,
      ...sums[i]!,
      gapToNominal: nominalIdx >= 0 && i !== nominalIdx ? gap(sums[nominalIdx]!, sums[i]!, boot(100 + i)) : null,
      gapToReal: real ? gap(sums[i]!, real, boot(200 + i)) : null,
    }));
    if (curve) {
      for (const p of curve.points) if (p.evalNormalized === null && p.evalReturn !== null) p.evalNormalized = (100 * (p.evalReturn - ref.random)) / (ref.expert - ref.random);
    }
    if (episodes < 2) warnings.push('one episode per profile: the confidence intervals are a single point and no test is possible; use --episodes 10 or more');
    return {
      format: 'o2o-eval-summary/1',
      createdAt: new Date().toISOString(),
      machine: `${cpus().length}x ${cpus()[0]?.model.trim() ?? 'unknown cpu'}, Node ${process.versions.node}`,
      task: spec.id,
      refScores: ref,
      policy: loaded.info,
      episodes,
      seed,
      ci: { method: CI_METHOD, level, resamples, seed },
      gapDefinition:
        'gapToNominal = nominal − profile; gapToReal = profile − real (positive: the policy does worse there); CI = percentile bootstrap of the difference of means, samples resampled independently',
      test: "Welch's two-sample t-test (unequal variances), two-sided",
      profiles: results,
      real,
      curve,
      warnings,
    };
  } finally {
    if (loaded.owned) loaded.dispose();
  }
}
