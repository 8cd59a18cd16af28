/**
 * The policy under evaluation: an ONNX file (our artifact with its card, an 'o2o train --out'
 * export, or a foreign d3rlpy/torch export) or an already loaded PolicyModel. Evaluation is an
 * offline analysis, so no signature is required; the file's sha256 goes into the report so a
 * reader knows exactly which bytes were measured.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { EnvSpec } from '../../simulators/index.js';
import { PolicyModel, policyInterfaceOf, readCard, readMetadata, sha256Hex, type ModelOptions, type PolicyCard } from '../serve/index.js';
import { EvaluationError } from './errors.js';

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
}

export interface LoadedPolicy {
  model: PolicyModel;
  info: PolicyInfo;
  /** True when this module loaded the model (and disposes it). */
  owned: boolean;
}

/** Loads `policy` (a path or a loaded model) and describes it. */
export function loadEvalPolicy(policy: string | PolicyModel, opts: ModelOptions = {}): LoadedPolicy {
  if (typeof policy !== 'string') {
    const m = policy;
    return {
      model: m,
      owned: false,
      info: { source: m.source, sha256: null, card: null, task: null, obsDim: m.obsDim, actDim: m.actDim, inputName: m.inputName, outputName: m.outputName },
    };
  }
  if (!existsSync(policy)) throw new EvaluationError(`${policy}: no such policy file; check the path (train one with 'o2o train --out', export it with 'o2o export')`);
  const bytes = new Uint8Array(readFileSync(policy));
  const card = readCard(bytes, policy);
  const iface = policyInterfaceOf(card);
  if (iface.kind !== 'mlp')
    throw new EvaluationError(
      `${policy}: a '${iface.kind}' policy (context ${iface.contextLength}) cannot be evaluated yet: evaluation runs 'mlp' policies (observation in, action out)`,
    );
  const meta = card ? {} : readMetadata(bytes, policy);
  const inputName = opts.inputName ?? card?.inputName;
  const outputName = opts.outputName ?? card?.outputName;
  const model = PolicyModel.load(bytes, policy, { ...opts, inputName, outputName });
  return {
    model,
    owned: true,
    info: {
      source: policy,
      sha256: sha256Hex(bytes),
      card,
      task: card?.task ?? meta['o2o.task'] ?? null,
      obsDim: model.obsDim,
      actDim: model.actDim,
      inputName: model.inputName,
      outputName: model.outputName,
    },
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

/** A PolicyFn over the model's preallocated buffers (the returned action is reused: copy it to keep it). */
export function actFn(model: PolicyModel): (obs: Float32Array) => Float32Array {
  return (obs) => {
    model.obs.set(obs);
    model.infer();
    return model.action;
  };
}
