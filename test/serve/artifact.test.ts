import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BC } from '../../src/algos/index.js';
import { DatasetBuilder, UniformSampler } from '../../src/data/index.js';
import { ArtifactError, exportPolicy, generateSigningKey, outlineOnnx, PolicyModel, readArtifactFile, readCard, verifyArtifact } from '../../src/serve/index.js';
import { missingPythonModule, requireOrSkip, runPython } from '../helpers/python.js';
import { randomActor, referenceAction, tempDir } from './fixtures.js';
import { Rng } from '../../src/util/rng.js';
import { mlpPolicy } from '../../src/nn/index.js';

describe('policy artifacts', () => {
  it('export a trained BC actor: card and sha256 in metadata_props, onnx.checker passes, actions match the training-time actor (< 1e-5)', async () => {
    const obsDim = 4;
    const actDim = 2;
    const rng = new Rng(3);
    const b = new DatasetBuilder(obsDim, actDim, { capacity: 512 });
    for (let i = 0; i < 512; i++) {
      const o = Array.from({ length: obsDim }, () => rng.normal());
      b.add({ obs: o, action: [Math.tanh(o[0]! - o[1]!), Math.tanh(0.5 * o[2]!)], reward: 0, nextObs: o, terminal: false, timeout: i % 64 === 63 });
    }
    const ds = b.build();
    const learner = await BC.create({ obsDim, actDim, maxAction: 1 }, { hidden: [32, 32], batchSize: 64 }, 0);
    const sampler = new UniformSampler(ds, { batchSize: 64, seed: 1 });
    for (let i = 0; i < 50; i++) learner.update(sampler.sample());
    const actor = learner.actor();
    learner.dispose();
    const obsMean = Float32Array.of(0.1, -0.2, 0.3, 0);
    const obsStd = Float32Array.of(1.5, 0.5, 2, 1);
    const dir = tempDir();
    const out = join(dir, 'bc.onnx');
    const res = exportPolicy({
      policy: mlpPolicy(actor),
      obsMean,
      obsStd,
      out,
      card: {
        name: 'bc-test',
        version: '1.2.3',
        task: 'synthetic',
        algorithm: 'bc',
        datasetId: 'synthetic-512',
        trainingSteps: 50,
        seed: 0,
        obsNames: ['a', 'b', 'c', 'd'],
        actNames: ['u', 'v'],
      },
    });
    const v = verifyArtifact(readArtifactFile(out));
    expect(v.verifiedBy).toBe('sha256');
    expect(v.card).toMatchObject({
      version: '1.2.3',
      algorithm: 'bc',
      datasetId: 'synthetic-512',
      trainingSteps: 50,
      observation: { dim: 4, names: ['a', 'b', 'c', 'd'] },
      action: { dim: 2, low: [-1, -1], high: [1, 1] },
    });

    const model = PolicyModel.load(res.bytes, out);
    expect([model.obsDim, model.actDim, model.inputName, model.outputName]).toEqual([4, 2, 'obs', 'action']);
    let maxDiff = 0;
    for (let k = 0; k < 100; k++) {
      const o = Array.from({ length: obsDim }, () => 2 * rng.normal());
      model.obs.set(o);
      model.infer();
      const ref = referenceAction(actor, o, obsMean, obsStd);
      for (let j = 0; j < actDim; j++) maxDiff = Math.max(maxDiff, Math.abs(model.action[j]! - ref[j]!));
    }
    model.dispose();
    expect(maxDiff).toBeLessThan(1e-5);

    if (requireOrSkip(missingPythonModule('onnx', 'python3-onnx'))) {
      const py = runPython(
        `import onnx, sys, json\nm = onnx.load(sys.argv[1])\nonnx.checker.check_model(m, full_check=True)\nprint(json.dumps({'ir': m.ir_version, 'opset': [o.version for o in m.opset_import], 'meta': {p.key: p.value for p in m.metadata_props}, 'batch': m.graph.input[0].type.tensor_type.shape.dim[0].dim_param}))`,
        [out],
      );
      const info = JSON.parse(py) as { ir: number; opset: number[]; meta: Record<string, string>; batch: string };
      expect(info.ir).toBe(8);
      expect(info.opset).toEqual([17]);
      expect(info.batch).toBe('batch');
      expect(info.meta['o2o.sha256']).toBe(res.sha256);
      expect(info.meta['o2o.algorithm']).toBe('bc');
      expect(JSON.parse(info.meta['o2o.card']!).version).toBe('1.2.3');
    }
  });

  it('tanh-gaussian actors export their deterministic action (tanh of the mean)', () => {
    const actor = randomActor({ kind: 'tanh-gaussian', obsDim: 3, actDim: 2, maxAction: 2 }, 7);
    const res = exportPolicy({ policy: mlpPolicy(actor), card: { name: 'sac', version: 'v', task: 't', algorithm: 'sac' } });
    const m = PolicyModel.load(res.bytes, 'sac');
    m.obs.set([0.3, -1, 2]);
    m.infer();
    const ref = referenceAction(actor, [0.3, -1, 2]);
    expect(Math.abs(m.action[0]! - ref[0]!)).toBeLessThan(1e-5);
    expect(Math.abs(m.action[1]! - ref[1]!)).toBeLessThan(1e-5);
    m.dispose();
    // The distribution outputs beside it (for exploration) keep the artifact a valid ONNX model.
    expect(res.card.distribution).toEqual({ kind: 'tanh-gaussian', loc: 'action_loc', logStd: 'action_log_std', scale: 2 });
    if (requireOrSkip(missingPythonModule('onnx', 'python3-onnx'))) {
      const dir = tempDir();
      for (const [name, bytes] of [
        ['sac', res.bytes],
        ['iql', exportPolicy({ policy: mlpPolicy(randomActor({ kind: 'gaussian' }, 2)), card: { name: 'iql', version: 'v', task: 't', algorithm: 'iql' } }).bytes],
      ] as const) {
        const file = join(dir, `${name}.onnx`);
        writeFileSync(file, bytes);
        const outputs = runPython(`import onnx, sys\nm = onnx.load(sys.argv[1])\nonnx.checker.check_model(m, full_check=True)\nprint(','.join(o.name for o in m.graph.output))`, [
          file,
        ]).trim();
        expect(outputs).toBe('action,action_loc,action_log_std');
      }
    }
  });

  it('ed25519 signatures: valid ones pass, unsigned / wrong key / tampered files are refused with the reason', () => {
    const key = generateSigningKey();
    const other = generateSigningKey();
    const dir = tempDir();
    const out = join(dir, 'p.onnx');
    exportPolicy({ policy: mlpPolicy(randomActor()), card: { name: 'p', version: 'v1', task: 't', algorithm: 'a' }, out, signingKey: key.privateKeyPem });
    const input = readArtifactFile(out);
    expect(input.signature?.keyId).toBe(key.keyId);
    const ok = verifyArtifact(input, { publicKeys: [key.publicKeyPem] });
    expect([ok.verifiedBy, ok.keyId]).toEqual(['signature', key.keyId]);

    expect(() => verifyArtifact({ ...input, signature: null }, { publicKeys: [key.publicKeyPem] })).toThrow(/unsigned/);
    expect(() => verifyArtifact(input, { publicKeys: [other.publicKeyPem] })).toThrow(/not among the trusted keys/);
    const sig = { ...input.signature!, keyId: other.keyId };
    expect(() => verifyArtifact({ ...input, signature: sig }, { publicKeys: [other.publicKeyPem] })).toThrow(/signature by key .* does not match/);

    // Flip one byte inside the weights: both the embedded sha256 and the signature catch it.
    const bad = Uint8Array.from(input.bytes);
    bad[Math.floor(bad.length / 2)]! ^= 0x40;
    expect(() => verifyArtifact({ ...input, bytes: bad }, {})).toThrow(/sha256 mismatch/);
    expect(() => verifyArtifact({ ...input, bytes: bad }, { publicKeys: [key.publicKeyPem] })).toThrow(ArtifactError);
    // Truncated file and garbage.
    expect(() => verifyArtifact({ bytes: input.bytes.subarray(0, 100), source: 'cut.onnx' })).toThrow(/cut\.onnx/);
    expect(() => verifyArtifact({ bytes: new TextEncoder().encode('not a model at all'), source: 'x.onnx' })).toThrow(/not an ONNX model/);
  });

  it('foreign files without a hash are refused unless a .sha256 vouches for them or unverified files are allowed', () => {
    const dir = tempDir();
    const res = exportPolicy({ policy: mlpPolicy(randomActor()), card: { name: 'p', version: 'v1', task: 't', algorithm: 'a' } });
    // Strip the o2o metadata: what a plain ONNX export looks like.
    const plain = Uint8Array.from(res.bytes);
    const file = join(dir, 'foreign.onnx');
    const o = outlineOnnx(plain, 'x');
    const first = o.metadata[0]!.start;
    writeFileSync(file, plain.subarray(0, first));
    expect(readCard(readFileSync(file))).toBeNull();
    expect(() => verifyArtifact(readArtifactFile(file))).toThrow(/carries no o2o.sha256 and no signature/);
    expect(verifyArtifact(readArtifactFile(file), { allowUnverified: true }).verifiedBy).toBe('none');
    writeFileSync(`${file}.sha256`, `${createHash('sha256').update(readFileSync(file)).digest('hex')}  foreign.onnx\n`);
    expect(verifyArtifact(readArtifactFile(file)).verifiedBy).toBe('sha256');
    writeFileSync(`${file}.sha256`, `${'0'.repeat(64)}  foreign.onnx\n`);
    expect(() => verifyArtifact(readArtifactFile(file))).toThrow(/expected 000000000000/);
  });
});
