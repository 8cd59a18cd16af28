/**
 * The o2o process itself: fatal errors exit non-zero at once (nothing keeps it alive), and the
 * services stop cleanly within 2 s of SIGTERM/SIGINT.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const POLICY = join(ROOT, 'policies', 'pendulum-bc.onnx');

function o2o(args: string[]): {
  proc: ChildProcess;
  output: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  waitFor: (re: RegExp, ms?: number) => Promise<void>;
} {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const listeners: (() => void)[] = [];
  const on = (d: Buffer) => {
    text += d.toString();
    listeners.forEach((l) => l());
  };
  proc.stdout!.on('data', on);
  proc.stderr!.on('data', on);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  const waitFor = (re: RegExp, ms = 60_000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${re} within ${ms} ms; output:\n${text}`)), ms);
      const check = () => {
        if (re.test(text)) {
          clearTimeout(timer);
          resolve();
        }
      };
      listeners.push(check);
      void exit.then(() => check());
      check();
    });
  return { proc, output: () => text, exit, waitFor };
}

describe('o2o process lifecycle', () => {
  it('serve --mqtt embedded with a missing policy exits non-zero at once (the broker does not keep it alive)', async () => {
    const p = o2o(['serve', '--mqtt', 'embedded', '--port', '0', '--policy', join(tmpdir(), 'missing-o2o-policy.onnx'), '--allow-unverified']);
    await p.waitFor(/embedded MQTT broker/);
    const t0 = Date.now();
    const e = await p.exit;
    expect(e.code).toBe(1);
    expect(e.at - t0).toBeLessThan(2000);
    expect(p.output()).toMatch(/o2o serve: .*missing-o2o-policy\.onnx/);
  }, 60_000);

  it.each([
    ['broker', ['broker', '--port', '0'], /MQTT on/],
    ['serve', ['serve', '--mqtt', 'embedded', '--port', '0', '--policy', POLICY, '--allow-unverified', '--no-watch'], /serving .* \(Ctrl-C stops it\)/],
  ])(
    '%s stops within 2 s of SIGTERM, exit 0',
    async (_name, args, ready) => {
      const p = o2o(args);
      await p.waitFor(ready);
      if (args[0] === 'serve') expect(p.output()).toMatch(/WARNING: --allow-unverified/);
      const t0 = Date.now();
      p.proc.kill('SIGTERM');
      const e = await p.exit;
      expect(e.at - t0).toBeLessThan(2000);
      expect(e.code).toBe(0);
    },
    60_000,
  );

  it('learn stops during offline pretraining within 2 s of SIGINT and keeps a checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'o2o-learn-sig-'));
    const p = o2o([
      'learn',
      '--mqtt',
      'mqtt://127.0.0.1:1',
      '--task',
      'pendulum',
      '--dataset',
      'pendulum-random',
      '--store',
      dir,
      '--pretrain-steps',
      '1000000',
      '--config',
      '{"actorHidden":[16],"criticHidden":[16],"batchSize":32,"nActions":2}',
    ]);
    await p.waitFor(/offline Cal-QL \[/, 120_000);
    const t0 = Date.now();
    p.proc.kill('SIGINT');
    const e = await p.exit;
    expect(e.at - t0).toBeLessThan(2000);
    expect(e.code).toBe(0);
    expect(p.output()).toMatch(/stopped during pretraining at step \d+/);
    const ck = join(dir, 'checkpoints', 'offline');
    expect(existsSync(ck) && readdirSync(ck).some((f) => f.endsWith('.o2o'))).toBe(true);
  }, 150_000);

  it('learn stops within 2 s of SIGTERM while fine-tuning with its broker gone, logging the outage once', async () => {
    const b = o2o(['broker', '--port', '0']);
    await b.waitFor(/MQTT on (mqtt:\/\/\S+)/);
    const url = /MQTT on (mqtt:\/\/\S+)/.exec(b.output())![1]!;
    const dir = mkdtempSync(join(tmpdir(), 'o2o-learn-sig2-'));
    const p = o2o([
      'learn',
      '--mqtt',
      url,
      '--task',
      'pendulum',
      '--dataset',
      'pendulum-random',
      '--store',
      join(dir, 'online'),
      '--pretrain-steps',
      '5',
      '--config',
      '{"actorHidden":[16],"criticHidden":[16],"batchSize":32,"nActions":2}',
    ]);
    await p.waitFor(/fine-tuning on/, 120_000);
    // a robot streams transitions so that the learner has training to do, then the broker goes
    const { MqttLink, TransitionSpool } = await import('../../src/transport/index.js');
    const link = await MqttLink.connect(url);
    const spool = new TransitionSpool({ dir: join(dir, 'spool'), robotId: 'r', obsDim: 3, actDim: 1, batchRows: 50 });
    await spool.attach(link);
    for (let t = 0; t < 2000; t++) spool.add([Math.cos(t), Math.sin(t), 0], [0], -1, [Math.cos(t + 1), Math.sin(t + 1), 0], false, t % 200 === 199);
    expect(await spool.drain(30_000)).toBe(true);
    spool.close();
    await link.close();
    b.proc.kill('SIGTERM');
    await b.exit;
    await new Promise((res) => setTimeout(res, 2000));
    const t0 = Date.now();
    p.proc.kill('SIGTERM');
    const e = await p.exit;
    expect(e.at - t0).toBeLessThan(2000);
    expect(e.code).toBe(0);
    expect(p.output().match(/MQTT error: connect ECONNREFUSED/g)?.length ?? 0).toBeLessThanOrEqual(1);
  }, 150_000);

  it('robot sim stops within 2 s of SIGTERM', async () => {
    const b = o2o(['broker', '--port', '0']);
    await b.waitFor(/MQTT on (mqtt:\/\/\S+)/);
    const url = /MQTT on (mqtt:\/\/\S+)/.exec(b.output())![1]!;
    // No policy server: every step waits out its action timeout, so the run is long.
    const r = o2o(['robot', 'sim', '--task', 'pendulum', '--mqtt', url, '--episodes', '100', '--action-timeout-ms', '50']);
    await r.waitFor(/./, 60_000);
    await new Promise((res) => setTimeout(res, 1500));
    const t0 = Date.now();
    r.proc.kill('SIGTERM');
    const e = await r.exit;
    expect(e.at - t0).toBeLessThan(2000);
    expect(e.code).toBe(143);
    b.proc.kill('SIGTERM');
    expect((await b.exit).code).toBe(0);
  }, 90_000);
});
