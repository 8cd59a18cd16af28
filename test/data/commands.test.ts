import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { datasetInfo, datasetStats, exportDataset, importDataset, repairDataset } from '../../src/data/index.js';
import { exportD4rl } from '../../src/data/formats/hdf5.js';
import { synthetic } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'o2o-cmd-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('dataset commands', () => {
  it('import → info → stats → export → repair', async () => {
    const src = synthetic(400, 3, 2, 40);
    await exportD4rl(src, join(root, 'in.hdf5'));
    const calls: string[] = [];
    const imp = await importDataset({
      format: 'd4rl',
      input: join(root, 'in.hdf5'),
      dir: join(root, 'ds'),
      envId: 'toy-v0',
      refScores: { random: 0, expert: 10 },
      progress: (_d, _t, s) => calls.push(s),
    });
    expect(imp).toMatchObject({ transitions: 400, episodes: 10, segment: 'seg-0000.mcap' });
    expect(calls).toContain('append');
    const info = datasetInfo(join(root, 'ds'));
    expect(info.manifest.counts).toEqual({ transitions: 400, episodes: 10, segments: 1 });
    expect(info.manifest.envId).toBe('toy-v0');
    const st = await datasetStats(join(root, 'ds'));
    expect(st.terminals + st.timeouts).toBe(10);
    expect(st.episodeLength).toEqual({ mean: 40, min: 40, max: 40 });
    expect(st.normalizedScore).toBeCloseTo((100 * st.episodeReturn.mean) / 10);
    const ex = await exportDataset({ format: 'minari', dir: join(root, 'ds'), output: join(root, 'out.hdf5') });
    expect(ex.transitions).toBe(400);
    expect(ex.notes[0]).toMatch(/next_observation != following observation/);
    expect(await repairDataset(join(root, 'ds'))).toEqual({ repaired: [], removedEmpty: [], removedStale: [], registered: [], salvaged: [], recounted: [] });
    writeFileSync(join(root, 'empty.hdf5'), '');
    await expect(importDataset({ format: 'd4rl', input: join(root, 'empty.hdf5'), dir: join(root, 'ds') })).rejects.toThrow(/empty\.hdf5/);
    expect(datasetInfo(join(root, 'ds')).manifest.counts.transitions).toBe(400);
  });
});
