import { describe, expect, it } from 'vitest';
import { Graph, ParamLayout, type Tensor, TrainStep, adam, grad, params, unflatten } from '../../src/engine/index.js';
import { transformerBlock, transformerBlockSpecs } from '../../src/nn/index.js';
import { Rng } from '../../src/util/rng.js';
import { gradCheck } from '../engine/gradcheck.js';

describe('transformer block (pre-LN, causal attention, GELU MLP)', () => {
  it('gradient w.r.t. the input and every parameter matches finite differences (float32: GELU needs Erf; h 1e-2, tol 2e-3)', async () => {
    const [b, t, d, heads] = [2, 3, 8, 2];
    const layout = new ParamLayout('blk', transformerBlockSpecs(d, '', 2));
    const r = await gradCheck(
      [{ shape: [b, t, d] }, { shape: [layout.size], sample: (rng) => rng.normal(0, 0.3) }],
      (g, [x, flat]) => {
        const keep = g.constant(
          Float32Array.from({ length: b * t * d }, (_, i) => (i % 7 === 3 ? 0 : 1)),
          [b, t, d],
        );
        return transformerBlock(g, unflatten(g, layout, flat!), x!, { heads, dropout: { afterMlp: { mask: keep, rate: 0.1 } } });
      },
      { dtype: 'float32' },
    );
    expect(r.maxRelErr).toBeLessThan(2e-3);
    expect(r.analytic[1]!.some((v) => v !== 0)).toBe(true);
  });

  it('learns to output the previous token (needs causal attention and the position embedding)', async () => {
    // tokens x_t ∈ R^4, i.i.d. N(0, 1); target at step t ≥ 1 is x_{t-1}. Without attending to the
    // previous position the best prediction is 0 (relative MSE 1).
    const [B, T, D, IN, heads] = [64, 8, 32, 4, 2];
    const layout = new ParamLayout('net', [
      { name: 'in.weight', shape: [IN, D], init: { kind: 'normal', std: 0.3 } },
      { name: 'pos', shape: [T, D], init: { kind: 'normal', std: 0.3 } },
      ...transformerBlockSpecs(D, 'b.'),
      { name: 'ln.scale', shape: [D], init: { kind: 'constant', value: 1 } },
      { name: 'ln.bias', shape: [D], init: { kind: 'constant', value: 0 } },
      { name: 'out.weight', shape: [D, IN], init: { kind: 'normal', std: 0.1 } },
    ]);
    const build = (g: Graph, views: Record<string, Tensor>, x: Tensor, batch: number) => {
      const positions = g.constant(
        BigInt64Array.from({ length: T }, (_, i) => BigInt(i)),
        [T],
        'int64',
      );
      const h = g.add(g.reshape(g.matmul(g.reshape(x, [batch * T, IN]), views['in.weight']!), [batch, T, D]), g.gather(views.pos!, positions));
      const y = g.layerNorm(transformerBlock(g, views, h, { heads, prefix: 'b.' }), views['ln.scale']!, views['ln.bias']!);
      return g.reshape(g.matmul(g.reshape(y, [batch * T, D]), views['out.weight']!), [batch, T, IN]);
    };
    const g = new Graph();
    const { flat, views } = params(g, layout);
    const x = g.input('x', [B, T, IN]);
    const pred = g.slice(build(g, views, x, B), { 1: [1, T] });
    const loss = g.reduceMean(g.square(g.sub(pred, g.slice(x, { 1: [0, T - 1] }))));
    g.output('loss', loss);
    adam(g, flat, grad(g, loss, [flat])[0]!, { lr: 3e-3 });
    const ts = await TrainStep.create(g, { threads: 1 });
    ts.session.set('net', layout.init(0));
    ts.session.set('net.m', new Float32Array(layout.size));
    ts.session.set('net.v', new Float32Array(layout.size));
    const rng = new Rng(1);
    const xs = new Float32Array(B * T * IN);
    let last = Number.NaN;
    for (let s = 0; s < 300; s++) {
      const r = ts.step({ x: rng.fillNormal(xs) });
      expect(r.diverged).toBe(false);
      last = r.metrics.loss!;
    }
    // held-out batch: relative MSE (the target's variance is 1)
    const out = ts.session.run({ x: rng.fillNormal(xs) });
    expect(Number(out.loss![0])).toBeLessThan(0.05);
    expect(last).toBeLessThan(0.05);
  });
});
