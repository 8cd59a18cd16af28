import { datasetInfo, datasetStats, exportDataset, formatRepairReport, importDataset, repairDataset, createStore, episodes } from '../data/index.js';
import { RECIPE_KINDS, generateRecipe } from '../train/datasets.js';
import { type Args, type CommandSpec, UsageError, bool, num, optStr, str } from './args.js';
import { ProgressBar } from './progress.js';

const progress = (label: string) => {
  let bar: ProgressBar | null = null;
  return (done: number, total: number, stage: string) => {
    bar ??= new ProgressBar(`${label} ${stage}`, total);
    bar.update(done);
  };
};

export const DATASET_USAGE = `o2o dataset <command>
  info <dir>                                   manifest, segments, leftover partial segments
  stats <dir> [--verify]                       episodes, returns, observation statistics
  import --format d4rl|minari|rosbag2 --input <file> --dir <dir> [--env <id>] [--mapping <yaml>]
  export --format d4rl|minari --dir <dir> --output <file> [--overwrite]
  repair <dir> [--json]                        salvage damaged segments (intact chunks kept, originals
                                               kept as *.damaged), finalize *.partial segments,
                                               rebuild a lost or corrupt manifest.json
  generate <task>-<${RECIPE_KINDS.join('|')}> --dir <dir> [--seed N]`;

export const DATASET_SPECS: Record<string, CommandSpec> = {
  info: { name: 'o2o dataset info', flags: {}, positionals: 1 },
  stats: { name: 'o2o dataset stats', flags: { verify: 'bool' }, positionals: 1 },
  import: { name: 'o2o dataset import', flags: { format: ['d4rl', 'minari', 'rosbag2'], input: 'string', dir: 'string', env: 'string', mapping: 'string' } },
  export: { name: 'o2o dataset export', flags: { format: ['d4rl', 'minari'], dir: 'string', output: 'string', overwrite: 'bool' } },
  repair: { name: 'o2o dataset repair', flags: { json: 'bool' }, positionals: 1 },
  generate: { name: 'o2o dataset generate', flags: { dir: 'string', seed: 'int' }, positionals: 1 },
};

export async function datasetCommand(a: Args): Promise<void> {
  const [, sub, target] = a.positionals;
  switch (sub) {
    case 'info': {
      if (!target) throw new UsageError('o2o dataset info <dir>');
      console.log(JSON.stringify(datasetInfo(target), null, 2));
      return;
    }
    case 'stats': {
      if (!target) throw new UsageError('o2o dataset stats <dir>');
      const s = await datasetStats(target, { progress: progress('reading'), verifyChecksums: bool(a, 'verify') });
      console.log(JSON.stringify(s, (_k, v) => (v instanceof Float32Array ? Array.from(v) : v), 2));
      return;
    }
    case 'import': {
      const format = str(a, 'format') as 'd4rl' | 'minari' | 'rosbag2';
      const r = await importDataset({
        format,
        input: str(a, 'input'),
        dir: str(a, 'dir'),
        envId: optStr(a, 'env'),
        mapping: optStr(a, 'mapping'),
        progress: progress('importing'),
      });
      console.log(JSON.stringify(r, null, 2));
      return;
    }
    case 'export': {
      const r = await exportDataset({
        format: str(a, 'format') as 'd4rl' | 'minari',
        dir: str(a, 'dir'),
        output: str(a, 'output'),
        overwrite: bool(a, 'overwrite'),
        progress: progress('exporting'),
      });
      console.log(JSON.stringify(r, null, 2));
      return;
    }
    case 'repair': {
      if (!target) throw new UsageError('o2o dataset repair <dir> [--json]');
      const rep = await repairDataset(target, progress('repairing'));
      console.log(bool(a, 'json') ? JSON.stringify(rep, null, 2) : formatRepairReport(target, rep));
      return;
    }
    case 'generate': {
      if (!target) throw new UsageError(`o2o dataset generate <task>-<kind> --dir <dir>`);
      const ds = await generateRecipe(target, num(a, 'seed', 0));
      const dir = str(a, 'dir');
      const store = await createStore(dir, { obsDim: ds.obsDim, actDim: ds.actDim, envId: ds.meta.envId, behaviorPolicy: ds.meta.behaviorPolicy, refScores: ds.meta.refScores });
      await store.append(ds);
      const eps = episodes(ds);
      const mean = eps.reduce((s, e) => s + e.return, 0) / eps.length;
      console.log(JSON.stringify({ dir, recipe: target, transitions: ds.size, episodes: eps.length, meanReturn: mean }, null, 2));
      return;
    }
    default:
      throw new UsageError(DATASET_USAGE);
  }
}
