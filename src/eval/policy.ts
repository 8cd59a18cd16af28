/**
 * The policy under evaluation: an ONNX file (our artifact with its card, an 'o2o train --out'
 * export, or a foreign d3rlpy/torch export — with `<file>.card.json` or a description when it
 * takes a context), an already open PolicyRuntime, or a loaded mlp PolicyModel. Files are opened
 * as a PolicyRuntime (mlp, sequence or chunked policies: rollout.ts feeds them rewards and
 * episode starts). Evaluation is an offline analysis, so no signature is required (a file's own
 * o2o.sha256 is still checked); the file's sha256 goes into the report so a reader knows exactly
 * which bytes were measured.
 */
import { existsSync } from 'node:fs';
import type { EnvSpec } from '../../simulators/index.js';
import type { PolicyKind } from '../nn/index.js';
import {
  type ChunkingOptions,
  type ModelOptions,
  type PolicyCard,
  type PolicyDescription,
  PolicyModel,
  PolicyRuntime,
  readArtifactFile,
  readMetadata,
  sha256Hex,
} from '../serve/index.js';
import { EvaluationError } from './errors.js';
import { modelPolicy, type RolloutPolicy } from './rollout.js';

export interface PolicyInfo {
  /** File path, or the model's source name when a loaded model was given. */
  source: string;
  /** sha256 (hex) of the file's bytes; null for a model passed in memory. */
  sha256: string | null;
  /** The o2o policy card, when the file carries one. */
  card: PolicyCard | null;
  /** The task the file says it was trained for (card, or 'o2o.task' metadata), if any. */
  task: string | null;
  obsDim: number;
  actDim: number;
  inputName: string;
  outputName: string;
  /** How it is called: 'mlp', 'sequence' (rolled out with its context) or 'chunked' (with its action queue). */
  kind: PolicyKind;
  /** A sequence policy's target return (the card's, or the one asked for); null without one. */
  targetReturn: number | null;
  /** A chunked policy's queue: actions per plan, temporal ensembling's m (null: off); null for other kinds. */
  chunk: { actionHorizon: number; chunkLength: number; temporalEnsembling: number | null } | null;
}

export interface LoadedPolicy {
  /** What the rollouts drive. */
  policy: RolloutPolicy;
  model: PolicyModel;
  info: PolicyInfo;
  /** True when this module opened the policy (and disposes it: dispose()). */
  owned: boolean;
  dispose(): void;
}

export interface EvalPolicyOptions extends ModelOptions {
  /** A sequence policy's target return instead of the card's. */
  targetReturn?: number;
  /** How to call a foreign file that takes a context (instead of `<file>.card.json`). */
  description?: PolicyDescription | null;
  /** A chunked policy's action horizon or temporal ensembling (and its noise seed). */
  chunking?: ChunkingOptions;
}

function runtimeInfo(rt: PolicyRuntime, source: string, sha256: string | null, task: string | null): PolicyInfo {
  const st = rt.status();
  return {
    source,
    sha256,
    card: rt.card,
    task,
    obsDim: rt.obsDim,
    actDim: rt.actDim,
    inputName: rt.model.inputName,
    outputName: rt.model.outputName,
    kind: rt.policyInterface.kind,
    targetReturn: st.targetReturn,
    chunk: st.chunk ? { actionHorizon: st.chunk.actionHorizon, chunkLength: st.chunk.chunkLength, temporalEnsembling: st.chunk.temporalEnsembling } : null,
  };
}

/** Loads `policy` (a path, an open runtime or a loaded mlp model) and describes it. */
export function loadEvalPolicy(policy: string | PolicyModel | PolicyRuntime, opts: EvalPolicyOptions = {}): LoadedPolicy {
  const { targetReturn, description, chunking, ...modelOpts } = opts;
  const noTarget = (rt: PolicyRuntime, where: string) =>
    new EvaluationError(`${where}: --target-return is for policies conditioned on a return (a returns-to-go input); this is a '${rt.policyInterface.kind}' policy without one`);
  if (policy instanceof PolicyRuntime) {
    if (targetReturn !== undefined) {
      if (policy.status().targetReturn === null) throw noTarget(policy, policy.status().source);
      policy.setTargetReturn(targetReturn);
    }
    return { policy, model: policy.model, owned: false, dispose() {}, info: runtimeInfo(policy, policy.status().source, null, policy.card?.task ?? null) };
  }
  if (policy instanceof PolicyModel) {
    const m = policy;
    return {
      policy: modelPolicy(m),
      model: m,
      owned: false,
      dispose() {},
      info: {
        source: m.source,
        sha256: null,
        card: null,
        task: null,
        obsDim: m.obsDim,
        actDim: m.actDim,
        inputName: m.inputName,
        outputName: m.outputName,
        kind: 'mlp',
        targetReturn: null,
        chunk: null,
      },
    };
  }
  if (!existsSync(policy)) throw new EvaluationError(`${policy}: no such policy file; check the path (train one with 'o2o train --out', export it with 'o2o export')`);
  const input = readArtifactFile(policy);
  if (description) input.description = description;
  const rt = PolicyRuntime.open(input, { trust: { allowUnverified: true }, model: modelOpts, targetReturn, chunking });
  const card = rt.card;
  if (targetReturn !== undefined && rt.status().targetReturn === null) {
    rt.dispose();
    throw noTarget(rt, policy);
  }
  const meta = card ? {} : readMetadata(input.bytes, policy);
  return {
    policy: rt,
    model: rt.model,
    owned: true,
    dispose: () => rt.dispose(),
    info: runtimeInfo(rt, policy, sha256Hex(input.bytes), card?.task ?? meta['o2o.task'] ?? null),
  };
}

/** Throws when the policy cannot act in `spec`; returns warnings for softer mismatches. */
export function checkPolicyFits(info: PolicyInfo, spec: EnvSpec): string[] {
  const trainedFor = info.task ? ` (the policy says it was trained for '${info.task}')` : '';
  if (info.obsDim !== spec.obsDim || info.actDim !== spec.actDim) {
    throw new EvaluationError(
      `${info.source}: policy maps ${info.obsDim} observations ('${info.inputName}') to ${info.actDim} actions ('${info.outputName}'), ` +
        `but task '${spec.id}' has obsDim ${spec.obsDim} and actDim ${spec.actDim}${trainedFor}; ` +
        `evaluate it on its own task${info.task ? ` (--task ${info.task})` : ''} or pass a policy trained for '${spec.id}'`,
    );
  }
  const warnings: string[] = [];
  if (info.task && info.task !== spec.id) warnings.push(`${info.source}: the policy says it was trained for '${info.task}' but is evaluated on '${spec.id}' (dimensions match)`);
  return warnings;
}

/** A PolicyFn over an mlp model's preallocated buffers (the returned action is reused: copy it to keep it). */
export function actFn(model: PolicyModel): (obs: Float32Array) => Float32Array {
  const p = modelPolicy(model);
  const step = {};
  return (obs) => p.act(obs, step) as Float32Array;
}
