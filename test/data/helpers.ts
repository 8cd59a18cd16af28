import { DatasetBuilder } from '../../src/data/builder.js';
import type { Dataset } from '../../src/data/dataset.js';
import { nextObservationsOf } from '../../src/data/next-obs.js';
import { Rng } from '../../src/util/rng.js';

/** Synthetic dataset: episodes of `epLen` rows; obs[0] of row i is i (identifies rows). */
export function synthetic(n: number, obsDim = 3, actDim = 2, epLen = 10, seed = 0): Dataset {
  const rng = new Rng(seed);
  const b = new DatasetBuilder(obsDim, actDim, { capacity: n, infoDims: { extra: 1 } });
  for (let i = 0; i < n; i++) {
    const obs = Array.from({ length: obsDim }, (_, k) => (k === 0 ? i : rng.normal()));
    const next = Array.from({ length: obsDim }, (_, k) => (k === 0 ? i + 1 : rng.normal()));
    const last = i % epLen === epLen - 1;
    b.add({
      obs,
      nextObs: next,
      action: Array.from({ length: actDim }, () => rng.uniform(-1, 1)),
      reward: rng.normal(),
      terminal: last && Math.floor(i / epLen) % 2 === 0,
      timeout: last && Math.floor(i / epLen) % 2 === 1,
      info: { extra: [i * 0.5] },
    });
  }
  return b.build({ compact: true });
}

export function expectSameDataset(a: Dataset, b: Dataset, opts: { info?: boolean } = {}): void {
  const eq = (x: ArrayLike<number>, y: ArrayLike<number>, name: string): void => {
    if (x.length !== y.length) throw new Error(`${name}: length ${x.length} vs ${y.length}`);
    for (let i = 0; i < x.length; i++) {
      if (!Object.is(x[i], y[i])) throw new Error(`${name}[${i}]: ${x[i]} vs ${y[i]}`);
    }
  };
  if (a.size !== b.size || a.obsDim !== b.obsDim || a.actDim !== b.actDim) throw new Error(`shape ${a.size}x${a.obsDim}/${a.actDim} vs ${b.size}x${b.obsDim}/${b.actDim}`);
  const n = a.size;
  eq(a.observations.subarray(0, n * a.obsDim), b.observations.subarray(0, n * b.obsDim), 'observations');
  eq(a.actions.subarray(0, n * a.actDim), b.actions.subarray(0, n * b.actDim), 'actions');
  eq(a.rewards.subarray(0, n), b.rewards.subarray(0, n), 'rewards');
  eq(nextObservationsOf(a, 0, n), nextObservationsOf(b, 0, n), 'next_observations');
  eq(a.terminals.subarray(0, n), b.terminals.subarray(0, n), 'terminals');
  eq(a.timeouts.subarray(0, n), b.timeouts.subarray(0, n), 'timeouts');
  eq(a.episodeIds.subarray(0, n), b.episodeIds.subarray(0, n), 'episodeIds');
  if (opts.info) for (const k of Object.keys(a.info)) eq(a.info[k]!.data, b.info[k]!.data, `info.${k}`);
}
