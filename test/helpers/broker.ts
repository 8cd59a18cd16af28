/**
 * A configurable real mosquitto for the online-loop tests: a fixed port (so it can be restarted
 * in place), optional persistence, username/password users and an ACL file.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, listening } from './net.js';

import { MOSQUITTO } from './mosquitto.js';

export interface BrokerOptions {
  port?: number;
  persistence?: boolean;
  users?: { name: string; password: string }[];
  /** mosquitto ACL file text (user blocks with topic read/write/readwrite lines). */
  acl?: string;
}

export interface Broker {
  url: string;
  port: number;
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** SIGKILL (a crash: nothing flushed), then start again on the same port after `downMs`. */
  crash(downMs?: number): Promise<void>;
}

export async function startBrokerProcess(o: BrokerOptions = {}): Promise<Broker> {
  const dir = mkdtempSync(join(tmpdir(), 'o2o-broker-'));
  const port = o.port ?? (await freePort());
  // Started as root, mosquitto would drop to the 'mosquitto' user, which cannot read this private
  // temp folder (password file, ACL, persistence): keep root in that case.
  const asRoot = process.getuid?.() === 0 ? ['user root'] : [];
  const lines = [
    ...asRoot,
    `listener ${port} 127.0.0.1`,
    `persistence ${o.persistence ? 'true' : 'false'}`,
    `persistence_location ${dir}/`,
    'log_dest stderr',
    'log_type error',
    'log_type warning',
  ];
  if (o.users?.length) {
    const pw = join(dir, 'passwd');
    writeFileSync(pw, '');
    for (const u of o.users) {
      const r = spawnSync('mosquitto_passwd', ['-b', pw, u.name, u.password], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`mosquitto_passwd failed: ${r.stderr}`);
    }
    lines.push('allow_anonymous false', `password_file ${pw}`);
  } else lines.push('allow_anonymous true');
  if (o.acl) {
    writeFileSync(join(dir, 'acl'), o.acl);
    lines.push(`acl_file ${join(dir, 'acl')}`);
  }
  writeFileSync(join(dir, 'mosquitto.conf'), `${lines.join('\n')}\n`);
  let proc: ChildProcess | null = null;
  let stderr = '';
  const launch = async () => {
    proc = spawn(MOSQUITTO, ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const t0 = Date.now();
    while (!(await listening(port))) {
      if (proc.exitCode !== null) throw new Error(`mosquitto exited with ${proc.exitCode}: ${stderr}`);
      if (Date.now() - t0 > 5000) throw new Error(`mosquitto did not listen on ${port}: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const halt = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const p = proc as ChildProcess | null;
    if (p && p.exitCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill(signal);
      await exited;
    }
  };
  await launch();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    restart: async () => {
      await halt();
      await launch();
    },
    crash: async (downMs = 0) => {
      await halt('SIGKILL');
      await new Promise((r) => setTimeout(r, downMs));
      await launch();
    },
    stop: async () => {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
