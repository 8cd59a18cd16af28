import type { Graph } from './builder.js';
import { isFloat } from './dtype.js';
import { type Tensor, GraphBuildError } from './graph.js';

/**
 * Reverse-mode differentiation inside the same graph: returns d(loss)/d(w) for each w in `wrt`,
 * as new nodes. `loss` must be a scalar unless a cotangent `seed` of its shape is given.
 *
 * A flat parameter vector made by `params()` reaches its named views through one Split, whose
 * rule is one Concat: the flat gradient costs a single copy.
 * Call grad once per loss; losses over disjoint parameter groups then share one session.run.
 */
export function grad(g: Graph, loss: Tensor, wrt: Tensor[], seed?: Tensor): Tensor[] {
  g.assertOwn(loss, 'grad(loss)');
  if (!isFloat(loss.dtype)) throw new GraphBuildError(`grad: loss ${loss} is not a float tensor`);
  if (!seed && loss.size !== 1) {
    throw new GraphBuildError(`grad: loss ${loss} is not a scalar; reduce it (reduceMean) or pass a seed cotangent`);
  }
  wrt.forEach((w, i) => g.assertOwn(w, `grad(wrt[${i}])`));

  const targets = new Set<number>(wrt.map((w) => w.id));

  // Forward pass: which float tensors depend on a target.
  const depends = new Set<number>(targets);
  for (const node of g.nodes) {
    if (node.def.stop) continue;
    if (node.inputs.some((t) => depends.has(t.id))) {
      for (const o of node.outputs) if (isFloat(o.dtype)) depends.add(o.id);
    }
  }

  const grads = new Map<number, Tensor>();
  const accumulate = (t: Tensor, d: Tensor): void => {
    const prev = grads.get(t.id);
    grads.set(t.id, prev ? g.add(prev, d) : d);
  };
  grads.set(loss.id, seed ?? g.ones(loss.shape, loss.dtype));

  const last = loss.producer ? loss.producer.index : -1;
  const nodes = g.nodes.slice(0, last + 1);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i]!;
    const dys = node.outputs.map((o) => grads.get(o.id) ?? null);
    if (dys.every((d) => d === null)) continue;
    const needs = node.inputs.map((t) => depends.has(t.id));
    if (!needs.some(Boolean) || node.def.stop) continue;
    if (!node.def.vjp) {
      throw new GraphBuildError(
        `grad: op ${node.def.onnx} (node ${node.index}) has no gradient rule, but ${node.outputs[0]} lies between the loss and a parameter; wrap it in stopGradient if that is intended`,
      );
    }
    const dxs = node.def.vjp(g, node, dys, needs);
    node.inputs.forEach((t, k) => {
      const d = dxs[k];
      if (needs[k] && d) {
        if (d.dtype !== t.dtype || d.size !== t.size) {
          throw new GraphBuildError(`grad: internal error, ${node.def.onnx} produced cotangent ${d} for input ${t}`);
        }
        accumulate(t, d);
      }
    });
  }

  return wrt.map((w) => grads.get(w.id) ?? g.zeros(w.shape, w.dtype));
}
