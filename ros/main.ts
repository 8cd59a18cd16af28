/**
 * Entry point of the ROS 2 policy node (launch/policy.launch.py runs it as `node --import tsx ros/main.ts ...`):
 *
 *   npx tsx ros/main.ts [--managed] --ros-args --params-file ros/config/policy.yaml [-r __node:=name]
 *
 * rclnodejs is imported here and only here, lazily: nothing else in o2o needs ROS installed.
 * Install it next to the node on a ROS machine (source ROS first): cd ros && npm install
 */
import { parse } from 'yaml';
import { ManagedPolicyNode } from './managed.js';
import { loadParamsFile, type PolicyNodeParams } from './params.js';
import { PolicyNode } from './policy-node.js';
import type { RosModule } from './rcl-api.js';
import { type RosSimRobotOptions, type RosSimRobotResult, runRosSimRobot } from './sim-robot-ros.js';

function argAfter(argv: string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** Loads rclnodejs (proof that it satisfies RosModule: ros/proof/rclnodejs.ts). */
export async function loadRclnodejs(): Promise<RosModule> {
  const specifier = 'rclnodejs';
  try {
    const m = (await import(specifier)) as { default?: unknown };
    return (m.default ?? m) as RosModule;
  } catch (e) {
    throw new Error(
      `cannot load rclnodejs (${(e as Error).message.split('\n')[0]}); on a ROS 2 machine run 'source /opt/ros/jazzy/setup.bash && cd ros && npm install' — rclnodejs needs a sourced ROS 2 to install`,
    );
  }
}

/**
 * The policy node's parameters as `--ros-args --params-file <yaml> -p name:=value ...` give them
 * (the section '/**', then `nodeName`'s; -p values are YAML scalars or lists, as ros2 reads them).
 */
export function paramsFromRosArgs(argv: string[], nodeName: string): Partial<PolicyNodeParams> {
  const file = argAfter(argv, '--params-file');
  const out: Record<string, unknown> = file ? loadParamsFile(file, nodeName) : {};
  for (let i = argv.indexOf('--ros-args') + 1; i > 0 && i < argv.length; i++) {
    if (argv[i] !== '-p' || argv[i + 1] === undefined) continue;
    const kv = argv[++i]!;
    const at = kv.indexOf(':=');
    if (at < 1) throw new Error(`--ros-args -p ${kv}: expected name:=value`);
    out[kv.slice(0, at)] = parse(kv.slice(at + 2)) as unknown;
  }
  return out as Partial<PolicyNodeParams>;
}

/**
 * `o2o robot sim --ros [--ros-args --params-file ros/config/policy.yaml -p reward_topic:=/o2o/reward ...]`:
 * a simulated robot on ROS topics, configured by the policy node's own parameters (ros/sim-robot-ros.ts).
 */
export async function robotMain(
  argv: string[],
  o: Omit<RosSimRobotOptions, 'ros' | 'params'> & { episodes: number; seed: number; policyNode?: string },
): Promise<RosSimRobotResult> {
  const params = paramsFromRosArgs(argv, o.policyNode ?? 'o2o_policy');
  const rcl = await loadRclnodejs();
  await rcl.init(); // the --ros-args are the policy node's parameters, read above; the robot's node takes none
  try {
    return await runRosSimRobot({ ...o, ros: rcl, params });
  } finally {
    rcl.shutdown();
  }
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const rcl = await loadRclnodejs();
  await rcl.init(undefined, argv);
  const remap = argv.find((a) => a.startsWith('__node:='));
  const opts = { nodeName: remap ? remap.slice('__node:='.length) : 'o2o_policy', paramsFile: argAfter(argv, '--params-file') };
  // --managed (before --ros-args): a lifecycle node, unconfigured until its lifecycle says otherwise (ros/managed.ts);
  // --unmanaged (what the launch file passes otherwise) or nothing: the plain node.
  const ros = argv.indexOf('--ros-args');
  const managed = argv.slice(0, ros < 0 ? argv.length : ros).includes('--managed');
  const node = managed ? new ManagedPolicyNode(rcl, opts) : await PolicyNode.start(rcl, opts);
  if (managed) console.log(`o2o_policy: managed node ${opts.nodeName} waiting in 'unconfigured' (configure, then activate, through /${opts.nodeName}/change_state)`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await node.close();
    rcl.shutdown();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  rcl.spin(node.node);
}

if (process.argv[1]?.endsWith('ros/main.ts')) {
  main().catch((e: Error) => {
    console.error(`o2o_policy: ${e.message}`);
    process.exit(1);
  });
}
