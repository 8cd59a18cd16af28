/**
 * Logged real runs: a dataset store recorded by the ROS node or a robot (same format as any
 * o2o dataset). Each complete episode (ended by a terminal or a timeout) contributes its return
 * and length; an episode still open when the recording stopped is left out and counted.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { EnvSpec } from '../../simulators/index.js';
import { episodes, openStore } from '../data/index.js';
import { EvaluationError } from './errors.js';

export interface RealRuns {
  source: string;
  /** Environment id written in the store's manifest ('' when the recorder did not set one). */
  envId: string;
  returns: number[];
  lengths: number[];
  /** Complete episodes that ended by a terminal (rather than a timeout). */
  terminated: number;
  /** Episodes left out because the recording ended mid-episode. */
  incomplete: number;
  warnings: string[];
}

/** Reads episode returns from the store at `dir` and checks it matches `spec`. */
export async function readRealRuns(dir: string, spec: EnvSpec): Promise<RealRuns> {
  if (!existsSync(join(dir, 'manifest.json'))) {
    throw new EvaluationError(`${dir}: not a dataset store (no manifest.json); pass the folder the ROS recorder or 'o2o dataset' wrote`);
  }
  const store = openStore(dir);
  const m = store.manifest;
  if (m.obsDim !== spec.obsDim || m.actDim !== spec.actDim) {
    throw new EvaluationError(
      `${dir}: real runs have obsDim ${m.obsDim}, actDim ${m.actDim}, but task '${spec.id}' has ${spec.obsDim}, ${spec.actDim}${m.envId ? ` (the store says env '${m.envId}')` : ''}; pass runs recorded on '${spec.id}'`,
    );
  }
  const { dataset } = await store.read();
  const returns: number[] = [];
  const lengths: number[] = [];
  let incomplete = 0;
  let terminated = 0;
  for (const ep of episodes(dataset)) {
    if (!ep.terminated && !ep.truncated) {
      incomplete++;
      continue;
    }
    if (ep.terminated) terminated++;
    returns.push(ep.return);
    lengths.push(ep.length);
  }
  if (returns.length === 0) {
    throw new EvaluationError(
      `${dir}: no complete episodes in the real runs (${dataset.size} transitions, ${incomplete} unfinished episode${incomplete === 1 ? '' : 's'}); ` +
        `record at least one episode to its end (terminal or timeout) before comparing with the simulator`,
    );
  }
  const warnings: string[] = [];
  if (m.envId && m.envId !== spec.id && !m.envId.startsWith(`${spec.id}-`)) warnings.push(`${dir}: real runs were recorded on '${m.envId}', compared with simulated '${spec.id}'`);
  if (incomplete > 0) warnings.push(`${dir}: ${incomplete} unfinished episode${incomplete === 1 ? '' : 's'} left out (recording stopped mid-episode)`);
  if (returns.length < 2) warnings.push(`${dir}: only one complete real episode; no confidence interval or test is possible`);
  return { source: dir, envId: m.envId, returns, lengths, incomplete, terminated, warnings };
}
