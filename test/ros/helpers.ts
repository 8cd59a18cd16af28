/**
 * What the real-ROS suites share: the skip / require decision, polling, and the policy node as its
 * own process, started the way the README says (`tsx ros/main.ts --ros-args --params-file ...`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

export function whyNoRos(): string | null {
  if (!process.env.ROS_DISTRO)
    return "ROS 2 is not sourced (ROS_DISTRO unset); run the suite through 'bash test/setup/ros2.sh npx vitest run test/ros' (what npm test does), or source ROS 2 first";
  if (!existsSync(join(ROOT, 'ros/node_modules/rclnodejs/package.json')))
    return "rclnodejs is not installed next to the node; run 'bash test/setup/ros2.sh' (or, with ROS 2 sourced, 'cd ros && npm install')";
  return null;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export async function until(what: string, pred: () => boolean, ms = 10_000, every?: () => void): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    every?.();
    await sleep(20);
  }
}

/** The node as its own process, started the way the README says. */
export class NodeProcess {
  out = '';
  exited: number | null = null;
  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.out += d.toString()));
    child.on('exit', (code) => (this.exited = code ?? -1));
  }

  static async start(name: string, paramsFile: string, overrides: Record<string, string | number | boolean> = {}): Promise<NodeProcess> {
    const p = Object.entries(overrides).flatMap(([k, v]) => ['-p', `${k}:=${v}`]);
    const child = spawn(TSX, ['ros/main.ts', '--ros-args', '-r', `__node:=${name}`, '--params-file', paramsFile, ...p], {
      cwd: ROOT,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const n = new NodeProcess(name, child);
    await until(`node ${name} to start serving (output so far: ${n.out})`, () => /o2o_policy: serving/.test(n.out) || n.exited !== null, 60_000);
    if (n.exited !== null) throw new Error(`node ${name} exited with ${n.exited}: ${n.out}`);
    return n;
  }

  async stop(): Promise<number | null> {
    if (this.exited === null) {
      this.child.kill('SIGINT');
      const end = Date.now() + 5000;
      while (this.exited === null && Date.now() < end) await sleep(20);
      if (this.exited === null) this.child.kill('SIGKILL');
    }
    return this.exited;
  }
}
