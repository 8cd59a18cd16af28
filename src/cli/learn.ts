/**
 * `o2o broker`: the embedded MQTT broker (aedes) for a laptop or a lab; production fleets use any
 * MQTT broker (mosquitto, EMQX, HiveMQ) with passwords and an ACL.
 * `o2o learn`: the online learner service — pretrain (or resume) Cal-QL on an offline dataset,
 * then fine-tune on the transitions robots stream, within a budget, publishing signed policies.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeEnv } from '../../simulators/index.js';
import { OnlineLearner } from '../online/index.js';
import { train } from '../train/index.js';
import { loadDataset } from '../train/datasets.js';
import { startBroker } from '../transport/index.js';
import { type Args, configFlag, num, optStr, str } from './args.js';
import { ProgressBar } from './progress.js';

export const BROKER_USAGE = `o2o broker [--port 1883] [--host 127.0.0.1]   embedded MQTT broker (aedes) until Ctrl-C`;

export const LEARN_USAGE = `o2o learn --mqtt <url> --task <env id> --dataset <dir|file.hdf5|recipe> --store <online dataset dir>
  [--pretrain-steps 20000] [--budget-transitions N] [--budget-episodes N] [--budget-seconds N] [--utd 1]
  [--mix 0.5] [--publish-every 1000] [--sign <private key>] [--fleet default] [--username U --password P]
  [--checkpoints <dir>] [--config '{"cqlAlpha": 5}'] [--seed 0]`;

const untilSignal = () =>
  new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });

export async function brokerCommand(a: Args): Promise<void> {
  const b = await startBroker({ port: num(a, 'port', 1883), host: optStr(a, 'host') });
  console.log(`o2o broker: MQTT on ${b.url} (Ctrl-C stops it)`);
  await untilSignal();
  await b.close();
}

export async function learnCommand(a: Args): Promise<void> {
  const task = str(a, 'task');
  const seed = num(a, 'seed', 0);
  const env = await makeEnv(task);
  const spec = env.spec;
  env.close();
  const { dataset, id } = await loadDataset(str(a, 'dataset'), seed);
  const steps = num(a, 'pretrain-steps', 20_000);
  const checkpoints = optStr(a, 'checkpoints') ?? join(str(a, 'store'), 'checkpoints');
  const bar = new ProgressBar('offline Cal-QL', steps);
  const pre = await train({
    algo: 'calql',
    dataset,
    datasetId: id,
    task: { obsDim: spec.obsDim, actDim: spec.actDim, maxAction: Math.max(...Array.from(spec.actHigh).map(Math.abs)), maxEpisodeSteps: spec.maxEpisodeSteps },
    steps,
    seed,
    config: configFlag(a),
    checkpointDir: join(checkpoints, 'offline'),
    checkpointEvery: Math.max(1, Math.floor(steps / 10)),
    resume: true,
    onProgress: (p) => bar.update(p.step),
  });
  bar.done();
  const budget = {
    ...(a.flags.has('budget-transitions') ? { transitions: num(a, 'budget-transitions') } : {}),
    ...(a.flags.has('budget-episodes') ? { episodes: num(a, 'budget-episodes') } : {}),
    ...(a.flags.has('budget-seconds') ? { wallSeconds: num(a, 'budget-seconds') } : {}),
  };
  const key = optStr(a, 'sign');
  const learner = await OnlineLearner.start({
    url: str(a, 'mqtt'),
    fleet: optStr(a, 'fleet'),
    username: optStr(a, 'username'),
    password: optStr(a, 'password'),
    learner: pre.learner,
    offline: pre.prepared,
    obsStats: pre.obsStats,
    rewardTransform: pre.rewardTransform,
    storeDir: str(a, 'store'),
    envId: task,
    mixRatio: num(a, 'mix', 0.5),
    utd: num(a, 'utd', 1),
    budget,
    publishEvery: num(a, 'publish-every', 1000),
    card: { name: `${task}-calql`, task, algorithm: 'calql', datasetId: id, seed },
    signingKey: key ? readFileSync(key, 'utf8') : undefined,
    checkpointDir: join(checkpoints, 'online'),
    seed,
    log: (l) => console.log(l),
  });
  console.log(`o2o learn: fine-tuning on o2o/${optStr(a, 'fleet') ?? 'default'}/robots/+/transitions, budget ${JSON.stringify(budget)}`);
  await Promise.race([learner.done, untilSignal()]);
  const st = learner.status();
  await learner.close();
  console.log(JSON.stringify(st, null, 2));
}
