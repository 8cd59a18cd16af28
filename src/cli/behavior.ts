import { trainBehaviorPolicies } from '../train/behavior.js';
import { type Args, UsageError, num, str } from './args.js';

export const BEHAVIOR_USAGE = `o2o behavior train --task <env id> --steps N --medium-return R [--out policies] [--hidden 64,64] [--seed N] [--eval-every N]
  trains SAC online and writes <task>-medium.onnx, <task>-expert.onnx (+ .card.json) and the
  <task>-medium-replay dataset folder`;

export async function behaviorCommand(a: Args): Promise<void> {
  if (a.positionals[1] !== 'train') throw new UsageError(BEHAVIOR_USAGE);
  const hidden = str(a, 'hidden', '256,256').split(',').map(Number);
  const r = await trainBehaviorPolicies({
    task: str(a, 'task'),
    steps: num(a, 'steps'),
    seed: num(a, 'seed', 0),
    hidden,
    mediumReturn: num(a, 'medium-return'),
    outDir: str(a, 'out', 'policies'),
    evalEvery: num(a, 'eval-every', 10_000),
    log: (l) => console.log(l),
  });
  console.log(JSON.stringify({ medium: r.medium, expert: r.expert, transitions: r.replay.size }, null, 2));
}
