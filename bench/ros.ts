/**
 * `bash test/setup/ros2.sh npm run bench -- ros`: observation → action round trips over real DDS
 * between processes on this machine (rclnodejs on the sourced ROS 2, its RMW: Cyclone DDS here),
 * beside raw act() in the same run. Needs ROS 2 sourced and rclnodejs in ros/node_modules, which
 * test/setup/ros2.sh provides.
 *
 *  - DDS echo: the robot (this process) publishes a Float32MultiArray, an echo process republishes
 *    it: the transport's round trip alone.
 *  - rclcpp echo (C++ reference): the same round trip with rclcpp on both sides (bench/rclcpp-echo,
 *    built with cmake against the sourced ROS 2 into ~/.cache/o2o): what this host allows any ROS 2
 *    client, to tell the host's floor from rclnodejs's and our node's cost. Skipped without cmake/g++.
 *  - policy node: the o2o node (its own process, started as the README says) answers. With its
 *    control timer (the default) the round trip includes waiting for the next tick (0 … 1/rate);
 *    with act_on_observation it answers each observation as it arrives.
 *
 *  - MQTT path: `o2o serve --mqtt embedded` (its own process, broker inside) answers the robot's
 *    Observation messages (QoS 0) with Actions, the path of robots without ROS.
 *  - control loop: the node's timer jitter (|tick interval − period|) from its diagnostics
 *    (control_jitter_p50/p99_us), measured during the control-timer rows.
 *
 * O2O_BENCH_ROS_TRIPS: round trips per row (default 1000).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PolicyRuntime, readArtifactFile } from '../src/serve/index.js';
import { ActionDecoder, encodeObservation, MqttLink, nowUnixNs, robotTopics } from '../src/transport/index.js';
import { loadRclnodejs } from '../ros/main.js';
import type { DiagnosticArrayMsg, Float32MultiArrayMsg, InMessage } from '../ros/rcl-api.js';
import { exportRandom, tempDir } from '../test/serve/fixtures.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const TRIPS = Number(process.env.O2O_BENCH_ROS_TRIPS ?? 1000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pct(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1)))]!;
}

async function child(args: string[], ready: RegExp): Promise<ChildProcess> {
  const c = spawn(TSX, args, { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  c.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const end = Date.now() + 60_000;
  while (!ready.test(out)) {
    if (c.exitCode !== null || Date.now() > end) throw new Error(`${args.join(' ')} did not start: ${out}`);
    await sleep(20);
  }
  return c;
}

async function stop(c: ChildProcess): Promise<void> {
  c.kill('SIGINT');
  for (let i = 0; i < 100 && c.exitCode === null; i++) await sleep(20);
  if (c.exitCode === null) c.kill('SIGKILL');
}

/** Builds bench/rclcpp-echo once per source and ROS prefix (cached), or says why it cannot. */
function rclcppEcho(): { bin: string } | { skip: string } {
  const src = join(ROOT, 'bench', 'rclcpp-echo');
  const hash = createHash('sha256')
    .update(readFileSync(join(src, 'echo.cpp')))
    .update(readFileSync(join(src, 'CMakeLists.txt')))
    .update(process.env.AMENT_PREFIX_PATH ?? '')
    .digest('hex')
    .slice(0, 16);
  const build = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'o2o', `rclcpp-echo-${hash}`);
  const bin = join(build, 'echo');
  if (existsSync(bin)) return { bin };
  try {
    mkdirSync(build, { recursive: true });
    execFileSync('cmake', ['-S', src, '-B', build, '-DCMAKE_BUILD_TYPE=Release'], { stdio: 'pipe' });
    execFileSync('cmake', ['--build', build], { stdio: 'pipe' });
    return { bin };
  } catch (e) {
    return { skip: `could not build bench/rclcpp-echo (${(e as Error).message.split('\n')[0]})` };
  }
}

async function rclcppRows(rows: string[]): Promise<void> {
  const echo = rclcppEcho();
  if ('skip' in echo) {
    rows.push(`| DDS echo, rclcpp on both sides (C++ reference) | — | not run: ${echo.skip} | | | |`);
    return;
  }
  const ns = `/o2o_bench_cpp${process.pid}`;
  const pong = spawn(echo.bin, ['pong', `${ns}/in`, `${ns}/out`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  pong.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  for (let i = 0; i < 500 && !/echo ready/.test(out); i++) await sleep(20);
  try {
    for (const hz of [100, 500]) {
      const res = execFileSync(echo.bin, ['ping', `${ns}/in`, `${ns}/out`, String(hz), String(TRIPS)], { encoding: 'utf8' });
      const m = /(\d+)\/(\d+)\s+p50 ([\d.]+)\s+p99 ([\d.]+)\s+p99\.9 ([\d.]+)/.exec(res);
      if (!m) throw new Error(`rclcpp ping printed ${res}`);
      rows.push(`| DDS echo, rclcpp on both sides (C++ reference) | ${hz} | ${m[1]}/${m[2]} | ${m[3]} | ${m[4]} | ${m[5]} |`);
    }
  } finally {
    pong.kill('SIGINT');
    for (let i = 0; i < 100 && pong.exitCode === null; i++) await sleep(20);
    if (pong.exitCode === null) pong.kill('SIGKILL');
  }
}

export async function run(): Promise<void> {
  const rcl = await loadRclnodejs();
  await rcl.init();
  const robot = new rcl.Node(`o2o_bench_robot_${process.pid}`);
  const qos = new rcl.QoS(1, 10, 1, 2);
  rcl.spin(robot);
  const dir = tempDir('o2o-bench-ros-');
  const model = join(dir, 'policy.onnx');
  exportRandom({ version: 'bench', seed: 7, out: model, spec: { obsDim: 3, actDim: 2 } });
  const obsOf = (k: number) => Float32Array.from([Math.sin(k * 1e-3), Math.cos(k * 1e-3), k * 1e-4]);

  // raw act() in this process, same policy
  const rt = PolicyRuntime.open(readArtifactFile(model));
  const actUs: number[] = [];
  for (let k = 0; k < 5000; k++) {
    const o = obsOf(k);
    const t0 = performance.now();
    rt.act(o);
    actUs.push((performance.now() - t0) * 1000);
  }
  const key = new Map<string, number>(); // the policy's action (float32) → k
  const keyOfAction = (a: ArrayLike<number>) => `${Math.fround(a[0]!)},${Math.fround(a[1]!)}`;
  for (let k = 0; k < TRIPS + 10; k++) {
    const kk = keyOfAction(rt.act(obsOf(k)));
    if (key.has(kk)) throw new Error(`bench: observations ${key.get(kk)} and ${k} give the same action; change obsOf`);
    key.set(kk, k);
  }
  rt.dispose();

  const rows: string[] = [];
  const jitter: string[] = [];
  const row = (what: string, hz: number, lat: number[], sent: number) =>
    rows.push(`| ${what} | ${hz} | ${lat.length}/${sent} | ${pct(lat, 0.5).toFixed(3)} | ${pct(lat, 0.99).toFixed(3)} | ${pct(lat, 0.999).toFixed(3)} |`);

  async function trips(inTopic: string, outTopic: string, hz: number, keyOf: (m: Float32MultiArrayMsg) => number | undefined, obs: (k: number) => Float32Array): Promise<number[]> {
    const sentAt = new Map<number, number>();
    const lat: number[] = [];
    robot.createSubscription('std_msgs/msg/Float32MultiArray', outTopic, { qos }, (m: InMessage) => {
      const k = keyOf(m as Float32MultiArrayMsg);
      if (k === undefined) return;
      const t = sentAt.get(k);
      if (t !== undefined) {
        lat.push(performance.now() - t);
        sentAt.delete(k);
      }
    });
    const pub = robot.createPublisher('std_msgs/msg/Float32MultiArray', inTopic, { qos });
    // warm-up (discovery), not counted
    for (let i = 0; i < 50; i++) {
      pub.publish({ layout: { dim: [], data_offset: 0 }, data: obs(TRIPS + 5) });
      await sleep(20);
    }
    lat.length = 0;
    const period = 1000 / hz;
    const t0 = performance.now();
    for (let k = 0; k < TRIPS; k++) {
      const due = t0 + k * period;
      while (performance.now() < due - 1) await sleep(0);
      while (performance.now() < due);
      sentAt.set(k, performance.now());
      pub.publish({ layout: { dim: [], data_offset: 0 }, data: obs(k) });
    }
    await sleep(200);
    return lat;
  }

  const id = process.pid;
  // 1. DDS echo
  const echo = await child(['bench/ros-echo.ts', `/o2o_bench${id}/echo_in`, `/o2o_bench${id}/echo_out`], /echo ready/);
  for (const hz of [100, 500]) {
    const lat = await trips(
      `/o2o_bench${id}/echo_in`,
      `/o2o_bench${id}/echo_out`,
      hz,
      (m) => m.data[0],
      (k) => Float32Array.from([k, 0, 0]),
    );
    row('DDS echo (transport only)', hz, lat, TRIPS);
  }
  await stop(echo);
  await rclcppRows(rows);

  // 2. the policy node
  for (const [mode, extra] of [
    ['policy node, control timer at the same rate', {}],
    ['policy node, act_on_observation', { act_on_observation: true }],
  ] as const) {
    for (const hz of [100, 500]) {
      const ns = `/o2o_bench${id}_${hz}_${Object.keys(extra).length}`;
      const params = join(dir, `p${hz}.yaml`);
      writeFileSync(
        params,
        `/**:\n  ros__parameters:\n    model_path: ${model}\n    observation_topic: ${ns}/obs\n    action_topic: ${ns}/action\n    control_rate_hz: ${hz}.0\n    qos_reliability: reliable\n    qos_depth: 10\n    watch_model: false\n    diagnostics_topic: ${ns}/diagnostics\n    diagnostics_period_s: 0.5\n`,
      );
      let diag: DiagnosticArrayMsg | null = null;
      robot.createSubscription('diagnostic_msgs/msg/DiagnosticArray', `${ns}/diagnostics`, { qos }, (m: InMessage) => (diag = m as unknown as DiagnosticArrayMsg));
      const args = ['ros/main.ts', '--ros-args', '-r', `__node:=o2o_bench_node_${hz}`, '--params-file', params, ...Object.entries(extra).flatMap(([k, v]) => ['-p', `${k}:=${v}`])];
      let node: ChildProcess;
      try {
        node = await child(args, /o2o_policy: serving/);
      } catch (e) {
        rows.push(`| ${mode} | ${hz} | not run: ${(e as Error).message.split('\n')[0]} | | | |`);
        continue;
      }
      const lat = await trips(`${ns}/obs`, `${ns}/action`, hz, (m) => key.get(keyOfAction(m.data)), obsOf);
      row(mode, hz, lat, TRIPS);
      await sleep(600);
      const kv = Object.fromEntries(((diag as DiagnosticArrayMsg | null)?.status[0]?.values ?? []).map((v) => [v.key, v.value]));
      if (!('act_on_observation' in extra)) jitter.push(`| ${hz} | ${kv.ticks ?? '?'} | ${kv.control_jitter_p50_us ?? '?'} | ${kv.control_jitter_p99_us ?? '?'} |`);
      await stop(node);
    }
  }

  // 3. the MQTT path: o2o serve with an embedded broker, its own process
  const port = 20000 + (process.pid % 20000);
  const server = await child(
    ['src/cli/bin.ts', 'serve', '--mqtt', 'embedded', '--port', String(port), '--policy', model, '--allow-unverified', '--no-watch'],
    /o2o serve: serving/,
  );
  try {
    const link = await MqttLink.connect(`mqtt://127.0.0.1:${port}`, { clientId: `o2o-bench-robot-${id}` });
    const topics = robotTopics('default', 'bench');
    const dec = new ActionDecoder(2);
    let sentAt = new Map<number, number>();
    let lat: number[] = [];
    link.onMessage((topic, payload) => {
      if (topic !== topics.action) return;
      dec.decode(payload, topic);
      const t = sentAt.get(dec.fields.sequence);
      if (t !== undefined) {
        lat.push(performance.now() - t);
        sentAt.delete(dec.fields.sequence);
      }
    });
    await link.subscribe(topics.action, 0);
    const fields = { robotId: 'bench', sequence: 0, timeUnixNs: 0, reward: 0, terminated: false, truncated: false, episode: 0 };
    for (const hz of [100, 500]) {
      for (let i = 0; i < 50; i++) {
        fields.sequence = 1e6 + i;
        fields.timeUnixNs = nowUnixNs();
        link.publish(topics.obs, encodeObservation(fields, obsOf(i)));
        await sleep(20);
      }
      sentAt = new Map();
      lat = [];
      const period = 1000 / hz;
      const t0 = performance.now();
      for (let k = 1; k <= TRIPS; k++) {
        const due = t0 + k * period;
        while (performance.now() < due - 1) await sleep(0);
        while (performance.now() < due);
        fields.sequence = k;
        fields.timeUnixNs = nowUnixNs();
        sentAt.set(k, performance.now());
        link.publish(topics.obs, encodeObservation(fields, obsOf(k)));
      }
      await sleep(300);
      row('MQTT path (o2o serve, embedded broker in its process)', hz, lat, TRIPS);
    }
    await link.close();
  } finally {
    await stop(server);
  }
  robot.destroy();
  rcl.shutdown();
  console.log(`raw act() in-process, same policy (3 → 16 → 16 → 2): p50 ${pct(actUs, 0.5).toFixed(1)} µs, p99 ${pct(actUs, 0.99).toFixed(1)} µs`);
  console.log(`RMW ${process.env.RMW_IMPLEMENTATION ?? '(default)'}, ROS_DISTRO ${process.env.ROS_DISTRO}, ${TRIPS} round trips per row, reliable QoS depth 10\n`);
  console.log('| path | rate (Hz) | answered/sent | p50 (ms) | p99 (ms) | p99.9 (ms) |\n|---|---:|---:|---:|---:|---:|');
  for (const r of rows) console.log(r);
  console.log(
    '\ncontrol loop of the node (control timer rows; last 1024 ticks at the end of each row):\n\n| rate (Hz) | ticks | jitter p50 (µs) | jitter p99 (µs) |\n|---:|---:|---:|---:|',
  );
  for (const j of jitter) console.log(j);
}
