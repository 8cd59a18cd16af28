import { describe, expect, it } from 'vitest';
import { binEdges, bootstrapDiffCI, bootstrapMeanCI, histogram, mean, normalQuantile, std, studentTwoSidedP, welchTTest, wilsonInterval } from '../../src/eval/index.js';
import { Rng } from '../../src/util/rng.js';

describe('eval stats', () => {
  it('normalQuantile and the Wilson interval match scipy / statsmodels', () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 8); // scipy.stats.norm.ppf
    expect(normalQuantile(0.005)).toBeCloseTo(-2.5758293035489, 8);
    expect(normalQuantile(0.3)).toBeCloseTo(-0.5244005127080407, 8);
    // statsmodels proportion_confint(9, 10, method='wilson') = (0.5958499, 0.9821238)
    const w = wilsonInterval(9, 10, 0.95);
    expect(w.lo).toBeCloseTo(0.5958499, 5);
    expect(w.hi).toBeCloseTo(0.9821238, 5);
    expect(wilsonInterval(0, 50, 0.95).lo).toBe(0);
    expect(wilsonInterval(50, 50, 0.95).hi).toBe(1);
  });

  it("Welch's t-test matches scipy.stats.ttest_ind(equal_var=False)", () => {
    // Reference values: scipy 1.x, computed once and pasted here.
    const a = [1.1, 2.3, 2.9, 4.2, 5.0, 3.3];
    const b = [0.2, 1.0, 1.4, 0.9, 2.2, 1.7, 0.5, 1.1];
    const r = welchTTest(a, b);
    expect(r.t).toBeCloseTo(3.3056261499582122, 10);
    expect(r.p).toBeCloseTo(0.014105260084734577, 8);
    expect(studentTwoSidedP(2.0, 10)).toBeCloseTo(0.07338803477074037, 10);
    expect(studentTwoSidedP(3.5, 4.7)).toBeCloseTo(0.019129593500276435, 9);
    expect(welchTTest([1, 1], [1, 1]).p).toBe(1);
    expect(welchTTest([1, 1], [2, 2]).p).toBe(0);
  });

  it('bootstrap CIs are reproducible from the seed, contain the mean and cover the truth ~95% of the time', () => {
    const rng = new Rng(7);
    const xs = Array.from({ length: 30 }, () => rng.normal(5, 2));
    const ci = bootstrapMeanCI(xs, { seed: 3 });
    expect(bootstrapMeanCI(xs, { seed: 3 })).toEqual(ci);
    expect(bootstrapMeanCI(xs, { seed: 4 })).not.toEqual(ci);
    expect(ci.lo).toBeLessThan(mean(xs));
    expect(ci.hi).toBeGreaterThan(mean(xs));
    // Width close to the normal-theory 2·1.96·s/√n.
    expect((ci.hi - ci.lo) / ((2 * 1.96 * std(xs)) / Math.sqrt(30))).toBeGreaterThan(0.85);
    expect((ci.hi - ci.lo) / ((2 * 1.96 * std(xs)) / Math.sqrt(30))).toBeLessThan(1.1);
    let covered = 0;
    const trials = 200;
    for (let t = 0; t < trials; t++) {
      const s = Array.from({ length: 30 }, () => rng.normal(5, 2));
      const c = bootstrapMeanCI(s, { seed: t, resamples: 1000 });
      if (c.lo <= 5 && 5 <= c.hi) covered++;
    }
    // Percentile bootstrap slightly under-covers at n=30; binomial sd at 95% over 200 trials is 1.5%.
    expect(covered / trials).toBeGreaterThan(0.88);
    expect(covered / trials).toBeLessThan(0.99);
  });

  it('the CI of a difference brackets the difference of means', () => {
    const a = [10, 12, 11, 13, 9, 12];
    const b = [5, 6, 4, 7, 5];
    const d = bootstrapDiffCI(a, b, { seed: 1 });
    expect(d.lo).toBeLessThan(mean(a) - mean(b));
    expect(d.hi).toBeGreaterThan(mean(a) - mean(b));
    expect(d.lo).toBeGreaterThan(0);
  });

  it('histograms on shared edges count every value once', () => {
    const edges = binEdges(
      [
        [0, 1, 2],
        [3, 10],
      ],
      5,
    );
    expect(edges[0]).toBe(0);
    expect(edges.at(-1)).toBe(10);
    const h = histogram([0, 1, 2, 10], edges);
    expect(h.reduce((s, b) => s + b.count, 0)).toBe(4);
    expect(h.map((b) => b.count)).toEqual([2, 1, 0, 0, 1]); // [0,2) [2,4) ... [8,10] — the top edge is in the last bin
    expect(() => binEdges([[1]], 0)).toThrow(/bins must be a positive integer/);
  });
});
