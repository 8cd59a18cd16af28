import { describe, expect, it } from 'vitest';
import { alphasCumprod, ddimSample, ddimSteps, emaDecay, squaredCosineBetas } from '../../src/algos/diffusion-schedule.js';
import { Rng } from '../../src/util/rng.js';

describe('Diffusion Policy schedule (squared cosine, DDIM, EMA)', () => {
  const N = 100;
  const betas = squaredCosineBetas(N);
  const abar = alphasCumprod(betas);

  it('ᾱ_t telescopes to f((t+1)/N)/f(0) below the cap, and the last β is capped at 0.999', () => {
    const f = (s: number) => Math.cos(((s + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    for (let t = 0; t < N - 1; t++) expect(abar[t]).toBeCloseTo(f((t + 1) / N) / f(0), 12);
    expect(betas[N - 1]).toBe(0.999);
    for (let t = 1; t < N; t++) expect(abar[t]!).toBeLessThan(abar[t - 1]!);
    expect(betas[0]!).toBeGreaterThan(0);
    expect(betas[0]!).toBeLessThan(1e-3);
  });

  it('DDIM in k = 10 steps walks t = 90, 80, …, 0 and ends at ᾱ = 1', () => {
    const steps = ddimSteps(abar, 10);
    expect(steps.map((s) => s.t)).toEqual([90, 80, 70, 60, 50, 40, 30, 20, 10, 0]);
    steps.forEach((s, j) => {
      expect(s.alphaBar).toBe(abar[s.t]);
      expect(s.alphaBarPrev).toBe(j < 9 ? abar[s.t - 10] : 1);
    });
    expect(() => ddimSteps(abar, 0)).toThrow(/k must be an integer in \[1, 100\]/);
    expect(ddimSteps(abar, 3).map((s) => s.t)).toEqual([66, 33, 0]);
  });

  it('with the true noise as its model, DDIM returns the clean chunk exactly; one step matches the formula', () => {
    const rng = new Rng(4);
    const x0 = Float64Array.from({ length: 16 * 2 }, () => rng.uniform(-0.9, 0.9));
    const noise = Float64Array.from({ length: x0.length }, () => rng.normal());
    const steps = ddimSteps(abar, 10);
    const T = steps[0]!;
    const xT = x0.map((v, i) => Math.sqrt(T.alphaBar) * v + Math.sqrt(1 - T.alphaBar) * noise[i]!);
    const oracle = (x: Float64Array, t: number) => x.map((v, i) => (v - Math.sqrt(abar[t]!) * x0[i]!) / Math.sqrt(1 - abar[t]!));
    const out = ddimSample(xT, steps, oracle);
    out.forEach((v, i) => expect(v).toBeCloseTo(x0[i]!, 9));
    // one step by hand, with a model that always says ε̂ = 0.5 (x̂_0 clipped to [-1, 1])
    const one = ddimSample(Float64Array.of(3, -0.2), [steps[4]!], () => [0.5, 0.5]);
    const s = steps[4]!;
    const hand = [3, -0.2].map((x) => {
      const x0h = Math.min(1, Math.max(-1, (x - Math.sqrt(1 - s.alphaBar) * 0.5) / Math.sqrt(s.alphaBar)));
      return Math.sqrt(s.alphaBarPrev) * x0h + Math.sqrt(1 - s.alphaBarPrev) * 0.5;
    });
    expect(Array.from(one)).toEqual(hand);
  });

  it('EMA decay: 0 for the first update, then 1 − (1 + step)^−0.75 up to 0.9999', () => {
    expect(emaDecay(1)).toBe(0);
    expect(emaDecay(2)).toBeCloseTo(1 - 2 ** -0.75, 15);
    expect(emaDecay(101)).toBeCloseTo(1 - 101 ** -0.75, 15);
    expect(emaDecay(10_000_000)).toBe(0.9999);
  });
});
