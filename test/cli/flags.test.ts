/**
 * Every command refuses unknown flags and malformed values with its usage (exit 2), before it
 * does any work: the table below is built from the commands' own flag tables.
 */
import { describe, expect, it } from 'vitest';
import { type CommandSpec, parseArgs, UsageError } from '../../src/cli/args.js';
import { closest } from '../../src/util/did-you-mean.js';
import { COMMANDS } from '../../src/cli/main.js';
import { capture } from '../helpers/cli.js';

/** [command words, spec] for every command and subcommand. */
const ALL: [string[], CommandSpec][] = Object.entries(COMMANDS).flatMap(([name, c]) =>
  'flags' in c.spec && typeof c.spec.name === 'string'
    ? [[[name], c.spec as CommandSpec]]
    : Object.entries(c.spec as Record<string, CommandSpec>).map(([sub, s]): [string[], CommandSpec] => [[name, sub], s]),
);

describe('o2o flag checking', () => {
  it('covers every command of the o2o command line', () => {
    expect(ALL.map(([w]) => w.join(' ')).sort()).toEqual(
      [
        'behavior train',
        'broker',
        'dataset export',
        'dataset generate',
        'dataset import',
        'dataset info',
        'dataset repair',
        'dataset stats',
        'demo',
        'eval',
        'export',
        'keygen',
        'learn',
        'robot sim',
        'serve',
        'train',
      ].sort(),
    );
  });

  it.each(ALL.map(([w, s]) => [w.join(' '), w, s] as const))("'o2o %s' refuses an unknown flag with its usage (exit 2)", async (_n, words, spec) => {
    const r = await capture([...words, '--frobnicate', '3']);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`unknown flag --frobnicate for '${spec.name}'`);
    expect(r.err).toContain(COMMANDS[words[0]!]!.usage);
  });

  it.each(
    ALL.flatMap(([w, s]) =>
      Object.entries(s.flags)
        .filter(([, k]) => k === 'number' || k === 'int')
        .map(([f]) => [`${w.join(' ')} --${f}`, w, f] as const),
    ),
  )("'o2o %s' refuses a non-number", async (_n, words, flag) => {
    const r = await capture([...words, `--${flag}`, 'ten']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`--${flag} must be an? (number|integer), got 'ten'`));
  });

  it('refuses missing values, bad booleans, bad lists, bad choices, repeated flags and stray arguments', async () => {
    expect((await capture(['eval', '--policy'])).err).toMatch(/--policy needs a value/);
    expect((await capture(['eval', '--policy', '--task', 'pendulum'])).err).toMatch(/--policy needs a value/);
    expect((await capture(['demo', '--quick=yes'])).err).toMatch(/--quick must be true or false/);
    expect((await capture(['export', '--act-low', '1,x'])).err).toMatch(/--act-low must be comma-separated numbers, got '1,x'/);
    expect((await capture(['serve', '--safe-action', 'brake'])).err).toMatch(/--safe-action must be one of zero\|hold/);
    expect((await capture(['eval', '--seed', '1', '--seed', '2'])).err).toMatch(/--seed is given twice/);
    expect((await capture(['train', 'extra'])).err).toMatch(/unexpected argument 'extra' for 'o2o train'/);
    expect((await capture(['dataset', 'frob'])).err).toMatch(/unknown subcommand 'frob' for 'o2o dataset'/);
    expect((await capture(['robot'])).code).toBe(2);
    expect((await capture(['eval', '--episodes', '2.5'])).err).toMatch(/--episodes must be an integer, got '2.5'/);
  });

  it("'o2o eval --episode 2' is refused, naming --episodes (it used to run 20 episodes)", async () => {
    const r = await capture(['eval', '--policy', 'p.onnx', '--task', 'pendulum', '--episode', '2']);
    expect(r.code).toBe(2);
    expect(r.err).toContain("unknown flag --episode for 'o2o eval'; did you mean --episodes?");
  });

  it("'o2o serve --trusted-keys' is refused (it used to be ignored), before any broker starts", async () => {
    const r = await capture(['serve', '--mqtt', 'embedded', '--port', '0', '--policy', 'p.onnx', '--trusted-keys', 'k.pub']);
    expect(r.code).toBe(2);
    expect(r.err).toContain("unknown flag --trusted-keys for 'o2o serve'; did you mean --trusted-key?");
    expect(r.out).not.toMatch(/embedded MQTT broker/);
  });

  it("'o2o learn --budget-transition' is refused (it used to mean no budget), before any training", async () => {
    const r = await capture(['learn', '--mqtt', 'mqtt://127.0.0.1:1', '--task', 'pendulum', '--dataset', 'pendulum-medium', '--store', '/tmp/none', '--budget-transition', '100']);
    expect(r.code).toBe(2);
    expect(r.err).toContain("unknown flag --budget-transition for 'o2o learn'; did you mean --budget-transitions?");
  });

  it("'o2o serve' without --trusted-key or --allow-unverified exits 2 saying what to pass", async () => {
    const r = await capture(['serve', '--mqtt', 'embedded', '--port', '0', '--policy', 'p.onnx']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--trusted-key <file.pub>.*o2o keygen.*--allow-unverified \(development only\)/s);
    expect(r.out).not.toMatch(/embedded MQTT broker/);
  });

  it('--help prints the command usage; raw ROS arguments after --ros-args are not parsed', async () => {
    const h = await capture(['eval', '--help']);
    expect(h.code).toBe(0);
    expect(h.out).toBe(COMMANDS.eval!.usage);
    expect((await capture(['--help'])).code).toBe(0);
    const a = parseArgs(['serve', '--ros', '--ros-args', '--params-file', 'x.yaml', '-r', '__node:=p'], COMMANDS.serve!.spec as CommandSpec, 1);
    expect(a.rest).toEqual(['--ros-args', '--params-file', 'x.yaml', '-r', '__node:=p']);
    expect(a.flags.get('ros')).toBe(true);
  });

  it('parses the accepted forms: --f v, --f=v, bare and explicit booleans, repeated lists, negative numbers', () => {
    const spec: CommandSpec = { name: 't', flags: { n: 'number', b: 'bool', k: 'list' }, positionals: 1 };
    const a = parseArgs(['--n', '-2.5', '--b', 'false', 'pos', '--k', 'a.pub', '--k=b.pub'], spec);
    expect(a.flags.get('n')).toBe('-2.5');
    expect(a.flags.get('b')).toBe('false');
    expect(a.flags.get('k')).toBe('a.pub,b.pub');
    expect(a.positionals).toEqual(['pos']);
    expect(() => parseArgs(['--zzzzzz'], spec)).toThrow(UsageError);
    expect(closest('episode', ['episodes', 'seed'])).toBe('episodes');
    expect(closest('frobnicate', ['episodes', 'seed'])).toBeNull();
  });
});

describe('usage texts', () => {
  it('name every declared flag, and declare every flag they name', () => {
    for (const [words, spec] of ALL) {
      const usage = COMMANDS[words[0]!]!.usage;
      for (const f of Object.keys(spec.flags)) expect(usage, `${spec.name} --${f}`).toContain(`--${f}`);
    }
    for (const [name, c] of Object.entries(COMMANDS)) {
      const declared = new Set(ALL.filter(([w]) => w[0] === name).flatMap(([, s]) => Object.keys(s.flags)));
      const named = [...c.usage.matchAll(/--([a-z][a-z0-9-]*)/g)].map((m) => m[1]!).filter((f) => f !== 'ros-args' && f !== 'params-file' && f !== 'help');
      for (const f of named) expect(declared.has(f), `o2o ${name} usage names --${f}`).toBe(true);
    }
  });
});
