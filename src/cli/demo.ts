/**
 * `npm run demo`: the whole loop on embedded defaults, on one machine — the library's
 * runOfflineToOnline (src/online/offline-to-online.ts) with progress bars: dataset → offline Cal-QL →
 * signed policy → embedded broker + a fleet of simulated robots ('mild' randomization) → online
 * fine-tuning with hot-swapped updates → before/after evaluation and report.
 * With --transport ros each robot is a ROS 2 policy node plus a `robot sim --ros` robot talking over
 * DDS (ros/demo-fleet.ts); the nodes stream transitions to the learner and take its updates over
 * MQTT, the fleet link. Needs ROS 2 sourced and rclnodejs in ros/node_modules (test/setup/ros2.sh).
 */
import { runOfflineToOnline } from '../online/index.js';
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

export async function demoCommand(a: Args): Promise<void> {
  const quick = bool(a, 'quick');
  const task = str(a, 'task', 'hopper');
  const out = str(a, 'out', 'demo-out');
  const robots = num(a, 'robots', 3);
  const algo = str(a, 'algo', 'calql');
  const transport = str(a, 'transport', 'mqtt');
  const base = quick ? { pretrain: 1500, online: 1200, evalEpisodes: 5 } : { pretrain: 12_000, online: 16_000, evalEpisodes: 10 };
  const pretrain = num(a, 'pretrain', base.pretrain);
  const online = num(a, 'online', base.online);
  console.log(`o2o demo: task ${task}, ${quick ? 'quick' : 'full'} budget, output in ${out}/`);
  const pretrainBar = new ProgressBar(`offline ${algo}`, pretrain);
  const onlineBar = new ProgressBar('online fine-tuning', online);
  const fleet = transport === 'ros' ? (await import('../../ros/demo-fleet.js')).startRosFleet : undefined;
  const r = await runOfflineToOnline({
    task,
    algo,
    out,
    seed: num(a, 'seed', 0),
    pretrain,
    online,
    evalEpisodes: num(a, 'eval-episodes', base.evalEpisodes),
    publishEvery: num(a, 'publish-every', Math.max(200, Math.floor(online / 4))),
    robots,
    explore: !bool(a, 'no-explore'),
    config: configFlag(a, algo),
    fleet,
    fleetName: transport === 'ros' ? 'ROS 2 policy nodes + robots (DDS)' : 'simulated robots behind one MQTT policy server',
    summaryExtra: { quick, transport },
    onPhase: (line, seconds) => {
      if (line.startsWith('offline ')) pretrainBar.done();
      if (line.startsWith('online: ')) onlineBar.done();
      console.log(`✓ ${line} (${seconds.toFixed(1)} s)`);
    },
    onPretrainProgress: (step) => pretrainBar.update(step),
    onOnlineProgress: (n, version) => onlineBar.update(n, `policy ${version}`),
  });
  const f = (x: number) => x.toFixed(1);
  console.log(
    `\n| policy | normalized (nominal) | normalized (mild) |\n| --- | --- | --- |\n| offline ${algo} | ${f(r.before.nominal.normalized)} | ${f(r.before.mild.normalized)} |\n| after online fine-tuning | ${f(r.after.nominal.normalized)} | ${f(r.after.mild.normalized)} |`,
  );
  console.log(`\nsummary: ${r.files.summary}`);
}
