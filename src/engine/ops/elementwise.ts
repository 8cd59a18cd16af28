import type { Graph } from '../builder.js';
import { type DType, ONNX_DTYPE, isFloat } from '../dtype.js';
import { type Tensor, GraphBuildError } from '../graph.js';
import { type OpDef, type Operand, broadcastShapes, commonDtype, defineOp, lift, unbroadcast } from './define.js';

// ---- helpers -------------------------------------------------------------------------------

function binary(g: Graph, def: OpDef, a: Operand, b: Operand, outDtype?: DType): Tensor {
  const dt = commonDtype(g, def.onnx, a, b);
  const ta = lift(g, a, dt);
  const tb = lift(g, b, dt);
  const shape = broadcastShapes(def.onnx, ta.shape, tb.shape);
  return g.addNode(def, [ta, tb], [{ shape, dtype: outDtype ?? dt }])[0]!;
}

function unary(g: Graph, def: OpDef, x: Tensor, attrs = {}): Tensor {
  g.assertOwn(x, def.onnx);
  return g.addNode(def, [x], [{ shape: x.shape, dtype: x.dtype }], attrs)[0]!;
}

function requireFloat(where: string, x: Tensor): void {
  if (!isFloat(x.dtype)) throw new GraphBuildError(`${where}: needs a float tensor, got ${x}`);
}

// ---- arithmetic ----------------------------------------------------------------------------

const AddOp = defineOp({
  onnx: 'Add',
  vjp: (g, { inputs: [a, b] }, [dy], needs) => [needs[0] ? unbroadcast(g, dy!, a!.shape) : null, needs[1] ? unbroadcast(g, dy!, b!.shape) : null],
});
export const add = (g: Graph, a: Operand, b: Operand) => binary(g, AddOp, a, b);

const SubOp = defineOp({
  onnx: 'Sub',
  vjp: (g, { inputs: [a, b] }, [dy], needs) => [needs[0] ? unbroadcast(g, dy!, a!.shape) : null, needs[1] ? unbroadcast(g, g.neg(dy!), b!.shape) : null],
});
export const sub = (g: Graph, a: Operand, b: Operand) => binary(g, SubOp, a, b);

const MulOp = defineOp({
  onnx: 'Mul',
  vjp: (g, { inputs: [a, b] }, [dy], needs) => [needs[0] ? unbroadcast(g, g.mul(dy!, b!), a!.shape) : null, needs[1] ? unbroadcast(g, g.mul(dy!, a!), b!.shape) : null],
});
export const mul = (g: Graph, a: Operand, b: Operand) => binary(g, MulOp, a, b);

const DivOp = defineOp({
  onnx: 'Div',
  vjp: (g, { inputs: [a, b], outputs: [y] }, [dy], needs) => [
    needs[0] ? unbroadcast(g, g.div(dy!, b!), a!.shape) : null,
    // d(a/b)/db = -y/b
    needs[1] ? unbroadcast(g, g.neg(g.div(g.mul(dy!, y!), b!)), b!.shape) : null,
  ],
});
export const div = (g: Graph, a: Operand, b: Operand) => binary(g, DivOp, a, b);

const NegOp = defineOp({ onnx: 'Neg', vjp: (g, _n, [dy]) => [g.neg(dy!)] });
export const neg = (g: Graph, x: Tensor) => unary(g, NegOp, x);

const ExpOp = defineOp({ onnx: 'Exp', vjp: (g, { outputs: [y] }, [dy]) => [g.mul(dy!, y!)] });
export const exp = (g: Graph, x: Tensor) => unary(g, ExpOp, x);

const LogOp = defineOp({ onnx: 'Log', vjp: (g, { inputs: [x] }, [dy]) => [g.div(dy!, x!)] });
export const log = (g: Graph, x: Tensor) => unary(g, LogOp, x);

const SqrtOp = defineOp({ onnx: 'Sqrt', vjp: (g, { outputs: [y] }, [dy]) => [g.div(g.mul(dy!, 0.5), y!)] });
export const sqrt = (g: Graph, x: Tensor) => unary(g, SqrtOp, x);

/** x ** p for a constant exponent p. */
const PowOp = defineOp({
  onnx: 'Pow',
  vjp: (g, { inputs: [x], meta }, [dy], needs) => {
    const p = meta.exponent as number;
    if (!needs[0]) return [null, null];
    if (p === 0) return [g.mul(dy!, 0), null];
    const d = p === 1 ? dy! : p === 2 ? g.mul(dy!, g.mul(x!, 2)) : g.mul(dy!, g.mul(g.pow(x!, p - 1), p));
    return [d, null];
  },
});
export function pow(g: Graph, x: Tensor, p: number): Tensor {
  requireFloat('Pow', x);
  if (!Number.isFinite(p)) throw new GraphBuildError(`Pow: exponent must be a finite constant, got ${p}`);
  return g.addNode(PowOp, [x, g.constant(p, [], x.dtype)], [{ shape: x.shape, dtype: x.dtype }], {}, { exponent: p })[0]!;
}

const SignOp = defineOp({ onnx: 'Sign', vjp: (g, _n, [dy]) => [g.mul(dy!, 0)] });
export const sign = (g: Graph, x: Tensor) => unary(g, SignOp, x);

const AbsOp = defineOp({ onnx: 'Abs', vjp: (g, { inputs: [x] }, [dy]) => [g.mul(dy!, g.sign(x!))] });
export const abs = (g: Graph, x: Tensor) => unary(g, AbsOp, x);

export const square = (g: Graph, x: Tensor) => g.mul(x, x);

// ---- selection -----------------------------------------------------------------------------

/** Elementwise minimum / maximum of two operands; ties send the gradient to the first. */
function minmax(name: 'Min' | 'Max'): OpDef {
  return defineOp({
    onnx: name,
    vjp: (g, { inputs: [a, b] }, [dy], needs) => {
      const firstWins = name === 'Max' ? g.greaterOrEqual(a!, b!) : g.lessOrEqual(a!, b!);
      const zero = g.constant(0, [], dy!.dtype);
      return [needs[0] ? unbroadcast(g, g.where(firstWins, dy!, zero), a!.shape) : null, needs[1] ? unbroadcast(g, g.where(firstWins, zero, dy!), b!.shape) : null];
    },
  });
}
const MinOp = minmax('Min');
const MaxOp = minmax('Max');
export const minimum = (g: Graph, a: Operand, b: Operand) => binary(g, MinOp, a, b);
export const maximum = (g: Graph, a: Operand, b: Operand) => binary(g, MaxOp, a, b);

const WhereOp = defineOp({
  onnx: 'Where',
  vjp: (g, { inputs: [c, a, b] }, [dy], needs) => {
    const zero = g.constant(0, [], dy!.dtype);
    return [null, needs[1] ? unbroadcast(g, g.where(c!, dy!, zero), a!.shape) : null, needs[2] ? unbroadcast(g, g.where(c!, zero, dy!), b!.shape) : null];
  },
});
export function where(g: Graph, cond: Tensor, a: Operand, b: Operand): Tensor {
  if (cond.dtype !== 'bool') throw new GraphBuildError(`Where: condition must be bool, got ${cond}`);
  const dt = commonDtype(g, 'Where', a, b);
  const ta = lift(g, a, dt);
  const tb = lift(g, b, dt);
  const shape = broadcastShapes('Where', cond.shape, ta.shape, tb.shape);
  return g.addNode(WhereOp, [cond, ta, tb], [{ shape, dtype: dt }])[0]!;
}

/** Clip to constant bounds; the gradient passes where the input was inside them. */
const ClipOp = defineOp({
  onnx: 'Clip',
  vjp: (g, { inputs: [x], outputs: [y] }, [dy], needs) => [needs[0] ? g.where(g.equal(x!, y!), dy!, g.constant(0, [], dy!.dtype)) : null, null, null],
});
export function clip(g: Graph, x: Tensor, lo: number, hi: number): Tensor {
  requireFloat('Clip', x);
  if (!(lo <= hi)) throw new GraphBuildError(`Clip: lower bound ${lo} exceeds upper bound ${hi}`);
  return g.addNode(ClipOp, [x, g.constant(lo, [], x.dtype), g.constant(hi, [], x.dtype)], [{ shape: x.shape, dtype: x.dtype }])[0]!;
}

// ---- comparisons (boolean results, no gradient) --------------------------------------------

const cmp = (onnx: string) => defineOp({ onnx });
const GreaterOp = cmp('Greater');
const LessOp = cmp('Less');
const GreaterOrEqualOp = cmp('GreaterOrEqual');
const LessOrEqualOp = cmp('LessOrEqual');
const EqualOp = cmp('Equal');
const AndOp = cmp('And');
const NotOp = cmp('Not');
export const greater = (g: Graph, a: Operand, b: Operand) => binary(g, GreaterOp, a, b, 'bool');
export const less = (g: Graph, a: Operand, b: Operand) => binary(g, LessOp, a, b, 'bool');
export const greaterOrEqual = (g: Graph, a: Operand, b: Operand) => binary(g, GreaterOrEqualOp, a, b, 'bool');
export const lessOrEqual = (g: Graph, a: Operand, b: Operand) => binary(g, LessOrEqualOp, a, b, 'bool');
export const equal = (g: Graph, a: Operand, b: Operand) => binary(g, EqualOp, a, b, 'bool');
export const and = (g: Graph, a: Tensor, b: Tensor) => binary(g, AndOp, a, b, 'bool');
export const not = (g: Graph, a: Tensor) => g.addNode(NotOp, [a], [{ shape: a.shape, dtype: 'bool' }])[0]!;

// ---- identity, cast, stop-gradient ---------------------------------------------------------

const IdentityOp = defineOp({ onnx: 'Identity', vjp: (_g, _n, [dy]) => [dy!] });
export const identity = (g: Graph, x: Tensor) => unary(g, IdentityOp, x);

/** Identity in the runtime; reverse mode treats its output as a constant. */
const StopGradientOp = defineOp({ onnx: 'Identity', stop: true });
export const stopGradient = (g: Graph, x: Tensor) => unary(g, StopGradientOp, x);

const CastOp = defineOp({
  onnx: 'Cast',
  vjp: (g, { inputs: [x] }, [dy], needs) => [needs[0] && isFloat(x!.dtype) ? g.cast(dy!, x!.dtype) : null],
});
export function cast(g: Graph, x: Tensor, to: DType): Tensor {
  if (x.dtype === to) return x;
  return g.addNode(CastOp, [x], [{ shape: x.shape, dtype: to }], { to: ONNX_DTYPE[to] })[0]!;
}
