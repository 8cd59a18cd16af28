/**
 * The registry: every algorithm's descriptor, one line each. Everything here — the names, the
 * settings each algorithm accepts, learner creation, batch needs, reference preprocessing — is
 * read off the descriptors (descriptor.ts); adding an algorithm is one module and one line below
 * (docs/adding-an-algorithm.md).
 */
import type { SessionOptions } from '../engine/index.js';
import { closest } from '../util/did-you-mean.js';
import { BC_ALGO } from './bc.js';
import { CALQL_ALGO } from './calql.js';
import { CQL_ALGO } from './cql.js';
import { DIFFUSION_ALGO } from './diffusion.js';
import { DT_ALGO } from './dt.js';
import type { AlgoDescriptor, BatchNeeds } from './descriptor.js';
import { IQL_ALGO } from './iql.js';
import { LearnerError, type Learner, type TaskSpec } from './learner.js';
import type { Preprocessing } from './preprocessing.js';
import { SAC_ALGO } from './sac.js';
import { TD3BC_ALGO } from './td3bc.js';

/** Every algorithm, in the order the CLI lists them. */
const DESCRIPTORS = [BC_ALGO, TD3BC_ALGO, IQL_ALGO, CQL_ALGO, CALQL_ALGO, DT_ALGO, DIFFUSION_ALGO, SAC_ALGO] as const;

export type AlgoName = (typeof DESCRIPTORS)[number]['name'];
export const ALGOS: readonly AlgoName[] = DESCRIPTORS.map((d) => d.name);
/** The descriptors themselves (CLI help, docs, tests). */
export const ALGO_DESCRIPTORS: readonly AlgoDescriptor[] = DESCRIPTORS;

type ConfigOf<D> = D extends AlgoDescriptor<infer C, string> ? C : never;
type Intersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;
/** A setting of some algorithm; each algorithm accepts only its own (checkSettings). */
export type AlgoConfig = Partial<Intersection<ConfigOf<(typeof DESCRIPTORS)[number]>>>;

/** The descriptor of `algo`; an unknown name is refused with the known ones. */
export function algoDescriptor(algo: string): AlgoDescriptor {
  const d = ALGO_DESCRIPTORS.find((x) => x.name === algo);
  if (d) return d;
  const near = closest(algo, ALGOS);
  throw new LearnerError(`unknown algorithm '${algo}'; choose one of ${ALGOS.join(', ')}${near ? ` (did you mean '${near}'?)` : ''}`);
}

/** The settings `algo` accepts, sorted. */
export function settingsOf(algo: string): string[] {
  return Object.keys(algoDescriptor(algo).defaults).sort();
}

const describeKind = (v: unknown): string =>
  v === null ? 'a number or null' : Array.isArray(v) ? 'a list of numbers' : typeof v === 'number' ? 'a number' : typeof v === 'boolean' ? 'true or false' : 'a string';

function sameKind(def: unknown, v: unknown): boolean {
  if (def === null) return v === null || typeof v === 'number';
  if (Array.isArray(def)) return Array.isArray(v) && v.every((x) => typeof x === 'number');
  return typeof v === typeof def;
}

/**
 * Refuses a setting `algo` does not have — naming its settings, the closest one, and the
 * algorithms that do have it — and a value of the wrong kind (a string for a number, ...).
 * Values themselves (ranges, choices) are checked by the learner.
 */
export function checkSettings(algo: string, config: object): void {
  const d = algoDescriptor(algo);
  const own = settingsOf(algo);
  const unknown = Object.keys(config).filter((k) => !own.includes(k));
  if (unknown.length > 0) {
    const hints = unknown.flatMap((k) => {
      const near = closest(k, own);
      const elsewhere = ALGO_DESCRIPTORS.filter((x) => x !== d && k in x.defaults).map((x) => x.name);
      return [...(near ? [`did you mean '${near}'?`] : []), ...(elsewhere.length ? [`'${k}' is a setting of ${elsewhere.join(', ')}`] : [])];
    });
    throw new LearnerError(
      `unknown setting${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} for ${algo}; settings are: ${own.join(', ')}${hints.length ? ` (${hints.join('; ')})` : ''}`,
    );
  }
  const defaults = d.defaults as Record<string, unknown>;
  for (const [k, v] of Object.entries(config)) {
    if (v !== undefined && !sameKind(defaults[k], v))
      throw new LearnerError(`${algo}: setting '${k}' must be ${describeKind(defaults[k])} (default ${JSON.stringify(defaults[k])}), got ${JSON.stringify(v)}`);
  }
}

/**
 * The entries of `config` that `algo` has: one configuration shared by several algorithms (a
 * comparison at one network size, the demo's small networks) applied to one of them. A key that no
 * algorithm has is still refused (a typo); use checkSettings for what a user typed.
 */
export function pickSettings(algo: string, config: object): AlgoConfig {
  const d = algoDescriptor(algo);
  const all = [...new Set(ALGO_DESCRIPTORS.flatMap((x) => Object.keys(x.defaults)))];
  const typos = Object.keys(config).filter((k) => !all.includes(k));
  if (typos.length > 0) {
    const hints = typos.map((k) => closest(k, all)).filter((x) => x !== null);
    throw new LearnerError(
      `unknown setting${typos.length > 1 ? 's' : ''} ${typos.map((k) => `'${k}'`).join(', ')}: no algorithm has ${typos.length > 1 ? 'them' : 'it'}${hints.length ? ` (did you mean ${hints.map((h) => `'${h}'`).join(', ')}?)` : ''}`,
    );
  }
  return Object.fromEntries(Object.entries(config).filter(([k]) => k in d.defaults)) as AlgoConfig;
}

/** The settings that give every network of `algo` these hidden widths (`o2o train --hidden`). */
export function networkSettings(algo: string, hidden: number[]): AlgoConfig {
  const d = algoDescriptor(algo);
  if (!d.networks) throw new LearnerError(`${algo}'s networks are not sized by hidden widths; set its sizes with its own settings (${settingsOf(algo).join(', ')})`);
  return d.networks(hidden) as AlgoConfig;
}

/** What `algo`'s batches carry with these settings (over its defaults). */
export function batchNeeds(algo: string, config: object = {}): BatchNeeds {
  const d = algoDescriptor(algo);
  return d.batch({ ...d.defaults, ...config });
}

/** `config` with the settings that follow a run of `steps` updates filled in where unset (descriptor.runLength). */
export function withRunLength(algo: string, config: object, steps: number): AlgoConfig {
  const d = algoDescriptor(algo);
  return { ...(d.runLength?.(steps) ?? {}), ...config } as AlgoConfig;
}

/** The reference preprocessing of `algo` on the dataset `datasetId` (its descriptor's). */
export function referencePreprocessing(algo: string, datasetId: string | undefined): Preprocessing {
  return algoDescriptor(algo).preprocessing(datasetId);
}

/**
 * Builds a learner by name; `config` overrides the algorithm's cited defaults. A setting the
 * algorithm does not have is refused (checkSettings) rather than silently ignored.
 */
export async function createLearner(algo: string, task: TaskSpec, config: AlgoConfig = {}, seed = 0, opts?: SessionOptions): Promise<Learner> {
  checkSettings(algo, config);
  return algoDescriptor(algo).create(task, config, seed, opts);
}
