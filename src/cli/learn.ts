/**
 * `o2o broker`: the embedded MQTT broker (aedes) for a laptop or a lab; production fleets use any
 * MQTT broker (mosquitto, EMQX, HiveMQ) with passwords and an ACL.
 * `o2o learn`: the online learner service — pretrain (or resume) Cal-QL on an offline dataset,
 * then fine-tune on the transitions robots stream, within a budget, publishing signed policies.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeEnv } from '../../simulators/index.js';
import { OnlineLearner, type OnlineLearnerStatus } from '../online/index.js';
import { taskOf, train } from '../train/index.js';
import { loadDataset } from '../train/datasets.js';
import { startBroker } from '../transport/index.js';
import { type Args, type CommandSpec, MQTT_AUTH_FLAGS, configFlag, mqttAuth, num, optStr, str } from './args.js';
import { ProgressBar } from './progress.js';

export const BROKER_USAGE = `o2o broker [--port 1883] [--host 127.0.0.1]   embedded MQTT broker (aedes) until Ctrl-C`;

export const LEARN_USAGE = `o2o learn --mqtt <url> --task <env id> --dataset <dir|file.hdf5|recipe> --store <online dataset dir>
  [--pretrain-steps 20000] [--budget-transitions N] [--budget-episodes N] [--budget-seconds N] [--utd 1]
  [--mix 0.5] [--publish-every 1000] [--sign <private key>] [--fleet default] [--username U --password P]
  [--checkpoints <dir>] [--config '{"cqlAlpha": 5}'] [--seed 0] [--progress-seconds 10]
  credentials: --username/--password, a user:password in the URL, or O2O_MQTT_USERNAME/O2O_MQTT_PASSWORD.
  Ctrl-C (SIGINT) or SIGTERM stops it: pretraining at the next update (a checkpoint is kept), then the learner.`;

export const BROKER_SPEC: CommandSpec = { name: 'o2o broker', flags: { port: 'int', host: 'string' } };

export const LEARN_SPEC: CommandSpec = {
  name: 'o2o learn',
  flags: {
    mqtt: 'string',
    task: 'string',
    dataset: 'string',
    store: 'string',
    'pretrain-steps': 'int',
    'budget-transitions': 'int',
    'budget-episodes': 'int',
    'budget-seconds': 'number',
    utd: 'number',
    mix: 'number',
    'publish-every': 'int',
    'progress-seconds': 'number',
    sign: 'string',
    fleet: 'string',
    checkpoints: 'string',
    config: 'string',
    seed: 'int',
    ...MQTT_AUTH_FLAGS,
  },
};

/**
 * Resolves when SIGINT or SIGTERM arrives (and aborts `controller`); `dispose` removes the
 * handlers. While it is installed the signals do not kill the process: the command stops itself.
 */
export function onStopSignal(controller = new AbortController()): { stopped: Promise<NodeJS.Signals>; signal: AbortSignal; dispose: () => void } {
  let resolve!: (s: NodeJS.Signals) => void;
  const stopped = new Promise<NodeJS.Signals>((r) => (resolve = r));
  const handler = (s: NodeJS.Signals) => {
    controller.abort();
    resolve(s);
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return {
    stopped,
    signal: controller.signal,
    dispose: () => {
      process.removeListener('SIGINT', handler);
      process.removeListener('SIGTERM', handler);
    },
  };
}

export async function brokerCommand(a: Args): Promise<void> {
  const stop = onStopSignal();
  try {
    const b = await startBroker({ port: num(a, 'port', 1883), host: optStr(a, 'host') });
    console.log(`o2o broker: MQTT on ${b.url} (Ctrl-C stops it)`);
    const s = await stop.stopped;
    console.log(`o2o broker: ${s}, stopping`);
    await b.close();
  } finally {
    stop.dispose();
  }
}

export async function learnCommand(a: Args): Promise<void> {
  // Required flags first: a missing one fails before anything is loaded or trained.
  const task = str(a, 'task');
  const store = str(a, 'store');
  const mqttUrl = str(a, 'mqtt');
  const datasetArg = str(a, 'dataset');
  const stop = onStopSignal();
  try {
    await learn(a, task, store, mqttUrl, datasetArg, stop);
  } finally {
    stop.dispose();
  }
}

async function learn(a: Args, task: string, store: string, mqttUrl: string, datasetArg: string, stop: ReturnType<typeof onStopSignal>): Promise<void> {
  const seed = num(a, 'seed', 0);
  const config = configFlag(a, 'calql'); // checked against Cal-QL's settings before any work
  const env = await makeEnv(task);
  const spec = env.spec;
  env.close();
  const { dataset, id } = await loadDataset(datasetArg, seed);
  const steps = num(a, 'pretrain-steps', 20_000);
  const checkpoints = optStr(a, 'checkpoints') ?? join(store, 'checkpoints');
  const bar = new ProgressBar('offline Cal-QL', steps);
  // the offline updates' rate here predicts the online phase's training time (the same update graph)
  let firstProgress: { step: number; at: number } | null = null;
  let lastProgress: { step: number; at: number } | null = null;
  const pre = await train({
    algo: 'calql',
    dataset,
    datasetId: id,
    task: taskOf(spec),
    steps,
    seed,
    config,
    checkpointDir: join(checkpoints, 'offline'),
    checkpointEvery: Math.max(1, Math.floor(steps / 10)),
    resume: true,
    onProgress: (p) => {
      bar.update(p.step);
      lastProgress = { step: p.step, at: performance.now() };
      firstProgress ??= lastProgress;
    },
    signal: stop.signal,
  });
  if (pre.aborted) {
    console.error(`\no2o learn: stopped during pretraining at step ${pre.steps} (checkpoint in ${join(checkpoints, 'offline')}; run again to resume)`);
    pre.learner.dispose();
    return;
  }
  bar.done();
  const budget = {
    ...(a.flags.has('budget-transitions') ? { transitions: num(a, 'budget-transitions') } : {}),
    ...(a.flags.has('budget-episodes') ? { episodes: num(a, 'budget-episodes') } : {}),
    ...(a.flags.has('budget-seconds') ? { wallSeconds: num(a, 'budget-seconds') } : {}),
  };
  const key = optStr(a, 'sign');
  const signingKey = key ? readFileSync(key, 'utf8') : undefined;
  const mqtt = mqttAuth(a, mqttUrl);
  const learner = await OnlineLearner.start({
    ...mqtt,
    fleet: optStr(a, 'fleet'),
    learner: pre.learner,
    offline: pre.prepared,
    obsStats: pre.obsStats,
    rewardTransform: pre.rewardTransform,
    storeDir: store,
    envId: task,
    mixRatio: num(a, 'mix', 0.5),
    utd: num(a, 'utd', 1),
    budget,
    publishEvery: num(a, 'publish-every', 1000),
    card: { name: `${task}-calql`, task, algorithm: 'calql', datasetId: id, seed },
    signingKey,
    checkpointDir: join(checkpoints, 'online'),
    seed,
    log: (l) => console.log(l),
  });
  console.log(`o2o learn: fine-tuning on o2o/${optStr(a, 'fleet') ?? 'default'}/robots/+/transitions, budget ${JSON.stringify(budget)}`);
  const expected = expectedTrainingTime(firstProgress, lastProgress, budget.transitions, num(a, 'utd', 1));
  if (expected) console.log(`o2o learn: ${expected}`);
  const every = num(a, 'progress-seconds', 10);
  const ticker = every > 0 ? setInterval(() => console.log(onlineProgress(learner.status(), budget, num(a, 'utd', 1))), every * 1000) : null;
  ticker?.unref();
  const how = await Promise.race([learner.done.then(() => null), stop.stopped]);
  if (ticker) clearInterval(ticker);
  if (how) console.log(`o2o learn: ${how}, stopping`);
  const st = learner.status();
  await learner.close();
  console.log(JSON.stringify(st, null, 2));
  if (st.errorCode === 'ETRAIN') {
    console.error(`o2o learn: training failed: ${st.error}`);
    process.exitCode = 1;
  } else if (st.error) {
    // a storage failure: nothing more was acknowledged, the robots keep their spools
    console.error(
      `o2o learn: stopped on a storage failure: ${st.error}\nfree space or fix the disk under ${str(a, 'store')}, then run the same command again: it resumes and the robots resend what is not stored`,
    );
    process.exitCode = EXIT_STORAGE_FAILED;
  }
}

/**
 * What the online budget costs in training alone, from the offline updates' rate measured in this
 * process (null when too few ran here, e.g. a resumed pretraining).
 */
function expectedTrainingTime(first: { step: number; at: number } | null, last: { step: number; at: number } | null, transitions: number | undefined, utd: number): string | null {
  if (!first || !last || last.step - first.step < 20 || last.at <= first.at) return null;
  const rate = ((last.step - first.step) * 1000) / (last.at - first.at);
  if (transitions === undefined) return `training runs ~${rate.toFixed(1)} updates/s here (the offline rate)`;
  const updates = Math.ceil(transitions * utd);
  const s = updates / rate;
  const human = s < 120 ? `${Math.round(s)} s` : s < 7200 ? `${(s / 60).toFixed(0)} min` : `${(s / 3600).toFixed(1)} h`;
  return `expected training time for ${transitions} transitions at UTD ${utd}: ${updates} updates at ~${rate.toFixed(1)}/s (the offline rate here) ≈ ${human}, or the robots' collection time if that is longer`;
}

let last: { at: number; updates: number } | null = null;

/** One progress line of the online phase: stored transitions, updates/s, what is due, published policies. */
function onlineProgress(st: OnlineLearnerStatus, budget: { transitions?: number }, utd: number): string {
  const now = Date.now();
  const rate = last && now > last.at ? ((st.updates - last.updates) * 1000) / (now - last.at) : 0;
  last = { at: now, updates: st.updates };
  const stored = budget.transitions ? `${st.onlineTransitions}/${budget.transitions}` : `${st.onlineTransitions}`;
  const due = Math.max(0, Math.floor(st.onlineTransitions * utd) - st.updates); // updates owed to the stored transitions
  const eta = rate > 0 && due > 0 ? `, ~${Math.ceil(due / rate)} s to catch up` : '';
  return `o2o learn: ${stored} transitions stored (${st.episodes} episodes), ${st.updates} updates (${rate.toFixed(1)}/s${eta}), ${st.published.length} policies published${st.published.length ? ` (last ${st.published.at(-1)})` : ''}`;
}

/** Exit status of `o2o learn` after a storage failure (EX_TEMPFAIL: try again once the disk is fixed). */
const EXIT_STORAGE_FAILED = 75;
