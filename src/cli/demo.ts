/**
 * `npm run demo`: the whole loop on embedded defaults, on one machine.
 *   1. dataset   <task>-medium-replay, built from the task's behaviour policy
 *   2. offline   Cal-QL pretraining on it
 *   3. deploy    export + sign the policy; embedded MQTT broker; a policy server
 *   4. online    simulated robots ('mild' randomization) act through the server and stream their
 *                transitions; the online learner fine-tunes Cal-QL within a budget and publishes
 *                signed updates that the server hot-swaps
 *   5. evaluate  before/after, nominal and mild, and a report
 * With --transport ros each robot is a ROS 2 policy node plus a `robot sim --ros` robot talking over
 * DDS (ros/demo-fleet.ts); the nodes stream transitions to the learner and take its updates over
 * MQTT, the fleet link. Needs ROS 2 sourced and rclnodejs in ros/node_modules (test/setup/ros2.sh).
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeEnv } from '../../simulators/index.js';
import { pickSettings } from '../algos/index.js';
import { evaluatePolicy, writeReport } from '../eval/index.js';
import { OnlineLearner } from '../online/index.js';
import { exportPolicy, generateSigningKey, runSimRobot, serveMqtt } from '../serve/index.js';
import { type EvalResult, evaluateLearner, taskOf, train } from '../train/index.js';
import { generateRecipe } from '../train/datasets.js';
import { startBroker } from '../transport/index.js';
import { type Args, type CommandSpec, bool, configFlag, num, str } from './args.js';
import { ProgressBar } from './progress.js';

export const DEMO_USAGE = `o2o demo [--quick] [--task hopper] [--out demo-out] [--robots 3] [--seed 0] [--algo calql|cql|iql]
    [--pretrain 12000] [--online 16000] [--publish-every N] [--eval-episodes 10] [--no-explore] [--transport mqtt|ros]
    [--config '{"cqlAlphaOnline": 1}']   (algorithm settings over the demo's)
  the end-to-end loop: dataset → offline Cal-QL → signed policy → broker + server + simulated
  robots → online Cal-QL fine-tuning → before/after evaluation and report
  (robots collect with actions sampled from the served policy; --no-explore serves its mode)
  --transport ros: each robot is a ROS 2 policy node + a simulated robot on ROS topics (DDS); the nodes'
  fleet link (MQTT) carries transitions and policy updates (needs ROS 2: bash test/setup/ros2.sh npm run demo -- ...)`;

export const DEMO_SPEC: CommandSpec = {
  name: 'o2o demo',
  flags: {
    quick: 'bool',
    task: 'string',
    out: 'string',
    robots: 'int',
    seed: 'int',
    algo: 'string',
    pretrain: 'int',
    online: 'int',
    'publish-every': 'int',
    'eval-episodes': 'int',
    'no-explore': 'bool',
    config: 'string',
    transport: ['mqtt', 'ros'],
  },
};

interface Phase {
  name: string;
  seconds: number;
}

export async function demoCommand(a: Args): Promise<void> {
  const quick = bool(a, 'quick');
  const task = str(a, 'task', 'hopper');
  const out = str(a, 'out', 'demo-out');
  const robots = num(a, 'robots', 3);
  const seed = num(a, 'seed', 0);
  const algo = str(a, 'algo', 'calql');
  const explore = !bool(a, 'no-explore');
  const transport = str(a, 'transport', 'mqtt');
  const extraConfig = configFlag(a);
  const base = quick ? { pretrain: 1500, online: 1200, evalEpisodes: 5 } : { pretrain: 12_000, online: 16_000, evalEpisodes: 10 };
  const sizes = { pretrain: num(a, 'pretrain', base.pretrain), online: num(a, 'online', base.online), evalEpisodes: num(a, 'eval-episodes', base.evalEpisodes) };
  const publishEvery = num(a, 'publish-every', Math.max(200, Math.floor(sizes.online / 4)));
  mkdirSync(out, { recursive: true });
  const phases: Phase[] = [];
  let t0 = Date.now();
  const phase = (name: string) => {
    phases.push({ name, seconds: (Date.now() - t0) / 1000 });
    console.log(`✓ ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    t0 = Date.now();
  };

  // 1. Dataset.
  console.log(`o2o demo: task ${task}, ${quick ? 'quick' : 'full'} budget, output in ${out}/`);
  const recipe = `${task}-medium-replay`;
  const dataset = await generateRecipe(recipe, seed);
  phase(`dataset ${recipe}: ${dataset.size} transitions`);

  // 2. Offline Cal-QL.
  const env = await makeEnv(task);
  const mild = await makeEnv(task, { randomization: 'mild' });
  const spec = env.spec;
  const bar = new ProgressBar(`offline ${algo}`, sizes.pretrain);
  const pre = await train({
    algo,
    dataset,
    datasetId: recipe,
    task: taskOf(spec),
    steps: sizes.pretrain,
    seed,
    // Small networks and 4 sampled actions (CORL: 3x256, 10) keep the demo within minutes on 2 cores.
    // CQL/Cal-QL fine-tune with α_cql = 1 online (CORL's cql_alpha_online; its default keeps the
    // offline value): it fine-tuned better on hopper-medium-replay (BENCHMARKS.md, "Offline-to-online
    // fine-tuning"). Every other setting is the algorithm's CORL default.
    config: {
      ...pickSettings(algo, { hidden: [64, 64], actorHidden: [64, 64], criticHidden: [64, 64], nActions: 4, cqlAlphaOnline: 1, maxSteps: sizes.pretrain + sizes.online }),
      ...extraConfig,
    },
    rewardNormalization: 'episode-return-range',
    logPath: join(out, 'offline-metrics.jsonl'),
    session: { threads: 1 },
    onProgress: (p) => bar.update(p.step),
  });
  bar.done();
  const evalBoth = async (): Promise<{ nominal: EvalResult; mild: EvalResult }> => ({
    nominal: await evaluateLearner(env, pre, sizes.evalEpisodes, 10_000 + seed),
    mild: await evaluateLearner(mild, pre, sizes.evalEpisodes, 20_000 + seed),
  });
  const before = await evalBoth();
  phase(`offline ${algo}, ${sizes.pretrain} steps: normalized score ${before.nominal.normalized.toFixed(1)} nominal, ${before.mild.normalized.toFixed(1)} mild`);

  // 3. Deploy: sign, broker, server.
  const key = generateSigningKey();
  writeFileSync(join(out, 'signing-key.pub.pem'), key.publicKeyPem);
  const card = { name: `${task}-${algo}`, task, algorithm: algo, datasetId: recipe, seed };
  const offlinePolicy = join(out, 'policy-offline.onnx');
  exportPolicy({
    policy: pre.learner.policy(),
    card: { ...card, version: 'offline', trainingSteps: sizes.pretrain },
    obsMean: pre.obsStats?.mean,
    obsStd: pre.obsStats?.std,
    signingKey: key.privateKeyPem,
    out: offlinePolicy,
  });
  const broker = await startBroker({ port: 0 });
  const quiet = () => {};
  const robotLog = (i: number) => (l: string) => appendFileSync(join(out, `robot-${i}.log`), `${new Date().toISOString()} ${l}\n`);
  // The robots collect with actions sampled from the policy (as Cal-QL, CQL and IQL do when they
  // fine-tune), each robot with its own noise; evaluation uses the policy's mode.
  let server: { readonly version: string; close(): Promise<void> };
  let rosFleet: Awaited<ReturnType<typeof import('../../ros/demo-fleet.js').startRosFleet>> | null = null;
  if (transport === 'ros') {
    const { startRosFleet } = await import('../../ros/demo-fleet.js');
    rosFleet = await startRosFleet({
      url: broker.url,
      policy: offlinePolicy,
      trustedKeyFile: join(out, 'signing-key.pub.pem'),
      robots,
      task,
      profile: 'mild',
      seed,
      explore,
      dir: out,
      logFor: robotLog,
    });
    server = rosFleet;
    phase(`signed policy ${offlinePolicy}; embedded broker ${broker.url}; ${robots} ROS 2 policy nodes + robots (DDS) serving ${server.version}`);
  } else {
    server = await serveMqtt({
      url: broker.url,
      policy: offlinePolicy,
      trust: { publicKeys: [key.publicKeyPem] },
      watchFile: false,
      log: quiet,
      exploration: explore ? { seed } : null,
    });
    phase(`signed policy ${offlinePolicy}; embedded broker ${broker.url}; policy server ${server.version}`);
  }

  // 4. Online fine-tuning.
  const curvePath = join(out, 'online-curve.jsonl');
  writeFileSync(
    curvePath,
    `${JSON.stringify({ step: sizes.pretrain, online_steps: 0, version: 'offline', eval_return: before.mild.mean, eval_normalized: before.mild.normalized })}\n`,
  );
  const curve: { onlineSteps: number; version: string; normalized: number; ret: number }[] = [
    { onlineSteps: 0, version: 'offline', normalized: before.mild.normalized, ret: before.mild.mean },
  ];
  const learner = await OnlineLearner.start({
    url: broker.url,
    learner: pre.learner,
    offline: pre.prepared,
    obsStats: pre.obsStats,
    rewardTransform: pre.rewardTransform,
    storeDir: join(out, 'online-dataset'),
    envId: task,
    utd: 1,
    warmup: 256,
    budget: { transitions: sizes.online },
    publishEvery,
    card,
    signingKey: key.privateKeyPem,
    checkpointDir: join(out, 'checkpoints'),
    seed,
    log: (l) => appendFileSync(join(out, 'learner.log'), `${new Date().toISOString()} ${l}\n`),
    onPublish: async (version, _updates, onlineSteps) => {
      const r = await evaluateLearner(mild, pre, sizes.evalEpisodes, 20_000 + seed);
      curve.push({ onlineSteps, version, normalized: r.normalized, ret: r.mean });
      appendFileSync(curvePath, `${JSON.stringify({ step: pre.learner.steps, online_steps: onlineSteps, version, eval_return: r.mean, eval_normalized: r.normalized })}\n`);
    },
  });
  const onlineBar = new ProgressBar('online fine-tuning', sizes.online);
  const ticker = setInterval(() => onlineBar.update(learner.status().onlineTransitions, `policy ${server.version}`), 500);
  const fleet = rosFleet
    ? [rosFleet.run(() => learner.status().done)]
    : Array.from({ length: robots }, (_, i) =>
        (async () => {
          let ep = 0;
          while (!learner.status().done) {
            await runSimRobot({
              url: broker.url,
              task,
              profile: 'mild',
              robot: `sim-${i}`,
              episodes: 1,
              seed: 1000 * (i + 1) + ep++,
              spoolDir: join(out, 'spool', `sim-${i}`),
              log: robotLog(i),
            });
          }
        })(),
      );
  await learner.done;
  await Promise.all(fleet);
  clearInterval(ticker);
  onlineBar.done();
  const st = learner.status();
  // the learner's last update reaches the ROS nodes over MQTT (the MQTT server swaps it as it arrives too)
  if (rosFleet && st.published.length) await rosFleet.waitForVersion(st.published.at(-1)!, 5000);
  await learner.close();
  const served = server.version;
  await server.close();
  await broker.close();
  phase(
    `online: ${st.onlineTransitions} transitions from ${robots} ${transport === 'ros' ? 'ROS 2 robots' : 'robots'}, ${st.updates} updates, ${st.published.length} policies published, ${transport === 'ros' ? 'nodes' : 'server'} now on ${served}`,
  );

  // 5. Evaluate and report.
  const after = await evalBoth();
  phase(`fine-tuned: normalized score ${after.nominal.normalized.toFixed(1)} nominal, ${after.mild.normalized.toFixed(1)} mild`);
  const finalPolicy = join(out, 'policy-final.onnx');
  exportPolicy({
    policy: pre.learner.policy(),
    card: { ...card, version: st.published.at(-1) ?? 'final', trainingSteps: pre.learner.steps },
    obsMean: pre.obsStats?.mean,
    obsStd: pre.obsStats?.std,
    signingKey: key.privateKeyPem,
    out: finalPolicy,
  });
  const report = await writeReport(
    await evaluatePolicy({ policy: finalPolicy, task, profiles: ['nominal', 'mild', 'harsh'], episodes: sizes.evalEpisodes * 2, seed: 30_000 + seed, curve: curvePath }),
    join(out, 'report'),
  );
  phase(`sim-to-real report: ${report.html}`);
  const summary = { task, algo, quick, transport, dataset: { recipe, transitions: dataset.size }, before, after, curve, online: st, servedVersion: served, phases };
  writeFileSync(join(out, 'summary.json'), `${JSON.stringify(summary, (_k, v) => (v instanceof Float32Array || v instanceof Float64Array ? Array.from(v) : v), 2)}\n`);
  console.log(
    `\n| policy | normalized (nominal) | normalized (mild) |\n| --- | --- | --- |\n| offline ${algo} | ${before.nominal.normalized.toFixed(1)} | ${before.mild.normalized.toFixed(1)} |\n| after online fine-tuning | ${after.nominal.normalized.toFixed(1)} | ${after.mild.normalized.toFixed(1)} |`,
  );
  console.log(`\nsummary: ${join(out, 'summary.json')}`);
  pre.learner.dispose();
  env.close();
  mild.close();
}
