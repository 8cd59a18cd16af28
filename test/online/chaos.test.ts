/**
 * The fault-injection harness, short schedule (issue 15): robots, the policy server and the
 * learner as CLI processes against mosquitto; broker, learner and robot SIGKILLs, network cuts
 * and a full disk at seeded random moments. Nothing may be lost, duplicated or altered, and every
 * episode comes back whole. `npm run bench -- chaos` runs the long schedule.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type FaultKind, formatReport, runChaos } from '../helpers/chaos.js';
import { missingMosquitto } from '../helpers/mosquitto.js';
import { requireOrSkip } from '../helpers/python.js';

const root = process.getuid?.() === 0;
if (!root) console.warn('chaos harness: not root, so no tmpfs: the disk-full fault is left out');

describe.runIf(requireOrSkip(missingMosquitto()))('fleet collection under faults (CLI processes, mosquitto)', () => {
  it('loses, duplicates and alters nothing and keeps every episode whole', async () => {
    const faults: FaultKind[] = ['broker', 'learner', 'robot', 'cut', ...(root ? (['disk'] as const) : [])];
    const r = await runChaos({
      workDir: mkdtempSync(join(tmpdir(), 'o2o-chaos-')),
      robots: 3,
      broker: 'mosquitto',
      runMs: 40_000,
      faultGapMs: [1500, 3500],
      faults,
      seed: 7,
      rateHz: 50,
      tmpfsMiB: 8,
    });
    console.log(formatReport(r));
    for (const k of faults) expect(r.faults[k], `faults of kind ${k}`).toBeGreaterThanOrEqual(1);
    expect(r.produced).toBeGreaterThan(3000);
    expect(r).toMatchObject({ lost: 0, duplicated: 0, corrupted: 0, brokenChains: 0, episodeMismatches: [] });
    expect(r.stored).toBe(r.produced);
    expect(r.episodesStored).toBe(r.episodesProduced);
    expect(r.manifestEpisodes).toBe(r.episodesProduced);
    expect(r.statsEpisodes).toBe(r.episodesProduced);
    for (const v of Object.values(r.recoveryMs).flat()) expect(v).toBeLessThan(60_000);
  }, 150_000);
});
