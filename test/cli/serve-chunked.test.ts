/**
 * The command line end to end with a foreign chunked policy (an ACT/LeRobot-style export returning
 * [horizon, act_dim]): `o2o serve --interface --action-horizon` (its own process, embedded broker)
 * and `o2o robot sim` driving pendulum through it must live exactly the episodes of a local rollout
 * with the same queue; `o2o eval` takes the description from `<file>.card.json` and
 * `--temporal-ensembling`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { makeEnv } from '../../simulators/index.js';
import { rollout } from '../../src/eval/index.js';
import { PolicyRuntime } from '../../src/serve/index.js';
import { capture } from '../helpers/cli.js';
import { foreignChunkBytes, foreignChunkDescription } from '../serve/chunk-fixtures.js';
import { tempDir } from '../serve/fixtures.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let proc: ChildProcess | null = null;
afterEach(() => {
  proc?.kill('SIGTERM');
  proc = null;
});

function serve(args: string[]): Promise<{ url: string; output: () => string }> {
  const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', 'serve', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  proc = p;
  let text = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`o2o serve did not start within 60 s:\n${text}`)), 60_000);
    const on = (d: Buffer) => {
      text += d.toString();
      const url = /embedded MQTT broker on (mqtt:\/\/\S+)/.exec(text)?.[1];
      if (url && /\(Ctrl-C stops it\)/.test(text)) {
        clearTimeout(timer);
        resolve({ url, output: () => text });
      }
    };
    p.stdout!.on('data', on);
    p.stderr!.on('data', on);
    p.once('exit', (code) => reject(new Error(`o2o serve exited ${code}:\n${text}`)));
  });
}

describe('o2o serve / o2o eval with a foreign chunked policy', () => {
  it('serve --interface --action-horizon 2 to o2o robot sim: the episodes of a local rollout with the same queue', async () => {
    const file = join(tempDir(), 'act.onnx');
    writeFileSync(file, foreignChunkBytes(1));
    const s = await serve([
      '--mqtt',
      'embedded',
      '--port',
      '0',
      '--policy',
      file,
      '--allow-unverified',
      '--no-watch',
      '--interface',
      JSON.stringify(foreignChunkDescription()),
      '--action-horizon',
      '2',
      '--fleet',
      'act',
    ]);
    const r = await capture(['robot', 'sim', '--task', 'pendulum', '--mqtt', s.url, '--fleet', 'act', '--robot', 'p-7', '--episodes', '2', '--seed', '11']);
    expect(r.code).toBe(0);
    const res = JSON.parse(r.out.split('\n').at(-1)!) as { returns: number[]; timeouts: number; safeActions: number };
    expect([res.timeouts, res.safeActions]).toEqual([0, 0]);
    const env = await makeEnv('pendulum');
    const rt = PolicyRuntime.open(
      { bytes: foreignChunkBytes(1), source: 'act', description: foreignChunkDescription() },
      { trust: { allowUnverified: true }, chunking: { actionHorizon: 2 } },
    );
    expect(res.returns).toEqual(rollout(env, rt, 2, 11).returns);
    // …and the horizon matters: the card's 4 is another trajectory.
    const rt4 = PolicyRuntime.open({ bytes: foreignChunkBytes(1), source: 'act', description: foreignChunkDescription() }, { trust: { allowUnverified: true } });
    expect(rollout(env, rt4, 1, 11).returns[0]).not.toBeCloseTo(res.returns[0]!, 3);
    rt.dispose();
    rt4.dispose();
    env.close();
  }, 90_000);

  it('eval: the description from <file>.card.json, --temporal-ensembling recorded in the summary; conflicting flags are usage errors (exit 2)', async () => {
    const dir = tempDir();
    const file = join(dir, 'act.onnx');
    writeFileSync(file, foreignChunkBytes(1));
    writeFileSync(`${file}.card.json`, JSON.stringify(foreignChunkDescription()));
    const out = join(dir, 'report');
    const r = await capture(['eval', '--policy', file, '--task', 'pendulum', '--profiles', 'nominal', '--episodes', '1', '--temporal-ensembling', '0.01', '--out', out]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/policy: 'chunked', chunk 6, temporal ensembling m = 0\.01/);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { policy: { kind: string; chunk: unknown } };
    expect(summary.policy).toMatchObject({ kind: 'chunked', chunk: { actionHorizon: 1, chunkLength: 6, temporalEnsembling: 0.01 } });
    const both = await capture(['eval', '--policy', file, '--task', 'pendulum', '--action-horizon', '2', '--temporal-ensembling', '0.01']);
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/--action-horizon and --temporal-ensembling exclude each other/);
  }, 90_000);
});
