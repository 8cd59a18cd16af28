import { ArtifactError, type ArtifactInput, artifactInterface, type PolicyDistribution, type VerifiedArtifact, verifyArtifact } from './artifact.js';
import type { PolicyInterface } from '../nn/index.js';
import type { Rng } from '../util/rng.js';
import { ChunkQueue } from './chunks.js';
import { ContextWindow } from './context.js';
import { PolicyModel } from './model.js';
import type { RuntimeOptions } from './runtime-types.js';

/** A verified policy, loaded and test-run, with the robot's context or action queue where its interface keeps one. */
export interface LoadedPolicy {
  artifact: VerifiedArtifact;
  model: PolicyModel;
  /** The card's action distribution, when the model was loaded with its outputs. */
  distribution: PolicyDistribution | null;
  iface: PolicyInterface;
  /** Sequence policies: the robot's context (in the model's input buffers). */
  window: ContextWindow | null;
  /** Chunked policies: the robot's action queue and observation history. */
  queue: ChunkQueue | null;
}

/** Same interface: a hot swap between the two keeps the robot's context. */
export function sameInterface(a: PolicyInterface, b: PolicyInterface): boolean {
  const key = (i: PolicyInterface) =>
    JSON.stringify([i.kind, i.contextLength, i.chunkLength, i.extraInputs.map((x) => [x.name, x.role, x.shape, x.dtype, x.default ?? null, x.scale ?? null, x.max ?? null])]);
  return key(a) === key(b);
}

/**
 * Verify, load, check dimensions against the card (and the serving policy, `probe`), and test-run:
 * a policy PolicyRuntime can serve or swap in. Throws (ArtifactError or Error) when it cannot.
 */
export function loadPolicy(
  input: ArtifactInput,
  opts: RuntimeOptions,
  probe: { obs: Float32Array; obsDim: number; actDim: number } | null,
  rng: Rng,
  targetReturn: number | null = opts.targetReturn ?? null,
): LoadedPolicy {
  const artifact = verifyArtifact(input, opts.trust);
  const card = artifact.card;
  const iface = artifactInterface(artifact);
  const rtgInput = iface.extraInputs.find((x) => x.role === 'returns-to-go');
  const target = rtgInput ? (targetReturn ?? rtgInput.default ?? null) : null;
  if (rtgInput && target === null)
    throw new ArtifactError(
      `${artifact.source}: its returns-to-go input '${rtgInput.name}' has no default (the target return) and none was given; pass one (o2o serve/eval --target-return, the ROS parameter target_return) or add 'default' to the interface`,
    );
  const distribution = card?.distribution ?? null;
  const model = PolicyModel.load(artifact.bytes, artifact.source, {
    inputName: card?.inputName ?? artifact.description?.inputName,
    outputName: card?.outputName ?? artifact.description?.outputName,
    distribution: distribution ? { loc: distribution.loc, logStd: distribution.logStd } : undefined,
    interface: iface,
    ...opts.model,
  });
  let window: ContextWindow | null = null;
  let queue: ChunkQueue | null = null;
  try {
    if (card && (card.observation.dim !== model.obsDim || card.action.dim !== model.actDim)) {
      throw new Error(`${artifact.source}: card says obs ${card.observation.dim} / act ${card.action.dim}, the graph has ${model.obsDim} / ${model.actDim}; re-export the policy`);
    }
    if (probe && (probe.obsDim !== model.obsDim || probe.actDim !== model.actDim)) {
      throw new Error(
        `${artifact.source}: has obs ${model.obsDim} / act ${model.actDim}, the serving policy has ${probe.obsDim} / ${probe.actDim}; a hot swap cannot change the robot's spaces — restart with the new policy instead`,
      );
    }
    if (iface.kind === 'sequence') {
      // The test run: the first step of an episode (an all-padding window is not a valid input:
      // a transformer's attention over only masked keys is undefined).
      window = new ContextWindow(model, target);
      window.begin(0, true);
      window.put(probe ? probe.obs : new Float32Array(model.obsDim));
    } else if (iface.kind === 'chunked') {
      // The test run: the first step of an episode, with zero noise (the robot's generator is not drawn from).
      queue = new ChunkQueue(model, rng, opts.chunking ?? {}, iface.actionHorizon);
      queue.begin(true);
      queue.put(probe ? probe.obs : new Float32Array(model.obsDim));
    } else if (probe) model.obs.set(probe.obs);
    else model.obs.fill(0);
    if (model.hasDistribution) model.inferDistribution();
    else model.infer();
    window?.clear();
    queue?.clear();
    for (let i = 0; i < model.chunk.length; i++)
      if (!Number.isFinite(model.chunk[i]!))
        throw new Error(`${artifact.source}: test inference gave chunk[${i}] = ${model.chunk[i]}; the policy's weights are broken — re-export it`);
    for (let i = 0; i < model.actDim; i++) {
      if (!Number.isFinite(model.action[i]!))
        throw new Error(`${artifact.source}: test inference gave action[${i}] = ${model.action[i]}; the policy's weights are broken — re-export it`);
      if (model.hasDistribution && !(Number.isFinite(model.loc[i]!) && Number.isFinite(model.logStd[i]!))) {
        throw new Error(`${artifact.source}: test inference gave a non-finite action distribution (loc ${model.loc[i]}, log std ${model.logStd[i]} at ${i}); re-export the policy`);
      }
    }
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { artifact, model, distribution: model.hasDistribution ? distribution : null, iface, window, queue };
}
