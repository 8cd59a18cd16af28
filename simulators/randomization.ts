/**
 * Sim-to-real randomization profiles: which parameters vary per episode and by how much.
 *
 * Fields (all optional in user files; missing ones come from `extends` or from 'nominal'):
 *   massScale, frictionScale, dampingScale, gainScale, lengthScale: [lo, hi], 0 < lo <= hi —
 *       multiplicative, sampled independently per body / geom / dof / actuator each episode
 *       (lengthScale: pendulum only). A single number x means [x, x].
 *   extraDamping: [lo, hi], 0 <= lo <= hi — viscous damping added per dof (N·m·s/rad).
 *   actionLatency: [lo, hi] integer steps (or one integer) — action delay, sampled per episode.
 *   obsNoiseStd: number >= 0 — gaussian noise added to every observation component.
 *   controlJitter: number in [0, 0.9] — each step's control period is dt·U[1−j, 1+j].
 *
 * Files (YAML or JSON) map profile names to profiles:
 *   wobbly:
 *     extends: mild
 *     massScale: [0.8, 1.2]
 *     actionLatency: 2
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { Rng } from '../src/util/rng.js';
import type { DynamicsShape, RandomizationRecord } from './env.js';

export type Range = [number, number];

export interface RandomizationProfile {
  name: string;
  massScale: Range;
  frictionScale: Range;
  dampingScale: Range;
  extraDamping: Range;
  gainScale: Range;
  lengthScale: Range;
  actionLatency: Range;
  obsNoiseStd: number;
  controlJitter: number;
}

/** A profile as a user writes it: every field optional, ranges may be single numbers. */
export interface ProfileSpec {
  name?: string;
  extends?: string;
  massScale?: Range | number;
  frictionScale?: Range | number;
  dampingScale?: Range | number;
  extraDamping?: Range | number;
  gainScale?: Range | number;
  lengthScale?: Range | number;
  actionLatency?: Range | number;
  obsNoiseStd?: number;
  controlJitter?: number;
}

/** What makeEnv({ randomization }) accepts: a profile name, a validated profile or a ProfileSpec. */
export type ProfileInput = string | RandomizationProfile | ProfileSpec;

const SCALE_FIELDS = ['massScale', 'frictionScale', 'dampingScale', 'gainScale', 'lengthScale'] as const;
const KNOWN_FIELDS = [...SCALE_FIELDS, 'extraDamping', 'actionLatency', 'obsNoiseStd', 'controlJitter'] as const;

const ONE: Range = [1, 1];

export const BUILTIN_PROFILES: Readonly<Record<'nominal' | 'mild' | 'harsh', RandomizationProfile>> = {
  nominal: {
    name: 'nominal',
    massScale: ONE,
    frictionScale: ONE,
    dampingScale: ONE,
    extraDamping: [0, 0],
    gainScale: ONE,
    lengthScale: ONE,
    actionLatency: [0, 0],
    obsNoiseStd: 0,
    controlJitter: 0,
  },
  mild: {
    name: 'mild',
    massScale: [0.9, 1.1],
    frictionScale: [0.9, 1.1],
    dampingScale: [0.9, 1.1],
    extraDamping: [0, 0.01],
    gainScale: [0.95, 1.05],
    lengthScale: [0.95, 1.05],
    actionLatency: [0, 1],
    obsNoiseStd: 0.005,
    controlJitter: 0.05,
  },
  harsh: {
    name: 'harsh',
    massScale: [0.7, 1.3],
    frictionScale: [0.5, 1.5],
    dampingScale: [0.7, 1.5],
    extraDamping: [0, 0.05],
    gainScale: [0.8, 1.2],
    lengthScale: [0.9, 1.1],
    actionLatency: [0, 3],
    obsNoiseStd: 0.02,
    controlJitter: 0.2,
  },
};

function fmt(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

function asRange(profile: string, field: string, v: unknown, minLo: number, strictPositive: boolean, integer = false): Range {
  const r: unknown[] = typeof v === 'number' ? [v, v] : Array.isArray(v) ? v : [];
  const [lo, hi] = r;
  const ok =
    r.length === 2 &&
    typeof lo === 'number' &&
    typeof hi === 'number' &&
    Number.isFinite(lo) &&
    Number.isFinite(hi) &&
    (strictPositive ? lo > minLo : lo >= minLo) &&
    lo <= hi &&
    (!integer || (Number.isInteger(lo) && Number.isInteger(hi)));
  if (!ok) {
    const cond = `${strictPositive ? `${minLo} < lo` : `${minLo} <= lo`} <= hi${integer ? ', integers' : ''}`;
    throw new RangeError(`profile '${profile}': ${field} must be [lo, hi] with ${cond}, got ${fmt(v)}`);
  }
  return [lo as number, hi as number];
}

function asNumber(profile: string, field: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) {
    throw new RangeError(`profile '${profile}': ${field} must be a number in [${lo}, ${hi}], got ${fmt(v)}`);
  }
  return v;
}

/**
 * Validate a raw profile object (e.g. parsed from YAML). `known` resolves `extends`.
 * Throws naming the profile and the field on any problem.
 */
export function validateProfile(name: string, raw: unknown, known: Readonly<Record<string, RandomizationProfile>> = BUILTIN_PROFILES): RandomizationProfile {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new TypeError(`profile '${name}': must be a mapping of fields (${KNOWN_FIELDS.join(', ')}), got ${fmt(raw)}`);
  }
  const obj = raw as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (key !== 'extends' && key !== 'name' && !(KNOWN_FIELDS as readonly string[]).includes(key)) {
      throw new RangeError(`profile '${name}': unknown field '${key}'; known fields: extends, ${KNOWN_FIELDS.join(', ')}`);
    }
  }
  let base: RandomizationProfile = BUILTIN_PROFILES.nominal;
  if (obj.extends !== undefined) {
    const b = typeof obj.extends === 'string' ? known[obj.extends] : undefined;
    if (!b) {
      throw new RangeError(`profile '${name}': extends '${String(obj.extends)}' is not a known profile; known: ${Object.keys(known).join(', ')}`);
    }
    base = b;
  }
  const p: RandomizationProfile = { ...base, name };
  for (const f of SCALE_FIELDS) if (obj[f] !== undefined) p[f] = asRange(name, f, obj[f], 0, true);
  if (obj.extraDamping !== undefined) p.extraDamping = asRange(name, 'extraDamping', obj.extraDamping, 0, false);
  if (obj.actionLatency !== undefined) {
    p.actionLatency = asRange(name, 'actionLatency', obj.actionLatency, 0, false, true);
    if (p.actionLatency[1] > 100) {
      throw new RangeError(`profile '${name}': actionLatency must be at most 100 steps, got ${fmt(obj.actionLatency)}`);
    }
  }
  if (obj.obsNoiseStd !== undefined) p.obsNoiseStd = asNumber(name, 'obsNoiseStd', obj.obsNoiseStd, 0, 1e6);
  if (obj.controlJitter !== undefined) p.controlJitter = asNumber(name, 'controlJitter', obj.controlJitter, 0, 0.9);
  return p;
}

/**
 * Parse profiles from YAML or JSON text: a mapping name → profile (optionally under a top-level
 * `profiles:` key). Profiles may extend built-ins or profiles defined earlier in the same file.
 */
export function parseProfiles(text: string, source = '<inline>'): Record<string, RandomizationProfile> {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new SyntaxError(`${source}: not valid YAML/JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (doc && typeof doc === 'object' && !Array.isArray(doc) && 'profiles' in doc) doc = (doc as { profiles: unknown }).profiles;
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new TypeError(`${source}: expected a mapping of profile names to profiles, got ${fmt(doc)}`);
  }
  const known: Record<string, RandomizationProfile> = { ...BUILTIN_PROFILES };
  const out: Record<string, RandomizationProfile> = {};
  for (const [name, raw] of Object.entries(doc as Record<string, unknown>)) {
    try {
      out[name] = known[name] = validateProfile(name, raw, known);
    } catch (err) {
      (err as Error).message = `${source}: ${(err as Error).message}`;
      throw err;
    }
  }
  return out;
}

/** Read and parse a YAML/JSON profile file. */
export function loadProfiles(path: string): Record<string, RandomizationProfile> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`randomization profiles: cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return parseProfiles(text, path);
}

/** A built-in name, a validated profile, or a raw profile object (validated here). */
export function resolveProfile(p: ProfileInput, custom: Readonly<Record<string, RandomizationProfile>> = {}): RandomizationProfile {
  if (typeof p === 'string') {
    const found = custom[p] ?? (BUILTIN_PROFILES as Record<string, RandomizationProfile>)[p];
    if (!found) {
      throw new RangeError(
        `unknown randomization profile '${p}'; built-in: ${Object.keys(BUILTIN_PROFILES).join(', ')}` +
          (Object.keys(custom).length ? `; loaded: ${Object.keys(custom).join(', ')}` : '') +
          ` (load your own with loadProfiles(path))`,
      );
    }
    return found;
  }
  const { name, ...rest } = p;
  return validateProfile(name ?? 'custom', rest, { ...BUILTIN_PROFILES, ...custom });
}

function sampleVec(rng: Rng, n: number, r: Range): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = r[0] === r[1] ? r[0] : rng.uniform(r[0], r[1]);
  return out;
}

/** Draw one episode's parameters. Deterministic in (profile, shape, rng state). */
export function sampleRandomization(profile: RandomizationProfile, shape: DynamicsShape, rng: Rng, episodeSeed: number): RandomizationRecord {
  const [l0, l1] = profile.actionLatency;
  return {
    profile: profile.name,
    episodeSeed,
    massScale: sampleVec(rng, shape.mass, profile.massScale),
    frictionScale: sampleVec(rng, shape.friction, profile.frictionScale),
    dampingScale: sampleVec(rng, shape.damping, profile.dampingScale),
    extraDamping: sampleVec(rng, shape.damping, profile.extraDamping),
    gainScale: sampleVec(rng, shape.gain, profile.gainScale),
    lengthScale: sampleVec(rng, shape.length, profile.lengthScale),
    actionLatency: l0 === l1 ? l0 : l0 + rng.int(l1 - l0 + 1),
    obsNoiseStd: profile.obsNoiseStd,
    controlJitter: profile.controlJitter,
  };
}
