/**
 * The policy node on real ROS 2, over DDS between processes, as on a robot: the node runs as the
 * README starts it (`tsx ros/main.ts --ros-args --params-file ... -p ...`) in a child process; the
 * test robot is this process (rclnodejs), and the `ros2` CLI, where the ROS 2 install has it, is a
 * third. `npm test` prepares ROS 2 first (test/setup/ros2.sh: sourced, /opt/ros, or built from
 * ../shared/ros2 into a cache) and sets O2O_REQUIRE_ROS=1, which turns a skip into a failure.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PENDULUM_POLICY } from '../../policies/make-pendulum-bc.js';
import { importDataset, openStore } from '../../src/data/index.js';
import { generateSigningKey, PolicyRuntime, readArtifactFile } from '../../src/serve/index.js';
import { loadRclnodejs } from '../../ros/main.js';
import type { DiagnosticArrayMsg, Float32MultiArrayMsg, InMessage, JointStateMsg, RosModule, RosNode, RosPublisher, RosQoS, TwistMsg } from '../../ros/rcl-api.js';
import { runRosSimRobot } from '../../ros/sim-robot-ros.js';
import { exportRandom, randomActor, referenceAction, tempDir } from '../serve/fixtures.js';
import { foreignDescription, foreignDtBytes } from '../serve/sequence-fixtures.js';
import { NodeProcess, ROOT, sleep, until, whyNoRos } from './helpers.js';

const why = whyNoRos();
if (why && process.env.O2O_REQUIRE_ROS === '1') throw new Error(`O2O_REQUIRE_ROS=1 but ${why}`);
if (why) console.warn(`skipped test/ros/real-ros.test.ts: ${why}`);

const run = promisify(execFile);
const hasRos2Cli = () => {
  for (const d of (process.env.PATH ?? '').split(':')) if (d && existsSync(join(d, 'ros2')) && readFileSync(join(d, 'ros2'), 'utf8').includes('ros2cli')) return true;
  return false;
};
/**
 * Runs the ros2 CLI; its answer (stdout and stderr: `ros2 param set` reports a refusal on stderr).
 * `--no-daemon`: a ros2 daemon would outlive the test run (one per ROS_DOMAIN_ID).
 */
async function ros2(...args: string[]): Promise<string> {
  const noDaemon = ['param', 'node'].includes(args[0]!) ? ['--no-daemon'] : [];
  const { stdout, stderr } = await run('ros2', [...args, ...noDaemon], { timeout: 30_000, env: process.env });
  return (stdout + stderr).trim();
}

const F32 = 'std_msgs/msg/Float32MultiArray' as const;
const f32 = (v: number[]): Float32MultiArrayMsg => ({ layout: { dim: [], data_offset: 0 }, data: Float32Array.from(v) });
const kvOf = (d: DiagnosticArrayMsg) => Object.fromEntries(d.status[0]!.values.map((v) => [v.key, v.value]));

describe.skipIf(why !== null)('policy node over real DDS (node process ↔ robot process ↔ ros2 CLI)', () => {
  let rcl: RosModule;
  let robot: RosNode;
  const procs: NodeProcess[] = [];
  const id = `${process.pid}`;
  // rclnodejs QoS (history KEEP_LAST = 1; reliability RELIABLE 1 / BEST_EFFORT 2; durability VOLATILE 2).
  let bestEffort: RosQoS;
  let reliable: RosQoS;

  beforeAll(async () => {
    rcl = await loadRclnodejs();
    await rcl.init();
    robot = new rcl.Node(`o2o_test_robot_${id}`);
    bestEffort = new rcl.QoS(1, 1, 2, 2);
    reliable = new rcl.QoS(1, 10, 1, 2);
    rcl.spin(robot);
  });

  afterAll(async () => {
    for (const p of procs) await p.stop();
    // A ros2 CLI call without --no-daemon would have left a daemon for this ROS_DOMAIN_ID behind.
    if (hasRos2Cli()) await run('ros2', ['daemon', 'stop'], { timeout: 30_000, env: process.env }).catch(() => undefined);
    robot?.destroy();
    rcl?.shutdown();
  });

  function listen<T>(type: Parameters<RosNode['createSubscription']>[0], topic: string, qos: RosQoS): T[] {
    const got: T[] = [];
    robot.createSubscription(type, topic, { qos }, (m: InMessage) => got.push(m as T));
    return got;
  }

  it('Float32MultiArray (the shipped params file + -p overrides): a robot that starts after a gap longer than stale_after_ms gets the policy action; a gap → the safe action and a STALE diagnostic, then recovery; NaN → the safe action and a fault; ros2 param get/set', async () => {
    const ns = `/o2o_rt${id}`;
    const name = `o2o_policy_f32_${id}`;
    // The README's command, with the shipped ros/config/policy.yaml (stale_after_ms 200, best effort).
    const node = await NodeProcess.start(name, join(ROOT, 'ros/config/policy.yaml'), {
      observation_topic: `${ns}/observation`,
      action_topic: `${ns}/action`,
      diagnostics_topic: `${ns}/diagnostics`,
      diagnostics_period_s: '0.2',
      control_rate_hz: '50.0',
      safe_action: 'zero',
      watch_model: false,
    });
    procs.push(node);
    const actions = listen<Float32MultiArrayMsg>(F32, `${ns}/action`, bestEffort);
    const diags = listen<DiagnosticArrayMsg>('diagnostic_msgs/msg/DiagnosticArray', `${ns}/diagnostics`, reliable);
    const pub = robot.createPublisher(F32, `${ns}/observation`, { qos: bestEffort });
    const obs = [-0.416, 0.909, 0.5]; // the observation of issue 14
    const rt = PolicyRuntime.open(readArtifactFile(PENDULUM_POLICY));
    const want = rt.act(obs)[0]!;
    rt.dispose();
    expect(Math.abs(want)).toBeGreaterThan(0.5); // distinguishable from the safe action 0

    // 1. Startup: no observation for 1 s (> 200 ms): the watchdog trips (safe action 0 goes out).
    await until('the safe action during the startup gap', () => actions.some((a) => a.data[0] === 0), 10_000);
    await sleep(1000);
    // 2. The robot starts publishing (20 Hz): the policy's action, not the latched safe action.
    const last = () => actions.at(-1)?.data[0];
    const near = (v: number | undefined, w: number) => v !== undefined && Math.abs(v - w) < 1e-5;
    await until(
      'the policy action after the startup gap',
      () => near(last(), want),
      10_000,
      () => pub.publish(f32(obs)),
    );
    // 3. A 600 ms hiccup: safe action, STALE diagnostic (level 3) ...
    const n0 = actions.length;
    await sleep(600);
    expect(actions.slice(n0).some((a) => a.data[0] === 0)).toBe(true);
    await until('a STALE diagnostic', () => diags.at(-1)?.status[0]?.level === 3, 3000);
    const staleFaults = Number(kvOf(diags.at(-1)!).faults_stale);
    expect(staleFaults).toBeGreaterThan(0);
    // ... then recovery as soon as observations resume.
    await until(
      'the policy action after the hiccup',
      () => near(last(), want),
      5000,
      () => pub.publish(f32(obs)),
    );
    await until(
      'a non-STALE diagnostic',
      () => diags.at(-1)?.status[0]?.level !== 3,
      3000,
      () => pub.publish(f32(obs)),
    );
    // 4. NaN observation → safe action and a counted fault in the diagnostics.
    await until(
      'the safe action for NaN',
      () => last() === 0,
      5000,
      () => pub.publish(f32([NaN, 0.909, 0.5])),
    );
    await until(
      'faults_non_finite_obs in the diagnostics',
      () => Number(kvOf(diags.at(-1)!).faults_non_finite_obs) > 0,
      3000,
      () => pub.publish(f32([NaN, 0.909, 0.5])),
    );
    expect(kvOf(diags.at(-1)!)).toMatchObject({ policy_version: '1.0.0', control_rate_hz: '50' });
    await until(
      'the policy action again',
      () => near(last(), want),
      5000,
      () => pub.publish(f32(obs)),
    );

    // 5. Parameters from another process: the file's values, the -p overrides, and a set.
    if (hasRos2Cli()) {
      // (independent CLI calls run concurrently: each spends ~1.5 s in Python start-up and discovery)
      const [fromFile, fromOverride, setLive, setFixed] = await Promise.all([
        ros2('param', 'get', `/${name}`, 'stale_after_ms'),
        ros2('param', 'get', `/${name}`, 'safe_action'),
        ros2('param', 'set', `/${name}`, 'control_rate_hz', '25.0'),
        ros2('param', 'set', `/${name}`, 'max_delta', '0.5'),
      ]);
      expect(fromFile).toBe('Double value is: 200.0'); // params file
      expect(fromOverride).toBe('String value is: zero'); // -p override
      // A live parameter is applied (the diagnostics show the new rate) ...
      expect(setLive).toBe('Set parameter successful');
      await until('the new control rate in the diagnostics', () => kvOf(diags.at(-1)!).control_rate_hz === '25', 3000);
      // ... one read at start is refused with the reason, and keeps its value.
      expect(setFixed).toMatch(/^Setting parameter failed: 'max_delta' is read when the node starts/);
      expect(await Promise.all([ros2('param', 'get', `/${name}`, 'control_rate_hz'), ros2('param', 'get', `/${name}`, 'max_delta')])).toEqual([
        'Double value is: 25.0',
        'Double value is: 0.0',
      ]);
    }
    expect(await node.stop()).toBe(0);
  });

  it('JointState in (joints reordered by name) → JointState out (effort), reliable QoS: a best-effort publisher does not match; a signed policy on the update topic is swapped in, unsigned and forged ones are refused', async () => {
    const dir = tempDir('o2o-ros-real-');
    const key = generateSigningKey();
    const other = generateSigningKey();
    const model = join(dir, 'policy.onnx');
    const spec = { obsDim: 4, actDim: 2 };
    exportRandom({ version: 'v1', seed: 1, out: model, signingKey: key.privateKeyPem, spec });
    writeFileSync(join(dir, 'key.pub'), key.publicKeyPem);
    const ns = `/o2o_js${id}`;
    const params = join(dir, 'params.yaml');
    writeFileSync(
      params,
      `/**:\n  ros__parameters:\n    model_path: ${model}\n    trusted_keys: [${join(dir, 'key.pub')}]\n    observation_topic: ${ns}/joint_states\n    observation_type: sensor_msgs/msg/JointState\n    observation_fields: [position, velocity]\n    observation_joints: [b, a]\n    action_topic: ${ns}/command\n    action_type: sensor_msgs/msg/JointState\n    action_joints: [j1, j2]\n    action_field: effort\n    control_rate_hz: 50.0\n    qos_reliability: reliable\n    qos_depth: 5\n    stale_after_ms: 0.0\n    diagnostics_topic: ${ns}/diagnostics\n    diagnostics_period_s: 0.2\n    watch_model: false\n    policy_update_topic: ${ns}/policy_update\n`,
    );
    const name = `o2o_policy_js_${id}`;
    const node = await NodeProcess.start(name, params);
    procs.push(node);
    const out = listen<JointStateMsg>('sensor_msgs/msg/JointState', `${ns}/command`, reliable);
    const diags = listen<DiagnosticArrayMsg>('diagnostic_msgs/msg/DiagnosticArray', `${ns}/diagnostics`, reliable);
    const js = (): JointStateMsg => ({ header: { stamp: { sec: 0, nanosec: 0 }, frame_id: '' }, name: ['a', 'b'], position: [0.5, -0.25], velocity: [1.5, -2], effort: [] });
    const obs = [-0.25, 0.5, -2, 1.5]; // [pos(b), pos(a), vel(b), vel(a)]
    // QoS: the node subscribes reliable; a best-effort publisher is incompatible (no match, nothing arrives).
    const bePub = robot.createPublisher('sensor_msgs/msg/JointState', `${ns}/joint_states`, { qos: bestEffort });
    const end = Date.now() + 1500;
    while (Date.now() < end) {
      bePub.publish(js());
      await sleep(50);
    }
    expect(out).toHaveLength(0);
    if (hasRos2Cli()) {
      // What a robot engineer sees with the ROS tools: both endpoints and their reliability.
      const info = await ros2('topic', 'info', '-v', `${ns}/joint_states`, '--no-daemon');
      expect(info).toMatch(new RegExp(`Node name: o2o_test_robot_${id}[\\s\\S]*?Endpoint type: PUBLISHER[\\s\\S]*?Reliability: BEST_EFFORT`));
      expect(info).toMatch(new RegExp(`Node name: ${name}[\\s\\S]*?Endpoint type: SUBSCRIPTION[\\s\\S]*?Reliability: RELIABLE`));
    }
    const pub: RosPublisher = robot.createPublisher('sensor_msgs/msg/JointState', `${ns}/joint_states`, { qos: reliable });
    const ref1 = referenceAction(randomActor(spec, 1), obs);
    await until(
      'JointState effort from v1',
      () => out.length > 0,
      10_000,
      () => pub.publish(js()),
    );
    const a = out.at(-1)!;
    expect(a.name).toEqual(['j1', 'j2']);
    expect(Math.abs(a.effort[0]! - ref1[0]!)).toBeLessThan(1e-5);
    expect(Math.abs(a.effort[1]! - ref1[1]!)).toBeLessThan(1e-5);

    // Hot swap from the update topic: unsigned → refused, signed by an untrusted key → refused, signed → served.
    const upd = robot.createPublisher('std_msgs/msg/String', `${ns}/policy_update`, { qos: new rcl.QoS(1, 1, 1, 2) });
    const unsigned = join(dir, 'unsigned.onnx');
    exportRandom({ version: 'v2-unsigned', seed: 2, out: unsigned, spec });
    const forged = join(dir, 'forged.onnx');
    exportRandom({ version: 'v2-forged', seed: 2, out: forged, spec, signingKey: other.privateKeyPem });
    const v2 = join(dir, 'v2.onnx');
    exportRandom({ version: 'v2', seed: 2, out: v2, spec, signingKey: key.privateKeyPem });
    const refused = () => Number(diags.length ? kvOf(diags.at(-1)!).refused_swaps : 0);
    await until(
      'the unsigned policy refused',
      () => refused() >= 1,
      10_000,
      () => upd.publish({ data: unsigned } as never),
    );
    await until(
      'the forged policy refused',
      () => refused() >= 2,
      10_000,
      () => upd.publish({ data: forged } as never),
    );
    expect(diags.at(-1)!.status[0]!.message).toMatch(/refused update/);
    expect(kvOf(diags.at(-1)!).policy_version).toBe('v1');
    await until(
      'v2 served',
      () => kvOf(diags.at(-1)!).policy_version === 'v2',
      10_000,
      () => upd.publish({ data: v2 } as never),
    );
    const ref2 = referenceAction(randomActor(spec, 2), obs);
    await until(
      'JointState effort from v2',
      () => Math.abs(out.at(-1)!.effort[0]! - ref2[0]!) < 1e-5,
      5000,
      () => pub.publish(js()),
    );
    expect(node.out).toMatch(/refused new policy/);
    expect(await node.stop()).toBe(0);
  });

  it.runIf(hasRos2Cli())(
    "ros2 bag record -s mcap of the node's topics → o2o dataset import --format rosbag2 reads the observations and actions back exactly; the node's own recording (record_dir, reward topic) agrees",
    async () => {
      const dir = tempDir('o2o-ros-bag-');
      const ns = `/o2o_bag${id}`;
      const name = `o2o_policy_bag_${id}`;
      const recorded = join(dir, 'recorded');
      const node = await NodeProcess.start(name, join(ROOT, 'ros/config/policy.yaml'), {
        observation_topic: `${ns}/observation`,
        action_topic: `${ns}/action`,
        qos_reliability: 'reliable',
        qos_depth: 10,
        watch_model: false,
        record_dir: recorded,
        reward_topic: `${ns}/reward`,
      });
      procs.push(node);
      const bag = join(dir, 'bag');
      const rec = spawn('ros2', ['bag', 'record', '-s', 'mcap', '-o', bag, `${ns}/observation`, `${ns}/action`], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let recOut = '';
      rec.stdout.on('data', (d: Buffer) => (recOut += d.toString()));
      rec.stderr.on('data', (d: Buffer) => (recOut += d.toString()));
      let recExit: number | null = null;
      rec.on('exit', (c) => (recExit = c ?? -1));
      const pub = robot.createPublisher(F32, `${ns}/observation`, { qos: reliable });
      const rewardPub = robot.createPublisher('std_msgs/msg/Float32', `${ns}/reward`, { qos: reliable });
      const actions = listen<Float32MultiArrayMsg>(F32, `${ns}/action`, reliable);
      await until(`the recorder to subscribe to both topics (${recOut})`, () => (recOut.match(/Subscribed to topic/g) ?? []).length >= 2 || recExit !== null, 20_000);
      // 40 distinct observations at 20 Hz (the node's rate in policy.yaml).
      const sent: number[][] = [];
      for (let k = 0; k < 40; k++) {
        const th = -Math.PI + (2 * Math.PI * k) / 40;
        const o = Array.from(Float32Array.from([Math.cos(th), Math.sin(th), 0.05 * k]));
        sent.push(o);
        rewardPub.publish({ data: k } as never);
        pub.publish(f32(o));
        await sleep(50);
      }
      await sleep(300);
      rec.kill('SIGINT');
      await until('the recorder to stop', () => recExit !== null, 10_000);
      expect(actions.length).toBeGreaterThan(20);
      const mcap = readdirSync(bag).find((f) => f.endsWith('.mcap'));
      expect(mcap, `bag files: ${readdirSync(bag).join(', ')}; recorder: ${recOut}`).toBeDefined();
      const mapping = `rate_hz: 20\nobservation:\n  - { topic: ${ns}/observation, field: data }\naction:\n  - { topic: ${ns}/action, field: data }\n`;
      const out = join(dir, 'dataset');
      const summary = await importDataset({ format: 'rosbag2', input: join(bag, mcap!), dir: out, mapping });
      expect(summary).toBeDefined();
      const { dataset } = await openStore(out).read();
      expect(dataset.size).toBeGreaterThan(20);
      // Every imported observation is one the robot sent (float32, bit for bit), every action one the node sent.
      const sentKeys = new Set(sent.map((o) => o.join()));
      const actKeys = new Set(actions.map((a) => Array.from(a.data).join()));
      for (let i = 0; i < dataset.size; i++) {
        expect(sentKeys.has(Array.from(dataset.observations.subarray(3 * i, 3 * i + 3)).join())).toBe(true);
        expect(actKeys.has(String(dataset.actions[i]))).toBe(true);
      }
      // And the node's action for an observation is the policy's (the runtime here, same artifact).
      const rt = PolicyRuntime.open(readArtifactFile(PENDULUM_POLICY));
      const policyOf = new Map(sent.map((o) => [rt.act(o)[0]!, o]));
      const policyFor = new Map(sent.map((o) => [o.join(), rt.act(o)[0]!]));
      rt.dispose();
      expect(actions.filter((a) => a.data[0] !== 0 && policyOf.has(a.data[0]!)).length).toBeGreaterThan(20);
      expect(await node.stop()).toBe(0);
      // The node's own recording (record_dir, reward_topic) of the same run: (obs, the policy's action, reward).
      const own = (await openStore(recorded).read()).dataset;
      expect(own.size).toBeGreaterThan(20);
      for (let i = 0; i < own.size; i++) {
        const o = Array.from(own.observations.subarray(3 * i, 3 * i + 3));
        expect(sentKeys.has(o.join())).toBe(true);
        expect(own.actions[i]).toBe(policyFor.get(o.join()));
        expect(Number.isInteger(own.rewards[i]) && own.rewards[i]! >= 0 && own.rewards[i]! < 40).toBe(true);
      }
    },
  );

  it.runIf(hasRos2Cli())(
    'ros2 launch ros/launch/policy.launch.py starts the node as the README says; ros2 node list / param get see it; issue 14: ros2 topic pub after a gap → ros2 topic echo shows the policy action; SIGINT stops it cleanly',
    async () => {
      const dir = tempDir('o2o-ros-launch-');
      const ns = `/o2o_launch${id}`;
      const name = `o2o_policy_launch_${id}`;
      const params = join(dir, 'policy.yaml');
      // The shipped file with this test's topics.
      writeFileSync(
        params,
        readFileSync(join(ROOT, 'ros/config/policy.yaml'), 'utf8')
          .replace('/o2o/observation', `${ns}/observation`)
          .replace('/o2o/action', `${ns}/action`)
          .replace('watch_model: true', 'watch_model: false'),
      );
      const launch = spawn('ros2', ['launch', 'ros/launch/policy.launch.py', `params_file:=${params}`, `node_name:=${name}`], {
        cwd: ROOT,
        env: process.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let exit: number | null = null;
      launch.stdout.on('data', (d: Buffer) => (out += d.toString()));
      launch.stderr.on('data', (d: Buffer) => (out += d.toString()));
      launch.on('exit', (c) => (exit = c ?? -1));
      let robotCli: ChildProcess | null = null;
      try {
        await until('the launched node to serve', () => /o2o_policy: serving/.test(out) || exit !== null, 60_000);
        expect(exit, out).toBeNull();
        expect(await ros2('node', 'list')).toContain(`/${name}`);
        expect(await ros2('param', 'get', `/${name}`, 'observation_topic')).toBe(`String value is: ${ns}/observation`);
        // Issue 14's commands: the robot is `ros2 topic pub` (starting well after stale_after_ms), the
        // action is read with `ros2 topic echo`.
        await sleep(500);
        const obs = [-0.416, 0.909, 0.5];
        const rt = PolicyRuntime.open(readArtifactFile(PENDULUM_POLICY));
        const want = rt.act(obs)[0]!;
        rt.dispose();
        robotCli = spawn(
          'ros2',
          ['topic', 'pub', '-r', '20', '--qos-reliability', 'best_effort', `${ns}/observation`, 'std_msgs/msg/Float32MultiArray', `{data: [${obs.join(', ')}]}`],
          { env: process.env, stdio: 'ignore' },
        );
        let echoed = NaN;
        for (let i = 0; i < 5 && !(Math.abs(echoed - want) < 1e-4); i++) {
          const echo = await run('ros2', ['topic', 'echo', '--once', '--no-daemon', '--qos-reliability', 'best_effort', `${ns}/action`, 'std_msgs/msg/Float32MultiArray'], {
            timeout: 30_000,
            env: process.env,
          });
          echoed = Number(/data:\s*\n-\s*(\S+)/.exec(echo.stdout)?.[1]);
        }
        expect(Math.abs(echoed - want)).toBeLessThan(1e-4); // 1.9988…, not the safe action 0.0
      } finally {
        robotCli?.kill('SIGINT');
        launch.kill('SIGINT');
        await until(`ros2 launch to exit after SIGINT (${out})`, () => exit !== null, 20_000);
      }
      expect(out).not.toMatch(/process has died/);
      expect(exit).toBe(0);
    },
  );

  it.runIf(hasRos2Cli())(
    'managed (lifecycle) node, started by ros2 launch managed:=true, over the lifecycle services: unconfigured → configure → activate (actions) → deactivate (none) → cleanup',
    async () => {
      const dir = tempDir('o2o-ros-lc-');
      const ns = `/o2o_lc${id}`;
      const name = `o2o_policy_lc_${id}`;
      const params = join(dir, 'policy.yaml');
      writeFileSync(
        params,
        readFileSync(join(ROOT, 'ros/config/policy.yaml'), 'utf8')
          .replace('/o2o/observation', `${ns}/observation`)
          .replace('/o2o/action', `${ns}/action`)
          .replace('watch_model: true', 'watch_model: false')
          .replace('control_rate_hz: 20.0', 'control_rate_hz: 50.0'),
      );
      const launch = spawn('ros2', ['launch', 'ros/launch/policy.launch.py', `params_file:=${params}`, `node_name:=${name}`, 'managed:=true'], {
        cwd: ROOT,
        env: process.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let exit: number | null = null;
      launch.stdout.on('data', (d: Buffer) => (out += d.toString()));
      launch.stderr.on('data', (d: Buffer) => (out += d.toString()));
      launch.on('exit', (c) => (exit = c ?? -1));
      try {
        await until('the managed node to wait unconfigured', () => /waiting in 'unconfigured'/.test(out) || exit !== null, 60_000);
        expect(exit, out).toBeNull();
        const change = async (id: number) => ros2('service', 'call', `/${name}/change_state`, 'lifecycle_msgs/srv/ChangeState', `{transition: {id: ${id}}}`);
        const state = async () => (await ros2('service', 'call', `/${name}/get_state`, 'lifecycle_msgs/srv/GetState')).match(/label='(\w+)'/)?.[1];
        expect(await Promise.all([state(), ros2('param', 'get', `/${name}`, 'observation_topic')])).toEqual(['unconfigured', `String value is: ${ns}/observation`]);
        const actions = listen<Float32MultiArrayMsg>(F32, `${ns}/action`, bestEffort);
        const pub = robot.createPublisher(F32, `${ns}/observation`, { qos: bestEffort });
        const obs = [1, 0, 0];
        expect(await change(1)).toMatch(/success=True/); // configure
        expect(await state()).toBe('inactive');
        for (let i = 0; i < 20; i++) {
          pub.publish(f32(obs));
          await sleep(25);
        }
        expect(actions).toHaveLength(0); // configured but inactive: nothing published
        expect(await change(3)).toMatch(/success=True/); // activate
        await until(
          'actions once active',
          () => actions.length > 0,
          10_000,
          () => pub.publish(f32(obs)),
        );
        expect(await change(4)).toMatch(/success=True/); // deactivate
        await sleep(300);
        const n = actions.length;
        for (let i = 0; i < 20; i++) {
          pub.publish(f32(obs));
          await sleep(25);
        }
        expect(actions.length).toBe(n);
        expect(await change(2)).toMatch(/success=True/); // cleanup
        expect(await state()).toBe('unconfigured');
        expect(out).toMatch(/cleanup: policy and topics released/);
      } finally {
        launch.kill('SIGINT');
        await until(`ros2 launch to exit after SIGINT (${out})`, () => exit !== null, 20_000);
      }
      expect(exit).toBe(0);
    },
  );

  it('Twist in → Twist out; hot swap when the artifact at model_path is replaced (file watch)', async () => {
    const dir = tempDir('o2o-ros-real-');
    const model = join(dir, 'policy.onnx');
    const spec = { obsDim: 6, actDim: 6 };
    exportRandom({ version: 'tw', seed: 3, out: model, spec });
    const ns = `/o2o_tw${id}`;
    const params = join(dir, 'params.yaml');
    writeFileSync(
      params,
      `o2o_policy_tw_${id}:\n  ros__parameters:\n    model_path: ${model}\n    observation_topic: ${ns}/twist_in\n    observation_type: geometry_msgs/msg/Twist\n    action_topic: ${ns}/cmd_vel\n    action_type: geometry_msgs/msg/Twist\n    control_rate_hz: 50.0\n    watch_model: true\n`,
    );
    const node = await NodeProcess.start(`o2o_policy_tw_${id}`, params);
    procs.push(node);
    const out = listen<TwistMsg>('geometry_msgs/msg/Twist', `${ns}/cmd_vel`, bestEffort);
    const pub = robot.createPublisher('geometry_msgs/msg/Twist', `${ns}/twist_in`, { qos: bestEffort });
    await until(
      'a Twist command',
      () => out.length > 0,
      10_000,
      () => pub.publish({ linear: { x: 0.1, y: 0.2, z: 0.3 }, angular: { x: -0.1, y: -0.2, z: -0.3 } } as never),
    );
    const ref = referenceAction(randomActor(spec, 3), [0.1, 0.2, 0.3, -0.1, -0.2, -0.3]);
    const t = out.at(-1)!;
    const got = [t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z];
    for (let i = 0; i < 6; i++) expect(Math.abs(got[i]! - ref[i]!)).toBeLessThan(1e-5);
    // A new artifact written over model_path (atomically, as exportPolicy writes it) is swapped in.
    exportRandom({ version: 'tw2', seed: 4, out: model, spec });
    const ref2 = referenceAction(randomActor(spec, 4), [0.1, 0.2, 0.3, -0.1, -0.2, -0.3]);
    await until(
      'Twist commands from the new artifact',
      () => Math.abs(out.at(-1)!.linear.x - ref2[0]!) < 1e-5,
      10_000,
      () => pub.publish({ linear: { x: 0.1, y: 0.2, z: 0.3 }, angular: { x: -0.1, y: -0.2, z: -0.3 } } as never),
    );
    expect(node.out).toMatch(/now serving policy tw2/);
    expect(await node.stop()).toBe(0);
  });

  it('a sequence policy (a foreign DT described in <model>.card.json, target_return by -p): the ROS robot lives its episodes through it, the node counts them; reset_topic (std_msgs/Empty) starts the context again', async () => {
    const dir = tempDir('o2o-ros-real-');
    const model = join(dir, 'dt.onnx');
    writeFileSync(model, foreignDtBytes());
    writeFileSync(`${model}.card.json`, JSON.stringify(foreignDescription()));
    const ns = `/o2o_dt${id}`;
    const topics = {
      observation_topic: `${ns}/obs`,
      action_topic: `${ns}/act`,
      reward_topic: `${ns}/reward`,
      done_topic: `${ns}/terminated`,
      truncated_topic: `${ns}/truncated`,
      reset_topic: `${ns}/reset`,
      diagnostics_topic: `${ns}/diagnostics`,
    };
    const params = join(dir, 'params.yaml');
    const yaml = Object.entries({ ...topics, model_path: model })
      .map(([k, v]) => `    ${k}: ${v}`)
      .join('\n');
    writeFileSync(
      params,
      `o2o_policy_dt_${id}:\n  ros__parameters:\n${yaml}\n    allow_unverified: true\n    act_on_observation: true\n    watch_model: false\n    diagnostics_period_s: 0.2\n`,
    );
    const node = await NodeProcess.start(`o2o_policy_dt_${id}`, params, { target_return: -300.0 });
    procs.push(node);
    const res = await runRosSimRobot({
      ros: rcl,
      task: 'pendulum',
      params: { ...topics, act_on_observation: true },
      nodeName: `o2o_dt_robot_${id}`,
      maxEpisodeSteps: 25,
      episodes: 2,
      seed: 3,
    });
    expect([res.timeouts, res.lengths]).toEqual([0, [25, 25]]);
    expect(res.returns.every(Number.isFinite)).toBe(true);
    const diag = listen<DiagnosticArrayMsg>('diagnostic_msgs/msg/DiagnosticArray', topics.diagnostics_topic, reliable);
    const latest = () => (diag.length ? kvOf(diag.at(-1)!) : {});
    // The second episode's 25 steps and its final observation: step 25 of the episode, at target −300.
    await until('the diagnostics of the second episode', () => latest().episode_step === '25', 10_000).catch((e: Error) => {
      throw new Error(`${e.message}; the last diagnostics seen (${diag.length} arrays): ${JSON.stringify(latest())}`);
    });
    expect(latest()).toMatchObject({ policy_kind: 'sequence', target_return: '-300' });
    // Another robot process: its observation publisher matched first (an answer comes back), then a reset and one observation.
    const actions = listen<Float32MultiArrayMsg>(F32, topics.action_topic, bestEffort);
    const obs = robot.createPublisher(F32, topics.observation_topic, { qos: bestEffort });
    await until(
      'an answer to this process',
      () => actions.length > 0,
      10_000,
      () => obs.publish(f32([0.1, 0.2, 0.3])),
    );
    /** Publishes one observation, waits for its answer and for diagnostics published after it. */
    const step = async () => {
      const [answered, diagnosed] = [actions.length, diag.length];
      obs.publish(f32([0.1, 0.2, 0.3]));
      await until('the answer', () => actions.length > answered, 10_000);
      await until('fresh diagnostics', () => diag.length > diagnosed + 1, 10_000);
      return latest();
    };
    // A new episode after the robot's last, one step in at least. The robot's final observation of
    // its last episode is published best-effort just before its node goes away and may be lost; then
    // this process's first observation is taken as that final one and the next starts the episode:
    // two steps leave it at least one step in either way.
    await step();
    expect(Number((await step()).episode_step)).toBeGreaterThanOrEqual(1);
    const reset = robot.createPublisher('std_msgs/msg/Empty', topics.reset_topic, { qos: reliable });
    await sleep(500);
    reset.publish({} as never);
    await sleep(200);
    expect(await step()).toMatchObject({ episode_step: '0', return_to_go: '-300' });
    expect(node.out).not.toMatch(/episode end arrived more than one observation after/);
    expect(await node.stop()).toBe(0);
  });
});
