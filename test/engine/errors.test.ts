import { describe, expect, it } from 'vitest';
import { Graph, GraphBuildError, Session, SessionRunError, defineOp, grad } from '../../src/engine/index.js';

describe('bad graphs fail when built, naming the op and the shapes', () => {
  it('mismatched elementwise shapes', () => {
    const g = new Graph();
    const a = g.input('a', [3, 4]);
    const b = g.input('b', [5]);
    expect(() => g.add(a, b)).toThrow(GraphBuildError);
    expect(() => g.add(a, b)).toThrow(/Add: shapes \[3,4\] and \[5\] do not broadcast/);
  });
  it('matmul inner dimensions', () => {
    const g = new Graph();
    expect(() => g.matmul(g.input('a', [2, 3]), g.input('b', [4, 5]))).toThrow(/MatMul: inner dimensions differ: \[2,3\] @ \[4,5\]/);
  });
  it('gemm inner dimensions with transposes', () => {
    const g = new Graph();
    expect(() => g.gemm(g.input('a', [2, 3]), g.input('b', [2, 5]), { transA: false })).toThrow(/Gemm: inner dimensions differ/);
  });
  it('reshape to a different size', () => {
    const g = new Graph();
    expect(() => g.reshape(g.input('a', [2, 3]), [4, 2])).toThrow(/Reshape: \[2,3\] has 6 values, \[4,2\] needs 8/);
  });
  it('mixed dtypes', () => {
    const g = new Graph();
    expect(() => g.add(g.input('a', [2]), g.input('b', [2], 'float64'))).toThrow(/dtypes differ/);
  });
  it('duplicate input names and invalid shapes', () => {
    const g = new Graph();
    g.input('x', [2]);
    expect(() => g.input('x', [3])).toThrow(/name already used/);
    expect(() => g.input('y', [0, 2])).toThrow(/invalid shape/);
  });
  it('a tensor from another graph', () => {
    const g1 = new Graph();
    const g2 = new Graph();
    expect(() => g1.tanh(g2.input('x', [2]))).toThrow(/belongs to another graph/);
  });
  it('an op without a gradient rule on the path to a parameter', () => {
    const Mystery = defineOp({ onnx: 'Mystery' });
    const g = new Graph();
    const x = g.input('x', [3]);
    const y = g.addNode(Mystery, [x], [{ shape: [3], dtype: 'float32' }])[0]!;
    expect(() => grad(g, g.reduceSum(y), [x])).toThrow(/op Mystery .* has no gradient rule/);
  });
  it('a non-scalar loss', () => {
    const g = new Graph();
    const x = g.input('x', [3]);
    expect(() => grad(g, g.tanh(x), [x])).toThrow(/not a scalar/);
  });
  it('an unknown op is refused by the runtime with its name', async () => {
    const Mystery = defineOp({ onnx: 'Mystery' });
    const g = new Graph();
    const x = g.input('x', [3]);
    g.output('y', g.addNode(Mystery, [x], [{ shape: [3], dtype: 'float32' }])[0]!);
    await expect(Session.create(g, { name: 'mystery-graph' })).rejects.toThrow(/mystery-graph: onnxruntime rejected the graph: .*Mystery/);
  });
});

describe('bad feeds fail at run time, naming the input and the expected shape', () => {
  async function session() {
    const g = new Graph();
    const x = g.input('obs', [4, 3]);
    g.output('y', g.tanh(x));
    return Session.create(g, { name: 'policy' });
  }
  it('wrong length', async () => {
    const s = await session();
    expect(() => s.run({ obs: new Float32Array(10) })).toThrow(SessionRunError);
    expect(() => s.run({ obs: new Float32Array(10) })).toThrow(/policy: input 'obs' expects shape \[4,3\] \(12 values\), got 10/);
  });
  it('wrong dtype', async () => {
    const s = await session();
    expect(() => s.run({ obs: new Float64Array(12) })).toThrow(/input 'obs' expects float32, got Float64Array/);
  });
  it('missing input', async () => {
    const s = await session();
    expect(() => s.run()).toThrow(/input 'obs' was never given a value/);
  });
  it('unknown input', async () => {
    const s = await session();
    expect(() => s.run({ action: new Float32Array(12) })).toThrow(/no input 'action' \(inputs: obs\)/);
  });
  it('dynamic batch not a multiple of the row size', async () => {
    const g = new Graph();
    g.output('y', g.tanh(g.input('obs', [-1, 3])));
    const s = await Session.create(g);
    expect((s.run({ obs: new Float32Array(6) }).y as Float32Array).length).toBe(6);
    expect(() => s.run({ obs: new Float32Array(7) })).toThrow(/not a multiple of 3/);
  });
  it('an unavailable execution provider falls back to cpu with one warning', async () => {
    const g = new Graph();
    g.output('y', g.tanh(g.input('obs', [2])));
    const warnings: string[] = [];
    const s = await Session.create(g, { executionProvider: 'cuda', warn: (m) => warnings.push(m) });
    expect(s.provider).toBe('cpu');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/execution provider 'cuda' unavailable .* running on cpu/);
    expect(Array.from(s.run({ obs: Float32Array.of(0, 1) }).y as Float32Array)[1]).toBeCloseTo(Math.tanh(1), 6);
  });
});

describe('Session.fromOnnx loads any ONNX model by its own signature', () => {
  it('runs a serialized policy with a symbolic batch and names its inputs', async () => {
    const { serialize } = await import('../../src/engine/index.js');
    const g = new Graph();
    const x = g.input('obs', [-1, 3]);
    g.output('action', g.tanh(g.mul(x, 2)));
    const s = await Session.fromOnnx(serialize(g), { name: 'policy.onnx', threads: 1 });
    const out = s.run({ obs: Float32Array.of(0.1, 0.2, 0.3, 0, 0, 0) }).action as Float32Array;
    expect(out.length).toBe(6);
    expect(out[2]).toBeCloseTo(Math.tanh(0.6), 6);
    expect(() => s.run({ obs: new Float32Array(4) })).toThrow(/policy\.onnx: input 'obs' expects shape \[batch,3\]/);
  });
  it('refuses bytes that are not ONNX, naming the model', async () => {
    await expect(Session.fromOnnx(new Uint8Array([1, 2, 3, 4]), { name: 'junk.onnx' })).rejects.toThrow(/junk\.onnx: onnxruntime rejected the graph/);
  });
});
