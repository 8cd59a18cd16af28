/**
 * How the policy node takes a new policy: from a file (model_path changed, the file watched, a path
 * on policy_update_topic) or from the fleet's signed PolicyUpdate. Either is verified by the
 * runtime like any swap; a refusal is logged and the running policy stays.
 */
import { type ArtifactInput, type PolicyRuntime, policyUpdateToArtifact, readArtifactFile } from '../src/serve/index.js';
import type { PolicyNodeParams } from './params.js';
import type { RosLogger } from './rcl-api.js';

/** Loads a new artifact from `path` (with its .sig/.sha256) and swaps if it verifies. */
export function swapFromFile(runtime: PolicyRuntime, path: string, log: RosLogger): boolean {
  try {
    return runtime.swap(readArtifactFile(path)).ok;
  } catch (e) {
    log.error(`o2o_policy: cannot read new policy ${path}: ${(e as Error).message}; still serving ${runtime.version}`);
    return false;
  }
}

/**
 * A PolicyUpdate from the fleet: verified like any swap (with trusted_keys, only a signature by
 * one of them passes); an unsigned one is refused unless allow_unverified, as `o2o serve` does.
 */
export function swapFromUpdate(
  runtime: PolicyRuntime,
  p: Pick<PolicyNodeParams, 'allow_unverified' | 'trusted_keys'>,
  payload: Uint8Array,
  topic: string,
  log: RosLogger,
): boolean {
  let input: ArtifactInput;
  try {
    input = policyUpdateToArtifact(payload, topic);
  } catch (e) {
    log.error(`o2o_policy: undecodable PolicyUpdate on ${topic} (${(e as Error).message}); still serving ${runtime.version}`);
    return false;
  }
  if (input.sha256 && input.sha256 === runtime.status().sha256) return true; // the retained copy of what runs
  if (!input.signature && !p.allow_unverified) {
    const reason = p.trusted_keys.length
      ? 'unsigned; this node requires an ed25519 signature by one of its trusted_keys'
      : "unsigned, and this node has no trusted key; set trusted_keys to the learner's public key (or, for development only, allow_unverified)";
    runtime.refuse(reason);
    return false;
  }
  return runtime.swap(input).ok;
}
