import { type AlgoConfig, LearnerError, algoDescriptor, checkSettings } from '../algos/index.js';
import { ArtifactError, checkDescription, type PolicyDescription, readDescriptionFile } from '../serve/artifact.js';
import type { ChunkingOptions } from '../serve/chunks.js';
import { urlCredentials } from '../transport/client.js';
import { closest } from '../util/did-you-mean.js';

/**
 * The argument parser of the `o2o` command. Each command declares its flags (a FlagTable next to
 * its usage text); the parser refuses what is not declared, a number flag given a non-number, a
 * boolean flag given something other than true/false and a flag without its value — before the
 * command does any work. Forms: positionals, `--flag value`, `--flag=value`, boolean `--flag`.
 */
export interface Args {
  positionals: string[];
  flags: Map<string, string | true>;
  /** Tokens after a raw separator (e.g. `--ros-args ...`), the separator first; not parsed. */
  rest: string[];
}

export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * A flag's kind: free text, a finite number, an integer, a boolean (`--x`, `--x=true|false`), a
 * comma-separated list of strings or numbers (repeatable: `--k a --k b` is `a,b`), or one of
 * a set of choices.
 */
type FlagKind = 'string' | 'number' | 'int' | 'bool' | 'list' | 'numbers' | readonly string[];
export type FlagTable = Readonly<Record<string, FlagKind>>;

export interface CommandSpec {
  /** How the command is named in messages ('o2o eval', 'o2o dataset info'). */
  name: string;
  flags: FlagTable;
  /** Most positionals after the command words (default 0). */
  positionals?: number;
  /** Everything from this token on is passed through unparsed (Args.rest). */
  rawAfter?: string;
}

function checkValue(cmd: string, name: string, kind: FlagKind, v: string): void {
  const bad = (what: string) => new UsageError(`--${name} must be ${what}, got '${v}' (in '${cmd}')`);
  if (typeof kind !== 'string') {
    if (!kind.includes(v)) throw bad(`one of ${kind.join('|')}`);
    return;
  }
  switch (kind) {
    case 'number':
      if (v.trim() === '' || !Number.isFinite(Number(v))) throw bad('a number');
      return;
    case 'int':
      if (v.trim() === '' || !Number.isInteger(Number(v))) throw bad('an integer');
      return;
    case 'bool':
      if (v !== 'true' && v !== 'false') throw bad('true or false (or the flag alone)');
      return;
    case 'numbers':
      if (v.split(',').some((x) => x.trim() === '' || !Number.isFinite(Number(x)))) throw bad('comma-separated numbers');
      return;
    case 'list':
      if (v.split(',').some((x) => x.trim() === '')) throw bad('a comma-separated list');
      return;
    case 'string':
      return;
  }
}

/**
 * Parses argv. With `spec`, refuses unknown flags (naming the closest declared one), malformed
 * values, missing values and extra positionals with a UsageError; `--help` is always accepted.
 * Without it (only to find the command), every flag is accepted as text.
 */
export function parseArgs(argv: string[], spec?: CommandSpec, commandWords = 0): Args {
  const positionals: string[] = [];
  const flags = new Map<string, string | true>();
  let rest: string[] = [];
  const cmd = spec?.name ?? 'o2o';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (spec?.rawAfter !== undefined && a === spec.rawAfter) {
      rest = argv.slice(i);
      break;
    }
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('--') || a === '--') {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    let value: string | undefined = eq > 0 ? a.slice(eq + 1) : undefined;
    if (!spec) {
      if (value === undefined && i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) value = argv[++i]!;
      flags.set(name, value ?? true);
      continue;
    }
    if (name === 'help') {
      flags.set('help', true);
      continue;
    }
    const kind = spec.flags[name];
    if (kind === undefined) {
      const near = closest(name, Object.keys(spec.flags));
      throw new UsageError(`unknown flag --${name} for '${cmd}'${near ? `; did you mean --${near}?` : ''}`);
    }
    if (kind === 'bool') {
      // A bare boolean flag takes the next token only when it is true or false.
      if (value === undefined && (argv[i + 1] === 'true' || argv[i + 1] === 'false')) value = argv[++i]!;
      if (value !== undefined) checkValue(cmd, name, kind, value);
      flags.set(name, value ?? true);
      continue;
    }
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) throw new UsageError(`--${name} needs a value (in '${cmd}')`);
      value = next;
      i++;
    }
    checkValue(cmd, name, kind, value);
    const prev = flags.get(name);
    if (typeof prev === 'string') {
      if (kind !== 'list' && kind !== 'numbers') throw new UsageError(`--${name} is given twice (in '${cmd}')`);
      value = `${prev},${value}`;
    }
    flags.set(name, value);
  }
  if (spec && !flags.has('help')) {
    const extra = positionals.slice(commandWords + (spec.positionals ?? 0));
    if (extra.length) throw new UsageError(`unexpected argument '${extra[0]}' for '${cmd}'`);
  }
  return { positionals, flags, rest };
}

export function str(a: Args, name: string, fallback?: string): string {
  const v = a.flags.get(name);
  if (typeof v === 'string') return v;
  if (fallback !== undefined) return fallback;
  throw new UsageError(`missing --${name} <value>`);
}

export function optStr(a: Args, name: string): string | undefined {
  const v = a.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

export function num(a: Args, name: string, fallback?: number): number {
  const v = a.flags.get(name);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new UsageError(`missing --${name} <number>`);
  }
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got '${String(v)}'`);
  return n;
}

/** A number flag when given, else undefined. */
export function optNum(a: Args, name: string): number | undefined {
  return a.flags.has(name) ? num(a, name) : undefined;
}

export function bool(a: Args, name: string): boolean {
  return a.flags.has(name) && a.flags.get(name) !== 'false';
}

/** A comma-separated (or repeated) list flag, or undefined. */
export function list(a: Args, name: string): string[] | undefined {
  return optStr(a, name)
    ?.split(',')
    .map((s) => s.trim());
}

/** A comma-separated (or repeated) number list flag, or undefined. */
export function numbers(a: Args, name: string): number[] | undefined {
  return list(a, name)?.map(Number);
}

/** Runs a check of the algorithm registry; its LearnerError becomes a UsageError about `flag`. */
function asUsage(flag: string, check: () => unknown): void {
  try {
    check();
  } catch (e) {
    if (e instanceof LearnerError) throw new UsageError(`${flag}: ${e.message}`);
    throw e;
  }
}

/**
 * `--config '{"key": value}'`: algorithm settings as a JSON object ({} when absent). With `algo`,
 * an unknown algorithm, a setting that algorithm does not have or a value of the wrong kind is a
 * UsageError naming the algorithms or its settings, before any work.
 */
export function configFlag(a: Args, algo?: string): AlgoConfig {
  if (algo !== undefined) asUsage('--algo', () => algoDescriptor(algo));
  const v = optStr(a, 'config');
  if (v === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch (e) {
    throw new UsageError(`--config is not JSON (${(e as Error).message}); write it as '{"cqlAlpha": 5}'`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new UsageError(`--config must be a JSON object such as '{"cqlAlpha": 5}', got ${v}`);
  if (algo !== undefined) asUsage('--config', () => checkSettings(algo, parsed));
  return parsed as AlgoConfig;
}

/** MQTT credential flags every MQTT command takes. */
export const MQTT_AUTH_FLAGS = { username: 'string', password: 'string' } as const satisfies FlagTable;

/**
 * The MQTT URL and credentials of a command: --username/--password first, then a user:password
 * in the URL (mqtt://u:p@host:1883), then O2O_MQTT_USERNAME / O2O_MQTT_PASSWORD. The URL returned
 * carries no credentials (so no library message can print the password).
 */
export function mqttAuth(a: Args, url: string, env: NodeJS.ProcessEnv = process.env): { url: string; username?: string; password?: string } {
  const fromUrl = urlCredentials(url);
  const username = optStr(a, 'username') ?? fromUrl.username ?? (env.O2O_MQTT_USERNAME || undefined);
  const password = optStr(a, 'password') ?? fromUrl.password ?? (env.O2O_MQTT_PASSWORD || undefined);
  return { url: fromUrl.url, ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}) };
}

/**
 * --action-horizon N and --temporal-ensembling M: how a chunked policy (Diffusion Policy, ACT) is
 * served — N of each chunk's actions executed per plan (default: the card's), or a plan every step
 * with ACT's temporal ensembling, weights exp(−M·i) (ACT uses M = 0.01).
 */
export function chunkingFlags(a: Args): ChunkingOptions | undefined {
  const actionHorizon = optNum(a, 'action-horizon');
  const temporalEnsembling = optNum(a, 'temporal-ensembling');
  if (actionHorizon === undefined && temporalEnsembling === undefined) return undefined;
  if (actionHorizon !== undefined && temporalEnsembling !== undefined)
    throw new UsageError('--action-horizon and --temporal-ensembling exclude each other: temporal ensembling plans at every step');
  if (temporalEnsembling !== undefined && !(temporalEnsembling >= 0)) throw new UsageError(`--temporal-ensembling ${temporalEnsembling}: give m ≥ 0 (ACT uses 0.01)`);
  if (actionHorizon !== undefined && !(actionHorizon >= 1)) throw new UsageError(`--action-horizon ${actionHorizon}: give an integer ≥ 1 (at most the chunk length)`);
  return { actionHorizon, temporalEnsembling };
}

/**
 * --interface: how to call a foreign ONNX that takes a context — JSON (or a JSON file):
 * { "interface": {...}, "inputName": ..., "outputName": ... }, or the interface alone.
 */
export function descriptionFlag(a: Args): PolicyDescription | undefined {
  const v = optStr(a, 'interface');
  if (v === undefined) return undefined;
  try {
    if (!v.trimStart().startsWith('{')) return readDescriptionFile(v) ?? undefined;
    let json: unknown;
    try {
      json = JSON.parse(v);
    } catch (e) {
      throw new ArtifactError(`not JSON (${(e as Error).message})`);
    }
    const bare = json && typeof json === 'object' && 'kind' in json;
    return checkDescription(bare ? { interface: json } : json, '--interface');
  } catch (e) {
    throw new UsageError(`--interface: ${(e as Error).message.replace(/^--interface: /, '')}`);
  }
}
