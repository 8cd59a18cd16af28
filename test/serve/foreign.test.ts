import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportPolicy, outlineOnnx, PolicyModel, PolicyRuntime, readArtifactFile, sealForeignPolicy, serveMqtt, verifyArtifact } from '../../src/serve/index.js';
import { ActionDecoder, encodeObservation, MqttLink, robotTopics, startBroker } from '../../src/transport/index.js';
import { mlpPolicy } from '../../src/nn/index.js';
import { missingPythonModule, requireOrSkip, runPython } from '../helpers/python.js';
import { randomActor, referenceAction, tempDir } from './fixtures.js';

const TORCH_EXPORT = `
import sys, json, torch
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2), torch.nn.Tanh())
class Policy(torch.nn.Module):
    def __init__(self):
        super().__init__(); self.net = net
    def forward(self, x):
        return 2.0 * self.net(x)
p = Policy().eval()
x = torch.randn(8, 4)
torch.onnx.export(p, x[:1], sys.argv[1], input_names=['observation'], output_names=['act'], dynamic_axes={'observation': {0: 'batch'}, 'act': {0: 'batch'}}, opset_version=int(sys.argv[2]))
with torch.no_grad():
    print(json.dumps({'x': x.tolist(), 'y': p(x).tolist()}))
`;

describe('foreign ONNX policies', () => {
  it('a torch.onnx export (python3-torch) loads, serves, and matches torch (< 1e-5)', async () => {
    if (!requireOrSkip(missingPythonModule('torch', 'python3-torch'))) return;
    const dir = tempDir();
    const file = join(dir, 'torch_policy.onnx');
    const out = JSON.parse(runPython(TORCH_EXPORT, [file, '17'])) as { x: number[][]; y: number[][] };
    const bytes = new Uint8Array(readFileSync(file));
    // Plain torch export: no o2o card, no hash → refused unless vouched for.
    expect(() => verifyArtifact(readArtifactFile(file))).toThrow(/cannot be verified/);
    writeFileSync(`${file}.sha256`, `${createHash('sha256').update(bytes).digest('hex')}  torch_policy.onnx\n`);
    const rt = PolicyRuntime.open(readArtifactFile(file), { safety: { low: [-2, -2], high: [2, 2] } });
    expect([rt.obsDim, rt.actDim, rt.model.inputName, rt.model.outputName, rt.status().verifiedBy]).toEqual([4, 2, 'observation', 'act', 'sha256']);
    let maxDiff = 0;
    out.x.forEach((x, i) => {
      const a = rt.act(x);
      for (let j = 0; j < 2; j++) maxDiff = Math.max(maxDiff, Math.abs(a[j]! - out.y[i]![j]!));
    });
    expect(maxDiff).toBeLessThan(1e-5);
    rt.dispose();

    // Sealed with a card ('o2o export --from'), it serves over MQTT like our own artifacts.
    const sealed = sealForeignPolicy(bytes, {
      name: 'torch-policy',
      version: 'torch-1',
      task: 'synthetic',
      algorithm: 'torch',
      obsDim: 4,
      actDim: 2,
      inputName: 'observation',
      outputName: 'act',
      actLow: [-2, -2],
      actHigh: [2, 2],
    });
    expect(verifyArtifact({ bytes: sealed.bytes, source: 'sealed' }).card?.version).toBe('torch-1');
    const broker = await startBroker();
    const server = await serveMqtt({ url: broker.url, policy: { bytes: sealed.bytes, source: 'sealed' }, fleet: 'f', log: () => {} });
    const link = await MqttLink.connect(broker.url);
    const t = robotTopics('f', 'r');
    const dec = new ActionDecoder(2);
    const got = new Promise<number[]>((resolve) =>
      link.onMessage((_topic, payload) => {
        dec.decode(payload, 'a');
        resolve(Array.from(dec.values));
      }),
    );
    await link.subscribe(t.action);
    link.publish(t.obs, encodeObservation({ robotId: 'r', sequence: 1, timeUnixNs: 0, reward: 0, terminated: false, truncated: false, episode: 0 }, out.x[0]!));
    const a = await got;
    expect(Math.abs(a[0]! - out.y[0]![0]!)).toBeLessThan(1e-5);
    await link.close();
    await server.close();
    await broker.close();
  });

  it("d3rlpy-style models (input_0 / output_0, no card) load by the ONNX model's own names", () => {
    const actor = randomActor({ obsDim: 6, actDim: 3 }, 4);
    const art = exportPolicy({ policy: mlpPolicy(actor), inputName: 'input_0', outputName: 'output_0', card: { name: 'd3', version: 'x', task: 't', algorithm: 'a' } });
    const plain = art.bytes.subarray(0, outlineOnnx(art.bytes, 'x').metadata[0]!.start); // what d3rlpy writes: no metadata
    const m = PolicyModel.load(plain, 'd3rlpy.onnx');
    expect([m.inputName, m.outputName, m.obsDim, m.actDim]).toEqual(['input_0', 'output_0', 6, 3]);
    const rt = PolicyRuntime.open({ bytes: plain, source: 'd3rlpy.onnx' }, { trust: { allowUnverified: true } });
    const obs = [0.1, 0.2, 0.3, -0.1, -0.2, -0.3];
    const ref = referenceAction(actor, obs);
    expect(Math.abs(rt.act(obs)[2]! - ref[2]!)).toBeLessThan(1e-5);
    rt.dispose();
    m.dispose();
  });
});
