/** The benchmarks' training data: n random halfcheetah-sized transitions (17 → 6) in 1000-step episodes, with Monte-Carlo returns for Cal-QL. */
import { type Dataset, DatasetBuilder, monteCarloReturns, withInfo } from '../src/data/index.js';
import { Rng } from '../src/util/rng.js';

export function syntheticDataset(n: number): Dataset {
  const rng = new Rng(0);
  const b = new DatasetBuilder(17, 6, { capacity: n + 1, validate: false });
  b.reserve(n + 1);
  rng.fillNormal(b.observations.subarray(0, (n + 1) * 17));
  rng.fillUniform(b.actions.subarray(0, n * 6), -1, 1);
  rng.fillNormal(b.rewards.subarray(0, n));
  for (let i = 999; i < n; i += 1000) b.timeouts[i] = 1;
  // next observation of row i = observation of row i + 1 (as in recorded trajectories; the
  // builder keeps them implicit and stores only the episode ends)
  b.commit(n, b.observations.subarray(17, (n + 1) * 17));
  const ds = b.build();
  return withInfo(ds, 'mc_return', monteCarloReturns(ds, { gamma: 0.99 }));
}
