import { describe, expect, it } from 'vitest';
import { Graph, ParamLayout, type Tensor, TrainStep, adam, adamInputs, adamUpdate, grad, params, polyak } from '../../src/engine/index.js';

/** PyTorch's Adam/AdamW step written out in plain JS doubles: the reference. */
function refAdam(p: number[], gr: number[], m: number[], v: number[], t: number, o: { lr: number; b1: number; b2: number; eps: number; wd: number; maxNorm?: number }) {
  let g = gr;
  if (o.maxNorm !== undefined) {
    const n = Math.sqrt(g.reduce((s, x) => s + x * x, 0));
    const c = Math.min(1, o.maxNorm / (n + 1e-6));
    g = g.map((x) => x * c);
  }
  for (let i = 0; i < p.length; i++) {
    p[i] = p[i]! * (1 - o.lr * o.wd);
    m[i] = o.b1 * m[i]! + (1 - o.b1) * g[i]!;
    v[i] = o.b2 * v[i]! + (1 - o.b2) * g[i]! ** 2;
    const mh = m[i]! / (1 - o.b1 ** t);
    const vh = v[i]! / (1 - o.b2 ** t);
    p[i] = p[i]! - (o.lr * mh) / (Math.sqrt(vh) + o.eps);
  }
}

async function compare(opt: { wd: number; maxNorm?: number }, unroll = 1, how: 'adamUpdate' | 'unrolled' = 'adamUpdate') {
  // loss = sum(c * p^2) + sum(p) with c fixed: gradient 2cp + 1, known in closed form.
  const c = [0.5, 2, 3, 0.1, 1];
  const layout = new ParamLayout('w', [
    { name: 'a', shape: [2], init: { kind: 'constant', value: 1 } },
    { name: 'b', shape: [3], init: { kind: 'constant', value: -2 } },
  ]);
  const g = new Graph('float64');
  const { flat } = how === 'unrolled' ? { flat: null as unknown as Tensor } : params(g, layout);
  const lossAt = (p: Tensor) => g.add(g.reduceSum(g.mul(g.constant(Float64Array.from(c), [5]), g.square(p))), g.reduceSum(p));
  const cfg = { lr: 0.05, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: opt.wd, maxGradNorm: opt.maxNorm };
  if (how === 'unrolled') {
    // The one-update code, written once; Graph.unrolled chains it and names update k's outputs '@k'.
    g.unrolled(unroll, () => {
      const p = params(g, layout).flat;
      const loss = lossAt(p);
      const { gradNorm } = adam(g, p, grad(g, loss, [p])[0]!, cfg);
      g.output('grad_norm', gradNorm);
    });
  } else if (unroll === 1) {
    const loss = lossAt(flat);
    g.output('loss', loss);
    const [d] = grad(g, loss, [flat]);
    const { gradNorm } = adam(g, flat, d!, cfg);
    g.output('grad_norm', gradNorm);
  } else {
    // `unroll` updates chained in one graph: adamUpdate between the state inputs and their bindings.
    const state0 = adamInputs(g, flat);
    let p: Tensor = flat;
    let state = state0;
    for (let k = 0; k < unroll; k++) {
      const loss = lossAt(p);
      const next = adamUpdate(g, p, grad(g, loss, [p])[0]!, state, cfg);
      g.output(`grad_norm@${k}`, next.gradNorm);
      p = next.params;
      state = next.state;
    }
    g.bind(state0.t, state.t);
    g.bind(state0.m, state.m);
    g.bind(state0.v, state.v);
    g.bind(flat, p);
  }
  const ts = await TrainStep.create(g, { threads: 1 });
  const p0 = [1, 1, -2, -2, -2];
  ts.session.set('w', p0);
  ts.session.set('w.m', [0, 0, 0, 0, 0]);
  ts.session.set('w.v', [0, 0, 0, 0, 0]);
  const p = [...p0];
  const m = [0, 0, 0, 0, 0];
  const v = [0, 0, 0, 0, 0];
  let res = ts.step();
  for (let t = 1; t <= 25; t++) {
    const gr = p.map((x, i) => 2 * c[i]! * x + 1);
    const k = (t - 1) % unroll;
    if (k === 0 && t > 1) res = ts.step();
    const norm = unroll === 1 || (how === 'unrolled' && k === 0) ? res.metrics.grad_norm : res.metrics[`grad_norm@${k}`];
    expect(norm).toBeCloseTo(Math.sqrt(gr.reduce((s, x) => s + x * x, 0)), 10);
    refAdam(p, gr, m, v, t, { lr: 0.05, b1: 0.9, b2: 0.99, eps: 1e-8, wd: opt.wd, maxNorm: opt.maxNorm });
  }
  const got = Array.from(ts.state('w') as Float64Array);
  got.forEach((x, i) => expect(Math.abs(x - p[i]!)).toBeLessThan(1e-12));
  ts.dispose();
}

describe('optimizers in the graph match PyTorch semantics', () => {
  it('Adam with bias correction', () => compare({ wd: 0 }));
  it('AdamW (decoupled weight decay)', () => compare({ wd: 0.1 }));
  it('global-norm gradient clipping', () => compare({ wd: 0, maxNorm: 0.5 }));
  it('five updates unrolled in one run (adamInputs + adamUpdate chained) equal five single-step runs', () => compare({ wd: 0.1, maxNorm: 2 }, 5));
  it('Graph.unrolled: the one-update code chained five times per run equals five single-step runs', () => compare({ wd: 0.1, maxNorm: 2 }, 5, 'unrolled'));

  it('Polyak target update', async () => {
    const g = new Graph('float64');
    const online = g.input('online', [3], 'float64');
    const target = g.input('target', [3], 'float64');
    polyak(g, target, online, 0.005);
    const ts = await TrainStep.create(g, { threads: 1 });
    ts.session.set('online', [1, 2, 3]);
    ts.session.set('target', [0, 0, 0]);
    for (let i = 0; i < 3; i++) ts.step();
    const expectv = [1, 2, 3].map((x) => x * (1 - 0.995 ** 3));
    Array.from(ts.state('target') as Float64Array).forEach((x, i) => expect(x).toBeCloseTo(expectv[i]!, 14));
  });

  it('a diverged step reports NaN and does not commit: parameters stay at the last good values', async () => {
    const layout = new ParamLayout('w', [{ name: 'a', shape: [2], init: { kind: 'constant', value: 1 } }]);
    const g = new Graph();
    const { flat } = params(g, layout);
    const x = g.input('x', [2]);
    const loss = g.reduceSum(g.mul(g.square(flat), x));
    g.output('loss', loss);
    adam(g, flat, grad(g, loss, [flat])[0]!, { lr: 0.1 });
    const ts = await TrainStep.create(g, { threads: 1 });
    ts.session.set('w', layout.init(0));
    ts.session.set('w.m', [0, 0]);
    ts.session.set('w.v', [0, 0]);
    expect(ts.step({ x: Float32Array.of(1, 1) }).diverged).toBe(false);
    const good = Float32Array.from(ts.state('w') as Float32Array);
    const bad = ts.step({ x: Float32Array.of(NaN, 1) });
    expect(bad.diverged).toBe(true);
    expect(Number.isNaN(bad.metrics.loss)).toBe(true);
    expect(Array.from(ts.state('w') as Float32Array)).toEqual(Array.from(good));
    expect(ts.steps).toBe(1);
  });
});
