import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../../src/data/index.js';
import { evaluatePolicy, EvaluationError, mean, welchTTest, writeReport, type EvalSummary } from '../../src/eval/index.js';
import { normalizedScore as normalizedScoreOf } from '../../src/train/index.js';
import { makeEnv } from '../../simulators/index.js';
import { PENDULUM_POLICY, recordRealRuns, tempDir, writeRandomPolicy } from './fixtures.js';

const width = (i: { lo: number; hi: number }): number => i.hi - i.lo;

describe('evaluatePolicy on the shipped pendulum BC policy', () => {
  let base: EvalSummary;
  beforeAll(async () => {
    base = await evaluatePolicy({ policy: PENDULUM_POLICY, task: 'pendulum', profiles: ['nominal', 'mild', 'harsh'], episodes: 20, seed: 0 });
  });

  it('is reproducible from the seed, and another seed gives other episodes', async () => {
    const again = await evaluatePolicy({ policy: PENDULUM_POLICY, task: 'pendulum', profiles: ['nominal', 'mild', 'harsh'], episodes: 20, seed: 0 });
    for (let i = 0; i < 3; i++) {
      const [a, b] = [base.profiles[i]!, again.profiles[i]!];
      expect(b.returns).toEqual(a.returns);
      expect(b.lengths).toEqual(a.lengths);
      expect(b.ci).toEqual(a.ci);
      expect(b.gapToNominal).toEqual(a.gapToNominal);
    }
    const other = await evaluatePolicy({ policy: PENDULUM_POLICY, task: 'pendulum', profiles: ['harsh'], episodes: 5, seed: 1 });
    expect(other.profiles[0]!.returns).not.toEqual(base.profiles[2]!.returns.slice(0, 5));
  });

  it('reports per-profile returns, lengths, normalized scores and histograms', async () => {
    const env = await makeEnv('pendulum');
    for (const p of base.profiles) {
      expect(p.returns).toHaveLength(20);
      expect(p.lengths.every((l) => l === env.spec.maxEpisodeSteps)).toBe(true); // pendulum only truncates
      expect(p.mean).toBeCloseTo(mean(p.returns), 9);
      expect(p.normalizedMean).toBeCloseTo(normalizedScoreOf(env, p.mean), 9);
      expect(p.normalized[3]).toBeCloseTo(normalizedScoreOf(env, p.returns[3]!), 9);
      expect(p.histogram.reduce((s, b) => s + b.count, 0)).toBe(20);
    }
    // Shared bin edges across profiles.
    expect(base.profiles[0]!.histogram.map((b) => b.lo)).toEqual(base.profiles[2]!.histogram.map((b) => b.lo));
    expect(base.profiles[0]!.gapToNominal).toBeNull();
    env.close();
  });

  it('harsher randomization measurably changes the returns', () => {
    const [nominal, mild, harsh] = base.profiles;
    expect(harsh!.returns).not.toEqual(nominal!.returns);
    expect(mild!.returns).not.toEqual(nominal!.returns);
    // Deterministic for seed 0: with latency up to 3 steps, ±30% mass and observation noise the
    // swing-up fails more often. Measured: nominal −181.6, harsh −477.3, Welch p ≈ 1e-4.
    const g = harsh!.gapToNominal!;
    expect(g.normalizedCI.lo).toBeGreaterThan(0);
    expect(g.welch!.p).toBeLessThan(0.01);
    expect(g.return).toBeCloseTo(nominal!.mean - harsh!.mean, 9);
  });

  it('confidence intervals contain the mean and shrink with more episodes', async () => {
    const few = await evaluatePolicy({ policy: PENDULUM_POLICY, task: 'pendulum', profiles: ['mild'], episodes: 5, seed: 0 });
    const many = await evaluatePolicy({ policy: PENDULUM_POLICY, task: 'pendulum', profiles: ['mild'], episodes: 60, seed: 0 });
    for (const s of [few, many, base]) {
      for (const p of s.profiles) {
        expect(p.ci.lo).toBeLessThanOrEqual(p.mean);
        expect(p.ci.hi).toBeGreaterThanOrEqual(p.mean);
        expect(p.normalizedCI.lo).toBeLessThanOrEqual(p.normalizedMean);
        expect(p.normalizedCI.hi).toBeGreaterThanOrEqual(p.normalizedMean);
      }
    }
    expect(width(many.profiles[0]!.ci)).toBeLessThan(0.75 * width(few.profiles[0]!.ci));
    expect(many.ci).toMatchObject({ level: 0.95, resamples: 2000, seed: 0 });
    expect(many.ci.method).toMatch(/percentile bootstrap/);
  });
});

describe('comparison with logged real runs', () => {
  it('reads episode returns from a store and reports a gap consistent with a direct computation', async () => {
    const dir = join(tempDir(), 'real');
    // 'Real' robot: the same policy on the harsh profile, other reset seeds, plus one cut-off episode.
    const direct = await recordRealRuns(dir, { policy: PENDULUM_POLICY, task: 'pendulum', profile: 'harsh', episodes: 12, seed: 5000, unfinished: 50 });
    const s = await evaluatePolicy({ policy: PENDULUM_POLICY, task: 'pendulum', profiles: ['nominal', 'harsh'], episodes: 12, seed: 0, real: dir });
    const real = s.real!;
    expect(real.returns).toHaveLength(12);
    expect(real.incomplete).toBe(1);
    for (let i = 0; i < 12; i++) expect(real.returns[i]).toBeCloseTo(direct[i]!, 2);
    expect(real.mean).toBeCloseTo(mean(direct), 2);
    for (const p of s.profiles) {
      const g = p.gapToReal!;
      expect(g.return).toBeCloseTo(p.mean - mean(direct), 2);
      expect(g.normalized).toBeCloseTo(p.normalizedMean - real.normalizedMean, 9);
      expect(g.normalizedCI.lo).toBeLessThanOrEqual(g.normalized);
      expect(g.normalizedCI.hi).toBeGreaterThanOrEqual(g.normalized);
      const w = welchTTest(p.returns, direct);
      expect(g.welch!.t).toBeCloseTo(w.t, 4);
      expect(g.welch!.p).toBeCloseTo(w.p, 4);
    }
    // The sim profile the 'real' runs came from is the closer one.
    const [nominal, harsh] = s.profiles;
    expect(Math.abs(harsh!.gapToReal!.normalized)).toBeLessThan(Math.abs(nominal!.gapToReal!.normalized));
    expect(s.warnings.some((w) => /1 unfinished episode/.test(w))).toBe(true);
  });

  it('refuses an empty real dataset, naming the folder', async () => {
    const dir = join(tempDir(), 'empty');
    createStore(dir, { obsDim: 3, actDim: 1, envId: 'pendulum' });
    await expect(evaluatePolicy({ policy: PENDULUM_POLICY, task: 'pendulum', profiles: ['nominal'], episodes: 2, real: dir })).rejects.toThrow(
      new RegExp(`${dir}: no complete episodes in the real runs \\(0 transitions`),
    );
    await expect(evaluatePolicy({ policy: PENDULUM_POLICY, task: 'pendulum', profiles: ['nominal'], episodes: 2, real: join(dir, 'nope') })).rejects.toThrow(
      /not a dataset store \(no manifest\.json\)/,
    );
  });

  it('refuses real runs recorded on a robot with other dimensions', async () => {
    const dir = join(tempDir(), 'arm');
    createStore(dir, { obsDim: 11, actDim: 3, envId: 'hopper' });
    await expect(evaluatePolicy({ policy: PENDULUM_POLICY, task: 'pendulum', profiles: ['nominal'], episodes: 1, real: dir })).rejects.toThrow(
      /real runs have obsDim 11, actDim 3, but task 'pendulum' has 3, 1 \(the store says env 'hopper'\)/,
    );
  });
});

describe('learning curves and reports', () => {
  it('writes a self-contained HTML report with SVG charts and the numbers, and a JSON summary', async () => {
    const root = tempDir();
    const realDir = join(root, 'real');
    await recordRealRuns(realDir, { policy: PENDULUM_POLICY, task: 'pendulum', profile: 'mild', episodes: 6, seed: 900 });
    const curve = join(root, 'metrics.jsonl');
    const lines = [
      { step: 100, loss: 0.5 },
      { step: 1000, online_steps: 0, eval_return: -300, eval_normalized: 86.6 },
      { step: 1100, loss: 0.4 },
      { step: 2000, online_steps: 1000, eval_return: -250 },
      { step: 3000, online_steps: 2000, eval_return: -200, eval_normalized: 95.6 },
    ];
    writeFileSync(curve, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
    const s = await evaluatePolicy({ policy: PENDULUM_POLICY, task: 'pendulum', profiles: ['nominal', 'harsh'], episodes: 6, seed: 2, real: realDir, curve });
    expect(s.curve!.xField).toBe('online_steps');
    expect(s.curve!.points.map((p) => p.x)).toEqual([0, 1000, 2000]);
    // A missing eval_normalized is computed from eval_return with the task's reference scores.
    expect(s.curve!.points[1]!.evalNormalized).toBeCloseTo((100 * (-250 - s.refScores.random)) / (s.refScores.expert - s.refScores.random), 9);

    const files = await writeReport(s, join(root, 'report'));
    expect(existsSync(files.html) && existsSync(files.json)).toBe(true);
    const html = readFileSync(files.html, 'utf8');
    expect(html.match(/<svg /g)).toHaveLength(4); // distribution, score + CI, sim-vs-real gap, learning curve
    for (const title of ['Episode returns per profile', 'Normalized score with 95% CI', 'Sim-to-real gap', 'Learning curve']) expect(html).toContain(title);
    for (const p of s.profiles) {
      expect(html).toContain(p.normalizedMean.toFixed(1));
      expect(html).toContain(`[${p.normalizedCI.lo.toFixed(1)}, ${p.normalizedCI.hi.toFixed(1)}]`);
      expect(html).toContain(p.mean.toFixed(1));
    }
    expect(html).toContain(s.real!.normalizedMean.toFixed(1));
    expect(html).toContain(s.profiles[1]!.gapToReal!.normalized.toFixed(1));
    // Self-contained: no scripts, stylesheets or images from anywhere.
    expect(html).not.toMatch(/<script|<link|<img|url\(/i);
    expect(html.replace(/xmlns(:xlink)?="http:\/\/www\.w3\.org\/[^"]+"/g, '')).not.toMatch(/https?:\/\//);
    const json = JSON.parse(readFileSync(files.json, 'utf8')) as EvalSummary;
    expect(json.format).toBe('o2o-eval-summary/1');
    expect(json.profiles.map((p) => p.name)).toEqual(['nominal', 'harsh']);
    expect(json.profiles[1]!.gapToNominal!.normalizedCI).toEqual(s.profiles[1]!.gapToNominal!.normalizedCI);
    expect(json.real!.returns).toEqual(s.real!.returns);
    expect(json.policy.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('names the file and line of a malformed metrics line', async () => {
    const file = join(tempDir(), 'metrics.jsonl');
    writeFileSync(file, `{"step":1,"online_steps":0,"eval_normalized":50}\n{"step":2, "online_steps":\n{"step":3}\n`);
    await expect(evaluatePolicy({ policy: PENDULUM_POLICY, task: 'pendulum', profiles: ['nominal'], episodes: 1, curve: file })).rejects.toThrow(
      new RegExp(`${file}:2: not valid JSON`),
    );
    writeFileSync(file, `{"step":1,"online_steps":0,"eval_normalized":"high"}\n`);
    await expect(evaluatePolicy({ policy: PENDULUM_POLICY, task: 'pendulum', profiles: ['nominal'], episodes: 1, curve: file })).rejects.toThrow(
      /metrics\.jsonl:1: "eval_normalized" must be a finite number, got "high"/,
    );
  });
});

describe('bad input', () => {
  it('an unknown profile fails before any rollout, listing the known ones', async () => {
    await expect(evaluatePolicy({ policy: PENDULUM_POLICY, task: 'pendulum', profiles: ['nominal', 'wobbly'], episodes: 1 })).rejects.toThrow(
      /unknown randomization profile 'wobbly'; built-in: nominal, mild, harsh/,
    );
    await expect(evaluatePolicy({ policy: PENDULUM_POLICY, task: 'pendulum', profiles: ['mild', 'mild'], episodes: 1 })).rejects.toThrow(/profile 'mild' is listed twice/);
  });

  it('a policy whose dimensions do not match the task is refused, naming both', async () => {
    await expect(evaluatePolicy({ policy: PENDULUM_POLICY, task: 'hopper', profiles: ['nominal'], episodes: 1 })).rejects.toThrow(
      /pendulum-bc\.onnx: policy maps 3 observations \('obs'\) to 1 actions \('action'\), but task 'hopper' has obsDim 11 and actDim 3 \(the policy says it was trained for 'pendulum'\)/,
    );
    const other = writeRandomPolicy(join(tempDir(), 'arm.onnx'), { task: 'reacher-arm', obsDim: 5, actDim: 2 });
    await expect(evaluatePolicy({ policy: other, task: 'pendulum', profiles: ['nominal'], episodes: 1 })).rejects.toThrow(EvaluationError);
    await expect(evaluatePolicy({ policy: other, task: 'pendulum', profiles: ['nominal'], episodes: 1 })).rejects.toThrow(/trained for 'reacher-arm'.*--task reacher-arm/);
  });

  it('a policy trained for another task with matching dimensions runs with a warning; a missing file is named', async () => {
    const p = writeRandomPolicy(join(tempDir(), 'p.onnx'), { task: 'pendulum-v9' });
    const s = await evaluatePolicy({ policy: p, task: 'pendulum', profiles: ['nominal'], episodes: 2 });
    expect(s.policy.card).toBeNull();
    expect(s.warnings.some((w) => /trained for 'pendulum-v9' but is evaluated on 'pendulum'/.test(w))).toBe(true);
    await expect(evaluatePolicy({ policy: '/nonexistent/p.onnx', task: 'pendulum', episodes: 1 })).rejects.toThrow(/\/nonexistent\/p\.onnx: no such policy file/);
    await expect(evaluatePolicy({ policy: PENDULUM_POLICY, task: 'pendulum', episodes: 0 })).rejects.toThrow(/episodes must be an integer >= 1, got 0/);
  });
});

describe('success rate beside the return (tasks whose env reports info.success)', () => {
  it('reach-around reports a success rate with its Wilson interval, in the summary and the report; pendulum reports none', async () => {
    const file = writeRandomPolicy(join(tempDir(), 'reach.onnx'), { task: 'reach-around', obsDim: 9, actDim: 2, maxAction: 1 });
    const s = await evaluatePolicy({ policy: file, task: 'reach-around', profiles: ['nominal', 'mild'], episodes: 4, seed: 0 });
    for (const p of s.profiles) {
      expect(p.successRate).not.toBeNull();
      expect(p.successRate!).toBeGreaterThanOrEqual(0);
      expect(p.successRate!).toBeLessThanOrEqual(1);
      expect(p.successCI!.lo).toBeLessThanOrEqual(p.successRate!);
      expect(p.successCI!.hi).toBeGreaterThanOrEqual(p.successRate!);
    }
    const files = await writeReport(s, join(tempDir(), 'report'));
    const html = readFileSync(files.html, 'utf8');
    expect(html).toMatch(/<th>success \(95% CI\)<\/th>/);
    expect(html).toMatch(/<td>\d+ % \[\d+, \d+\]<\/td>/);
    const pend = await evaluatePolicy({ policy: PENDULUM_POLICY, task: 'pendulum', profiles: ['nominal'], episodes: 1, seed: 0 });
    expect(pend.profiles[0]!.successRate).toBeNull();
    const pendFiles = await writeReport(pend, join(tempDir(), 'report-p'));
    expect(readFileSync(pendFiles.html, 'utf8')).not.toMatch(/<th>success/);
  });
});
