/**
 * `o2o export`: a learner's serving graph (Learner.policy(), or mlpPolicy(actor) for an actor's
 * parameters) → a standalone policy artifact (IR 8, opset 17, symbolic batch, deterministic action,
 * weights, observation normalization and action scaling baked in), its card — with the policy's
 * interface — in metadata_props, its sha256, and optionally an ed25519 signature beside it.
 */
import { writeFileDurably } from '../util/durable.js';
import type { KeyObject } from 'node:crypto';
import { serialize } from '../engine/index.js';
import { distributionOutputNames, MLP_INTERFACE, type PolicyInterface, type ServingGraph, servingGraph } from '../nn/index.js';
import { type PolicyCard, type PolicyDistribution, type PolicyEvaluation, sealArtifact, type SignatureSidecar, signArtifact } from './artifact.js';

export interface CardInput {
  name: string;
  version: string;
  task: string;
  algorithm: string;
  datasetId?: string;
  trainingSteps?: number;
  seed?: number | null;
  obsNames?: string[];
  actNames?: string[];
  /** Actuator bounds of the output; default ±spec.maxAction. */
  actLow?: ArrayLike<number>;
  actHigh?: ArrayLike<number>;
  evaluation?: PolicyEvaluation | null;
  notes?: string;
  /** Default: now. Pass a fixed date for reproducible bytes. */
  createdAt?: string;
}

export interface ExportOptions {
  /** The policy to seal: a learner's `policy()`, or `mlpPolicy(actor)`. */
  policy: ServingGraph;
  card: CardInput;
  /** Observation normalization the policy was trained with. */
  obsMean?: Float32Array;
  obsStd?: Float32Array;
  inputName?: string;
  outputName?: string;
  /** Write the artifact here (atomically, via a .partial file), plus `<out>.sig` when signing. */
  out?: string;
  /** ed25519 private key (PEM or KeyObject). */
  signingKey?: KeyObject | string;
  /**
   * Also output a stochastic policy's action distribution (recorded in the card), so servers can
   * sample exploratory actions for online data collection (default true).
   */
  distribution?: boolean;
}

export interface ExportResult {
  bytes: Uint8Array;
  card: PolicyCard;
  sha256: string;
  signature: SignatureSidecar | null;
}

export function makeCard(
  c: CardInput,
  obsDim: number,
  actDim: number,
  maxAction: number,
  inputName: string,
  outputName: string,
  policyInterface: PolicyInterface = MLP_INTERFACE,
): PolicyCard {
  const names = (given: string[] | undefined, n: number, prefix: string): string[] => {
    if (given && given.length !== n) throw new Error(`card '${c.name}': ${given.length} ${prefix} names for ${n} dimensions; give one name per dimension`);
    return given ?? Array.from({ length: n }, (_, i) => `${prefix}_${i}`);
  };
  const bound = (v: ArrayLike<number> | undefined, fill: number, what: string): number[] => {
    if (v && v.length !== actDim) throw new Error(`card '${c.name}': ${what} has ${v.length} values for ${actDim} actions`);
    // JSON has no Infinity: an unbounded side is written as ±Number.MAX_VALUE.
    return v ? Array.from(v) : new Array<number>(actDim).fill(Number.isFinite(fill) ? fill : Math.sign(fill) * Number.MAX_VALUE);
  };
  return {
    format: 'o2o-policy-card/1',
    name: c.name,
    version: c.version,
    task: c.task,
    algorithm: c.algorithm,
    datasetId: c.datasetId ?? '',
    trainingSteps: c.trainingSteps ?? 0,
    seed: c.seed ?? null,
    observation: { dim: obsDim, names: names(c.obsNames, obsDim, 'obs') },
    action: { dim: actDim, names: names(c.actNames, actDim, 'act'), low: bound(c.actLow, -maxAction, 'actLow'), high: bound(c.actHigh, maxAction, 'actHigh') },
    inputName,
    outputName,
    interface: structuredClone(policyInterface),
    evaluation: c.evaluation ?? null,
    createdAt: c.createdAt ?? new Date().toISOString(),
    notes: c.notes ?? '',
  };
}

/** Writes bytes atomically and durably (tmp + fsync + rename), creating the folder. */
export function writeAtomic(file: string, bytes: Uint8Array | string): void {
  writeFileDurably(file, bytes, { tmp: `${file}.partial` });
}

/** Seals a serving graph: the graph (weights and normalization baked in), its card, hash and signature. */
export function exportPolicy(opts: ExportOptions): ExportResult {
  const p = opts.policy;
  const inputName = opts.inputName ?? 'obs';
  const outputName = opts.outputName ?? 'action';
  const dist = (opts.distribution ?? true) ? p.distribution : null;
  const graph = servingGraph(p, { obsMean: opts.obsMean, obsStd: opts.obsStd, inputName, outputName, distribution: dist !== null });
  const card = makeCard(opts.card, p.obsDim, p.actDim, p.maxAction, inputName, outputName, p.interface);
  if (dist) {
    const names = distributionOutputNames(outputName);
    const distribution: PolicyDistribution = { kind: dist.kind, loc: names.loc, logStd: names.logStd, scale: p.maxAction };
    card.distribution = distribution;
  }
  const onnx = serialize(graph, { name: card.name, docString: `o2o policy ${card.name} ${card.version} (${card.algorithm} on ${card.task})` });
  const { bytes, sha256 } = sealArtifact(onnx, card);
  const signature = opts.signingKey ? signArtifact(bytes, opts.signingKey) : null;
  if (opts.out) {
    writeAtomic(opts.out, bytes);
    if (signature) writeAtomic(`${opts.out}.sig`, `${JSON.stringify(signature, null, 2)}\n`);
  }
  return { bytes, card, sha256, signature };
}

/**
 * Seals a foreign ONNX policy (d3rlpy, torch.onnx) into an artifact: adds a card and sha256 without
 * touching its graph. Dimensions and names come from the caller (read them off the model); a
 * policy that takes a context (a PyTorch Decision Transformer) needs its `interface` too.
 */
export function sealForeignPolicy(
  onnx: Uint8Array,
  card: CardInput & { obsDim: number; actDim: number; inputName: string; outputName: string; interface?: PolicyInterface },
  signingKey?: KeyObject | string,
): ExportResult {
  const full = makeCard(card, card.obsDim, card.actDim, Infinity, card.inputName, card.outputName, card.interface);
  const { bytes, sha256 } = sealArtifact(onnx, full);
  return { bytes, card: full, sha256, signature: signingKey ? signArtifact(bytes, signingKey) : null };
}
