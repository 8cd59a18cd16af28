/** A small argument parser: positionals, `--flag value`, `--flag=value`, boolean `--flag`. */
export interface Args {
  positionals: string[];
  flags: Map<string, string | true>;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

export function parseArgs(argv: string[]): Args {
  const positionals: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
      else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) flags.set(a.slice(2), argv[++i]!);
      else flags.set(a.slice(2), true);
    } else positionals.push(a);
  }
  return { positionals, flags };
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

export function bool(a: Args, name: string): boolean {
  return a.flags.has(name) && a.flags.get(name) !== 'false';
}

/** `--config '{"key": value}'`: algorithm settings as a JSON object ({} when absent). */
export function configFlag(a: Args): Record<string, unknown> {
  const v = optStr(a, 'config');
  if (v === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch (e) {
    throw new UsageError(`--config is not JSON (${(e as Error).message}); write it as '{"cqlAlpha": 5}'`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new UsageError(`--config must be a JSON object such as '{"cqlAlpha": 5}', got ${v}`);
  return parsed as Record<string, unknown>;
}
