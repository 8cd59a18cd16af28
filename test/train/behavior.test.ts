/**
 * Behaviour-policy training with ARS: the linear policy, its export, learning on hopper, and the
 * files `o2o behavior train` ships (policy artifacts with cards, the medium-replay store).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeEnv } from '../../simulators/index.js';
import { DatasetBuilder, episodes, openStore } from '../../src/data/index.js';
import { Rng } from '../../src/util/rng.js';
import { LinearPolicy, RunningStats, arsConfig } from '../../src/train/ars.js';
import { CARD_EVAL_SEED, thinEpisodes, trainBehaviorPolicies } from '../../src/train/behavior.js';
import { evaluate } from '../../src/train/index.js';
import { exportPolicy, PolicyRuntime, readArtifactFile, verifyArtifact } from '../../src/serve/index.js';
import { mlpPolicy } from '../../src/nn/index.js';

describe('ARS pieces', () => {
  it('RunningStats matches the two-pass mean and (population) std', () => {
    const rng = new Rng(3);
    const rows = Array.from({ length: 500 }, () => [rng.normal(2, 3), rng.uniform(-1, 1), 5]);
    const s = new RunningStats(3);
    for (const r of rows) s.push(r);
    for (let d = 0; d < 3; d++) {
      const m = rows.reduce((a, r) => a + r[d]!, 0) / rows.length;
      const sd = Math.sqrt(rows.reduce((a, r) => a + (r[d]! - m) ** 2, 0) / rows.length);
      expect(s.mean[d]).toBeCloseTo(m, 10);
      expect(s.std()[d]).toBeCloseTo(Math.max(sd, 1e-2), 10);
    }
    expect(s.std()[2]).toBe(1e-2); // a constant dimension is floored, not divided by zero
  });

  it('the exported ONNX policy acts like the linear policy it was trained as (normalization baked in)', () => {
    const rng = new Rng(1);
    const p = new LinearPolicy(11, 3);
    const theta = rng.fillNormal(new Float64Array(p.size), 0, 0.3);
    const mean = rng.fillNormal(new Float64Array(11));
    const std = rng.fillUniform(new Float64Array(11), 0.5, 2);
    const { bytes } = exportPolicy({
      policy: mlpPolicy(p.snapshot(theta, mean, std)),
      ...p.snapshot(theta, mean, std),
      card: { name: 'lin', version: '1', task: 'hopper', algorithm: 'ars' },
    });
    const rt = PolicyRuntime.open({ bytes, source: 'lin' }, { trust: { allowUnverified: true } });
    for (let k = 0; k < 20; k++) {
      const obs = rng.fillNormal(new Float32Array(11), 0, 2);
      const want = p.act(theta, mean, std, obs);
      const got = rt.act(obs);
      for (let i = 0; i < 3; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-5);
    }
    rt.dispose();
  });

  it('rejects settings that cannot work', () => {
    expect(() => arsConfig('hopper', { top: 9 })).toThrow(/top \(9\) must be between 1 and directions \(8\)/);
    expect(() => arsConfig('hopper', { noise: 0 })).toThrow(/must be positive/);
    expect(arsConfig('walker2d').directions).toBe(40);
  });

  it('thinEpisodes keeps whole episodes, evenly spread, within the limit', () => {
    const b = new DatasetBuilder(1, 1);
    for (let e = 0; e < 100; e++) for (let t = 0; t < 10; t++) b.add({ obs: [e], action: [0], reward: e, nextObs: [e], timeout: t === 9 });
    const ds = b.build();
    const thin = thinEpisodes(ds, 250);
    const eps = episodes(thin);
    expect(thin.size).toBeLessThanOrEqual(250);
    expect(thin.size).toBe(eps.length * 10);
    const ids = eps.map((e) => thin.observations[e.start]!);
    expect(ids[0]).toBeLessThan(10);
    expect(ids.at(-1)).toBeGreaterThan(85);
    expect(thinEpisodes(ds, 5000)).toBe(ds);
  });
});

describe('o2o behavior train --method ars', () => {
  it('learns to hop and writes medium/expert artifacts whose cards the serving runtime reproduces', async () => {
    const out = mkdtempSync(join(tmpdir(), 'o2o-behavior-'));
    const r = await trainBehaviorPolicies({ task: 'hopper', method: 'ars', steps: 40_000, mediumReturn: 150, outDir: out, evalEvery: 10_000, evalEpisodes: 3, replayLimit: 5000 });
    // A uniform-random hopper returns ≈ 23 (spec.refScores.random); 40k ARS steps stand it up.
    expect(r.expert!.evalReturn).toBeGreaterThan(200);
    expect(r.medium!.evalReturn).toBeGreaterThanOrEqual(150);
    expect(r.medium!.trainingSteps).toBeLessThanOrEqual(r.expert!.trainingSteps);
    const env = await makeEnv('hopper');
    for (const level of ['medium', 'expert']) {
      const file = join(out, `hopper-${level}.onnx`);
      const card = verifyArtifact(readArtifactFile(file)).card!;
      expect(JSON.parse(readFileSync(file.replace(/\.onnx$/, '.card.json'), 'utf8'))).toEqual(card);
      expect(card).toMatchObject({ name: `hopper-${level}`, task: 'hopper', algorithm: 'ars', observation: { dim: 11 }, action: { dim: 3, low: [-1, -1, -1], high: [1, 1, 1] } });
      expect(card.evaluation).toMatchObject({ task: 'hopper', profile: 'nominal', episodes: 3, seed: CARD_EVAL_SEED });
      const rt = PolicyRuntime.open(readArtifactFile(file), { trust: { allowUnverified: true } });
      const res = evaluate(env, (o) => rt.act(o), 3, CARD_EVAL_SEED);
      rt.dispose();
      expect(res.mean).toBeCloseTo(card.evaluation!.meanReturn, 3);
    }
    env.close();
    const replay = await openStore(join(out, 'hopper-medium-replay')).read();
    expect(replay.dataset.size).toBeGreaterThan(1000);
    expect(replay.dataset.size).toBeLessThanOrEqual(5000);
    expect(replay.dataset.meta.behaviorPolicy).toMatch(/every ars training rollout until hopper-medium/);
  }, 240_000);
});
