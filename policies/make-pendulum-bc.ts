/**
 * Rebuilds policies/pendulum-bc.onnx: behaviour cloning of the energy-pumping swing-up controller
 * (pendulumSwingUp in src/train/datasets.ts) on the pendulum, exported with its card. The card's evaluation
 * is measured here through the serving runtime (PolicyRuntime.act, the path every transport
 * uses), so a robot served over MQTT or ROS must reproduce it.
 *
 *   npx tsx policies/make-pendulum-bc.ts
 */
import { fileURLToPath } from 'node:url';
import { BC } from '../src/algos/index.js';
import { DatasetBuilder, UniformSampler } from '../src/data/index.js';
import { exportPolicy, PolicyRuntime, writeAtomic } from '../src/serve/index.js';
import { makeEnv } from '../simulators/index.js';
import { Rng } from '../src/util/rng.js';
import { pendulumSwingUp } from '../src/train/datasets.js';

export const PENDULUM_POLICY = fileURLToPath(new URL('./pendulum-bc.onnx', import.meta.url));
/** The evaluation protocol the card records (and the end-to-end test repeats over MQTT). */
export const PENDULUM_EVAL = { task: 'pendulum', profile: 'mild', episodes: 5, seed: 100 } as const;

const SEED = 0;
const EPISODES = 60;
const STEPS = 4000;
const HIDDEN = [64, 64];

/** Mean return of `rt` under PENDULUM_EVAL, stepping the simulator in-process. */
export async function evaluateRuntime(rt: PolicyRuntime): Promise<{ mean: number; std: number; returns: number[] }> {
  const env = await makeEnv(PENDULUM_EVAL.task, { randomization: PENDULUM_EVAL.profile });
  const returns: number[] = [];
  for (let ep = 0; ep < PENDULUM_EVAL.episodes; ep++) {
    let obs = env.reset(PENDULUM_EVAL.seed + ep);
    let total = 0;
    for (;;) {
      const r = env.step(rt.act(obs));
      total += r.reward;
      obs = r.obs;
      if (r.terminated || r.truncated) break;
    }
    returns.push(total);
  }
  env.close();
  const mean = returns.reduce((a, b) => a + b, 0) / returns.length;
  const std = Math.sqrt(returns.reduce((a, b) => a + (b - mean) ** 2, 0) / returns.length);
  return { mean, std, returns };
}

async function main(): Promise<void> {
  const env = await makeEnv('pendulum');
  const rng = new Rng(SEED);
  const b = new DatasetBuilder(3, 1, { capacity: EPISODES * 200 });
  for (let ep = 0; ep < EPISODES; ep++) {
    let obs = env.reset(1000 + ep);
    for (;;) {
      // Noisy execution widens the state coverage; the label is the controller's clean action.
      const label = pendulumSwingUp(obs)[0]!;
      const u = Math.max(-2, Math.min(2, label + 0.3 * rng.normal()));
      const r = env.step([u]);
      b.add({ obs, action: [label], reward: r.reward, nextObs: r.obs, terminal: r.terminated, timeout: r.truncated });
      obs = r.obs;
      if (r.terminated || r.truncated) break;
    }
  }
  env.close();
  const ds = b.build();
  const learner = await BC.create({ obsDim: 3, actDim: 1, maxAction: 2 }, { hidden: HIDDEN, batchSize: 256, actorLr: 1e-3 }, SEED);
  const sampler = new UniformSampler(ds, { batchSize: 256, seed: SEED });
  for (let i = 0; i < STEPS; i++) learner.update(sampler.sample());
  const policy = learner.policy();
  learner.dispose();
  const card = {
    name: 'pendulum-bc',
    version: '1.0.0',
    task: 'pendulum',
    algorithm: 'bc',
    datasetId: `pendulum-swingup-demos-${EPISODES}ep-noise0.3-seed${SEED}`,
    trainingSteps: STEPS,
    seed: SEED,
    obsNames: ['cos_theta', 'sin_theta', 'theta_dot'],
    actNames: ['torque'],
    actLow: [-2],
    actHigh: [2],
    notes: `BC (${HIDDEN.join('x')} MLP, batch 256, Adam 1e-3) on the swing-up controller's clean actions along noisy rollouts; rebuilt by policies/make-pendulum-bc.ts`,
    createdAt: '2026-11-27T00:00:00Z',
  };
  // Export once to measure, then again with the measurement in the card (same weights, same graph).
  const probe = exportPolicy({ policy, card });
  const rt = PolicyRuntime.open({ bytes: probe.bytes, source: 'pendulum-bc (probe)' });
  const ev = await evaluateRuntime(rt);
  rt.dispose();
  const res = exportPolicy({
    policy,
    out: PENDULUM_POLICY,
    card: {
      ...card,
      evaluation: {
        ...PENDULUM_EVAL,
        meanReturn: Number(ev.mean.toFixed(4)),
        stdReturn: Number(ev.std.toFixed(4)),
        measuredAt: '2026-11-27',
        machine: '2-core dev VM, Node 20.20.2 (deterministic: the same on any machine up to float rounding)',
      },
    },
  });
  // A readable copy of the card (the artifact's own metadata_props are authoritative).
  writeAtomic(PENDULUM_POLICY.replace(/\.onnx$/, '.card.json'), `${JSON.stringify(res.card, null, 2)}\n`);
  console.log(
    `wrote ${PENDULUM_POLICY} (${res.bytes.length} bytes, sha256 ${res.sha256.slice(0, 12)}…): mean return ${ev.mean.toFixed(2)} ± ${ev.std.toFixed(2)} over ${PENDULUM_EVAL.episodes} episodes [${ev.returns.map((r) => r.toFixed(1)).join(', ')}]`,
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
