/**
 * A hand-built 'chunked' policy whose chunk is a checkable function of its inputs, and a float64
 * model of it: action[j][i] = tanh(Σ_p u_p (o_p · W_i) + j·C + S·noise[j][i]), with position
 * weights u (the newest observation weighs most, the oldest differs: a misplaced history shows),
 * j the chunk row. Observations [B, K, 3], noise [B, H, 2], action [B, H, 2].
 */
import { Graph, ParamLayout, serialize, type Tensor } from '../../src/engine/index.js';
import type { PolicyInterface, ServingGraph } from '../../src/nn/index.js';
import { exportPolicy, type ExportResult, type PolicyDescription } from '../../src/serve/index.js';
import { Rng } from '../../src/util/rng.js';

export const K = 2;
export const H = 6;
const OBS = 3;
export const ACT = 2;
const U = [0.25, 1];
const W = [
  [0.5, -0.3],
  [0.2, 0.4],
  [-0.1, 0.05],
];
const C = 0.1;
const S = 0.3;

export function chunkInterface(actionHorizon: number | null = 3, noise = true): PolicyInterface {
  return {
    kind: 'chunked',
    contextLength: K,
    chunkLength: H,
    extraInputs: noise ? [{ name: 'noise', role: 'noise', shape: [H, ACT], dtype: 'float32' }] : [],
    ...(actionHorizon === null ? {} : { actionHorizon }),
  };
}

function build(g: Graph, obs: Tensor, noise: Tensor | null, scale = 1, act = ACT): Tensor {
  const c = (v: number[], shape: number[]) => g.constant(Float32Array.from(v), shape);
  const pooled = g.reduceSum(g.mul(obs, c(U, [K, 1])), [1], true); // [B, 1, OBS]
  const w = W.flatMap((r) => r.slice(0, act));
  const rows = Array.from({ length: H * act }, (_, k) => Math.floor(k / act) * C * scale);
  let h = g.add(g.matmul(pooled, c(w, [OBS, act])), c(rows, [H, act])); // [B, H, act]
  if (noise) h = g.add(h, g.mul(noise, S));
  return g.tanh(h);
}

function chunkPolicy(iface = chunkInterface(), scale = 1): ServingGraph {
  const layout = new ParamLayout('toy', [{ name: 'unused', shape: [1], init: { kind: 'constant', value: 0 } }]);
  return {
    interface: iface,
    obsDim: OBS,
    actDim: ACT,
    maxAction: 1,
    distribution: null,
    weights: { toy: { layout, values: layout.init(0) } },
    build: (g, io) => ({ action: build(g, io.observation, iface.extraInputs.length ? io.extra.noise! : null, scale) }),
  };
}

export function exportChunk(opts: { iface?: PolicyInterface; version?: string; scale?: number; out?: string } = {}): ExportResult {
  return exportPolicy({
    policy: chunkPolicy(opts.iface, opts.scale),
    card: { name: 'toy-chunk', version: opts.version ?? 'chunk-v1', task: 'fixture', algorithm: 'toy', createdAt: '2026-12-01T00:00:00Z' },
    out: opts.out,
  });
}

/** The toy in pendulum's spaces (obs 3, one torque in ±2 = 2·tanh(…)), noise [H, 1]: it can drive the simulator. */
export function pendulumChunk(): ExportResult {
  const iface: PolicyInterface = {
    kind: 'chunked',
    contextLength: K,
    chunkLength: H,
    actionHorizon: 4,
    extraInputs: [{ name: 'noise', role: 'noise', shape: [H, 1], dtype: 'float32' }],
  };
  const layout = new ParamLayout('toy', [{ name: 'unused', shape: [1], init: { kind: 'constant', value: 0 } }]);
  const policy: ServingGraph = {
    interface: iface,
    obsDim: OBS,
    actDim: 1,
    maxAction: 2,
    distribution: null,
    weights: { toy: { layout, values: layout.init(0) } },
    build: (g, io) => ({ action: g.mul(build(g, io.observation, io.extra.noise!, 1, 1), 2) }),
  };
  return exportPolicy({ policy, card: { name: 'toy-chunk-pendulum', version: 'p1', task: 'pendulum', algorithm: 'toy', createdAt: '2026-12-01T00:00:00Z' } });
}

/** The chunk in float64: history = the K observations fed (oldest first), noise [H·ACT] or null. */
export function refChunk(history: number[][], noise: ArrayLike<number> | null, scale = 1): number[][] {
  const pooled = Array.from({ length: OBS }, (_, k) => history.reduce((s, o, p) => s + U[p]! * o[k]!, 0));
  return Array.from({ length: H }, (_, j) =>
    Array.from({ length: ACT }, (_, i) => Math.tanh(pooled.reduce((s, v, k) => s + v * W[k]![i]!, 0) + j * C * scale + (noise ? S * noise[j * ACT + i]! : 0))),
  );
}

/** The noise draws the runtime makes for its plans, in order, from seed. */
export function noiseDraws(seed: number): () => number[] {
  const rng = new Rng(seed);
  return () => Array.from({ length: H * ACT }, () => Math.fround(rng.normal()));
}

/** A foreign chunked export (LeRobot/ACT style): input 'obs' [1, K, OBS], output 'actions' [H, act] (no batch), no noise; act 1 fits pendulum. */
export function foreignChunkBytes(act = ACT): Uint8Array {
  const g = new Graph();
  const o = g.input('obs', [1, K, OBS]);
  g.output('actions', g.reshape(build(g, o, null, 1, act), [H, act]));
  return serialize(g, { name: 'act-like' });
}

export function foreignChunkDescription(actionHorizon = 4): PolicyDescription {
  return { interface: chunkInterface(actionHorizon, false), inputName: 'obs', outputName: 'actions' };
}
