import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { serialize } from '../../src/engine/index.js';
import { policyGraph } from '../../src/nn/index.js';
import { exportPolicyFile, PolicyRuntime, readArtifactFile, writeSigningKey } from '../../src/serve/index.js';
import { randomActor, referenceAction, tempDir } from './fixtures.js';

describe('o2o export / keygen (library side)', () => {
  it("seals an 'o2o train --out' file into a signed artifact; its legacy metadata seeds the card; actions unchanged", () => {
    const dir = tempDir();
    const actor = randomActor({}, 9);
    const plain = join(dir, 'trained.onnx');
    writeFileSync(
      plain,
      serialize(policyGraph(actor.spec, actor.layout, actor.params), {
        metadata: { 'o2o.algo': 'iql', 'o2o.task': 'hopper', 'o2o.dataset': 'hopper-medium', 'o2o.steps': '1000', 'o2o.seed': '3' },
      }),
    );
    const keys = writeSigningKey(join(dir, 'keys'));
    expect(statSync(keys.privateKeyFile).mode & 0o777).toBe(0o600);
    expect(() => writeSigningKey(join(dir, 'keys'))).toThrow(/refusing to overwrite/);
    const out = join(dir, 'policy.onnx');
    const res = exportPolicyFile({ from: plain, out, version: '2.0.0', signingKeyFile: keys.privateKeyFile, actLow: [-1.5, -1.5], actHigh: [1.5, 1.5] });
    expect(res.card).toMatchObject({
      name: 'policy',
      version: '2.0.0',
      algorithm: 'iql',
      task: 'hopper',
      datasetId: 'hopper-medium',
      trainingSteps: 1000,
      seed: 3,
      observation: { dim: 5 },
      action: { dim: 2 },
    });
    const rt = PolicyRuntime.open(readArtifactFile(out), { trust: { publicKeys: [readFileSync(keys.publicKeyFile, 'utf8')] } });
    expect(rt.status().verifiedBy).toBe('signature');
    const obs = [1, -1, 0.5, 0.25, 0];
    expect(Math.abs(rt.act(obs)[1]! - referenceAction(actor, obs)[1]!)).toBeLessThan(1e-5);
    rt.dispose();
    // A release version for an existing artifact: only the card's version changes, actions stay bit-identical.
    const rel = exportPolicyFile({ from: out, out: join(dir, 'release.onnx'), version: '3.0.0', signingKeyFile: keys.privateKeyFile });
    expect(rel.card).toMatchObject({ version: '3.0.0', algorithm: 'iql', trainingSteps: 1000 });
    expect(rel.card.notes).toMatch(/released as 3.0.0 from 2.0.0/);
    expect(rel.sha256).not.toBe(res.sha256);
    const r2 = PolicyRuntime.open(readArtifactFile(join(dir, 'release.onnx')), { trust: { publicKeys: [readFileSync(keys.publicKeyFile, 'utf8')] } });
    const r1 = PolicyRuntime.open(readArtifactFile(out), { trust: { publicKeys: [readFileSync(keys.publicKeyFile, 'utf8')] } });
    expect(r2.status().version).toBe('3.0.0');
    expect(Array.from(r2.act(obs))).toEqual(Array.from(r1.act(obs)));
    r1.dispose();
    r2.dispose();
    // Signing an existing artifact keeps its bytes and card.
    const other = writeSigningKey(join(dir, 'keys'), 'other');
    const again = exportPolicyFile({ from: out, out: join(dir, 'again.onnx'), signingKeyFile: other.privateKeyFile });
    expect(again.sha256).toBe(res.sha256);
    expect(again.signature?.keyId).toBe(other.keyId);
    expect(readFileSync(join(dir, 'again.onnx')).equals(readFileSync(out))).toBe(true);
  });
});
