/**
 * `bash test/setup/ros2.sh npm run bench -- transports`: the offline-to-online demo with its robots
 * behind MQTT (`o2o demo`) and behind ROS 2 nodes (`o2o demo --transport ros`), same seeds, same
 * budget, each run its own `o2o demo` process, one after the other. The offline phase is the same
 * for both transports (same seed); only the online phase differs, so the question is whether the
 * fine-tuned scores agree within the seed-to-seed spread.
 * O2O_TRANSPORTS_SEEDS (default 0,1,2), O2O_TRANSPORTS_PRETRAIN / _ONLINE (default 6000 / 8000),
 * O2O_TRANSPORTS_EVAL (evaluation episodes, default 10).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tempDir } from '../test/serve/fixtures.js';
import { machine, table } from './stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

interface Summary {
  before: { nominal: { normalized: number }; mild: { normalized: number } };
  after: { nominal: { normalized: number }; mild: { normalized: number } };
  online: { onlineTransitions: number; updates: number; published: string[] };
  servedVersion: string;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / Math.max(1, xs.length - 1));

export async function run(): Promise<void> {
  if (!process.env.ROS_DISTRO) throw new Error('bench transports needs ROS 2 sourced: bash test/setup/ros2.sh npm run bench -- transports');
  const seeds = (process.env.O2O_TRANSPORTS_SEEDS ?? '0,1,2').split(',').map(Number);
  const pretrain = Number(process.env.O2O_TRANSPORTS_PRETRAIN ?? 6000);
  const online = Number(process.env.O2O_TRANSPORTS_ONLINE ?? 8000);
  const episodes = Number(process.env.O2O_TRANSPORTS_EVAL ?? 10);
  const rows: (string | number)[][] = [];
  const after: Record<string, { nominal: number[]; mild: number[] }> = { mqtt: { nominal: [], mild: [] }, ros: { nominal: [], mild: [] } };
  for (const seed of seeds) {
    for (const transport of ['mqtt', 'ros']) {
      const out = tempDir(`o2o-transports-${transport}-${seed}-`);
      const t0 = Date.now();
      const args = [
        'src/cli/bin.ts',
        'demo',
        '--transport',
        transport,
        '--seed',
        String(seed),
        '--pretrain',
        String(pretrain),
        '--online',
        String(online),
        '--eval-episodes',
        String(episodes),
        '--out',
        out,
      ];
      await promisify(execFile)(TSX, args, { cwd: ROOT, env: process.env, maxBuffer: 64 << 20 });
      const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as Summary;
      after[transport]!.nominal.push(s.after.nominal.normalized);
      after[transport]!.mild.push(s.after.mild.normalized);
      rows.push([
        seed,
        transport,
        s.before.nominal.normalized.toFixed(1),
        s.before.mild.normalized.toFixed(1),
        s.after.nominal.normalized.toFixed(1),
        s.after.mild.normalized.toFixed(1),
        s.online.onlineTransitions,
        s.online.updates,
        s.online.published.length,
        s.servedVersion === s.online.published.at(-1) ? 'yes' : `no (${s.servedVersion})`,
        ((Date.now() - t0) / 1000).toFixed(0),
      ]);
      console.log(`seed ${seed} ${transport}: after ${s.after.nominal.normalized.toFixed(1)} nominal / ${s.after.mild.normalized.toFixed(1)} mild`);
    }
  }
  console.log(`\ndemo, mqtt vs ros — hopper, Cal-QL, ${pretrain} offline steps + ${online} online transitions, 3 robots, ${episodes} evaluation episodes — ${machine()}`);
  console.log(
    table(
      ['seed', 'transport', 'before nominal', 'before mild', 'after nominal', 'after mild', 'online transitions', 'updates', 'published', 'last policy served', 'wall (s)'],
      rows,
    ),
  );
  for (const t of ['mqtt', 'ros']) {
    const a = after[t]!;
    console.log(
      `${t}: after nominal ${mean(a.nominal).toFixed(1)} ± ${sd(a.nominal).toFixed(1)}, mild ${mean(a.mild).toFixed(1)} ± ${sd(a.mild).toFixed(1)} (mean ± sd over seeds ${seeds.join(', ')})`,
    );
  }
}
