import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetBuilder } from '../../src/data/builder.js';
import { exportD4rl, exportMinari, importD4rl, importMinari } from '../../src/data/formats/hdf5.js';
import { createStore, openStore } from '../../src/data/formats/mcap-store.js';
import { nextObservationsOf } from '../../src/data/next-obs.js';
import { expectSameDataset, synthetic } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'o2o-h5-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
// python3 on PATH may be a pyenv interpreter without h5py; Debian's python3-h5py lives in /usr/bin.
const python = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import h5py']).status === 0);

describe('D4RL HDF5', () => {
  it('native → D4RL → native → D4RL is bit-exact', async () => {
    const ds = synthetic(2000, 11, 3, 100);
    const dir = join(root, 'native');
    await createStore(dir, { obsDim: 11, actDim: 3, infoDims: { extra: 1 } }).append(ds);
    const stored = (await openStore(dir).read()).dataset;
    await exportD4rl(stored, join(root, 'a.hdf5'));
    const back = await importD4rl(join(root, 'a.hdf5'));
    expectSameDataset(back.dataset, ds, { info: true });
    const dir2 = join(root, 'native2');
    await createStore(dir2, { obsDim: 11, actDim: 3, infoDims: { extra: 1 } }).append(back.dataset);
    await exportD4rl((await openStore(dir2).read()).dataset, join(root, 'b.hdf5'));
    expectSameDataset((await importD4rl(join(root, 'b.hdf5'))).dataset, ds, { info: true });
    await expect(exportD4rl(ds, join(root, 'a.hdf5'))).rejects.toThrow(/a\.hdf5: file exists/);
  });

  it('imports a file written by h5py (independent writer) and h5py reads our export', async () => {
    if (!python) return expect.soft(python, 'python3 with h5py missing (apt-get install -y python3-h5py); skipped').toBeDefined();
    const file = join(root, 'py.hdf5');
    const script = `
import h5py, numpy as np, sys
rng = np.random.default_rng(0)
N = 50
obs = rng.standard_normal((N, 4)).astype(np.float32)
with h5py.File(sys.argv[1], 'w') as f:
    f['observations'] = obs
    f['next_observations'] = obs + 1
    f['actions'] = rng.uniform(-1, 1, (N, 2)).astype(np.float32)
    f['rewards'] = np.arange(N, dtype=np.float32)
    t = np.zeros(N, dtype=bool); t[19] = True
    o = np.zeros(N, dtype=bool); o[39] = True
    f['terminals'] = t
    f['timeouts'] = o
    f['infos/qpos'] = obs[:, :2].astype(np.float64)
obs.tofile(sys.argv[1] + '.obs')
`;
    const r = spawnSync(python, ['-c', script, file]);
    expect(r.stderr.toString()).toBe('');
    const { dataset: ds } = await importD4rl(file);
    expect(ds.size).toBe(50);
    expect(Array.from(ds.observations)).toEqual(Array.from(new Float32Array(new Uint8Array(readFileSync(`${file}.obs`)).buffer)));
    expect(nextObservationsOf(ds)[0]).toBe(Math.fround(ds.observations[0]! + 1));
    expect(ds.terminals[19]).toBe(1);
    expect(ds.timeouts[39]).toBe(1);
    expect([ds.episodeIds[19], ds.episodeIds[20], ds.episodeIds[40]]).toEqual([0, 1, 2]);
    expect(ds.info.qpos!.dim).toBe(2);
    await exportD4rl(ds, join(root, 'ours.hdf5'));
    const check = spawnSync(python, [
      '-c',
      `
import h5py, sys
f = h5py.File(sys.argv[1], 'r')
print(f['observations'].shape, f['observations'].dtype, int(f['terminals'][:].sum()), int(f['timeouts'][39]), f['infos/qpos'].shape)
`,
      join(root, 'ours.hdf5'),
    ]);
    expect(check.stdout.toString().trim()).toBe('(50, 4) float32 1 1 (50, 2)');
  });

  it('reports missing keys, wrong shapes, NaN rows and corrupt files with the file name', async () => {
    const good = synthetic(30, 3, 2);
    await exportD4rl(good, join(root, 'good.hdf5'));
    const bytes = readFileSync(join(root, 'good.hdf5'));
    writeFileSync(join(root, 'cut.hdf5'), bytes.subarray(0, 1000));
    await expect(importD4rl(join(root, 'cut.hdf5'))).rejects.toThrow(/cut\.hdf5: .*(truncated or corrupt|missing dataset)/);
    writeFileSync(join(root, 'junk.hdf5'), 'hello world, not hdf5');
    await expect(importD4rl(join(root, 'junk.hdf5'))).rejects.toThrow(/junk\.hdf5: byte 0: not an HDF5 file/);
    const nan = { ...good, rewards: good.rewards.slice() };
    nan.rewards[17] = NaN;
    await expect(exportD4rl(nan, join(root, 'nan.hdf5'))).rejects.toThrow(/row 17: rewards contains NaN/);
    expect(existsSync(join(root, 'nan.hdf5'))).toBe(false);
    if (python) {
      spawnSync(python, [
        '-c',
        `
import h5py, numpy as np, sys
with h5py.File(sys.argv[1], 'w') as f:
    f['observations'] = np.zeros((10, 3), np.float32)
    f['actions'] = np.zeros((9, 2), np.float32)
    f['rewards'] = np.zeros(10, np.float32)
    f['terminals'] = np.zeros(10, bool)
with h5py.File(sys.argv[2], 'w') as f:
    o = np.zeros((10, 3), np.float32); o[4, 1] = np.inf
    f['observations'] = o
    f['actions'] = np.zeros((10, 2), np.float32)
    f['rewards'] = np.zeros(10, np.float32)
    f['terminals'] = np.zeros(10, bool)
`,
        join(root, 'shape.hdf5'),
        join(root, 'inf.hdf5'),
      ]);
      await expect(importD4rl(join(root, 'shape.hdf5'))).rejects.toThrow(/shape\.hdf5: 'actions' has shape \[9, 2\], expected \[10/);
      await expect(importD4rl(join(root, 'inf.hdf5'))).rejects.toThrow(/inf\.hdf5: row 4: observations contains Inf at column 1/);
    }
  });
});

describe('Minari HDF5', () => {
  it('round-trips episodes with N + 1 observations bit-exactly', async () => {
    const b = new DatasetBuilder(3, 2);
    let x = 0;
    for (let e = 0; e < 5; e++) {
      const len = 7 + e;
      for (let t = 0; t < len; t++, x++)
        b.add({
          obs: [x, e, t],
          nextObs: [x + 1, e, t + 1],
          action: [t / 10, -e],
          reward: t,
          terminal: e % 2 === 0 && t === len - 1,
          timeout: e % 2 === 1 && t === len - 1,
          episodeId: e,
        });
    }
    const ds = b.build();
    const file = join(root, 'main_data.hdf5');
    const res = await exportMinari(ds, file);
    expect(res).toEqual({ episodes: 5, inconsistentRows: 0 });
    const back = await importMinari(file);
    expectSameDataset(back.dataset, ds);
    if (python) {
      const r = spawnSync(python, [
        '-c',
        `
import h5py, sys
f = h5py.File(sys.argv[1], 'r')
e = f['episode_2']
print(e['observations'].shape, e['actions'].shape, int(f.attrs['total_episodes']), int(e['terminations'][-1]))
`,
        file,
      ]);
      expect(r.stdout.toString().trim()).toBe('(10, 3) (9, 2) 5 1');
    }
  });
});
