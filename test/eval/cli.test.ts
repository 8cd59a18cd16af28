import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { EvalSummary } from '../../src/eval/index.js';
import { PENDULUM_POLICY, recordRealRuns, tempDir } from './fixtures.js';

describe('o2o eval', () => {
  afterEach(() => vi.restoreAllMocks());

  it('evaluates, prints one line per profile and writes the report', async () => {
    const root = tempDir();
    await recordRealRuns(join(root, 'real'), { policy: PENDULUM_POLICY, task: 'pendulum', profile: 'harsh', episodes: 3, seed: 77 });
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    vi.spyOn(console, 'error').mockImplementation(() => {});
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const out = join(root, 'report');
    const rc = await main([
      'eval',
      '--policy',
      PENDULUM_POLICY,
      '--task',
      'pendulum',
      '--profiles',
      'nominal,harsh',
      '--episodes',
      '3',
      '--seed',
      '4',
      '--real',
      join(root, 'real'),
      '--out',
      out,
    ]);
    expect(rc).toBe(0);
    const printed = log.mock.calls.map((c) => String(c[0])).join('\n');
    expect(printed).toMatch(/^nominal +return -?\d+\.\d ± \d+\.\d +normalized/m);
    expect(printed).toMatch(/^harsh .*gap to nominal .*gap to real/m);
    expect(printed).toMatch(/^real +return/m);
    expect(existsSync(join(out, 'report.html'))).toBe(true);
    const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as EvalSummary;
    expect(s).toMatchObject({ task: 'pendulum', episodes: 3, seed: 4 });
  });

  it('exits 1 with the library message on an unknown profile, 2 on a missing flag', async () => {
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    expect(await main(['eval', '--policy', PENDULUM_POLICY, '--task', 'pendulum', '--profiles', 'nominal,wobbly'])).toBe(1);
    expect(String(err.mock.calls[0]![0])).toMatch(/o2o eval: unknown randomization profile 'wobbly'.*--profile-file/);
    expect(await main(['eval', '--task', 'pendulum'])).toBe(2);
    expect(String(err.mock.calls[1]![0])).toMatch(/missing --policy/);
  });
});
