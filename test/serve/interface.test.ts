/**
 * Each learner returns its own serving graph (Learner.policy()) and export seals it; the card
 * records the policy's interface. test/serve/pre-interface/<algo>.onnx were exported by the code
 * before serving graphs existed (commit 13a2d21):
 *
 *   const l = await createLearner(algo, TASK, CONFIGS[algo], 3, { threads: 1 });
 *   exportPolicy({ actor: l.actor(), card: { name: `fixture-${algo}`, version: 'pre-interface', task: 'fixture',
 *     algorithm: algo, createdAt: '2026-01-01T00:00:00.000Z' }, obsMean: OBS_MEAN, obsStd: OBS_STD });
 *
 * The learners below are built the same way (same seed: our initialization is deterministic), so
 * today's export must give the same graph and the same actions; should the networks' initialization
 * ever change on purpose, make the fixtures again with the snippet above at the commit before it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLearner, type Learner } from '../../src/algos/index.js';
import { allocBatch } from '../../src/data/index.js';
import { evaluatePolicy } from '../../src/eval/index.js';
import { type Graph, ParamLayout, type Tensor } from '../../src/engine/index.js';
import { MLP_INTERFACE, type PolicyInterface, type ServingGraph } from '../../src/nn/index.js';
import { exportPolicy, outlineOnnx, PolicyModel, PolicyRuntime, policyInterfaceOf, readCard, resealArtifact, verifyArtifact, writeAtomic } from '../../src/serve/index.js';
import { missingPythonModule, requireOrSkip, runPython } from '../helpers/python.js';
import { exportRandom, tempDir } from './fixtures.js';

const TASK = { obsDim: 3, actDim: 2, maxAction: 1 };
const CONFIGS: Record<string, object> = {
  bc: { hidden: [8, 8], batchSize: 4 },
  td3bc: { hidden: [8, 8], batchSize: 4 },
  iql: { hidden: [8, 8], batchSize: 4 },
  cql: { actorHidden: [8, 8], criticHidden: [8, 8], batchSize: 4, nActions: 2 },
  calql: { actorHidden: [8, 8], criticHidden: [8, 8], batchSize: 4, nActions: 2 },
  sac: { actorHidden: [8, 8], criticHidden: [8, 8], batchSize: 4 },
};
const OBS_MEAN = Float32Array.from([0.5, -1, 2]);
const OBS_STD = Float32Array.from([2, 0.5, 1.5]);
const OBSERVATIONS = [
  [0, 0, 0],
  [1.5, -2, 3],
  [-4, 0.25, 10],
];

const fixture = (algo: string): Uint8Array => new Uint8Array(readFileSync(join(import.meta.dirname, 'pre-interface', `${algo}.onnx`)));

/** Every top-level field of the ONNX model except metadata_props (where the card lives). */
function graphBytes(bytes: Uint8Array): Buffer {
  return Buffer.concat(
    outlineOnnx(bytes, 'test')
      .fields.filter((f) => f.field !== 14)
      .map((f) => bytes.subarray(f.start, f.end)),
  );
}

/** Action, and loc / log std where the card has a distribution, on each observation. */
function outputs(bytes: Uint8Array): number[][] {
  const card = readCard(bytes)!;
  const d = card.distribution;
  const m = PolicyModel.load(bytes, card.name, { distribution: d ? { loc: d.loc, logStd: d.logStd } : undefined });
  try {
    return OBSERVATIONS.map((o) => {
      m.obs.set(o);
      if (m.hasDistribution) m.inferDistribution();
      else m.infer();
      return [...m.action, ...m.loc, ...m.logStd];
    });
  } finally {
    m.dispose();
  }
}

describe('learners return their serving graph; export seals it into the same ONNX as before', () => {
  for (const algo of Object.keys(CONFIGS)) {
    it(`${algo}: the graph and its outputs are identical to the artifact exported before serving graphs existed`, async () => {
      const l: Learner = await createLearner(algo, TASK, CONFIGS[algo], 3, { threads: 1 });
      const policy = l.policy();
      l.dispose();
      expect(policy.interface).toEqual(MLP_INTERFACE);
      const now = exportPolicy({
        policy,
        card: { name: `fixture-${algo}`, version: 'pre-interface', task: 'fixture', algorithm: algo, createdAt: '2026-01-01T00:00:00.000Z' },
        obsMean: OBS_MEAN,
        obsStd: OBS_STD,
      });
      const before = fixture(algo);
      expect(graphBytes(now.bytes).equals(graphBytes(before))).toBe(true);
      expect(outputs(now.bytes)).toEqual(outputs(before));
      // Only the card changed: it gained the interface.
      const { interface: iface, ...rest } = readCard(now.bytes)!;
      expect(iface).toEqual({ kind: 'mlp', contextLength: 1, chunkLength: 1, extraInputs: [] });
      expect(rest).toEqual(readCard(before));
    });
  }

  it("a learner's serving graph is a snapshot: training later does not change it", async () => {
    const l = await createLearner('bc', TASK, { ...CONFIGS.bc, updatesPerRun: 1 }, 0, { threads: 1 });
    const policy = l.policy();
    const before = Float32Array.from(policy.weights.actor!.values);
    const batch = allocBatch(4, 3, 2);
    batch.actions.fill(0.5);
    l.update(batch);
    expect(Array.from(policy.weights.actor!.values)).toEqual(Array.from(before));
    expect(Array.from(l.policy().weights.actor!.values)).not.toEqual(Array.from(before));
    l.dispose();
  });
});

describe('artifacts exported before the card had an interface', () => {
  it("load, verify and serve as 'mlp' policies", () => {
    for (const algo of Object.keys(CONFIGS)) {
      const bytes = fixture(algo);
      const card = readCard(bytes)!;
      expect(card.interface).toBeUndefined();
      expect(policyInterfaceOf(card)).toEqual(MLP_INTERFACE);
      expect(verifyArtifact({ bytes, source: algo }).verifiedBy).toBe('sha256');
      const rt = PolicyRuntime.open({ bytes, source: algo });
      expect(rt.policyInterface.kind).toBe('mlp');
      const a = rt.act([0.1, 0.2, 0.3]);
      expect(a.length).toBe(2);
      expect([...a].every(Number.isFinite)).toBe(true);
      rt.dispose();
    }
    // Foreign files carry no card at all: 'mlp' too.
    expect(policyInterfaceOf(null)).toEqual(MLP_INTERFACE);
  });
});

/**
 * A toy sequence policy (what a Decision Transformer declares, without the transformer): the
 * last 4 observations, returns-to-go and timesteps in, the next action out.
 */
function toySequencePolicy(): ServingGraph {
  const K = 4;
  const layout = new ParamLayout('toy', [{ name: 'w', shape: [3, 2], init: { kind: 'constant', value: 0.1 } }]);
  return {
    interface: {
      kind: 'sequence',
      contextLength: K,
      chunkLength: 1,
      extraInputs: [
        { name: 'returns_to_go', role: 'returns-to-go', shape: [K, 1], dtype: 'float32', default: 3600, scale: 0.001 },
        { name: 'timesteps', role: 'timesteps', shape: [K], dtype: 'int64' },
      ],
    },
    obsDim: 3,
    actDim: 2,
    maxAction: 1,
    distribution: null,
    weights: { toy: { layout, values: layout.init(0) } },
    build(g: Graph, io: { observation: Tensor; extra: Record<string, Tensor> }, w: Record<string, Record<string, Tensor>>) {
      const last = g.reduceMean(io.observation, [1]); // [B, 3]
      const rtg = g.reduceMean(io.extra.returns_to_go!, [1]); // [B, 1]
      return { action: g.tanh(g.add(g.matmul(last, w.toy!.w!), rtg)) };
    },
  };
}

/** A toy chunked policy (Diffusion Policy's / ACT's interface), in pendulum's spaces: 2 observations in, 3 actions out. */
function toyChunkedPolicy(): ServingGraph {
  const layout = new ParamLayout('toy', [{ name: 'w', shape: [3, 3], init: { kind: 'constant', value: 0.1 } }]);
  return {
    interface: { kind: 'chunked', contextLength: 2, chunkLength: 3, extraInputs: [] },
    obsDim: 3,
    actDim: 1,
    maxAction: 1,
    distribution: null,
    weights: { toy: { layout, values: layout.init(0) } },
    build(g: Graph, io: { observation: Tensor }, w: Record<string, Record<string, Tensor>>) {
      return { action: g.reshape(g.tanh(g.matmul(g.reduceMean(io.observation, [1]), w.toy!.w!)), [-1, 3, 1]) };
    },
  };
}

describe('a policy that is not an MLP', () => {
  const card = { name: 'toy-dt', version: 'v1', task: 'fixture', algorithm: 'toy', createdAt: '2026-01-01T00:00:00.000Z' };

  it('exports with its declared inputs and its interface in the card', () => {
    const res = exportPolicy({ policy: toySequencePolicy(), card, obsMean: OBS_MEAN, obsStd: OBS_STD });
    expect(res.card.interface).toEqual(toySequencePolicy().interface);
    expect(readCard(res.bytes)!.interface).toMatchObject({ kind: 'sequence', contextLength: 4, extraInputs: [{ name: 'returns_to_go', default: 3600 }, { name: 'timesteps' }] });
    expect(verifyArtifact({ bytes: res.bytes, source: 'toy' }).verifiedBy).toBe('sha256');
    if (requireOrSkip(missingPythonModule('onnx', 'python3-onnx'))) {
      const file = join(tempDir(), 'toy.onnx');
      writeAtomic(file, res.bytes);
      const inputs = runPython(
        `import onnx, sys\nm = onnx.load(sys.argv[1])\nonnx.checker.check_model(m, full_check=True)\nprint(';'.join(i.name + ':' + ','.join(d.dim_param or str(d.dim_value) for d in i.type.tensor_type.shape.dim) for i in m.graph.input))`,
        [file],
      );
      expect(
        inputs
          .trim()
          .split(';')
          .map((s) => s.replace(/^([^:]*):[^,]*/, '$1:B')),
      ).toEqual(['obs:B,4,3', 'returns_to_go:B,4,1', 'timesteps:B,4']);
    }
  });

  it("a 'sequence' policy is served with its context (test/serve/sequence.test.ts), a 'chunked' one from its action queue (test/serve/chunked.test.ts): at open, at swap, and by o2o eval", async () => {
    const seq = exportPolicy({ policy: toySequencePolicy(), card });
    const served = PolicyRuntime.open({ bytes: seq.bytes, source: 'toy.onnx' });
    expect(served.policyInterface.kind).toBe('sequence');
    expect(served.act([0.1, 0.2, 0.3], { reward: 0, episodeStart: true }).length).toBe(2);
    served.dispose();
    const chunked = exportPolicy({ policy: toyChunkedPolicy(), card: { ...card, name: 'toy-chunks' } });
    const open = PolicyRuntime.open({ bytes: chunked.bytes, source: 'chunks.onnx' });
    expect(open.policyInterface.kind).toBe('chunked');
    expect(open.act([0.1, 0.2, 0.3], { episodeStart: true }).length).toBe(1);
    open.dispose();
    const rt = PolicyRuntime.open({ bytes: exportRandom({ spec: { obsDim: 3, actDim: 1 } }).bytes, source: 'mlp' });
    expect(rt.swap({ bytes: chunked.bytes, source: 'chunks.onnx' }).ok).toBe(true);
    expect(rt.policyInterface.kind).toBe('chunked');
    rt.dispose();
    const file = join(tempDir(), 'chunks.onnx');
    writeAtomic(file, chunked.bytes);
    const report = await evaluatePolicy({ policy: file, task: 'pendulum', episodes: 1 });
    expect(report.policy.kind).toBe('chunked');
    expect(report.policy.chunk).toEqual({ actionHorizon: 3, chunkLength: 3, temporalEnsembling: null });
    expect(Number.isFinite(report.profiles[0]!.mean)).toBe(true);
  });

  it('a card whose interface this version does not know, or that is malformed, is refused naming the problem', () => {
    const good = exportPolicy({ policy: toySequencePolicy(), card });
    const bad = (iface: unknown) => resealArtifact(good.bytes, { ...good.card, interface: iface as PolicyInterface }).bytes;
    expect(() => readCard(bad({ ...toySequencePolicy().interface, kind: 'diffusion' }))).toThrow(
      /kind 'diffusion' is not one this version of o2o knows \(mlp, sequence, chunked\); upgrade o2o/,
    );
    expect(() => readCard(bad({ ...toySequencePolicy().interface, contextLength: 0 }))).toThrow(/contextLength 0 and chunkLength 1 must be integers ≥ 1/);
    expect(() => readCard(bad({ kind: 'mlp', contextLength: 4, chunkLength: 1, extraInputs: [] }))).toThrow(/an 'mlp' policy has context 1, chunk 1 and no extra inputs/);
    expect(() => readCard(bad({ ...toySequencePolicy().interface, extraInputs: [{ name: 'x', role: 'mystery', shape: [1], dtype: 'float32' }] }))).toThrow(
      /extra input .* is not \{ name, role/,
    );
    const chunks = toyChunkedPolicy().interface;
    expect(() => readCard(bad({ ...chunks, actionHorizon: 4 }))).toThrow(/actionHorizon 4: only a 'chunked' policy has one, an integer from 1 to chunkLength \(3\)/);
    expect(() => readCard(bad({ ...toySequencePolicy().interface, actionHorizon: 1 }))).toThrow(/actionHorizon 1: only a 'chunked' policy/);
    expect(() => readCard(bad({ ...chunks, extraInputs: [{ name: 'm', role: 'mask', shape: [2], dtype: 'float32' }] }))).toThrow(/at most one extra input, of role 'noise'/);
  });
});
