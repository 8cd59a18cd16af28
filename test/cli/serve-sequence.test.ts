/**
 * The command line end to end with a foreign Decision Transformer: `o2o serve --interface
 * --target-return` (its own process, embedded broker) and `o2o robot sim` driving pendulum through
 * it. The robot must live exactly the episodes a local rollout of the same policy at the same
 * target lives (rewards rounded to float32, as they travel in an Observation).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { makeEnv } from '../../simulators/index.js';
import { rollout } from '../../src/eval/index.js';
import { PolicyRuntime, type StepInfo } from '../../src/serve/index.js';
import { capture } from '../helpers/cli.js';
import { tempDir } from '../serve/fixtures.js';
import { foreignDescription, foreignDtBytes } from '../serve/sequence-fixtures.js';

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

describe('o2o serve --interface --target-return with o2o robot sim', () => {
  it('serves a foreign DT described on the command line to a simulated robot, conditioned on the given target', async () => {
    const file = join(tempDir(), 'dt.onnx');
    writeFileSync(file, foreignDtBytes());
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
      JSON.stringify(foreignDescription()),
      '--target-return',
      '-350',
      '--fleet',
      'dt',
    ]);
    const r = await capture(['robot', 'sim', '--task', 'pendulum', '--mqtt', s.url, '--fleet', 'dt', '--robot', 'p-7', '--episodes', '2', '--seed', '11']);
    expect(r.code).toBe(0);
    const res = JSON.parse(r.out.split('\n').at(-1)!) as { returns: number[]; timeouts: number; safeActions: number };
    expect([res.timeouts, res.safeActions]).toEqual([0, 0]);
    expect(s.output()).toMatch(/serving robot 'p-7'/);

    const env = await makeEnv('pendulum');
    const rt = PolicyRuntime.open({ bytes: foreignDtBytes(), source: 'dt', description: foreignDescription() }, { trust: { allowUnverified: true }, targetReturn: -350 });
    const wire = { act: (obs: Float32Array, st: StepInfo) => rt.act(obs, { ...st, reward: Math.fround(st.reward ?? 0) }), reset: () => rt.reset() };
    expect(res.returns).toEqual(rollout(env, wire, 2, 11).returns);
    rt.dispose();
    env.close();
  }, 90_000);

  it('malformed --target-return and --interface values are usage errors (exit 2)', async () => {
    const bad = await capture(['serve', '--mqtt', 'embedded', '--policy', 'p.onnx', '--allow-unverified', '--target-return', 'arm-1=lots']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--target-return: 'arm-1=lots' is not a number or robot=number/);
    const iface = await capture(['serve', '--mqtt', 'embedded', '--policy', 'p.onnx', '--allow-unverified', '--interface', '{"interface": {"kind": "sequence"}, "input": "x"}']);
    expect(iface.code).toBe(2);
    expect(iface.err).toMatch(/--interface: the interface is not valid/);
  });
});
