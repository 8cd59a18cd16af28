/**
 * The ops a Decision Transformer needs (LayerNorm, Softmax, GELU/Erf, Gather, batched MatMul,
 * Transpose, causal masking, dropout, causal self-attention): forward values against plain
 * TypeScript references, gradients against central finite differences (float64 where ORT's CPU
 * provider has the kernels).
 */
import { describe, expect, it } from 'vitest';
import { type AnyTypedArray, Graph, Session, type Tensor, causalMask, causalSelfAttention, fillDropoutMask, grad } from '../../src/engine/index.js';
import { Rng } from '../../src/util/rng.js';
import { gradCheck, type InputSpec } from './gradcheck.js';

const S = (shape: number[], sample?: (r: Rng) => number): InputSpec => ({ shape, sample });
const size = (shape: number[]) => shape.reduce((p, d) => p * d, 1);

/** Runs `build` once with the given inputs; returns every output as float64 numbers. */
async function forward(
  dtype: 'float32' | 'float64',
  inputs: Record<string, { shape: number[]; data: AnyTypedArray; dtype?: 'int64' | 'bool' }>,
  build: (g: Graph, xs: Record<string, Tensor>) => Record<string, Tensor>,
  optimization: 'basic' | 'all' = 'all',
): Promise<Record<string, Float64Array>> {
  const g = new Graph(dtype);
  const xs: Record<string, Tensor> = {};
  for (const [name, v] of Object.entries(inputs)) xs[name] = g.input(name, v.shape, v.dtype ?? dtype);
  for (const [name, t] of Object.entries(build(g, xs))) g.output(name, t);
  const s = await Session.create(g, { threads: 1, optimization });
  for (const [name, v] of Object.entries(inputs)) s.set(name, v.data);
  const out = s.run();
  s.dispose();
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Float64Array.from(v as ArrayLike<number>, Number)]));
}

function normals(rng: Rng, n: number, std = 1): Float64Array {
  return Float64Array.from({ length: n }, () => rng.normal(0, std));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

// ---- plain TypeScript references (float64) -----------------------------------------------

/** erf by its Maclaurin series; for |x| ≤ 5 the terms stay below e^25 ≈ 7e10, so ~1e-6 absolute at worst, ~1e-15 for |x| ≤ 2. */
function erfRef(x: number): number {
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
    if (Math.abs(term) < 1e-17 * Math.abs(sum)) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
const geluRef = (x: number) => 0.5 * x * (1 + erfRef(x / Math.SQRT2));
const geluGradRef = (x: number) => 0.5 * (1 + erfRef(x / Math.SQRT2)) + (x * Math.exp((-x * x) / 2)) / Math.sqrt(2 * Math.PI);

function layerNormRef(x: Float64Array, d: number, scale: Float64Array, bias: Float64Array, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / d; r++) {
    let mean = 0;
    for (let j = 0; j < d; j++) mean += x[r * d + j]!;
    mean /= d;
    let v = 0;
    for (let j = 0; j < d; j++) v += (x[r * d + j]! - mean) ** 2;
    v /= d;
    for (let j = 0; j < d; j++) y[r * d + j] = ((x[r * d + j]! - mean) / Math.sqrt(v + eps)) * scale[j]! + bias[j]!;
  }
  return y;
}

function softmaxRows(x: Float64Array, n: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / n; r++) {
    let m = -Infinity;
    for (let j = 0; j < n; j++) m = Math.max(m, x[r * n + j]!);
    let s = 0;
    for (let j = 0; j < n; j++) s += y[r * n + j] = Math.exp(x[r * n + j]! - m);
    for (let j = 0; j < n; j++) y[r * n + j]! /= s;
  }
  return y;
}

/** torch.nn.MultiheadAttention(x, x, x, attn_mask=causal, key_padding_mask=pad) written out with loops. */
function attentionRef(
  x: Float64Array,
  [b, t, d]: number[],
  heads: number,
  w: { qkvW: Float64Array; qkvB: Float64Array; outW: Float64Array; outB: Float64Array },
  pad?: Uint8Array,
): Float64Array {
  const dh = d / heads;
  const qkv = new Float64Array(b * t * 3 * d);
  for (let r = 0; r < b * t; r++) {
    for (let c = 0; c < 3 * d; c++) {
      let s = w.qkvB[c]!;
      for (let k = 0; k < d; k++) s += x[r * d + k]! * w.qkvW[k * 3 * d + c]!;
      qkv[r * 3 * d + c] = s;
    }
  }
  const ctx = new Float64Array(b * t * d);
  for (let bi = 0; bi < b; bi++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < t; i++) {
        const scores = new Float64Array(t);
        for (let j = 0; j < t; j++) {
          const allowed = j <= i && !pad?.[bi * t + j];
          let s = 0;
          for (let k = 0; k < dh; k++) s += qkv[(bi * t + i) * 3 * d + h * dh + k]! * qkv[(bi * t + j) * 3 * d + d + h * dh + k]!;
          scores[j] = allowed ? s / Math.sqrt(dh) : -1e9;
        }
        const p = softmaxRows(scores, t);
        for (let k = 0; k < dh; k++) {
          let s = 0;
          for (let j = 0; j < t; j++) s += p[j]! * qkv[(bi * t + j) * 3 * d + 2 * d + h * dh + k]!;
          ctx[(bi * t + i) * d + h * dh + k] = s;
        }
      }
    }
  }
  const y = new Float64Array(b * t * d);
  for (let r = 0; r < b * t; r++) {
    for (let c = 0; c < d; c++) {
      let s = w.outB[c]!;
      for (let k = 0; k < d; k++) s += ctx[r * d + k]! * w.outW[k * d + c]!;
      y[r * d + c] = s;
    }
  }
  return y;
}

// ---- forward values ------------------------------------------------------------------------

describe('transformer ops: forward values match plain TypeScript references', () => {
  const rng = new Rng(3);

  it('LayerNorm over the last axis (float64, and float32 within float32 rounding)', async () => {
    const shape = [2, 3, 7];
    const x = normals(rng, size(shape), 3).map((v) => v + 5);
    const scale = normals(rng, 7);
    const bias = normals(rng, 7);
    const want = layerNormRef(x, 7, scale, bias, 1e-5);
    for (const dtype of ['float64', 'float32'] as const) {
      const A = dtype === 'float64' ? Float64Array : Float32Array;
      const out = await forward(dtype, { x: { shape, data: A.from(x) }, s: { shape: [7], data: A.from(scale) }, b: { shape: [7], data: A.from(bias) } }, (g, v) => ({
        y: g.layerNorm(v.x!, v.s!, v.b!),
      }));
      expect(maxAbsDiff(out.y!, want)).toBeLessThan(dtype === 'float64' ? 1e-12 : 2e-5);
    }
  });

  it('Softmax over the last axis of a 4-D tensor', async () => {
    const shape = [2, 2, 3, 5];
    const x = normals(rng, size(shape), 4);
    const out = await forward('float64', { x: { shape, data: x } }, (g, v) => ({ y: g.softmax(v.x!, -1) }));
    expect(maxAbsDiff(out.y!, softmaxRows(x, 5))).toBeLessThan(1e-15);
  });

  it('Erf and exact GELU (float32; ORT has no float64 Erf)', async () => {
    const xs = Float64Array.from({ length: 41 }, (_, i) => -5 + i * 0.25);
    const out = await forward('float32', { x: { shape: [41], data: Float32Array.from(xs) } }, (g, v) => ({ e: g.erf(v.x!), y: g.gelu(v.x!) }));
    // The float32 input is exact here (multiples of 1/4); outputs are rounded to float32 (|y| ≤ 5: ulp ≤ 5e-7).
    expect(maxAbsDiff(out.e!, Array.from(xs, erfRef))).toBeLessThan(1e-6);
    expect(maxAbsDiff(out.y!, Array.from(xs, geluRef))).toBeLessThan(2e-6);
    expect(geluRef(1)).toBeCloseTo(0.8413447460685429, 12); // torch.nn.functional.gelu(torch.tensor(1., dtype=torch.float64))
  });

  it('Gather on axis 0 (embedding lookup) with repeated and negative indices, 2-D index tensors', async () => {
    const table = normals(rng, 5 * 3);
    const idx = BigInt64Array.from([4n, 0n, -1n, 2n, 1n, 4n]);
    const out = await forward('float64', { t: { shape: [5, 3], data: table }, i: { shape: [2, 3], data: idx, dtype: 'int64' } }, (g, v) => ({ y: g.gather(v.t!, v.i!) }));
    const row = (i: bigint) => (Number(i) + 5) % 5;
    const want = Array.from(idx).flatMap((i) => Array.from(table.subarray(row(i) * 3, row(i) * 3 + 3)));
    expect(Array.from(out.y!)).toEqual(want);
  });

  it('dropout is x · mask / (1 − rate), deterministic given the mask', async () => {
    const x = normals(rng, 12);
    const mask = fillDropoutMask(new Rng(5), new Float64Array(12), 0.25);
    const out = await forward('float64', { x: { shape: [3, 4], data: x }, m: { shape: [3, 4], data: mask } }, (g, v) => ({ y: g.dropout(v.x!, v.m!, 0.25) }));
    expect(
      maxAbsDiff(
        out.y!,
        Array.from(x, (v, i) => (v * mask[i]!) / 0.75),
      ),
    ).toBeLessThan(1e-15);
  });

  it('fillDropoutMask: seeded, 0/1 values, zeros at the given rate', () => {
    const a = fillDropoutMask(new Rng(9), new Float32Array(200_000), 0.1);
    const b = fillDropoutMask(new Rng(9), new Float32Array(200_000), 0.1);
    expect(a.every((v, i) => v === b[i])).toBe(true);
    expect(a.every((v) => v === 0 || v === 1)).toBe(true);
    const zeros = a.reduce((s, v) => s + (v === 0 ? 1 : 0), 0) / a.length;
    // binomial standard deviation sqrt(0.09 / 2e5) = 6.7e-4: 5e-3 is 7.5 of them
    expect(Math.abs(zeros - 0.1)).toBeLessThan(5e-3);
    // The fast fill draws exactly what `uniform() < rate` would, and leaves the stream where that loop would.
    const fast = new Rng(11);
    const slow = new Rng(11);
    fast.normal(); // a cached Box-Muller value must survive the fill
    slow.normal();
    const m = fillDropoutMask(fast, new Float64Array(10_000), 0.37);
    expect(Array.from(m)).toEqual(Array.from({ length: 10_000 }, () => (slow.uniform() < 0.37 ? 0 : 1)));
    expect([fast.normal(), fast.nextU32()]).toEqual([slow.normal(), slow.nextU32()]);
    expect(fillDropoutMask(new Rng(1), new Float32Array(100), 0).every((v) => v === 1)).toBe(true);
  });

  const [b, t, d, heads] = [2, 5, 6, 2];
  const w = {
    qkvW: normals(rng, d * 3 * d, 0.5),
    qkvB: normals(rng, 3 * d, 0.1),
    outW: normals(rng, d * d, 0.5),
    outB: normals(rng, d, 0.1),
  };
  const x = normals(rng, b * t * d);
  const attnInputs = {
    x: { shape: [b, t, d], data: x },
    qkvW: { shape: [d, 3 * d], data: w.qkvW },
    qkvB: { shape: [3 * d], data: w.qkvB },
    outW: { shape: [d, d], data: w.outW },
    outB: { shape: [d], data: w.outB },
  };
  const params = (v: Record<string, Tensor>) => ({ qkvWeight: v.qkvW!, qkvBias: v.qkvB!, outWeight: v.outW!, outBias: v.outB! });

  // ORT's extended optimizations (MatMulScaleFusion) fold the scalar 1/√(D/heads) into a
  // com.microsoft FusedMatMul whose alpha attribute is a float32: in a float64 graph the scale is
  // rounded to float32 (1/√3 → 0.57735025882720947, ~1e-8 relative). Float32 graphs lose nothing,
  // so these exact float64 comparisons run at 'basic' (no fusions); 'all' is checked at the
  // float32 rounding of the scale.
  it('causal self-attention, 2 heads', async () => {
    const want = attentionRef(x, [b, t, d], heads, w);
    const exact = await forward('float64', attnInputs, (g, v) => ({ y: causalSelfAttention(g, v.x!, params(v), heads) }), 'basic');
    expect(maxAbsDiff(exact.y!, want)).toBeLessThan(1e-12);
    const fused = await forward('float64', attnInputs, (g, v) => ({ y: causalSelfAttention(g, v.x!, params(v), heads) }));
    expect(maxAbsDiff(fused.y!, want)).toBeLessThan(1e-6);
  });

  it('causal self-attention with a key padding mask', async () => {
    const pad = Uint8Array.from([0, 1, 0, 0, 1, 0, 0, 0, 1, 1]);
    const out = await forward(
      'float64',
      { ...attnInputs, pad: { shape: [b, t], data: pad, dtype: 'bool' } },
      (g, v) => ({ y: causalSelfAttention(g, v.x!, params(v), heads, { keyPadding: v.pad! }) }),
      'basic',
    );
    expect(maxAbsDiff(out.y!, attentionRef(x, [b, t, d], heads, w, pad))).toBeLessThan(1e-12);
  });

  it('causal self-attention in a serving graph (symbolic batch), 1 and 2 heads', async () => {
    for (const h of [1, 2]) {
      const g = new Graph('float64');
      const v: Record<string, Tensor> = {};
      for (const [name, spec] of Object.entries(attnInputs)) v[name] = g.input(name, name === 'x' ? [-1, t, d] : spec.shape);
      g.output('y', causalSelfAttention(g, v.x!, params(v), h));
      const s = await Session.create(g, { threads: 1, optimization: 'basic' });
      for (const [name, spec] of Object.entries(attnInputs)) if (name !== 'x') s.set(name, spec.data);
      const y = s.run({ x }).y as Float64Array;
      expect(maxAbsDiff(y, attentionRef(x, [b, t, d], h, w))).toBeLessThan(1e-12);
      const one = s.run({ x: x.subarray(0, t * d) }).y as Float64Array; // batch 1
      expect(maxAbsDiff(one, attentionRef(x.subarray(0, t * d), [1, t, d], h, w))).toBeLessThan(1e-12);
      s.dispose();
    }
  });
});

// ---- gradients -------------------------------------------------------------------------------

const positive = (r: Rng) => r.uniform(0.5, 2);
const idx = (g: Graph, values: number[], shape: number[]) => g.constant(BigInt64Array.from(values.map(BigInt)), shape, 'int64');
const attn =
  (heads: number, pad?: number[]) =>
  (g: Graph, [x, qw, qb, ow, ob]: Tensor[]) =>
    causalSelfAttention(
      g,
      x!,
      { qkvWeight: qw!, qkvBias: qb!, outWeight: ow!, outBias: ob! },
      heads,
      pad ? { keyPadding: g.constant(Uint8Array.from(pad), [x!.shape[0]!, x!.shape[1]!], 'bool') } : {},
    );
const attnSpecs = (b: number, t: number, d: number) => [S([b, t, d]), S([d, 3 * d]), S([3 * d]), S([d, d]), S([d])];

type Case = { name: string; inputs: InputSpec[]; f: (g: Graph, x: Tensor[]) => Tensor };
const cases: Case[] = [
  { name: 'LayerNorm 2-D (x, scale, bias)', inputs: [S([4, 6]), S([6]), S([6])], f: (g, [x, s, b]) => g.layerNorm(x!, s!, b!) },
  { name: 'LayerNorm 3-D, eps 1e-3', inputs: [S([2, 3, 5]), S([5], positive), S([5])], f: (g, [x, s, b]) => g.layerNorm(x!, s!, b!, 1e-3) },
  { name: 'Softmax last axis, 4-D', inputs: [S([2, 2, 3, 4])], f: (g, [x]) => g.softmax(x!, -1) },
  { name: 'Gather (repeated and negative indices, 2-D indices)', inputs: [S([5, 3])], f: (g, [t]) => g.gather(t!, idx(g, [4, 0, -1, 2, 4, 1], [2, 3])) },
  {
    name: "Gather's gradient (ScatterND add) differentiated again",
    inputs: [S([5, 3]), S([2, 3, 3])],
    f: (g, [t, u]) => grad(g, g.gather(t!, idx(g, [4, 0, 4, 2, 4, 1], [2, 3])), [t!], u!)[0]!,
  },
  { name: 'MatMul 4-D batched (Q·Kᵀ shapes)', inputs: [S([2, 3, 4, 5]), S([2, 3, 5, 4])], f: (g, [a, b]) => g.matmul(a!, b!) },
  { name: 'MatMul 4-D with broadcast batch axes', inputs: [S([2, 1, 4, 5]), S([3, 5, 2])], f: (g, [a, b]) => g.matmul(a!, b!) },
  { name: 'MatMul 3-D tokens by a weight matrix', inputs: [S([2, 3, 4]), S([4, 5])], f: (g, [a, b]) => g.matmul(a!, b!) },
  { name: 'Transpose 4-D [0,2,1,3]', inputs: [S([2, 3, 4, 5])], f: (g, [x]) => g.transpose(x!, [0, 2, 1, 3]) },
  { name: 'Transpose moving only a unit axis (emitted as a Reshape)', inputs: [S([2, 3, 1, 4])], f: (g, [x]) => g.transpose(x!, [0, 2, 1, 3]) },
  { name: 'causal mask then softmax', inputs: [S([2, 1, 4, 4])], f: (g, [x]) => g.softmax(causalMask(g, x!), -1) },
  { name: 'dropout (fixed mask)', inputs: [S([3, 4])], f: (g, [x]) => g.dropout(x!, g.constant(Float64Array.from([1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 1]), [3, 4]), 0.3) },
  { name: 'causal self-attention, 1 head (x and every parameter)', inputs: attnSpecs(2, 4, 4), f: attn(1) },
  { name: 'causal self-attention, 2 heads, key padding', inputs: attnSpecs(2, 4, 6), f: attn(2, [0, 0, 1, 0, 1, 0, 0, 0]) },
];

describe('transformer ops: gradients match central finite differences (float64, tol 1e-6)', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const r = await gradCheck(c.inputs, c.f, { dtype: 'float64' });
      expect(r.maxRelErr).toBeLessThan(1e-6);
      expect(r.analytic.some((a) => a.some((v) => v !== 0))).toBe(true);
    });
  }

  it('a Transpose that moves only unit axes is a Reshape, and its values are the permuted ones', async () => {
    const g = new Graph('float64');
    const y = g.transpose(g.input('x', [2, 3, 1, 4]), [0, 2, 1, 3]);
    expect(y.shape).toEqual([2, 1, 3, 4]);
    expect(y.producer!.def.onnx).toBe('Reshape');
    expect(g.transpose(g.input('z', [2, 3, 4, 1]), [0, 2, 1, 3]).producer!.def.onnx).toBe('Transpose');
  });

  it('masked scores get exactly zero gradient', async () => {
    const r = await gradCheck([S([1, 1, 4, 4])], (g, [x]) => causalMask(g, x!));
    const dx = r.analytic[0]!;
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) expect(dx[i * 4 + j] === 0).toBe(j > i);
  });

  it('attention is causal: an output at step t has zero gradient w.r.t. every later input', async () => {
    const [b, t, d, at] = [2, 5, 4, 2];
    const r = await gradCheck(attnSpecs(b, t, d), (g, xs) => g.slice(attn(2)(g, xs), { 1: [at, at + 1] }));
    const dx = r.analytic[0]!;
    for (let bi = 0; bi < b; bi++) {
      for (let s = 0; s < t; s++) {
        const row = dx.subarray((bi * t + s) * d, (bi * t + s + 1) * d);
        if (s > at) expect(row.every((v) => v === 0)).toBe(true);
        else expect(row.some((v) => v !== 0)).toBe(true);
      }
    }
    expect(r.maxRelErr).toBeLessThan(1e-6);
  });
});

describe('transformer ops in float32', () => {
  it('GELU: gradient matches finite differences (float32, h 1e-2, tol 2e-3)', async () => {
    const r = await gradCheck([S([40], (r) => r.uniform(-4, 4))], (g, [x]) => g.gelu(x!), { dtype: 'float32' });
    expect(r.maxRelErr).toBeLessThan(2e-3);
  });

  it('GELU: gradient equals the exact derivative Φ(x) + x·φ(x) within float32 rounding', async () => {
    const xs = Float32Array.from({ length: 81 }, (_, i) => -6 + i * 0.15);
    const out = await forward('float32', { x: { shape: [81], data: xs } }, (g, v) => ({ dx: grad(g, g.reduceSum(g.gelu(v.x!)), [v.x!])[0]! }));
    // |gelu'| ≤ 1.13; a handful of float32 roundings (u = 6e-8) of O(1) terms stays far below 1e-6.
    expect(maxAbsDiff(out.dx!, Array.from(xs, geluGradRef))).toBeLessThan(1e-6);
  });

  it('Erf has no float64 CPU kernel in ORT (why GELU is checked in float32)', async () => {
    await expect(gradCheck([S([3])], (g, [x]) => g.erf(x!), { dtype: 'float64' })).rejects.toThrow(/Erf/);
  });

  it('LayerNorm in float32 takes the kernel’s Mean/InvStdDev: its gradient agrees with the float64 path', async () => {
    const specs = [S([3, 2, 8]), S([8], positive), S([8])];
    const f = (g: Graph, [x, s, b]: Tensor[]) => g.layerNorm(x!, s!, b!);
    const r32 = await gradCheck(specs, f, { dtype: 'float32' });
    const r64 = await gradCheck(specs, f, { dtype: 'float64' });
    expect(r32.maxRelErr).toBeLessThan(2e-3);
    // Same inputs (same seed, rounded to float32: relative 6e-8); float32 rounding of reductions over
    // 8 values and of the cotangent keeps the difference near 1e-6; 1e-5 leaves a 10× margin.
    for (let i = 0; i < 3; i++) {
      const scale = Math.max(1, ...Array.from(r64.analytic[i]!, Math.abs));
      expect(maxAbsDiff(r32.analytic[i]!, r64.analytic[i]!) / scale).toBeLessThan(1e-5);
    }
  });
});
