import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, listening } from './net.js';

export const MOSQUITTO = '/usr/sbin/mosquitto';

/** Null when mosquitto can run here, else why and the apt line that fixes it. */
export function missingMosquitto(): string | null {
  const r = spawnSync(MOSQUITTO, ['-h'], { encoding: 'utf8' });
  if (r.error) return `${MOSQUITTO} not found; install it with: apt-get install -y mosquitto`;
  return null;
}

async function waitForPort(port: number, proc: ChildProcess, log: () => string, timeoutMs = 5000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`mosquitto exited with ${proc.exitCode}: ${log()}`);
    if (await listening(port)) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`mosquitto did not listen on ${port} within ${timeoutMs} ms: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Mosquitto {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** A real mosquitto on a free loopback port with a generated config (anonymous, no persistence). */
export async function startMosquitto(): Promise<Mosquitto> {
  const dir = mkdtempSync(join(tmpdir(), 'o2o-mosquitto-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'log_dest stderr', 'log_type error', 'log_type warning', ''].join('\n'));
  const proc = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await waitForPort(port, proc, () => stderr);
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    stop: async () => {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
