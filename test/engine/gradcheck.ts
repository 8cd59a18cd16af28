import { Graph, Session, type Tensor, grad } from '../../src/engine/index.js';
import { Rng } from '../../src/util/rng.js';

export interface CheckResult {
  maxRelErr: number;
  maxAbsErr: number;
  analytic: Float64Array[];
  numeric: Float64Array[];
}

export interface InputSpec {
  shape: number[];
  /** Sampler for values; default N(0,1). Use to keep away from kinks (relu at 0) or domains (log). */
  sample?: (rng: Rng) => number;
}

/**
 * Compares reverse-mode gradients with central finite differences.
 * loss = sum(f(inputs) * r) with a fixed random r, so every output element carries a distinct cotangent.
 */
export async function gradCheck(
  specs: InputSpec[],
  f: (g: Graph, xs: Tensor[]) => Tensor,
  opts: { dtype?: 'float32' | 'float64'; h?: number; seed?: number } = {},
): Promise<CheckResult> {
  const dtype = opts.dtype ?? 'float64';
  const h = opts.h ?? (dtype === 'float64' ? 1e-6 : 1e-2);
  const rng = new Rng(opts.seed ?? 7);
  const g = new Graph(dtype);
  const xs = specs.map((s, i) => g.input(`x${i}`, s.shape));
  const y = f(g, xs);
  const r = new (dtype === 'float64' ? Float64Array : Float32Array)(y.size);
  rng.fillNormal(r);
  const loss = g.reduceSum(g.mul(y, g.constant(r, y.shape.length ? y.shape : [], dtype)));
  g.output('loss', loss);
  const grads = grad(g, loss, xs);
  grads.forEach((d, i) => g.output(`dx${i}`, d));
  const s = await Session.create(g, { threads: 1, name: 'gradcheck' });

  const values = specs.map((sp) => {
    const a = new Float64Array(sp.shape.reduce((p, d) => p * d, 1));
    for (let i = 0; i < a.length; i++) a[i] = sp.sample ? sp.sample(rng) : rng.normal();
    return a;
  });
  const feed = () => {
    values.forEach((v, i) => s.set(`x${i}`, v));
    return s.run();
  };
  const out = feed();
  const analytic = specs.map((_, i) => Float64Array.from(out[`dx${i}`] as Float64Array));
  const numeric = values.map((v) => new Float64Array(v.length));
  let maxRelErr = 0;
  let maxAbsErr = 0;
  values.forEach((v, i) => {
    for (let k = 0; k < v.length; k++) {
      const x0 = v[k]!;
      v[k] = x0 + h;
      const lp = Number(feed().loss![0]);
      v[k] = x0 - h;
      const lm = Number(feed().loss![0]);
      v[k] = x0;
      const num = (lp - lm) / (2 * h);
      numeric[i]![k] = num;
      const an = analytic[i]![k]!;
      const abs = Math.abs(an - num);
      maxAbsErr = Math.max(maxAbsErr, abs);
      maxRelErr = Math.max(maxRelErr, abs / Math.max(1, Math.abs(an), Math.abs(num)));
    }
  });
  s.dispose();
  return { maxRelErr, maxAbsErr, analytic, numeric };
}
