/** The `o2o` command: thin — parse arguments, call the library, print results. */
import { type Args, type CommandSpec, UsageError, parseArgs } from './args.js';
import { BEHAVIOR_SPECS, BEHAVIOR_USAGE, behaviorCommand } from './behavior.js';
import { DATASET_SPECS, DATASET_USAGE, datasetCommand } from './dataset.js';
import { DEMO_SPEC, DEMO_USAGE, demoCommand } from './demo.js';
import { BROKER_SPEC, BROKER_USAGE, LEARN_SPEC, LEARN_USAGE, brokerCommand, learnCommand } from './learn.js';
import { EVAL_SPEC, EVAL_USAGE, evalCommand } from './eval.js';
import {
  EXPORT_SPEC,
  EXPORT_USAGE,
  KEYGEN_SPEC,
  KEYGEN_USAGE,
  ROBOT_SPECS,
  ROBOT_USAGE,
  SERVE_SPEC,
  SERVE_USAGE,
  exportCommand,
  keygenCommand,
  robotCommand,
  serveCommand,
} from './serve.js';
import { TRAIN_SPEC, TRAIN_USAGE, trainCommand, trainHelp } from './train.js';

interface Command {
  usage: string;
  /** The command's flags, or one table per subcommand (`o2o dataset info`, `o2o robot sim`). */
  spec: CommandSpec | Record<string, CommandSpec>;
  run: (a: Args) => Promise<void>;
  /** `--help` with more than the usage, given the command line (e.g. `o2o train --algo iql --help`). */
  help?: (argv: string[]) => string;
}

/** Every command and its declared flags (exported for the table-driven CLI tests). */
export const COMMANDS: Record<string, Command> = {
  demo: { usage: DEMO_USAGE, spec: DEMO_SPEC, run: demoCommand },
  dataset: { usage: DATASET_USAGE, spec: DATASET_SPECS, run: datasetCommand },
  train: { usage: TRAIN_USAGE, spec: TRAIN_SPEC, run: trainCommand, help: trainHelp },
  behavior: { usage: BEHAVIOR_USAGE, spec: BEHAVIOR_SPECS, run: behaviorCommand },
  export: { usage: EXPORT_USAGE, spec: EXPORT_SPEC, run: exportCommand },
  keygen: { usage: KEYGEN_USAGE, spec: KEYGEN_SPEC, run: keygenCommand },
  serve: { usage: SERVE_USAGE, spec: SERVE_SPEC, run: serveCommand },
  broker: { usage: BROKER_USAGE, spec: BROKER_SPEC, run: brokerCommand },
  learn: { usage: LEARN_USAGE, spec: LEARN_SPEC, run: learnCommand },
  robot: { usage: ROBOT_USAGE, spec: ROBOT_SPECS, run: robotCommand },
  eval: { usage: EVAL_USAGE, spec: EVAL_SPEC, run: evalCommand },
};

const isSpec = (s: Command['spec']): s is CommandSpec => typeof (s as CommandSpec).name === 'string' && typeof (s as CommandSpec).flags === 'object';

export async function main(argv: string[]): Promise<number> {
  const cmd = argv[0];
  const wantsHelp = (xs: string[]) => {
    const end = xs.findIndex((x) => x === '--' || x === '--ros-args');
    return (end < 0 ? xs : xs.slice(0, end)).some((x) => x === '--help' || x === '-h');
  };
  const globalUsage = () =>
    `usage: o2o <command> [options]\n\n${Object.values(COMMANDS)
      .map((c) => c.usage)
      .join('\n\n')}`;
  if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    console.log(globalUsage());
    return cmd ? 0 : 2;
  }
  const c = COMMANDS[cmd];
  if (!c) {
    console.error(`o2o: unknown command '${cmd}'; commands: ${Object.keys(COMMANDS).join(', ')}`);
    return 2;
  }
  if (wantsHelp(argv)) {
    console.log(c.help?.(argv) ?? c.usage);
    return 0;
  }
  try {
    // Flags are checked against the command's table before it does anything.
    let a: Args;
    if (isSpec(c.spec)) a = parseArgs(argv, c.spec, 1);
    else {
      const sub = argv[1];
      const spec = sub !== undefined ? c.spec[sub] : undefined;
      if (!spec)
        throw new UsageError(
          sub === undefined || sub.startsWith('-')
            ? `'o2o ${cmd}' needs a subcommand: ${Object.keys(c.spec).join(', ')}`
            : `unknown subcommand '${sub}' for 'o2o ${cmd}'; subcommands: ${Object.keys(c.spec).join(', ')}`,
        );
      a = parseArgs(argv, spec, 2);
    }
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
