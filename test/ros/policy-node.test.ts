import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nextObservationsOf, openStore } from '../../src/data/index.js';
import { generateSigningKey, PolicyRuntime, robotSeed } from '../../src/serve/index.js';
import { InProcessParameter, InProcessQoS, InProcessRos } from '../../ros/in-process.js';
import { ManagedPolicyNode } from '../../ros/managed.js';
import { PolicyNode } from '../../ros/policy-node.js';
import type { DiagnosticArrayMsg, Float32MultiArrayMsg, JointStateMsg, TwistMsg } from '../../ros/rcl-api.js';
import { exportChunk } from '../serve/chunk-fixtures.js';
import { exportRandom, randomActor, referenceAction, tempDir } from '../serve/fixtures.js';
import { ACT, ContractModel, exportToy, relErr, TARGET } from '../serve/sequence-fixtures.js';

const F32 = 'std_msgs/msg/Float32MultiArray' as const;

function setup(yaml: string, opts: { overrides?: Record<string, Record<string, unknown>>; clock?: { t: number } } = {}) {
  const dir = tempDir('o2o-ros-');
  const key = generateSigningKey();
  const model = join(dir, 'policy.onnx');
  exportRandom({ version: 'v1', seed: 1, out: model, signingKey: key.privateKeyPem });
  writeFileSync(join(dir, 'key.pub'), key.publicKeyPem);
  const paramsFile = join(dir, 'policy.yaml');
  writeFileSync(paramsFile, yaml.replaceAll('$DIR', dir));
  const ros = new InProcessRos(opts.overrides);
  const clock = opts.clock ?? { t: 1000 };
  return { dir, key, model, paramsFile, ros, clock, start: () => PolicyNode.start(ros, { paramsFile, now: () => clock.t }) };
}

const BASE = `
/**:
  ros__parameters:
    model_path: $DIR/policy.onnx
    trusted_keys: [$DIR/key.pub]
    control_rate_hz: 100.0
    stale_after_ms: 50.0
    watch_model: false
o2o_policy:
  ros__parameters:
    action_topic: /arm/command
`;

describe('ROS 2 policy node (in-process ROS)', () => {
  it('parameters from a ROS 2 params YAML (/** then the node section; rcl overrides win); topics, types, QoS and timers', async () => {
    const s = setup(BASE, { overrides: { o2o_policy: { qos_depth: 3 } } });
    const n = await s.start();
    expect(n.params).toMatchObject({ action_topic: '/arm/command', control_rate_hz: 100, qos_depth: 3, observation_topic: '/o2o/observation', safe_action: 'hold' });
    expect(s.ros.publishers.map((p) => [p.topic, p.type])).toEqual([
      ['/arm/command', F32],
      ['/diagnostics', 'diagnostic_msgs/msg/DiagnosticArray'],
    ]);
    const act = s.ros.publishers[0]!.qos;
    expect([act.depth, act.reliability, act.durability]).toEqual([3, 2, 2]); // best effort, volatile
    expect(s.ros.subscriptions.map((x) => [x.topic, x.type])).toEqual([
      ['/o2o/observation', F32],
      ['/o2o/policy_update', 'std_msgs/msg/String'],
    ]);
    expect(s.ros.timers.map((t) => t.periodNs)).toEqual([10_000_000n, 1_000_000_000n]);
    await n.close();
  });

  it('bad parameters are refused naming the parameter', async () => {
    const s = setup(`${BASE}    control_rat_hz: 5.0\n`);
    await expect(s.start()).rejects.toThrow(/unknown parameter 'control_rat_hz'/);
    const t = setup(BASE.replace('control_rate_hz: 100.0', 'control_rate_hz: fast'));
    await expect(t.start()).rejects.toThrow(/'control_rate_hz' must be a number/);
    const u = setup('policy:\n  ros__parameters:\n    model_path: x.onnx\n');
    await expect(u.start()).rejects.toThrow(/no '\/\*\*:' or 'o2o_policy:' section/);
  });

  it('Float32MultiArray in → policy action out on the control timer; NaN and stale observations give the safe action; diagnostics', async () => {
    const s = setup(BASE);
    const n = await s.start();
    const obs = [0.1, -0.2, 0.3, 0.4, -0.5];
    s.ros.fire(10_000_000n); // no observation yet: nothing is sent
    expect(s.ros.messages('/arm/command')).toHaveLength(0);
    s.ros.publish('/o2o/observation', F32, { layout: { dim: [], data_offset: 0 }, data: obs }, new InProcessQoS(1, 1, 2, 2));
    s.ros.fire(10_000_000n);
    const out = s.ros.messages<Float32MultiArrayMsg>('/arm/command');
    const ref = referenceAction(randomActor({}, 1), obs);
    expect(Math.abs(out[0]!.data[0]! - ref[0]!)).toBeLessThan(1e-5);
    expect(out[0]!.layout.dim[0]).toEqual({ label: 'action', size: 2, stride: 2 });

    s.ros.publish('/o2o/observation', F32, { layout: { dim: [], data_offset: 0 }, data: [NaN, 0, 0, 0, 0] });
    s.ros.fire(10_000_000n);
    expect(Array.from(out[1]!.data)).toEqual(Array.from(out[0]!.data)); // hold
    s.ros.publish('/o2o/observation', F32, { layout: { dim: [], data_offset: 0 }, data: [1, 2] });
    s.clock.t += 200; // and then nothing arrives for 200 ms > stale_after_ms
    s.ros.fire(10_000_000n);
    s.ros.fire(1_000_000_000n);
    const diag = s.ros.messages<DiagnosticArrayMsg>('/diagnostics')[0]!.status[0]!;
    const kv = Object.fromEntries(diag.values.map((v) => [v.key, v.value]));
    expect(diag.level).toBe(3); // STALE
    expect(diag.name).toBe('o2o_policy: policy');
    expect(kv).toMatchObject({ policy_version: 'v1', verified_by: 'signature', faults_non_finite_obs: '1', faults_obs_length: '1', faults_stale: '1', execution_provider: 'cpu' });
    expect(Number(kv.act_latency_p99_us)).toBeGreaterThan(0);
    expect(s.ros.logs.some((l) => l.level === 'warn' && /has 2 values, the policy needs 5/.test(l.message))).toBe(true);
    await n.close();
  });

  it('recovers from a stale period: no observation for longer than stale_after_ms (startup, a hiccup), then the policy action again', async () => {
    const s = setup(BASE);
    const n = await s.start();
    const obs = [0.1, -0.2, 0.3, 0.4, -0.5];
    const ref = referenceAction(randomActor({}, 1), obs)[0]!;
    const send = () => s.ros.publish('/o2o/observation', F32, { layout: { dim: [], data_offset: 0 }, data: obs });
    for (let i = 0; i < 50; i++) {
      s.clock.t += 10; // the robot starts publishing 500 ms after the node (stale_after_ms is 50)
      s.ros.fire(10_000_000n);
    }
    const out = s.ros.messages<Float32MultiArrayMsg>('/arm/command');
    expect(out.length).toBeGreaterThan(0);
    expect(Array.from(out.at(-1)!.data)).toEqual([0, 0]); // safe action (hold of nothing sent yet)
    const staleFaults = n.runtime.status().faults.stale;
    expect(staleFaults).toBeGreaterThan(0);
    for (let i = 0; i < 3; i++) {
      s.clock.t += 10;
      send();
      s.ros.fire(10_000_000n);
    }
    expect(Math.abs(out.at(-1)!.data[0]! - ref)).toBeLessThan(1e-5);
    s.clock.t += 300; // a 300 ms hiccup mid-run
    s.ros.fire(10_000_000n);
    expect(n.runtime.status().faults.stale).toBeGreaterThan(staleFaults);
    s.clock.t += 10;
    send();
    s.ros.fire(10_000_000n);
    expect(Math.abs(out.at(-1)!.data[0]! - ref)).toBeLessThan(1e-5);
    n.publishDiagnostics();
    expect(s.ros.messages<DiagnosticArrayMsg>('/diagnostics').at(-1)!.status[0]!.level).toBe(1); // WARN (faults so far), no longer STALE
    await n.close();
  });

  it('ros2 param set: live parameters are applied (control rate, model_path swap), the others refused with the reason', async () => {
    const s = setup(BASE);
    const n = await s.start();
    const set = (name: string, type: 1 | 2 | 3 | 4, value: unknown) =>
      (n.node as unknown as { setParameter: (p: InProcessParameter) => { successful: boolean; reason: string } }).setParameter(new InProcessParameter(name, type, value));
    expect(set('control_rate_hz', 3, 50.0)).toEqual({ successful: true, reason: '' });
    expect(s.ros.timers.filter((t) => !t.cancelled).map((t) => t.periodNs)).toEqual([1_000_000_000n, 20_000_000n]);
    expect(n.params.control_rate_hz).toBe(50);
    const r = set('max_delta', 3, 0.5);
    expect(r.successful).toBe(false);
    expect(r.reason).toMatch(/'max_delta' is read when the node starts/);
    expect(set('control_rate_hz', 3, -1).reason).toMatch(/control_rate_hz must be in/);
    const unsigned = join(s.dir, 'unsigned.onnx');
    exportRandom({ version: 'v2-unsigned', seed: 2, out: unsigned });
    expect(set('model_path', 4, unsigned).reason).toMatch(/was not loaded .*still serving v1/);
    const v2 = join(s.dir, 'v2.onnx');
    exportRandom({ version: 'v2', seed: 2, out: v2, signingKey: s.key.privateKeyPem });
    expect(set('model_path', 4, v2).successful).toBe(true);
    expect(n.runtime.version).toBe('v2');
    await n.close();
  });

  it('act_on_observation: each observation is answered as it arrives; the control timer only runs the watchdog', async () => {
    const s = setup(`${BASE}    act_on_observation: true\n`);
    const n = await s.start();
    const obs = [0.1, -0.2, 0.3, 0.4, -0.5];
    s.ros.publish('/o2o/observation', F32, { layout: { dim: [], data_offset: 0 }, data: obs });
    const out = s.ros.messages<Float32MultiArrayMsg>('/arm/command');
    expect(out).toHaveLength(1);
    expect(Math.abs(out[0]!.data[0]! - referenceAction(randomActor({}, 1), obs)[0]!)).toBeLessThan(1e-5);
    s.ros.fire(10_000_000n);
    expect(out).toHaveLength(1); // fresh: the timer sends nothing
    s.clock.t += 100; // > stale_after_ms
    s.ros.fire(10_000_000n);
    expect(out).toHaveLength(2);
    expect(n.runtime.status().faults.stale).toBe(1);
    await n.close();
  });

  it('managed (lifecycle) node: parameters only while unconfigured; configure loads, activate publishes, deactivate stops, cleanup releases; a bad policy fails configure', async () => {
    const s = setup(BASE);
    const m = new ManagedPolicyNode(s.ros, { paramsFile: s.paramsFile, now: () => s.clock.t });
    const node = m.node as unknown as { transition: (t: 'configure' | 'activate' | 'deactivate' | 'cleanup' | 'shutdown') => number };
    expect(m.node.getParameter('action_topic').value).toBe('/arm/command');
    expect(s.ros.publishers).toHaveLength(0);
    const obs = { layout: { dim: [], data_offset: 0 }, data: [0.1, -0.2, 0.3, 0.4, -0.5] };
    expect(node.transition('configure')).toBe(97);
    expect(s.ros.publishers.map((p) => p.topic)).toEqual(['/arm/command', '/diagnostics']);
    s.ros.publish('/o2o/observation', F32, obs);
    s.ros.fire(10_000_000n);
    expect(s.ros.messages('/arm/command')).toHaveLength(0); // inactive
    expect(node.transition('activate')).toBe(97);
    s.ros.publish('/o2o/observation', F32, obs);
    s.ros.fire(10_000_000n);
    expect(s.ros.messages('/arm/command')).toHaveLength(1);
    expect(node.transition('deactivate')).toBe(97);
    s.ros.fire(10_000_000n);
    expect(s.ros.messages('/arm/command')).toHaveLength(1);
    expect(node.transition('cleanup')).toBe(97);
    expect(m.inner).toBeNull();
    expect(s.ros.publishers).toHaveLength(0);
    expect(s.ros.subscriptions).toHaveLength(0);
    expect(s.ros.timers.every((t) => t.cancelled)).toBe(true);
    // Reconfigure with a policy that does not verify: the transition fails with the reason logged.
    exportRandom({ version: 'v9', seed: 9, out: s.model }); // no signature, and key.pub is trusted
    expect(node.transition('configure')).toBe(98);
    expect(s.ros.logs.some((l) => l.level === 'error' && /configure failed: .*signature/i.test(l.message))).toBe(true);
    await m.close();
  });

  it('explore: true samples from a stochastic policy on every tick (recording data for fine-tuning); diagnostics say so', async () => {
    const s = setup(`${BASE}    explore: true\n    explore_seed: 3\n`);
    exportRandom({ version: 'sac', seed: 4, out: s.model, signingKey: s.key.privateKeyPem, spec: { kind: 'tanh-gaussian', maxAction: 1.5 } });
    const n = await s.start();
    const obs = [0.1, -0.2, 0.3, 0.4, -0.5];
    for (let i = 0; i < 3; i++) {
      s.ros.publish('/o2o/observation', F32, { layout: { dim: [], data_offset: 0 }, data: obs });
      s.ros.fire(10_000_000n);
    }
    const out = s.ros.messages<Float32MultiArrayMsg>('/arm/command').map((m) => Array.from(m.data));
    expect(new Set(out.map((a) => a.join())).size).toBe(3);
    for (const a of out) expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual(1.5);
    s.ros.fire(1_000_000_000n);
    const kv = Object.fromEntries(s.ros.messages<DiagnosticArrayMsg>('/diagnostics')[0]!.status[0]!.values.map((v) => [v.key, v.value]));
    expect(kv.exploration).toBe('tanh-gaussian');
    await n.close();
    const plain = setup(BASE);
    const m = await plain.start();
    m.publishDiagnostics();
    expect(Object.fromEntries(plain.ros.messages<DiagnosticArrayMsg>('/diagnostics')[0]!.status[0]!.values.map((v) => [v.key, v.value])).exploration).toBe('off');
    await m.close();
  });

  it('JointState in (reordered by joint name) → JointState out (effort); Twist in → Twist out', async () => {
    // obs = [pos(b), pos(a), vel(b), vel(a), eff(b), eff(a)]
    const s = setup(
      BASE +
        `    observation_type: sensor_msgs/msg/JointState\n    observation_fields: [position, velocity, effort]\n    observation_joints: [b, a]\n    action_type: sensor_msgs/msg/JointState\n    action_joints: [j1, j2]\n`,
    );
    exportRandom({ version: 'v6', seed: 1, out: s.model, signingKey: s.key.privateKeyPem, spec: { obsDim: 6 } });
    const n = await s.start();
    const js: JointStateMsg = { header: { stamp: { sec: 0, nanosec: 0 }, frame_id: '' }, name: ['a', 'b'], position: [1, 2], velocity: [3, 4], effort: [5, 6] };
    s.ros.publish('/o2o/observation', 'sensor_msgs/msg/JointState', js);
    s.ros.fire(10_000_000n);
    const out = s.ros.messages<JointStateMsg>('/arm/command')[0]!;
    const ref = referenceAction(randomActor({ obsDim: 6 }, 1), [2, 1, 4, 3, 6, 5]);
    expect(out.name).toEqual(['j1', 'j2']);
    expect(Math.abs(out.effort[1]! - ref[1]!)).toBeLessThan(1e-5);
    expect(out.position).toEqual([]);
    await n.close();

    const t = setup(`${BASE}    observation_type: geometry_msgs/msg/Twist\n    action_type: geometry_msgs/msg/Twist\n`);
    exportRandom({ version: 'tw', seed: 2, out: t.model, signingKey: t.key.privateKeyPem, spec: { obsDim: 6, actDim: 6 } });
    const m = await t.start();
    t.ros.publish('/o2o/observation', 'geometry_msgs/msg/Twist', { linear: { x: 1, y: 2, z: 3 }, angular: { x: -1, y: -2, z: -3 } });
    t.ros.fire(10_000_000n);
    const tw = t.ros.messages<TwistMsg>('/arm/command')[0]!;
    const r6 = referenceAction(randomActor({ obsDim: 6, actDim: 6 }, 2), [1, 2, 3, -1, -2, -3]);
    expect(Math.abs(tw.angular.z - r6[5]!)).toBeLessThan(1e-5);
    await m.close();
  });

  it('hot swap by topic and by file watch: signed updates are served, unsigned ones refused while the old keeps running', async () => {
    const s = setup(BASE.replace('watch_model: false', 'watch_model: true'));
    const n = await s.start();
    const unsigned = join(s.dir, 'unsigned.onnx');
    exportRandom({ version: 'v2-unsigned', seed: 2, out: unsigned });
    s.ros.publish('/o2o/policy_update', 'std_msgs/msg/String', { data: unsigned }, new InProcessQoS(1, 1, 1, 1));
    expect(n.runtime.version).toBe('v1');
    expect(s.ros.logs.some((l) => l.level === 'error' && /refused new policy: .*unsigned/.test(l.message))).toBe(true);
    s.ros.fire(1_000_000_000n);
    const d = s.ros.messages<DiagnosticArrayMsg>('/diagnostics')[0]!.status[0]!;
    expect(d.level).toBe(1);
    expect(d.message).toMatch(/refused update/);

    const v2 = join(s.dir, 'v2.onnx');
    exportRandom({ version: 'v2', seed: 2, out: v2, signingKey: s.key.privateKeyPem });
    s.ros.publish('/o2o/policy_update', 'std_msgs/msg/String', { data: v2 });
    expect(n.runtime.version).toBe('v2');

    // File watch: the artifact at model_path is replaced (atomically, as exportPolicy writes it).
    exportRandom({ version: 'v3', seed: 3, out: join(s.dir, 'v3.onnx'), signingKey: s.key.privateKeyPem });
    copyFileSync(join(s.dir, 'v3.onnx.sig'), `${s.model}.sig`);
    exportRandom({ version: 'v3', seed: 3, out: s.model, signingKey: s.key.privateKeyPem });
    for (let i = 0; i < 40 && n.runtime.version !== 'v3'; i++) await new Promise((r) => setTimeout(r, 50));
    expect(n.runtime.version).toBe('v3');
    await n.close();
  });

  it('records (obs, action, reward, done) into a dataset segment', async () => {
    const s = setup(`${BASE}    record_dir: $DIR/recorded\n    reward_topic: /reward\n    done_topic: /done\n`);
    const n = await s.start();
    for (let i = 0; i < 10; i++) {
      s.ros.publish('/reward', 'std_msgs/msg/Float32', { data: i });
      if (i === 5) s.ros.publish('/done', 'std_msgs/msg/Bool', { data: true });
      s.ros.publish('/o2o/observation', F32, { layout: { dim: [], data_offset: 0 }, data: [i, 0, 0, 0, 0] });
      s.ros.fire(10_000_000n);
    }
    await n.close();
    const { dataset } = await openStore(join(s.dir, 'recorded')).read();
    // 10 observations, one episode end at step 5: transitions 0→1 … 4→5 (terminal), 6→7 … 8→9.
    expect(dataset.size).toBe(8);
    expect(Array.from(dataset.rewards)).toEqual([1, 2, 3, 4, 5, 7, 8, 9]);
    expect(Array.from(dataset.terminals)).toEqual([0, 0, 0, 0, 1, 0, 0, 0]);
    expect(dataset.observations[4 * 5]).toBe(4);
    expect(nextObservationsOf(dataset)[4 * 5]).toBe(5);
  });
});

describe('ROS 2 policy node with a sequence policy (in-process ROS)', () => {
  const SEQ = `
/**:
  ros__parameters:
    model_path: $DIR/dt.onnx
    allow_unverified: true
    watch_model: false
    control_rate_hz: 100.0
    reward_topic: /o2o/reward
    done_topic: /o2o/terminated
    truncated_topic: /o2o/truncated
    reset_topic: /o2o/reset
`;
  function seqSetup(extra = '') {
    const dir = tempDir('o2o-ros-seq-');
    exportToy({ out: join(dir, 'dt.onnx') });
    const paramsFile = join(dir, 'policy.yaml');
    writeFileSync(paramsFile, (SEQ + extra).replaceAll('$DIR', dir));
    const ros = new InProcessRos();
    const clock = { t: 1000 };
    const obsAt = (i: number): number[] => [0.1 * i, -0.2 + 0.05 * i, 1 + (i % 3)];
    const out = () => ros.messages<Float32MultiArrayMsg>('/o2o/action');
    const robot = {
      obs: (i: number) => ros.publish('/o2o/observation', F32, { layout: { dim: [], data_offset: 0 }, data: obsAt(i) }),
      step: (reward: number, done = false, truncated = false) => {
        ros.publish('/o2o/reward', 'std_msgs/msg/Float32', { data: reward });
        ros.publish('/o2o/terminated', 'std_msgs/msg/Bool', { data: done });
        ros.publish('/o2o/truncated', 'std_msgs/msg/Bool', { data: truncated });
      },
      reset: () => ros.publish('/o2o/reset', 'std_msgs/msg/Empty', {}),
    };
    return { dir, ros, clock, obsAt, out, robot, start: () => PolicyNode.start(ros, { paramsFile, now: () => clock.t }) };
  }

  it('act_on_observation: rewards lower the return-to-go, an episode end (after its final observation) and reset_topic start the context again; target_return from the params', async () => {
    const s = seqSetup('    act_on_observation: true\n    target_return: 2000.0\n');
    const n = await s.start();
    expect(s.ros.subscriptions.map((x) => [x.topic, x.type])).toContainEqual(['/o2o/reset', 'std_msgs/msg/Empty']);
    const m = new ContractModel(2000);
    /** The robot sends observation i; the node's answer must be the contract's. */
    const check = (i: number, reward: number, start: boolean) => {
      m.begin(reward, start);
      m.put(s.obsAt(i));
      s.robot.obs(i);
      const a = s.out().at(-1)!.data;
      expect(relErr(a, m.toyAction())).toBeLessThan(1e-5);
      m.executed(a);
    };
    check(0, 0, true);
    for (let i = 1; i < 6; i++) {
      s.robot.step(10 * i);
      check(i, 10 * i, false);
    }
    expect(n.runtime.status()).toMatchObject({ episodeStep: 5, returnToGo: 2000 - 150, targetReturn: 2000 });
    s.robot.step(7, true); // the episode ends with step 5
    check(6, 7, false); // its final observation, answered within it
    check(7, 0, true); // the next episode
    s.robot.step(3);
    check(8, 3, false);
    s.robot.step(1, false, true); // a time limit
    check(9, 1, false);
    check(10, 0, true);
    s.robot.step(2);
    s.robot.reset(); // a robot that starts over on its own
    check(11, 0, true);
    s.ros.fire(1_000_000_000n);
    const kv = Object.fromEntries(s.ros.messages<DiagnosticArrayMsg>('/diagnostics')[0]!.status[0]!.values.map((v) => [v.key, v.value]));
    expect(kv).toMatchObject({ policy_kind: 'sequence', episode_step: '0', return_to_go: '2000', target_return: '2000' });
    await n.close();
  });

  it('on the control timer: a tick without a new observation re-evaluates the same step; observations between ticks count as steps (their rewards too)', async () => {
    const s = seqSetup();
    const n = await s.start();
    const m = new ContractModel(TARGET);
    s.robot.obs(0);
    s.ros.fire(10_000_000n);
    m.begin(0, true);
    m.put(s.obsAt(0));
    expect(relErr(s.out().at(-1)!.data, m.toyAction())).toBeLessThan(1e-5);
    m.executed(s.out().at(-1)!.data);
    s.ros.fire(10_000_000n); // no new observation: the same step again
    const again = s.out().at(-1)!.data;
    m.steps.pop();
    m.put(s.obsAt(0));
    expect(relErr(again, m.toyAction())).toBeLessThan(1e-5);
    m.executed(again);
    expect(n.runtime.status().episodeStep).toBe(0);
    // Two robot steps between ticks: the first observation is not seen, its reward still counts.
    s.robot.step(4);
    s.robot.obs(1);
    s.robot.step(6);
    s.robot.obs(2);
    s.ros.fire(10_000_000n);
    m.begin(10, false, 2);
    m.put(s.obsAt(2));
    expect(relErr(s.out().at(-1)!.data, m.toyAction())).toBeLessThan(1e-5);
    expect(n.runtime.status()).toMatchObject({ episodeStep: 2, returnToGo: TARGET - 10 });
    await n.close();
  });

  it('ros2 param set target_return applies from the next episode (.nan: the card again); hot swap to an mlp and back over policy_update_topic', async () => {
    const s = seqSetup('    act_on_observation: true\n');
    const n = await s.start();
    const set = (name: string, type: 1 | 2 | 3 | 4, value: unknown) =>
      (n.node as unknown as { setParameter: (p: InProcessParameter) => { successful: boolean; reason: string } }).setParameter(new InProcessParameter(name, type, value));
    s.robot.obs(0);
    expect(n.runtime.status()).toMatchObject({ returnToGo: TARGET });
    expect(set('target_return', 3, 750.0)).toEqual({ successful: true, reason: '' });
    s.robot.step(5);
    s.robot.obs(1);
    expect(n.runtime.status()).toMatchObject({ returnToGo: TARGET - 5, targetReturn: 750 });
    s.robot.reset();
    s.robot.obs(2);
    expect(n.runtime.status()).toMatchObject({ episodeStep: 0, returnToGo: 750 });
    expect(set('target_return', 3, Number.NaN).successful).toBe(true);
    expect(n.runtime.status().targetReturn).toBe(TARGET);

    const mlp = join(s.dir, 'mlp.onnx');
    exportRandom({ version: 'mlp', out: mlp, spec: { obsDim: 3, actDim: ACT } });
    s.ros.publish('/o2o/policy_update', 'std_msgs/msg/String', { data: mlp });
    expect(n.runtime.policyInterface.kind).toBe('mlp');
    s.robot.step(1);
    s.robot.obs(3);
    expect(relErr(s.out().at(-1)!.data, referenceAction(randomActor({ obsDim: 3, actDim: ACT }), s.obsAt(3)))).toBeLessThan(1e-5);
    s.ros.publish('/o2o/policy_update', 'std_msgs/msg/String', { data: join(s.dir, 'dt.onnx') });
    s.robot.step(1);
    s.robot.obs(4);
    expect(n.runtime.status()).toMatchObject({ episodeStep: 0, returnToGo: TARGET }); // a new context for the new interface
    expect(set('target_return', 3, 'x').successful).toBe(false);
    await n.close();
  });
});

describe('ROS 2 policy node with a chunked policy (in-process ROS)', () => {
  const CHUNK = `
/**:
  ros__parameters:
    model_path: $DIR/dp.onnx
    allow_unverified: true
    watch_model: false
    control_rate_hz: 100.0
    act_on_observation: true
    reset_topic: /o2o/reset
`;
  const obsAt = (i: number): number[] => [0.1 * i, -0.2 + 0.05 * i, 1 + (i % 3)];
  async function chunkSetup(extra: string) {
    const dir = tempDir('o2o-ros-chunk-');
    const { bytes } = exportChunk({ out: join(dir, 'dp.onnx') });
    const paramsFile = join(dir, 'policy.yaml');
    writeFileSync(paramsFile, (CHUNK + extra).replaceAll('$DIR', dir));
    const ros = new InProcessRos();
    const n = await PolicyNode.start(ros, { paramsFile, now: () => 1000 });
    const act = (i: number) => {
      ros.publish('/o2o/observation', F32, { layout: { dim: [], data_offset: 0 }, data: obsAt(i) });
      return ros.messages<Float32MultiArrayMsg>('/o2o/action').at(-1)!.data;
    };
    return { dir, ros, n, act, bytes };
  }
  const close = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).every((v, i) => Math.abs(v - b[i]!) < 1e-6);

  it('action_horizon: the node plans every N observations from a queue seeded by its name; reset_topic empties it; diagnostics say the queue', async () => {
    const s = await chunkSetup('    action_horizon: 2\n');
    const local = PolicyRuntime.open({ bytes: s.bytes, source: 'dp.onnx' }, { chunking: { actionHorizon: 2, seed: robotSeed(0, 'o2o_policy') } });
    for (let i = 0; i < 5; i++) expect(close(s.act(i), local.act(obsAt(i), { episodeStart: i === 0 })), `step ${i}`).toBe(true);
    expect(s.n.runtime.status().chunk).toMatchObject({ actionHorizon: 2, replans: 3, queued: 1 });
    s.ros.publish('/o2o/reset', 'std_msgs/msg/Empty', {});
    expect(close(s.act(10), local.act(obsAt(10), { episodeStart: true }))).toBe(true);
    expect(s.n.runtime.status()).toMatchObject({ episodeStep: 0, chunk: { replans: 4, queued: 1 } });
    s.ros.fire(1_000_000_000n);
    const kv = Object.fromEntries(s.ros.messages<DiagnosticArrayMsg>('/diagnostics')[0]!.status[0]!.values.map((v) => [v.key, v.value]));
    expect(kv).toMatchObject({ policy_kind: 'chunked', episode_step: '0', action_horizon: '2', chunk_length: '6', actions_queued: '1', replans: '4', temporal_ensembling: 'off' });
    // A hot swap over policy_update_topic: the queued action finishes, the new policy plans next.
    const v2 = join(s.dir, 'dp2.onnx');
    exportChunk({ version: 'chunk-v2', scale: -2, out: v2 });
    s.ros.publish('/o2o/policy_update', 'std_msgs/msg/String', { data: v2 });
    expect(s.n.runtime.version).toBe('chunk-v2');
    expect(close(s.act(11), local.act(obsAt(11), {}))).toBe(true); // the old plan's second action
    // The new policy plans at step 12 (same history and noise stream; its chunk's row 0 is the old one's, row 1 differs).
    expect(close(s.act(12), local.act(obsAt(12), {}))).toBe(true);
    expect(s.n.runtime.status().chunk).toMatchObject({ replans: 1, queued: 1 });
    expect(close(s.act(13), local.act(obsAt(13), {}))).toBe(false);
    local.dispose();
    await s.n.close();
  });

  it('temporal_ensembling: a plan every observation, as the runtime averages them; the two settings exclude each other', async () => {
    const s = await chunkSetup('    temporal_ensembling: 0.01\n');
    const local = PolicyRuntime.open({ bytes: s.bytes, source: 'dp.onnx' }, { chunking: { temporalEnsembling: 0.01, seed: robotSeed(0, 'o2o_policy') } });
    for (let i = 0; i < 8; i++) expect(close(s.act(i), local.act(obsAt(i), { episodeStart: i === 0 })), `step ${i}`).toBe(true);
    expect(s.n.runtime.status().chunk).toMatchObject({ actionHorizon: 1, replans: 8, temporalEnsembling: 0.01 });
    local.dispose();
    await s.n.close();
    await expect(chunkSetup('    temporal_ensembling: 0.01\n    action_horizon: 2\n')).rejects.toThrow(/action_horizon and temporal_ensembling exclude each other/);
  });
});
