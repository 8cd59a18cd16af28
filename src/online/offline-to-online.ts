/**
 * The offline-to-online loop as one library function (what `o2o demo` runs, on any fleet):
 *   1. dataset   <task>-medium-replay, built from the task's behaviour policy
 *   2. offline   pretraining (Cal-QL by default) on it; evaluated nominal and 'mild'
 *   3. deploy    export + sign the policy; an embedded MQTT broker; the fleet starts on it
 *   4. online    the fleet's robots act and stream their transitions; the online learner fine-tunes
 *                within a budget and publishes signed updates that the fleet hot-swaps; each
 *                published policy is evaluated ('mild') for the learning curve
 *   5. evaluate  before/after, nominal and mild, the final policy exported, and a report
 * Everything lands in `out`: metrics, policies, the public key, the store, checkpoints, the curve,
 * logs, the report and summary.json.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeEnv } from '../../simulators/index.js';
import { type AlgoConfig, pickSettings } from '../algos/index.js';
import { evaluatePolicy, writeReport } from '../eval/index.js';
import { type StartFleet, exportPolicy, generateSigningKey, simulatedMqttFleet } from '../serve/index.js';
import { type EvalResult, evaluateLearner, taskOf, train } from '../train/index.js';
import { generateRecipe } from '../train/datasets.js';
import { startBroker } from '../transport/index.js';
import { fineTuneOnline } from './fine-tune.js';
import type { OnlineLearnerStatus } from './learner-service.js';

export interface OfflineToOnlineOptions {
  task: string;
  algo: string;
  /** Where everything is written (created). */
  out: string;
  seed: number;
  /** Offline gradient updates, then online transitions to collect (the learner's budget). */
  pretrain: number;
  online: number;
  evalEpisodes: number;
  /** Publish a policy every this many online updates. */
  publishEvery: number;
  robots: number;
  /** Robots collect with actions sampled from the served policy (its mode when false). */
  explore: boolean;
  /** Settings over the loop's (small networks, 4 sampled actions, α_online 1, the schedule's length). */
  config?: AlgoConfig;
  /** The robots (default: simulated robots behind one MQTT policy server). */
  fleet?: StartFleet;
  /** Shown in phase lines: 'robots', 'ROS 2 robots', ... */
  fleetName?: string;
  /** Each phase as it ends, with its duration. */
  onPhase?: (line: string, seconds: number) => void;
  onPretrainProgress?: (step: number) => void;
  onOnlineProgress?: (onlineTransitions: number, servedVersion: string) => void;
  /** More fields for summary.json (e.g. the command's flags). */
  summaryExtra?: Record<string, unknown>;
}

export interface LoopScores {
  nominal: EvalResult;
  mild: EvalResult;
}

export interface OfflineToOnlineResult {
  recipe: string;
  transitions: number;
  before: LoopScores;
  after: LoopScores;
  /** 'mild' score of each published policy, the offline one first. */
  curve: { onlineSteps: number; version: string; normalized: number; ret: number }[];
  online: OnlineLearnerStatus;
  servedVersion: string;
  phases: { name: string; seconds: number }[];
  files: { offlinePolicy: string; finalPolicy: string; report: string; summary: string; publicKey: string };
}

export async function runOfflineToOnline(o: OfflineToOnlineOptions): Promise<OfflineToOnlineResult> {
  const { task, algo, out, seed } = o;
  mkdirSync(out, { recursive: true });
  const phases: { name: string; seconds: number }[] = [];
  let t0 = Date.now();
  const phase = (name: string) => {
    const seconds = (Date.now() - t0) / 1000;
    phases.push({ name, seconds });
    o.onPhase?.(name, seconds);
    t0 = Date.now();
  };

  // 1. Dataset.
  const recipe = `${task}-medium-replay`;
  const dataset = await generateRecipe(recipe, seed);
  phase(`dataset ${recipe}: ${dataset.size} transitions`);

  // 2. Offline pretraining.
  const env = await makeEnv(task);
  const mild = await makeEnv(task, { randomization: 'mild' });
  const pre = await train({
    algo,
    dataset,
    datasetId: recipe,
    task: taskOf(env.spec),
    steps: o.pretrain,
    seed,
    // Small networks and 4 sampled actions (CORL: 3x256, 10) keep the loop within minutes on 2 cores.
    // CQL/Cal-QL fine-tune with α_cql = 1 online (CORL's cql_alpha_online; its default keeps the
    // offline value): it fine-tuned better on hopper-medium-replay (BENCHMARKS.md, "Offline-to-online
    // fine-tuning"). Every other setting is the algorithm's CORL default.
    config: {
      ...pickSettings(algo, { hidden: [64, 64], actorHidden: [64, 64], criticHidden: [64, 64], nActions: 4, cqlAlphaOnline: 1, maxSteps: o.pretrain + o.online }),
      ...o.config,
    },
    rewardNormalization: 'episode-return-range',
    logPath: join(out, 'offline-metrics.jsonl'),
    session: { threads: 1 },
    onProgress: (p) => o.onPretrainProgress?.(p.step),
  });
  try {
    const evalBoth = async (): Promise<LoopScores> => ({
      nominal: await evaluateLearner(env, pre, o.evalEpisodes, 10_000 + seed),
      mild: await evaluateLearner(mild, pre, o.evalEpisodes, 20_000 + seed),
    });
    const before = await evalBoth();
    phase(`offline ${algo}, ${o.pretrain} steps: normalized score ${before.nominal.normalized.toFixed(1)} nominal, ${before.mild.normalized.toFixed(1)} mild`);

    // 3. Deploy: sign, broker, fleet.
    const key = generateSigningKey();
    const publicKey = join(out, 'signing-key.pub.pem');
    writeFileSync(publicKey, key.publicKeyPem);
    const card = { name: `${task}-${algo}`, task, algorithm: algo, datasetId: recipe, seed };
    const offlinePolicy = join(out, 'policy-offline.onnx');
    exportPolicy({
      policy: pre.learner.policy(),
      card: { ...card, version: 'offline', trainingSteps: o.pretrain },
      obsMean: pre.obsStats?.mean,
      obsStd: pre.obsStats?.std,
      signingKey: key.privateKeyPem,
      out: offlinePolicy,
    });
    const broker = await startBroker({ port: 0 });
    const logFor = (i: number) => (l: string) => appendFileSync(join(out, `robot-${i}.log`), `${new Date().toISOString()} ${l}\n`);
    const fleetName = o.fleetName ?? 'robots';
    let fleet: Awaited<ReturnType<StartFleet>>;
    try {
      fleet = await (o.fleet ?? simulatedMqttFleet)({
        url: broker.url,
        policy: offlinePolicy,
        trustedKeyFile: publicKey,
        robots: o.robots,
        task,
        profile: 'mild',
        seed,
        explore: o.explore,
        dir: out,
        logFor,
      });
    } catch (e) {
      await broker.close();
      throw e;
    }
    phase(`signed policy ${offlinePolicy}; embedded broker ${broker.url}; ${o.robots} ${fleetName} serving ${fleet.version}`);

    // 4. Online fine-tuning.
    const curvePath = join(out, 'online-curve.jsonl');
    writeFileSync(
      curvePath,
      `${JSON.stringify({ step: o.pretrain, online_steps: 0, version: 'offline', eval_return: before.mild.mean, eval_normalized: before.mild.normalized })}\n`,
    );
    const curve: OfflineToOnlineResult['curve'] = [{ onlineSteps: 0, version: 'offline', normalized: before.mild.normalized, ret: before.mild.mean }];
    let st: OnlineLearnerStatus;
    let served: string;
    try {
      st = await fineTuneOnline({
        pre,
        url: broker.url,
        storeDir: join(out, 'online-dataset'),
        envId: task,
        utd: 1,
        warmup: 256,
        budget: { transitions: o.online },
        publishEvery: o.publishEvery,
        card,
        signingKey: key.privateKeyPem,
        checkpointDir: join(out, 'checkpoints'),
        seed,
        log: (l) => appendFileSync(join(out, 'learner.log'), `${new Date().toISOString()} ${l}\n`),
        onPublish: async (version, _updates, onlineSteps) => {
          const r = await evaluateLearner(mild, pre, o.evalEpisodes, 20_000 + seed);
          curve.push({ onlineSteps, version, normalized: r.normalized, ret: r.mean });
          appendFileSync(curvePath, `${JSON.stringify({ step: pre.learner.steps, online_steps: onlineSteps, version, eval_return: r.mean, eval_normalized: r.normalized })}\n`);
        },
        robots: (ctx) => fleet.run(ctx.done),
        onProgress: (s) => o.onOnlineProgress?.(s.onlineTransitions, fleet.version),
      });
      // the learner's last update reaches every robot over MQTT before the fleet stops
      if (st.published.length) await fleet.waitForVersion(st.published.at(-1)!, 5000);
      served = fleet.version;
    } finally {
      await fleet.close();
      await broker.close();
    }
    phase(`online: ${st.onlineTransitions} transitions from ${o.robots} ${fleetName}, ${st.updates} updates, ${st.published.length} policies published, serving ${served}`);

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
      await evaluatePolicy({ policy: finalPolicy, task, profiles: ['nominal', 'mild', 'harsh'], episodes: o.evalEpisodes * 2, seed: 30_000 + seed, curve: curvePath }),
      join(out, 'report'),
    );
    phase(`sim-to-real report: ${report.html}`);
    const summaryPath = join(out, 'summary.json');
    const result: OfflineToOnlineResult = {
      recipe,
      transitions: dataset.size,
      before,
      after,
      curve,
      online: st,
      servedVersion: served,
      phases,
      files: { offlinePolicy, finalPolicy, report: report.html, summary: summaryPath, publicKey },
    };
    const summary = { task, algo, ...o.summaryExtra, dataset: { recipe, transitions: dataset.size }, before, after, curve, online: st, servedVersion: served, phases };
    writeFileSync(summaryPath, `${JSON.stringify(summary, (_k, v) => (v instanceof Float32Array || v instanceof Float64Array ? Array.from(v) : v), 2)}\n`);
    return result;
  } finally {
    pre.learner.dispose();
    env.close();
    mild.close();
  }
}
