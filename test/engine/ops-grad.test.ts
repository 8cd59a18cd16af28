import { describe, expect, it } from 'vitest';
import type { Graph, Tensor } from '../../src/engine/index.js';
import type { Rng } from '../../src/util/rng.js';
import { gradCheck, type InputSpec } from './gradcheck.js';

// Keeps samples away from kinks and domain edges so central differences are valid.
const awayFromZero = (r: Rng) => (r.uniform() < 0.5 ? -1 : 1) * r.uniform(0.2, 1.5);
const positive = (r: Rng) => r.uniform(0.5, 2);
const distinct = (r: Rng) => r.uniform(-3, 3); // ties have probability ~0

type Case = { name: string; inputs: InputSpec[]; f: (g: Graph, x: Tensor[]) => Tensor };

const S = (shape: number[], sample?: (r: Rng) => number): InputSpec => ({ shape, sample });

const cases: Case[] = [
  { name: 'Add', inputs: [S([3, 4]), S([3, 4])], f: (g, [a, b]) => g.add(a!, b!) },
  { name: 'Add broadcast row', inputs: [S([3, 4]), S([4])], f: (g, [a, b]) => g.add(a!, b!) },
  { name: 'Add broadcast keepdim', inputs: [S([2, 3, 4]), S([2, 1, 4])], f: (g, [a, b]) => g.add(a!, b!) },
  { name: 'Sub broadcast', inputs: [S([3, 1]), S([1, 4])], f: (g, [a, b]) => g.sub(a!, b!) },
  { name: 'Mul broadcast scalar-like', inputs: [S([3, 4]), S([1])], f: (g, [a, b]) => g.mul(a!, b!) },
  { name: 'Div broadcast', inputs: [S([3, 4]), S([3, 1], positive)], f: (g, [a, b]) => g.div(a!, b!) },
  { name: 'Neg', inputs: [S([5])], f: (g, [a]) => g.neg(a!) },
  { name: 'Exp', inputs: [S([5])], f: (g, [a]) => g.exp(a!) },
  { name: 'Log', inputs: [S([5], positive)], f: (g, [a]) => g.log(a!) },
  { name: 'Sqrt', inputs: [S([5], positive)], f: (g, [a]) => g.sqrt(a!) },
  { name: 'Pow 3', inputs: [S([5])], f: (g, [a]) => g.pow(a!, 3) },
  { name: 'Pow -0.5', inputs: [S([5], positive)], f: (g, [a]) => g.pow(a!, -0.5) },
  { name: 'Abs', inputs: [S([6], awayFromZero)], f: (g, [a]) => g.abs(a!) },
  { name: 'Square', inputs: [S([5])], f: (g, [a]) => g.square(a!) },
  { name: 'Tanh', inputs: [S([5])], f: (g, [a]) => g.tanh(a!) },
  { name: 'Sigmoid', inputs: [S([5])], f: (g, [a]) => g.sigmoid(a!) },
  { name: 'Relu', inputs: [S([6], awayFromZero)], f: (g, [a]) => g.relu(a!) },
  { name: 'Softplus', inputs: [S([6])], f: (g, [a]) => g.softplus(a!) },
  { name: 'Clip', inputs: [S([8], distinct)], f: (g, [a]) => g.clip(a!, -1.1, 0.9) },
  { name: 'Min broadcast', inputs: [S([3, 4], distinct), S([4], distinct)], f: (g, [a, b]) => g.minimum(a!, b!) },
  { name: 'Max broadcast', inputs: [S([3, 4], distinct), S([3, 1], distinct)], f: (g, [a, b]) => g.maximum(a!, b!) },
  { name: 'Where', inputs: [S([3, 4], distinct), S([3, 4]), S([4])], f: (g, [c, a, b]) => g.where(g.greater(c!, 0), a!, b!) },
  { name: 'MatMul 2D', inputs: [S([3, 4]), S([4, 5])], f: (g, [a, b]) => g.matmul(a!, b!) },
  { name: 'MatMul batched broadcast', inputs: [S([2, 3, 4]), S([4, 2])], f: (g, [a, b]) => g.matmul(a!, b!) },
  { name: 'Gemm + bias', inputs: [S([3, 4]), S([4, 5]), S([5])], f: (g, [a, b, c]) => g.gemm(a!, b!, { alpha: 0.7, beta: 1.3 }, c) },
  { name: 'Gemm transA transB', inputs: [S([4, 3]), S([5, 4]), S([3, 1])], f: (g, [a, b, c]) => g.gemm(a!, b!, { transA: true, transB: true }, c) },
  { name: 'Gemm transA', inputs: [S([4, 3]), S([4, 5])], f: (g, [a, b]) => g.gemm(a!, b!, { transA: true }) },
  { name: 'Gemm transB', inputs: [S([3, 4]), S([5, 4])], f: (g, [a, b]) => g.gemm(a!, b!, { transB: true, alpha: 2 }) },
  { name: 'Reshape', inputs: [S([2, 6])], f: (g, [a]) => g.tanh(g.reshape(a!, [3, -1])) },
  { name: 'Transpose', inputs: [S([2, 3, 4])], f: (g, [a]) => g.transpose(a!, [2, 0, 1]) },
  { name: 'Concat', inputs: [S([2, 3]), S([2, 2])], f: (g, [a, b]) => g.concat([a!, g.exp(b!)], 1) },
  { name: 'Slice', inputs: [S([4, 5])], f: (g, [a]) => g.slice(a!, { 0: [1, 3], 1: [2, 5] }) },
  {
    name: 'Split (one part unused)',
    inputs: [S([3, 6])],
    f: (g, [a]) => {
      const [p, , r] = g.split(a!, [2, 1, 3], 1);
      return g.concat([g.exp(p!), r!], 1);
    },
  },
  { name: 'Expand', inputs: [S([3, 1])], f: (g, [a]) => g.expand(a!, [2, 3, 4]) },
  { name: 'ReduceSum axis', inputs: [S([3, 4])], f: (g, [a]) => g.reduceSum(a!, [1]) },
  { name: 'ReduceSum keepdims', inputs: [S([2, 3, 4])], f: (g, [a]) => g.reduceSum(a!, [0, 2], true) },
  { name: 'ReduceMean', inputs: [S([3, 4])], f: (g, [a]) => g.reduceMean(a!, [0]) },
  { name: 'ReduceMax', inputs: [S([3, 5], distinct)], f: (g, [a]) => g.reduceMax(a!, [1]) },
  { name: 'LogSumExp', inputs: [S([3, 5])], f: (g, [a]) => g.logSumExp(a!, [1]) },
  { name: 'LogSumExp large values', inputs: [S([2, 4], (r) => r.uniform(80, 120))], f: (g, [a]) => g.logSumExp(a!, [1], true) },
  { name: 'Softmax', inputs: [S([3, 5])], f: (g, [a]) => g.softmax(a!, 1) },
  { name: 'LogSoftmax', inputs: [S([3, 5])], f: (g, [a]) => g.logSoftmax(a!, -1) },
  { name: 'StopGradient blocks', inputs: [S([4])], f: (g, [a]) => g.add(g.mul(g.stopGradient(a!), 0), g.square(a!)) },
  { name: 'Shared input (accumulation)', inputs: [S([3])], f: (g, [a]) => g.mul(g.tanh(a!), g.exp(a!)) },
];

/**
 * Ops for which ORT's CPU provider has no float64 kernel. They are checked in float32 with
 * h = 1e-2 (central differences: truncation error O(h^2 f''') ~ 1e-4, rounding ~ 1e-7/h ~ 1e-5),
 * tolerance 2e-3 relative. The test below also proves each listed op really lacks a double kernel.
 */
const FLOAT32_ONLY = new Set(['Softplus']);

describe('op gradients match central finite differences', () => {
  for (const c of cases) {
    const f32 = FLOAT32_ONLY.has(c.name);
    it(`${c.name} (${f32 ? 'float32, tol 2e-3' : 'float64, tol 1e-6'})`, async () => {
      const r = await gradCheck(c.inputs, c.f, { dtype: f32 ? 'float32' : 'float64' });
      expect(r.maxRelErr).toBeLessThan(f32 ? 2e-3 : 1e-6);
      // A gradient that is identically zero would pass trivially; make sure something flowed.
      expect(r.analytic.some((a) => a.some((v) => v !== 0))).toBe(true);
    });
  }

  it('StopGradient really stops: d/dx of stopGradient(x) is zero', async () => {
    const r = await gradCheck([S([3])], (g, [a]) => g.stopGradient(g.mul(a!, 2)));
    expect(r.analytic[0]!.every((v) => v === 0)).toBe(true);
    // the numeric derivative is non-zero, which is exactly what stopGradient hides
    expect(r.numeric[0]!.some((v) => Math.abs(v) > 0.1)).toBe(true);
  });

  for (const name of FLOAT32_ONLY) {
    it(`${name} has no float64 CPU kernel (why it is checked in float32)`, async () => {
      const c = cases.find((k) => k.name === name)!;
      await expect(gradCheck(c.inputs, c.f, { dtype: 'float64' })).rejects.toThrow();
    });
  }
});
