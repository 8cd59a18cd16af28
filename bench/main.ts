/** `npm run bench -- <name> [...]`: runs the named benchmarks (all but the hours-long 'results', 'chaos', 'threads', 'profile' and the ROS 2 'ros' and 'transports' when none is named). */
const suites: Record<string, () => Promise<{ run: () => Promise<void> }>> = {
  engine: () => import('./engine.js'),
  // one pre-LN transformer block (Decision Transformer sizes): forward, training step, embedding gradient
  transformer: () => import('./transformer.js'),
  sim: () => import('./sim.js'),
  data: () => import('./data.js'),
  algos: () => import('./algos.js'),
  serve: () => import('./serve.js'),
  fleet: () => import('./fleet.js'),
  chaos: () => import('./chaos.js'),
  results: () => import('./results.js'),
  // ~8 minutes: threads × spinning × updatesPerRun for every algorithm, quiet and under load
  threads: () => import('./threads.js'),
  // ORT's per-kernel profile of one update per algorithm: where the time goes
  profile: () => import('./profile.js'),
  // needs ROS 2 and rclnodejs: bash test/setup/ros2.sh npm run bench -- ros
  ros: () => import('./ros.js'),
  // needs ROS 2 too; ~3 min per run: the demo behind MQTT and behind ROS 2 nodes, same seeds and budget
  transports: () => import('./transports.js'),
};

const names = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const chosen = names.length
  ? names
  : Object.keys(suites).filter((n) => n !== 'results' && n !== 'chaos' && n !== 'ros' && n !== 'transports' && n !== 'threads' && n !== 'profile');
for (const n of chosen) {
  const load = suites[n];
  if (!load) {
    console.error(`unknown benchmark '${n}'; choose from: ${Object.keys(suites).join(', ')}`);
    process.exit(2);
  }
  console.log(`\n## ${n}\n`);
  await (await load()).run();
}
