import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Graph, adam, grad, params, serialize } from '../../src/engine/index.js';
import { mlp, mlpLayout } from '../../src/nn/index.js';
import { missingPythonModule, requireOrSkip, runPython } from '../helpers/python.js';

const reason = missingPythonModule('onnx', 'python3-onnx');
const CHECK = `
import sys, onnx
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
print(m.ir_version, m.opset_import[0].version, len(m.graph.node), ";".join(p.key + "=" + p.value for p in m.metadata_props))
`;

describe.runIf(requireOrSkip(reason))('exported graphs pass onnx.checker (python3-onnx, full_check)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'o2o-onnx-'));

  it('a full training step: forward, backward, Adam, over every op family', () => {
    const spec = { sizes: [17, 32, 32, 6], hidden: 'relu' as const, output: 'tanh' as const };
    const layout = mlpLayout('actor', spec);
    const g = new Graph();
    const { flat, views } = params(g, layout);
    const x = g.input('obs', [16, 17]);
    const y = g.input('target', [16, 6]);
    const out = mlp(g, views, x, spec);
    const extra = g.add(
      g.reduceMean(g.logSumExp(g.concat([out, g.softplus(out), g.clip(out, -0.5, 0.5)], 1), [1])),
      g.reduceMean(g.maximum(g.logSoftmax(out), g.softmax(g.abs(out)))),
    );
    const loss = g.add(g.reduceMean(g.square(g.sub(out, y))), g.mul(extra, 0.01));
    g.output('loss', loss);
    const { gradNorm } = adam(g, flat, grad(g, loss, [flat])[0]!, { lr: 1e-3, weightDecay: 1e-4, maxGradNorm: 1 });
    g.output('grad_norm', gradNorm);
    const path = join(dir, 'train.onnx');
    writeFileSync(path, serialize(g));
    const [ir, opset, nodes] = runPython(CHECK, [path]).trim().split(' ');
    expect(Number(ir)).toBe(8);
    expect(Number(opset)).toBe(17);
    expect(Number(nodes)).toBeGreaterThan(50);
  });

  it('a serving graph with a symbolic batch and metadata_props', () => {
    const spec = { sizes: [11, 8, 3], hidden: 'tanh' as const };
    const g = new Graph();
    const { views } = params(g, mlpLayout('p', spec));
    g.output('action', mlp(g, views, g.input('obs', [-1, 11]), spec));
    const path = join(dir, 'serve.onnx');
    writeFileSync(path, serialize(g, { metadata: { 'o2o.algo': 'bc', 'o2o.obs_dim': '11' } }));
    const line = runPython(CHECK, [path]).trim();
    expect(line).toContain('o2o.algo=bc;o2o.obs_dim=11');
  });
});
