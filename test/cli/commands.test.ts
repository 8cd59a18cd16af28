import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { capture } from '../helpers/cli.js';
import { readCard } from '../../src/serve/index.js';

describe('o2o command line', () => {
  it('generates a dataset, trains on it with checkpoints and metrics, and writes a sealed policy', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'o2o-cli-'));
    const gen = await capture(['dataset', 'generate', 'pendulum-expert', '--dir', join(dir, 'data')]);
    expect(gen.code).toBe(0);
    expect(JSON.parse(gen.out)).toMatchObject({ transitions: 20000, episodes: 100 });
    const info = await capture(['dataset', 'info', join(dir, 'data')]);
    expect(JSON.parse(info.out).manifest.obsDim).toBe(3);

    const policy = join(dir, 'p.onnx');
    const t = await capture([
      'train',
      '--algo',
      'bc',
      '--dataset',
      join(dir, 'data'),
      '--task',
      'pendulum',
      '--steps',
      '200',
      '--hidden',
      '32,32',
      '--threads',
      '1',
      '--eval-episodes',
      '2',
      '--log',
      join(dir, 'm.jsonl'),
      '--checkpoints',
      join(dir, 'ckpt'),
      '--checkpoint-every',
      '100',
      '--out',
      policy,
    ]);
    expect(t.code).toBe(0);
    expect(JSON.parse(t.out.split('\n')[0]!)).toMatchObject({ algo: 'bc', steps: 200 });
    expect(existsSync(join(dir, 'ckpt', 'ckpt-200.o2o'))).toBe(true);
    const lines = readFileSync(join(dir, 'm.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.at(-1)).toMatchObject({ step: 200 });
    expect(lines.some((l) => typeof l.eval_return === 'number')).toBe(true);
    const card = readCard(new Uint8Array(readFileSync(policy)));
    expect(card).toMatchObject({ task: 'pendulum', algorithm: 'bc', trainingSteps: 200 });
    // the card records the settings that made the policy
    expect(JSON.parse(card!.notes.replace(/^settings /, ''))).toMatchObject({ hidden: [32, 32], actorLr: 3e-4 });
  }, 120_000);

  it('explains usage errors and unknown commands', async () => {
    expect((await capture(['frobnicate'])).err).toMatch(/unknown command 'frobnicate'; commands: .*train/);
    const r = await capture(['train', '--algo', 'bc']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/missing --task <value>/);
    const bad = await capture(['train', '--algo', 'bc', '--task', 'pendulum', '--steps', 'ten', '--dataset', 'pendulum-expert']);
    expect(bad.err).toMatch(/--steps must be an integer, got 'ten'/);
    const recipe = await capture(['dataset', 'generate', 'pendulum-mediocre', '--dir', '/tmp/none']);
    expect(recipe.code).toBe(1);
    expect(recipe.err).toMatch(/'pendulum-mediocre' is not a recipe; use <task>-<random\|medium\|expert\|medium-replay\|medium-expert\|demos>/);
  });

  it("'o2o train --config' takes only the chosen algorithm's settings, refused before any work (exit 2)", async () => {
    // The dataset does not exist: the refusal must come before it is looked for.
    const base = ['train', '--task', 'pendulum', '--steps', '10', '--dataset', '/nonexistent/data'];
    const r = await capture([...base, '--algo', 'td3bc', '--config', '{"expectile": 0.9}']);
    expect(r.code).toBe(2);
    expect(r.err).toContain(
      "o2o train: --config: unknown setting 'expectile' for td3bc; settings are: actorLr, alpha, batchSize, criticLr, discount, hidden, noiseClip, policyFreq, policyNoise, tau, updatesPerRun ('expectile' is a setting of iql)",
    );
    const typo = await capture([...base, '--algo', 'iql', '--config', '{"expectille": 0.9}']);
    expect([typo.code, typo.err]).toEqual([2, expect.stringContaining("did you mean 'expectile'?")]);
    const kind = await capture([...base, '--algo', 'iql', '--config', '{"expectile": "high"}']);
    expect([kind.code, kind.err]).toEqual([2, expect.stringContaining('iql: setting \'expectile\' must be a number (default 0.7), got "high"')]);
    const algo = await capture([...base, '--algo', 'td3-bc']);
    expect([algo.code, algo.err]).toEqual([
      2,
      expect.stringContaining("unknown algorithm 'td3-bc'; choose one of bc, td3bc, iql, cql, calql, dt, diffusion, sac (did you mean 'td3bc'?)"),
    ]);
  });

  it("'o2o train --help' lists the algorithms from their descriptors; with --algo, that algorithm's paper and settings with defaults", async () => {
    const all = await capture(['train', '--help']);
    expect(all.code).toBe(0);
    for (const name of ['bc', 'td3bc', 'iql', 'cql', 'calql', 'sac']) expect(all.out).toMatch(new RegExp(`^    ${name} +\\S`, 'm'));
    const iql = await capture(['train', '--algo', 'iql', '--help']);
    expect(iql.out).toContain('iql: Implicit Q-Learning');
    expect(iql.out).toContain('paper: Kostrikov, Nair & Levine, 2022');
    expect(iql.out).toMatch(/^ {4}expectile +0\.7$/m);
    expect(iql.out).toContain('--hidden sets: hidden');
    const calql = await capture(['train', '--algo=calql', '--help']);
    expect(calql.out).toContain('batches: transitions, with mc_return');
    expect(calql.out).toMatch(/^ {4}clipDiffMax +Infinity$/m);
    expect(calql.out).toContain('--hidden sets: actorHidden, criticHidden');
    const dp = await capture(['train', '--algo', 'diffusion', '--help']);
    expect(dp.out).toContain('batches: chunks of 2 observations and 16 actions');
    expect(dp.out).toMatch(/^ {4}temperature +0\.5$/m);
  });
});

describe('o2o learn', () => {
  it('pretrains, fine-tunes on streamed transitions within its budget, and reports', async () => {
    const { startBroker, MqttLink, TransitionSpool } = await import('../../src/transport/index.js');
    const { makeEnv } = await import('../../simulators/index.js');
    const broker = await startBroker({ port: 0 });
    const dir = mkdtempSync(join(tmpdir(), 'o2o-learn-'));
    const run = capture([
      'learn',
      '--mqtt',
      broker.url,
      '--task',
      'pendulum',
      '--dataset',
      'pendulum-medium',
      '--store',
      join(dir, 'online'),
      '--pretrain-steps',
      '40',
      '--budget-transitions',
      '200',
      '--publish-every',
      '100',
      '--utd',
      '1',
      '--progress-seconds',
      '0.3',
      '--config',
      '{"actorHidden":[32,32],"criticHidden":[32,32],"batchSize":64,"nActions":2}',
    ]);
    // A robot streams random transitions until the learner has its budget.
    const link = await MqttLink.connect(broker.url, { clientId: 'cli-robot' });
    const spool = new TransitionSpool({ dir: join(dir, 'spool'), robotId: 'cli-robot', obsDim: 3, actDim: 1, batchRows: 20 });
    await spool.attach(link);
    const env = await makeEnv('pendulum');
    let obs = env.reset(0);
    let settled = false;
    void run.then(() => (settled = true));
    for (let t = 0; t < 2000 && !settled; t++) {
      const a = [Math.sin(t)];
      const s = env.step(a);
      spool.add(obs, a, s.reward, s.obs, s.terminated, s.truncated);
      obs = s.terminated || s.truncated ? env.reset() : s.obs;
      if (t % 20 === 0) await new Promise((r) => setTimeout(r, 10));
    }
    const r = await run;
    spool.close();
    await link.close();
    await broker.close();
    env.close();
    expect(r.code).toBe(0);
    const status = JSON.parse(r.out.slice(r.out.indexOf('{\n')));
    expect(status.done).toBe(true);
    expect(status.onlineTransitions).toBeGreaterThanOrEqual(200);
    expect(status.published.length).toBeGreaterThanOrEqual(2);
    // it says up front what the budget costs in training, from the offline rate it measured
    expect(r.out).toMatch(/o2o learn: expected training time for 200 transitions at UTD 1: 200 updates at ~[\d.]+\/s \(the offline rate here\) ≈ \d+ s/);
    // the online phase reports progress as it goes
    expect(r.out).toMatch(/o2o learn: \d+\/200 transitions stored \(\d+ episodes\), \d+ updates \([\d.]+\/s/);
  }, 180_000);
});
