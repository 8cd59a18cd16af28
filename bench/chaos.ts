/**
 * The fleet fault-injection harness, long schedule (issue 15): O2O_CHAOS_ROBOTS robots (8) at
 * 50 Hz as `o2o robot sim` processes, the policy server and the learner as CLI processes against
 * mosquitto (O2O_CHAOS_BROKER=embedded for aedes), for O2O_CHAOS_SECONDS (600) with a fault every
 * 8–22 s: broker, learner and robot SIGKILLs, network cuts, a full disk. Prints transitions, faults
 * by kind, lost/duplicated (must be 0) and recovery times (fault → every robot has a new STORED ack).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FaultKind, formatReport, runChaos } from '../test/helpers/chaos.js';
import { machine } from './stats.js';

export async function run(): Promise<void> {
  const robots = Number(process.env.O2O_CHAOS_ROBOTS ?? 8);
  const seconds = Number(process.env.O2O_CHAOS_SECONDS ?? 600);
  const broker = (process.env.O2O_CHAOS_BROKER ?? 'mosquitto') as 'mosquitto' | 'embedded';
  const root = process.getuid?.() === 0;
  const faults: FaultKind[] = ['broker', 'learner', 'robot', 'cut', ...(root ? (['disk'] as const) : [])];
  const workDir = mkdtempSync(join(tmpdir(), 'o2o-chaos-bench-'));
  console.log(`${machine()}; ${robots} robots at 50 Hz, ${broker}, ${seconds} s of faults (${faults.join(', ')}); logs in ${workDir}`);
  const r = await runChaos({
    workDir,
    robots,
    broker,
    runMs: seconds * 1000,
    faultGapMs: [8000, 22000],
    faults,
    seed: Number(process.env.O2O_CHAOS_SEED ?? 1),
    rateHz: 50,
    tmpfsMiB: 64,
    log: (l) => console.log(`  ${l}`),
  });
  console.log(formatReport(r));
  if (r.lost || r.duplicated || r.corrupted || r.episodeMismatches.length || r.brokenChains) {
    console.log(
      `FAILED: ${JSON.stringify({ lost: r.lost, duplicated: r.duplicated, corrupted: r.corrupted, mismatches: r.episodeMismatches.slice(0, 10), brokenChains: r.brokenChains })}`,
    );
    process.exitCode = 1;
  }
}
