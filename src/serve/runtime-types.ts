import type { PolicyDistribution, TrustPolicy, VerifiedArtifact } from './artifact.js';
import type { ChunkingOptions } from './chunks.js';
import type { ExplorationConfig } from './exploration.js';
import type { ModelOptions } from './model.js';
import type { FaultCounts, FaultKind, SafetyConfig } from './safety.js';

/** What PolicyRuntime (runtime.ts) takes and reports: its options, the step info act() reads, its events and status. */
export interface RuntimeOptions {
  trust?: TrustPolicy;
  safety?: SafetyConfig;
  model?: ModelOptions;
  /** Sample exploratory actions (online data collection); default off: the policy's mode. */
  exploration?: ExplorationConfig | null;
  /** Called (off the hot path) when a fault replaces the policy's action, and when a swap is refused. */
  onEvent?: (e: RuntimeEvent) => void;
  /**
   * Sequence policies with a returns-to-go input: the return to aim for (return units), instead of
   * the card's default. Ignored by policies without one.
   */
  targetReturn?: number;
  /** Chunked policies: the action horizon, temporal ensembling and the noise seed (see chunks.ts). */
  chunking?: ChunkingOptions;
}

/**
 * What act() knows about the step besides the observation. Reuse one object across calls (act()
 * allocates nothing; an object literal per call would).
 */
export interface StepInfo {
  /** Milliseconds on one clock (default performance.now()). */
  now?: number;
  /** When the observation was taken, on the same clock (default now); older than staleAfterMs is stale. */
  obsTime?: number;
  /** The reward the previous step earned (sequence policies subtract it from the return-to-go; ignored at an episode start). */
  reward?: number;
  /** This observation is the first of an episode: the context starts again. */
  episodeStart?: boolean;
  /**
   * The same step again (a control timer acting once more on the latest observation, with no new
   * one): the context does not advance, the current step is re-evaluated.
   */
  repeat?: boolean;
  /**
   * Steps the episode advanced since the previous act() (default 1), when some were not seen (a
   * control timer slower than the robot): `reward` is then what they earned in all. With
   * episodeStart: steps since the episode's first (default 0).
   */
  steps?: number;
}

export type RuntimeEvent =
  | { type: 'fault'; kind: FaultKind; count: number }
  | { type: 'swap'; version: string; sha256: string }
  | { type: 'swap-refused'; reason: string; keptVersion: string };

export interface SwapResult {
  ok: boolean;
  /** The version now serving (the new one on success, the old one on failure). */
  version: string;
  /** Why the candidate was refused. */
  reason?: string;
}

export interface RuntimeStatus {
  version: string;
  sha256: string;
  source: string;
  verifiedBy: VerifiedArtifact['verifiedBy'];
  provider: string;
  obsDim: number;
  actDim: number;
  steps: number;
  faults: FaultCounts;
  lastFault: FaultKind | null;
  swaps: number;
  refusedSwaps: number;
  lastSwapError: string | null;
  /** How act() explores: 'off', or the distribution it samples ('tanh-gaussian', 'gaussian', 'noise'). */
  exploration: 'off' | PolicyDistribution['kind'] | 'noise';
  /** Sequence policies: the current step's index in the episode (-1 before the first); null for mlp. */
  episodeStep: number | null;
  /** Sequence policies with returns-to-go: the current step's return-to-go (return units); else null. */
  returnToGo: number | null;
  /** Sequence policies with returns-to-go: the target the next episode starts from; else null. */
  targetReturn: number | null;
  /** Chunked policies: the queue (actions executed per plan, actions still queued, plans made, ensembling's m or null); else null. */
  chunk: { actionHorizon: number; chunkLength: number; queued: number; replans: number; temporalEnsembling: number | null } | null;
}
