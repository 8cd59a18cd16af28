/** The `o2o` command: thin — parse arguments, call the library, print results. */
import { UsageError, parseArgs } from './args.js';
import { BEHAVIOR_USAGE, behaviorCommand } from './behavior.js';
import { DATASET_USAGE, datasetCommand } from './dataset.js';
import { DEMO_USAGE, demoCommand } from './demo.js';
import { BROKER_USAGE, LEARN_USAGE, brokerCommand, learnCommand } from './learn.js';
import { EVAL_USAGE, evalCommand } from './eval.js';
import { EXPORT_USAGE, ROBOT_USAGE, SERVE_USAGE, exportCommand, keygenCommand, robotCommand, serveCommand } from './serve.js';
import { TRAIN_USAGE, trainCommand } from './train.js';

const COMMANDS: Record<string, { usage: string; run: (a: ReturnType<typeof parseArgs>) => Promise<void> }> = {
  demo: { usage: DEMO_USAGE, run: demoCommand },
  dataset: { usage: DATASET_USAGE, run: datasetCommand },
  train: { usage: TRAIN_USAGE, run: trainCommand },
  behavior: { usage: BEHAVIOR_USAGE, run: behaviorCommand },
  export: { usage: EXPORT_USAGE, run: exportCommand },
  keygen: { usage: 'o2o keygen [--dir .] [--name o2o-signing]', run: keygenCommand },
  serve: { usage: SERVE_USAGE, run: serveCommand },
  broker: { usage: BROKER_USAGE, run: brokerCommand },
  learn: { usage: LEARN_USAGE, run: learnCommand },
  robot: { usage: ROBOT_USAGE, run: robotCommand },
  eval: { usage: EVAL_USAGE, run: evalCommand },
};

export async function main(argv: string[]): Promise<number> {
  const a = parseArgs(argv);
  const cmd = a.positionals[0];
  if (!cmd || cmd === 'help' || a.flags.has('help')) {
    console.log(`usage: o2o <command> [options]\n\n${Object.values(COMMANDS).map((c) => c.usage).join('\n\n')}`);
    return cmd ? 0 : 2;
  }
  const c = COMMANDS[cmd];
  if (!c) {
    console.error(`o2o: unknown command '${cmd}'; commands: ${Object.keys(COMMANDS).join(', ')}`);
    return 2;
  }
  try {
    await c.run(a);
    return Number(process.exitCode ?? 0);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`o2o ${cmd}: ${e.message}\n\n${c.usage}`);
      return 2;
    }
    console.error(`o2o ${cmd}: ${(e as Error).message}`);
    return 1;
  }
}
