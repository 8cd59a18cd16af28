import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Graph, ParamLayout, adam, grad, params, serialize } from '../../src/engine/index.js';
import { mlp, mlpLayout, transformerBlock, transformerBlockSpecs } from '../../src/nn/index.js';
import { missingPythonModule, requireOrSkip, runPython } from '../helpers/python.js';

const reason = missingPythonModule('onnx', 'python3-onnx');
const CHECK = `
import sys, onnx
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
print(m.ir_version, m.opset_import[0].version, len(m.graph.node), ";".join(p.key + "=" + p.value for p in m.metadata_props))
print(" ".join(sorted(set(n.op_type for n in m.graph.node))))
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

  it('a transformer training step: timestep embedding (Gather), pre-LN block (LayerNorm, causal attention with padding, dropout, GELU), backward (ScatterND), AdamW', () => {
    const [b, t, d, heads, steps] = [4, 6, 16, 2, 50];
    const layout = new ParamLayout('dt', [
      { name: 'timestep_emb', shape: [steps, d], init: { kind: 'normal', std: 0.02 } },
      ...transformerBlockSpecs(d, 'blocks.0.'),
      { name: 'out_norm.scale', shape: [d], init: { kind: 'constant', value: 1 } },
      { name: 'out_norm.bias', shape: [d], init: { kind: 'constant', value: 0 } },
    ]);
    const g = new Graph();
    const { flat, views } = params(g, layout);
    const drop = (name: string, shape: number[]) => ({ mask: g.input(name, shape), rate: 0.1 });
    const tokens = g.add(g.input('tokens', [b, t, d]), g.gather(views.timestep_emb!, g.input('timesteps', [b, t], 'int64')));
    const h = transformerBlock(g, views, tokens, {
      heads,
      prefix: 'blocks.0.',
      keyPadding: g.input('padding', [b, t], 'bool'),
      dropout: { attention: drop('attn_drop', [b, heads, t, t]), afterAttention: drop('resid_drop1', [b, t, d]), afterMlp: drop('resid_drop2', [b, t, d]) },
    });
    const out = g.layerNorm(h, views['out_norm.scale']!, views['out_norm.bias']!);
    const loss = g.reduceMean(g.square(g.sub(out, g.input('target', [b, t, d]))));
    g.output('loss', loss);
    g.output('grad_norm', adam(g, flat, grad(g, loss, [flat])[0]!, { lr: 1e-4, weightDecay: 1e-4, maxGradNorm: 0.25 }).gradNorm);
    const path = join(dir, 'transformer.onnx');
    writeFileSync(path, serialize(g));
    const [line, ops] = runPython(CHECK, [path]).trim().split('\n');
    expect(line!.split(' ').slice(0, 2)).toEqual(['8', '17']);
    const used = new Set(ops!.split(' '));
    for (const op of ['Gather', 'ScatterND', 'LayerNormalization', 'Erf', 'Softmax', 'Where', 'And', 'Not', 'MatMul', 'Transpose', 'Gemm']) expect(used).toContain(op);
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
