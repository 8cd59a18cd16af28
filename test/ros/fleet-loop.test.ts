/**
 * Issue 14 §3, the loop through a ROS 2 robot, over real DDS: the policy node in its own process
 * (started as the README says) with its fleet link to an MQTT broker; a `robot sim --ros` robot
 * and an online learner (its store) in this process. Transitions the robot lives through must
 * arrive in the learner's store with exactly its values; PolicyUpdates on the fleet's MQTT topic
 * must be verified by the node (signed → served, unsigned / forged → refused). The ROS demo's
 * quick run (`o2o demo --transport ros --quick`) runs end to end as a CLI process.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { episodes, nextObservationsOf, openStore } from '../../src/data/index.js';
import { OnlineLearner } from '../../src/online/index.js';
import { encodePolicyUpdate, generateSigningKey, readArtifactFile } from '../../src/serve/index.js';
import { train } from '../../src/train/index.js';
import { generateRecipe } from '../../src/train/datasets.js';
import { MqttLink, policyTopic, startBroker } from '../../src/transport/index.js';
import type { StepRow } from '../../ros/fleet-link.js';
import { loadRclnodejs } from '../../ros/main.js';
import type { DiagnosticArrayMsg, RosModule, RosNode } from '../../ros/rcl-api.js';
import { RosSimRobot } from '../../ros/sim-robot-ros.js';
import { exportRandom, randomActor, referenceAction, tempDir } from '../serve/fixtures.js';
import { NodeProcess, ROOT, TSX, until, whyNoRos } from './helpers.js';

const why = whyNoRos();
if (why && process.env.O2O_REQUIRE_ROS === '1') throw new Error(`O2O_REQUIRE_ROS=1 but ${why}`);
if (why) console.warn(`skipped test/ros/fleet-loop.test.ts: ${why}`);

const kvOf = (d: DiagnosticArrayMsg) => Object.fromEntries(d.status[0]!.values.map((v) => [v.key, v.value]));

describe.skipIf(why !== null)('the loop through a ROS 2 robot (robot sim --ros ↔ DDS ↔ policy node process ↔ MQTT ↔ learner)', () => {
  let rcl: RosModule;
  let listener: RosNode;
  const id = `${process.pid}`;
  const cleanups: (() => Promise<unknown> | unknown)[] = [];

  beforeAll(async () => {
    rcl = await loadRclnodejs();
    await rcl.init();
    listener = new rcl.Node(`o2o_test_listener_${id}`);
    rcl.spin(listener);
  });

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
    listener?.destroy();
    rcl?.shutdown();
  });

  it("transitions the ROS robot lives through arrive in the learner's store with its values (spooled, acked); a signed PolicyUpdate from the fleet topic is served, unsigned and forged ones are refused", async () => {
    const dir = tempDir('o2o-ros-fleet-');
    const key = generateSigningKey();
    const other = generateSigningKey();
    const spec = { obsDim: 3, actDim: 1 };
    const v1 = join(dir, 'v1.onnx');
    exportRandom({ version: 'v1', seed: 1, out: v1, signingKey: key.privateKeyPem, spec });
    writeFileSync(join(dir, 'key.pub'), key.publicKeyPem);

    const broker = await startBroker({ port: 0 });
    cleanups.push(() => broker.close());
    // The learner: it stores (and acknowledges) what arrives; no training in this test.
    const pre = await train({
      algo: 'calql',
      dataset: await generateRecipe('pendulum-medium', 0),
      datasetId: 'pendulum-medium',
      task: { obsDim: 3, actDim: 1, maxAction: 2, maxEpisodeSteps: 200 },
      steps: 2,
      config: { actorHidden: [8], criticHidden: [8], batchSize: 8, nActions: 2 },
      rewardNormalization: 'episode-return-range',
      session: { threads: 1 },
    });
    cleanups.push(() => pre.learner.dispose());
    const store = join(dir, 'store');
    const learner = await OnlineLearner.start({
      url: broker.url,
      learner: pre.learner,
      offline: pre.prepared,
      obsStats: pre.obsStats,
      rewardTransform: pre.rewardTransform,
      storeDir: store,
      envId: 'pendulum',
      utd: 0.01,
      warmup: 1e9,
      budget: {},
      publishEvery: 1e9,
      card: { name: 'x', task: 'pendulum', algorithm: 'calql' },
    });
    let learnerOpen = true;
    cleanups.push(() => learnerOpen && learner.close());

    const ns = `/o2o_fl${id}`;
    const params = {
      observation_topic: `${ns}/observation`,
      action_topic: `${ns}/action`,
      reward_topic: `${ns}/reward`,
      done_topic: `${ns}/terminated`,
      truncated_topic: `${ns}/truncated`,
      diagnostics_topic: `${ns}/diagnostics`,
      act_on_observation: true,
      stale_after_ms: 0,
      qos_reliability: 'reliable',
      qos_depth: 10,
    };
    const yaml = join(dir, 'params.yaml');
    writeFileSync(
      yaml,
      [
        '/**:',
        '  ros__parameters:',
        `    model_path: ${v1}`,
        `    trusted_keys: [${join(dir, 'key.pub')}]`,
        ...Object.entries(params).map(([k, v]) => `    ${k}: ${k === 'stale_after_ms' ? '0.0' : v}`),
        '    diagnostics_period_s: 0.2',
        '    watch_model: false',
        '    policy_update_topic: ""',
        `    fleet_mqtt_url: ${broker.url}`,
        '    robot_id: ros-0',
        `    spool_dir: ${join(dir, 'spool')}`,
        '    spool_batch_rows: 16',
        '',
      ].join('\n'),
    );
    const node = await NodeProcess.start(`o2o_policy_fl_${id}`, yaml);
    cleanups.push(() => node.stop());
    await until("the node's fleet link", () => /fleet link to mqtt/.test(node.out), 15_000);

    // Two 40-step pendulum episodes ('mild' randomization) in lockstep with the node.
    const lived: StepRow[] = [];
    const robot = await RosSimRobot.create({
      ros: rcl,
      task: 'pendulum',
      profile: 'mild',
      params,
      nodeName: `o2o_sim_robot_fl_${id}`,
      maxEpisodeSteps: 40,
      actionTimeoutMs: 5000,
      onStep: (r) => lived.push(r),
    });
    cleanups.push(() => robot.close());
    const res = await robot.run(2, 7);
    expect(res.timeouts).toBe(0);
    expect(res.lengths).toEqual([40, 40]);
    // The robot applied the policy's actions (v1's mode for the observation it sent).
    const actor1 = randomActor(spec, 1);
    for (const r of lived.slice(0, 5)) expect(r.action[0]).toBeCloseTo(referenceAction(actor1, Array.from(r.obs, Math.fround))[0]!, 5);

    await until('the learner stored 80 transitions', () => learner.status().counters.transitions === 80, 20_000);
    await learner.close();
    learnerOpen = false;
    const read = await openStore(store).read();
    const ds = read.dataset;
    expect(ds.size).toBe(80);
    expect(read.nextSequence).toEqual({ 'ros-0': 80 });
    const eps = episodes(ds);
    expect(eps.map((e) => e.length)).toEqual([40, 40]);
    let mismatches = 0;
    for (const e of eps) {
      const next = nextObservationsOf(ds, e.start, e.end);
      for (let i = e.start; i < e.end; i++) {
        const r = lived[i]!;
        const same = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).every((x, k) => x === Math.fround(b[k]!));
        if (!same(ds.observations.subarray(i * 3, i * 3 + 3), r.obs)) mismatches++;
        if (!same(ds.actions.subarray(i, i + 1), r.action)) mismatches++;
        if (ds.rewards[i] !== Math.fround(r.reward)) mismatches++;
        if (!same(next.subarray((i - e.start) * 3, (i - e.start + 1) * 3), r.nextObs)) mismatches++;
        if (ds.terminals[i] !== (r.terminated ? 1 : 0) || ds.timeouts[i] !== (r.truncated ? 1 : 0)) mismatches++;
      }
    }
    expect(mismatches).toBe(0);
    expect(ds.timeouts[39]).toBe(1);
    expect(ds.timeouts[79]).toBe(1);

    // Policy updates from the fleet (retained, as the learner publishes them): unsigned → refused,
    // signed by an untrusted key → refused, signed by the trusted key → served.
    const diags: DiagnosticArrayMsg[] = [];
    listener.createSubscription('diagnostic_msgs/msg/DiagnosticArray', `${ns}/diagnostics`, { qos: new rcl.QoS(1, 10, 1, 2) }, (m) =>
      diags.push(m as unknown as DiagnosticArrayMsg),
    );
    const link = await MqttLink.connect(broker.url);
    cleanups.push(() => link.close());
    const publish = async (file: string, version: string) => {
      const a = readArtifactFile(file);
      await link.publishAsync(policyTopic('default'), encodePolicyUpdate({ version, bytes: a.bytes, sha256: a.sha256 ?? '', signature: a.signature }), { qos: 1, retain: true });
    };
    const refused = () => Number(diags.length ? kvOf(diags.at(-1)!).refused_swaps : 0);
    const unsigned = join(dir, 'unsigned.onnx');
    exportRandom({ version: 'v2-unsigned', seed: 2, out: unsigned, spec });
    await publish(unsigned, 'v2-unsigned');
    await until('the unsigned update refused', () => refused() >= 1, 10_000);
    const forged = join(dir, 'forged.onnx');
    exportRandom({ version: 'v2-forged', seed: 2, out: forged, spec, signingKey: other.privateKeyPem });
    await publish(forged, 'v2-forged');
    await until('the forged update refused', () => refused() >= 2, 10_000);
    expect(kvOf(diags.at(-1)!).policy_version).toBe('v1');
    expect(node.out).toMatch(/refused new policy: unsigned/);
    expect(node.out).toMatch(/refused new policy: .*not among the trusted keys/);
    const v2 = join(dir, 'v2.onnx');
    exportRandom({ version: 'v2', seed: 2, out: v2, spec, signingKey: key.privateKeyPem });
    await publish(v2, 'v2');
    await until('v2 served', () => diags.length > 0 && kvOf(diags.at(-1)!).policy_version === 'v2', 10_000);
    lived.length = 0;
    await robot.run(1, 99);
    const actor2 = randomActor(spec, 2);
    for (const r of lived.slice(0, 5)) expect(r.action[0]).toBeCloseTo(referenceAction(actor2, Array.from(r.obs, Math.fround))[0]!, 5);
    // With no learner listening the new transitions stay spooled, and the node says so when it stops.
    expect(await node.stop()).toBe(0);
    expect(node.out).toMatch(/40 transitions stay spooled/);
  }, 90_000);

  it('o2o demo --transport ros --quick: offline → ROS 2 robots (policy node + robot sim --ros each) → online Cal-QL over the fleet link → before/after report', async () => {
    const out = tempDir('o2o-ros-demo-');
    const { stdout } = await promisify(execFile)(TSX, ['src/cli/bin.ts', 'demo', '--quick', '--transport', 'ros', '--task', 'hopper', '--out', out], {
      cwd: ROOT,
      env: process.env,
      timeout: 110_000,
      maxBuffer: 16 << 20,
    });
    expect(stdout).toMatch(/3 ROS 2 policy nodes \+ robots \(DDS\) serving offline/);
    const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as {
      transport: string;
      online: { onlineTransitions: number; published: string[]; counters: { malformed: number; nonFinite: number } };
      servedVersion: string;
      after: { mild: { normalized: number } };
    };
    expect(s.transport).toBe('ros');
    expect(s.online.onlineTransitions).toBeGreaterThanOrEqual(1200);
    expect(s.online.counters).toMatchObject({ malformed: 0, nonFinite: 0 });
    expect(s.online.published.length).toBeGreaterThanOrEqual(4);
    // the last policy the learner published reached the nodes over MQTT and is what they serve
    expect(s.servedVersion).toBe(s.online.published.at(-1));
    expect(Number.isFinite(s.after.mild.normalized)).toBe(true);
    expect(stdout).toMatch(/after online fine-tuning/);
  }, 120_000);
});
