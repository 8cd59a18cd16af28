import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateSigningKey, PolicyRuntime, readArtifactFile, SafetyConfigError, SafetyFilter, type RuntimeEvent } from '../../src/serve/index.js';
import * as serve from '../../src/serve/index.js';
import { mlpPolicy } from '../../src/nn/index.js';
import { exportRandom, extraBytesPerCall, randomActor, referenceAction, tempDir } from './fixtures.js';

function runtime(safety = {}, events: RuntimeEvent[] = []) {
  const res = exportRandom();
  return PolicyRuntime.open({ bytes: res.bytes, source: 'v1.onnx' }, { safety, onEvent: (e) => events.push(e) });
}

describe('PolicyRuntime and SafetyFilter', () => {
  it('act() returns the policy action inside the card bounds, and counts nothing on good input', () => {
    const rt = runtime();
    const obs = [0.1, -0.2, 0.3, 0.4, -0.5];
    const a = rt.act(obs);
    const ref = referenceAction(randomActor(), obs);
    expect(Math.abs(a[0]! - ref[0]!)).toBeLessThan(1e-5);
    expect(rt.status()).toMatchObject({ version: 'v1', obsDim: 5, actDim: 2, steps: 1, faults: { nonFiniteObs: 0, clipped: 0 } });
    rt.dispose();
  });

  it('NaN/Inf observations give the safe action (hold, zero, named pose) and a counted fault', () => {
    const events: RuntimeEvent[] = [];
    const hold = runtime({}, events);
    const good = Float32Array.from(hold.act([1, 2, 3, 4, 5]));
    expect(Array.from(hold.act([1, NaN, 3, 4, 5]))).toEqual(Array.from(good));
    expect(Array.from(hold.act([Infinity, 0, 0, 0, 0]))).toEqual(Array.from(good));
    expect(hold.status().faults.nonFiniteObs).toBe(2);
    expect(events.filter((e) => e.type === 'fault')).toHaveLength(2);
    expect(Array.from(hold.act([1, 2, 3]))).toEqual(Array.from(good)); // wrong length
    expect(hold.status().faults.obsLength).toBe(1);
    hold.dispose();

    const zero = runtime({ safeAction: 'zero' });
    zero.act([1, 2, 3, 4, 5]);
    expect(Array.from(zero.act([NaN, 0, 0, 0, 0]))).toEqual([0, 0]);
    zero.dispose();

    const pose = runtime({ safeAction: 'pose', pose: 'park', poses: { park: [0.5, -0.25] } });
    expect(Array.from(pose.act([0, 0, 0, -Infinity, 0]))).toEqual([0.5, -0.25]);
    expect(pose.status().lastFault).toBe('nonFiniteObs');
    pose.dispose();
  });

  it('bounds clip and the rate limit caps the change per step; the safe action is rate-limited too', () => {
    const f = new SafetyFilter(2, { low: [-1, -1], high: [1, 0.5], maxDelta: 0.1, safeAction: 'pose', pose: 'p', poses: { p: [0, 0] } });
    const out = new Float32Array(2);
    expect(f.filter(Float32Array.of(3, 3), out)).toBe(true);
    expect(Array.from(out)).toEqual([1, 0.5]); // first action: bounds only
    expect(f.faults.clipped).toBe(1);
    f.filter(Float32Array.of(-1, -1), out);
    expect(Array.from(out).map((v) => +v.toFixed(5))).toEqual([0.9, 0.4]);
    expect(f.faults.rateLimited).toBe(1);
    f.safe('stale', out); // towards the pose, at most 0.1 per step
    expect(Array.from(out).map((v) => +v.toFixed(5))).toEqual([0.8, 0.3]);
    expect(f.filter(Float32Array.of(NaN, 0), out)).toBe(false);
  });

  it('a non-finite policy output is replaced by the safe action', () => {
    // Normalization by a tiny std overflows float32 for large observations: Inf − Inf = NaN inside the MLP.
    const actor = randomActor();
    const bad = serve.exportPolicy({
      policy: mlpPolicy(actor),
      obsMean: new Float32Array(5),
      obsStd: new Float32Array(5).fill(1e-30),
      card: { name: 'o', version: 'o', task: 't', algorithm: 'a' },
    });
    const rt = PolicyRuntime.open({ bytes: bad.bytes, source: 'overflow.onnx' }, { safety: { safeAction: 'zero' } });
    expect(Number.isFinite(rt.act([0, 0, 0, 0, 0])[0]!)).toBe(true);
    expect(Array.from(rt.act([1e10, -1e10, 1e10, -1e10, 1e10]))).toEqual([0, 0]);
    expect(rt.status().faults.nonFiniteAction).toBe(1);
    rt.dispose();
  });

  it('the stale-observation watchdog sends the safe action when observations stop or arrive too old', () => {
    const rt = runtime({ staleAfterMs: 50, safeAction: 'zero' });
    rt.act([1, 1, 1, 1, 1], 1000);
    expect(rt.watchdog(1040)).toBeNull();
    expect(Array.from(rt.watchdog(1100)!)).toEqual([0, 0]);
    expect(rt.status().faults.stale).toBe(1);
    // An observation stamped 80 ms ago is stale on arrival.
    expect(Array.from(rt.act([1, 1, 1, 1, 1], 2000, 1920))).toEqual([0, 0]);
    expect(rt.status().faults.stale).toBe(2);
    rt.dispose();
  });

  it('the watchdog latches nothing: after a gap longer than staleAfterMs, fresh observations bring the policy back (timer-driven and arrival-driven transports)', () => {
    const obs = [0.1, -0.2, 0.3, 0.4, -0.5];
    const ref = referenceAction(randomActor(), obs)[0]!;
    // A control timer that asks the watchdog first and acts on the latest observation (the ROS 2 node).
    const rt = runtime({ staleAfterMs: 50, safeAction: 'zero' });
    rt.resetWatchdog(0);
    let latest: number | null = null;
    const tick = (now: number) => rt.watchdog(now) ?? (latest === null ? null : rt.act(obs, now, latest));
    for (let t = 10; t <= 500; t += 10) tick(t); // the robot starts publishing only after 500 ms
    const staleFaults = rt.status().faults.stale;
    expect(staleFaults).toBeGreaterThan(0);
    let a: Float32Array | null = null;
    for (let t = 510; t <= 550; t += 10) {
      latest = t;
      rt.observed(t); // arrival
      a = tick(t);
    }
    expect(Math.abs(a![0]! - ref)).toBeLessThan(1e-5);
    expect(rt.status().faults.stale).toBe(staleFaults);
    // A sensor hiccup mid-run (200 ms), then observations again.
    for (let t = 560; t <= 760; t += 10) tick(t);
    expect(rt.status().faults.stale).toBeGreaterThan(staleFaults);
    latest = 770;
    rt.observed(770);
    expect(Math.abs(tick(770)![0]! - ref)).toBeLessThan(1e-5);
    // An observation that arrives already too old does not quiet the watchdog.
    expect(rt.watchdog(900)).not.toBeNull();
    rt.observed(820);
    expect(rt.watchdog(900)).not.toBeNull();
    rt.dispose();
    // Arrival-driven (MQTT: act() on every message, the watchdog from an interval): same recovery.
    const mq = runtime({ staleAfterMs: 50, safeAction: 'zero' });
    mq.resetWatchdog(0);
    expect(mq.watchdog(300)).not.toBeNull();
    expect(Math.abs(mq.act(obs, 310, 310)[0]! - ref)).toBeLessThan(1e-5);
    expect(mq.watchdog(320)).toBeNull();
    mq.dispose();
  });

  it('bad safety settings are refused with the reason', () => {
    expect(() => new SafetyFilter(2, { low: [1, 0], high: [0, 1] })).toThrow(SafetyConfigError);
    expect(() => new SafetyFilter(2, { safeAction: 'pose', pose: 'nope', poses: {} })).toThrow(/needs a pose name/);
    expect(() => new SafetyFilter(2, { maxDelta: [0.1] })).toThrow(/1 values, the policy has 2/);
    expect(() => new SafetyFilter(2, { low: [-1, -1], high: [1, 1], safeAction: 'pose', pose: 'p', poses: { p: [2, 0] } })).toThrow(/outside the bounds/);
  });

  it('act() allocates nothing beyond the raw ORT run (heap growth per call compared with model.infer())', () => {
    const rt = runtime({ maxDelta: 0.05, staleAfterMs: 1000 });
    const obs = new Float32Array(5);
    const m = rt.model;
    const extra = extraBytesPerCall(
      () => m.infer(),
      (i) => {
        obs[0] = i * 1e-4;
        rt.act(obs);
      },
    );
    expect(extra).toBeLessThan(100);
    rt.dispose();
  });
});

describe('hot swap', () => {
  it('swaps atomically to a verified policy, and refuses bad, unsigned or mismatched ones while the old keeps serving', () => {
    const key = generateSigningKey();
    const dir = tempDir();
    const v1 = join(dir, 'v1.onnx');
    const v2 = join(dir, 'v2.onnx');
    const unsigned = join(dir, 'unsigned.onnx');
    const wrongDims = join(dir, 'dims.onnx');
    exportRandom({ version: 'v1', out: v1, signingKey: key.privateKeyPem, seed: 1 });
    exportRandom({ version: 'v2', out: v2, signingKey: key.privateKeyPem, seed: 2 });
    exportRandom({ version: 'v3', out: unsigned, seed: 3 });
    exportRandom({ version: 'v4', out: wrongDims, signingKey: key.privateKeyPem, spec: { obsDim: 6 } });
    const events: RuntimeEvent[] = [];
    const rt = PolicyRuntime.open(readArtifactFile(v1), { trust: { publicKeys: [key.publicKeyPem] }, onEvent: (e) => events.push(e) });
    const obs = [0.5, 0.1, -0.3, 0.2, 0.9];
    const a1 = Array.from(rt.act(obs));

    const r1 = rt.swap(readArtifactFile(unsigned));
    expect(r1).toMatchObject({ ok: false, version: 'v1' });
    expect(r1.reason).toMatch(/unsigned/);
    const r2 = rt.swap(readArtifactFile(wrongDims));
    expect(r2.reason).toMatch(/obs 6 \/ act 2, the serving policy has 5 \/ 2/);
    const tampered = readArtifactFile(v2);
    tampered.bytes = Uint8Array.from(tampered.bytes);
    tampered.bytes[tampered.bytes.length >> 1]! ^= 1;
    expect(rt.swap(tampered).reason).toMatch(/sha256 mismatch/);
    expect(rt.swap({ bytes: new Uint8Array(10), source: 'junk', signature: null }).ok).toBe(false);
    expect(Array.from(rt.act(obs))).toEqual(a1); // still v1
    expect(rt.status()).toMatchObject({ version: 'v1', refusedSwaps: 4, swaps: 0 });
    expect(events.filter((e) => e.type === 'swap-refused')).toHaveLength(4);

    const ok = rt.swap(readArtifactFile(v2));
    expect(ok).toEqual({ ok: true, version: 'v2' });
    const a2 = Array.from(rt.act(obs));
    const ref2 = referenceAction(randomActor({}, 2), obs);
    expect(Math.abs(a2[0]! - ref2[0]!)).toBeLessThan(1e-5);
    expect(rt.status()).toMatchObject({ version: 'v2', swaps: 1, lastSwapError: null, verifiedBy: 'signature' });
    rt.dispose();
  });

  it('refuses a policy whose test inference is not finite', () => {
    const rt = runtime();
    const actor = randomActor();
    actor.params.fill(NaN);
    // exportPolicy refuses nothing about values: the runtime's test inference must.
    const bad = serve.exportPolicy({ policy: mlpPolicy(actor), card: { name: 'nan', version: 'nan', task: 't', algorithm: 'a' } });
    const r = rt.swap({ bytes: bad.bytes, source: 'nan.onnx' });
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/test inference gave action\[0\] = NaN/);
    expect(rt.version).toBe('v1');
    rt.dispose();
  });

  it('execution provider option falls back to cpu with one warning', () => {
    const warnings: string[] = [];
    const res = exportRandom();
    const rt = PolicyRuntime.open({ bytes: res.bytes, source: 'p' }, { model: { executionProvider: 'cuda', warn: (m) => warnings.push(m) } });
    expect(rt.status().provider).toBe('cpu');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/'cuda' unavailable/);
    rt.dispose();
  });
});
