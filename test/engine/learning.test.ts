import { describe, expect, it } from 'vitest';
import { Graph, Session, TrainStep, adam, grad, params } from '../../src/engine/index.js';
import { type MlpSpec, mlp, mlpLayout } from '../../src/nn/index.js';
import { Rng } from '../../src/util/rng.js';

/** Builds a supervised step: MSE(mlp(x), y) with Adam; returns the step and a forward session. */
async function supervised(spec: MlpSpec, batch: number, lr: number) {
  const layout = mlpLayout('net', spec);
  const g = new Graph();
  const { flat, views } = params(g, layout);
  const x = g.input('x', [batch, spec.sizes[0]!]);
  const y = g.input('y', [batch, spec.sizes.at(-1)!]);
  const loss = g.reduceMean(g.square(g.sub(mlp(g, views, x, spec), y)));
  g.output('loss', loss);
  const { gradNorm } = adam(g, flat, grad(g, loss, [flat])[0]!, { lr });
  g.output('grad_norm', gradNorm);
  const ts = await TrainStep.create(g);
  ts.session.set('net', layout.init(1));
  ts.session.set('net.m', new Float32Array(layout.size));
  ts.session.set('net.v', new Float32Array(layout.size));

  const fg = new Graph();
  const fp = params(fg, layout);
  const fx = fg.input('x', [-1, spec.sizes[0]!]);
  fg.output('y', mlp(fg, fp.views, fx, spec));
  const fwd = await Session.create(fg, { threads: 1 });
  const predict = (xs: Float32Array) => {
    fwd.set('net', ts.state('net') as Float32Array);
    return fwd.run({ x: xs }).y as Float32Array;
  };
  return { ts, predict };
}

describe('the engine trains networks', () => {
  it('fits a 2x64 MLP to a nonlinear regression in a few hundred steps', async () => {
    const target = (a: number, b: number) => Math.sin(3 * a) * Math.cos(2 * b) + 0.5 * a * a;
    const spec: MlpSpec = { sizes: [2, 64, 64, 1], hidden: 'relu' };
    const B = 128;
    const { ts, predict } = await supervised(spec, B, 3e-3);
    const rng = new Rng(3);
    const x = new Float32Array(B * 2);
    const y = new Float32Array(B);
    for (let s = 0; s < 600; s++) {
      for (let i = 0; i < B; i++) {
        x[2 * i] = rng.uniform(-1, 1);
        x[2 * i + 1] = rng.uniform(-1, 1);
        y[i] = target(x[2 * i]!, x[2 * i + 1]!);
      }
      const r = ts.step({ x, y });
      expect(r.diverged).toBe(false);
    }
    // Held-out error against the variance of the target.
    const n = 1000;
    const xt = new Float32Array(n * 2);
    const yt = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      xt[2 * i] = rng.uniform(-1, 1);
      xt[2 * i + 1] = rng.uniform(-1, 1);
      yt[i] = target(xt[2 * i]!, xt[2 * i + 1]!);
    }
    const pred = predict(xt);
    const mean = yt.reduce((s, v) => s + v, 0) / n;
    let mse = 0;
    let variance = 0;
    for (let i = 0; i < n; i++) {
      mse += (pred[i]! - yt[i]!) ** 2 / n;
      variance += (yt[i]! - mean) ** 2 / n;
    }
    expect(variance).toBeGreaterThan(0.1);
    expect(mse / variance).toBeLessThan(0.03);
  });

  it('learns a reaching policy by behaviour cloning from a scripted expert', async () => {
    // 2-D point mass: state [px, py, vx, vy, gx, gy], action = force in [-1, 1]^2.
    const dt = 0.05;
    const expert = (s: ArrayLike<number>, out: Float32Array, o = 0) => {
      for (let k = 0; k < 2; k++) out[o + k] = Math.max(-1, Math.min(1, 4 * (s[4 + k]! - s[k]!) - 2 * s[2 + k]!));
    };
    const simulate = (s: Float64Array, a: ArrayLike<number>, o = 0) => {
      for (let k = 0; k < 2; k++) {
        const u = Math.max(-1, Math.min(1, a[o + k]!));
        s[2 + k] = s[2 + k]! + dt * (2 * u - 0.1 * s[2 + k]!);
        s[k] = s[k]! + dt * s[2 + k]!;
      }
    };
    const rng = new Rng(11);
    const reset = (s: Float64Array) => {
      for (let k = 0; k < 2; k++) {
        s[k] = rng.uniform(-1, 1);
        s[2 + k] = 0;
        s[4 + k] = rng.uniform(-1, 1);
      }
    };
    // Dataset: 60 expert episodes of 60 steps.
    const obs: number[] = [];
    const act: number[] = [];
    const s = new Float64Array(6);
    const a = new Float32Array(2);
    for (let ep = 0; ep < 60; ep++) {
      reset(s);
      for (let t = 0; t < 60; t++) {
        expert(s, a);
        obs.push(...s);
        act.push(...a);
        simulate(s, a);
      }
    }
    const N = obs.length / 6;
    const spec: MlpSpec = { sizes: [6, 64, 64, 2], hidden: 'relu', output: 'tanh' };
    const B = 128;
    const { ts, predict } = await supervised(spec, B, 1e-3);
    const xb = new Float32Array(B * 6);
    const yb = new Float32Array(B * 2);
    for (let step = 0; step < 1500; step++) {
      for (let i = 0; i < B; i++) {
        const j = rng.int(N);
        for (let k = 0; k < 6; k++) xb[i * 6 + k] = obs[j * 6 + k]!;
        yb[i * 2] = act[j * 2]!;
        yb[i * 2 + 1] = act[j * 2 + 1]!;
      }
      ts.step({ x: xb, y: yb });
    }
    // Closed loop: the cloned policy must bring the mass to the goal like the expert does.
    const final = (policy: 'bc' | 'expert') => {
      const er = new Rng(99);
      let total = 0;
      const st = new Float64Array(6);
      for (let ep = 0; ep < 20; ep++) {
        for (let k = 0; k < 2; k++) {
          st[k] = er.uniform(-1, 1);
          st[2 + k] = 0;
          st[4 + k] = er.uniform(-1, 1);
        }
        for (let t = 0; t < 80; t++) {
          const u = new Float32Array(2);
          if (policy === 'expert') expert(st, u);
          else u.set(predict(Float32Array.from(st)));
          simulate(st, u);
        }
        total += Math.hypot(st[0]! - st[4]!, st[1]! - st[5]!);
      }
      return total / 20;
    };
    const bcDist = final('bc');
    const expertDist = final('expert');
    expect(expertDist).toBeLessThan(0.05);
    expect(bcDist).toBeLessThan(0.1); // initial distance averages ~0.75
  });
});
