import { trainBehaviorPolicies } from '../train/behavior.js';
import { type Args, type CommandSpec, UsageError, num, str } from './args.js';

export const BEHAVIOR_USAGE = `o2o behavior train --task <env id> --steps N --medium-return R [--method sac|ars] [--out policies]
    [--stop-return R] [--hidden 256,256] [--seed N] [--eval-every N] [--eval-episodes N]
  trains behaviour policies online and writes <task>-medium.onnx, <task>-expert.onnx (policy
  artifacts, + .card.json) and the <task>-medium-replay dataset folder. --steps counts environment
  steps. sac (default): D4RL's recipe, one gradient update per step. ars: random search on a
  linear policy, simulator steps only (minutes per task on a 2-core machine).`;

export const BEHAVIOR_SPECS: Record<string, CommandSpec> = {
  train: {
    name: 'o2o behavior train',
    flags: {
      task: 'string',
      steps: 'int',
      'medium-return': 'number',
      method: ['sac', 'ars'],
      out: 'string',
      'stop-return': 'number',
      hidden: 'numbers',
      seed: 'int',
      'eval-every': 'int',
      'eval-episodes': 'int',
    },
  },
};

export async function behaviorCommand(a: Args): Promise<void> {
  if (a.positionals[1] !== 'train') throw new UsageError(BEHAVIOR_USAGE);
  const method = str(a, 'method', 'sac');
  if (method !== 'sac' && method !== 'ars') throw new UsageError(`--method must be sac or ars, got '${method}'\n${BEHAVIOR_USAGE}`);
  const stop = a.flags.has('stop-return') ? num(a, 'stop-return') : undefined;
  const r = await trainBehaviorPolicies({
    task: str(a, 'task'),
    steps: num(a, 'steps'),
    method,
    seed: num(a, 'seed', 0),
    hidden: str(a, 'hidden', '256,256').split(',').map(Number),
    mediumReturn: num(a, 'medium-return'),
    stopReturn: stop,
    outDir: str(a, 'out', 'policies'),
    evalEvery: num(a, 'eval-every', method === 'ars' ? 50_000 : 10_000),
    evalEpisodes: num(a, 'eval-episodes', 5),
    log: (l) => console.log(l),
  });
  console.log(JSON.stringify({ medium: r.medium, expert: r.expert, replayTransitions: r.replay.size }, null, 2));
}
