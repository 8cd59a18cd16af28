import type { Graph } from './builder.js';
import { sizeOf } from './dtype.js';
import type { Tensor } from './graph.js';
import { Rng } from '../util/rng.js';

/** How a parameter tensor starts. */
export type Init =
  | { kind: 'torch-linear-weight'; fanIn: number } // U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as torch.nn.Linear
  | { kind: 'torch-linear-bias'; fanIn: number }
  | { kind: 'uniform'; lo: number; hi: number }
  | { kind: 'orthogonal'; gain: number }
  | { kind: 'xavier-uniform'; gain: number; fanIn: number; fanOut: number } // U(±gain·sqrt(6/(in+out)))
  | { kind: 'normal'; std: number } // N(0, std²), as torch.nn.init.normal_ (transformers: std 0.02)
  | { kind: 'constant'; value: number };

export interface ParamSpec {
  name: string;
  shape: number[];
  init: Init;
}

/**
 * The layout of one parameter group (actor, critic, value, ...) as a single flat Float32Array,
 * like JAX's ravel_pytree: named tensors at fixed offsets, in declaration order.
 */
export class ParamLayout {
  readonly offsets = new Map<string, { offset: number; size: number; shape: number[] }>();
  readonly size: number;

  constructor(
    readonly group: string,
    readonly specs: readonly ParamSpec[],
  ) {
    let off = 0;
    for (const s of specs) {
      if (this.offsets.has(s.name)) throw new Error(`ParamLayout '${group}': parameter '${s.name}' declared twice`);
      const size = sizeOf(s.shape);
      this.offsets.set(s.name, { offset: off, size, shape: s.shape });
      off += size;
    }
    this.size = off;
  }

  /** Fresh initial values drawn from `seed`. */
  init(seed: number): Float32Array {
    const rng = new Rng(seed);
    const flat = new Float32Array(this.size);
    for (const s of this.specs) initInto(flat.subarray(this.at(s.name).offset, this.at(s.name).offset + this.at(s.name).size), s, rng);
    return flat;
  }

  at(name: string): { offset: number; size: number; shape: number[] } {
    const o = this.offsets.get(name);
    if (!o) throw new Error(`ParamLayout '${this.group}': no parameter '${name}' (has ${[...this.offsets.keys()].join(', ')})`);
    return o;
  }

  /** Named views into a flat vector (no copy). */
  unravel(flat: Float32Array): Record<string, Float32Array> {
    this.check(flat);
    const out: Record<string, Float32Array> = {};
    for (const [name, { offset, size }] of this.offsets) out[name] = flat.subarray(offset, offset + size);
    return out;
  }

  /** Packs named tensors into a new flat vector. */
  ravel(named: Record<string, ArrayLike<number>>): Float32Array {
    const flat = new Float32Array(this.size);
    for (const [name, { offset, size }] of this.offsets) {
      const v = named[name];
      if (!v) throw new Error(`ParamLayout '${this.group}'.ravel: missing '${name}'`);
      if (v.length !== size) throw new Error(`ParamLayout '${this.group}'.ravel: '${name}' has ${v.length} values, expected ${size}`);
      flat.set(v, offset);
    }
    return flat;
  }

  check(flat: ArrayLike<number>): void {
    if (flat.length !== this.size) {
      throw new Error(`parameter group '${this.group}': flat vector has ${flat.length} values, layout needs ${this.size}`);
    }
  }
}

/**
 * Declares the flat input for a layout and returns its named views (one Split + Reshapes).
 * grad() w.r.t. the returned `flat` concatenates the views' gradients (Split's rule).
 */
export function params(g: Graph, layout: ParamLayout, inputName = layout.group): { flat: Tensor; views: Record<string, Tensor> } {
  const flat = g.input(inputName, [layout.size], g.dtype);
  return { flat, views: unflatten(g, layout, flat) };
}

/** Named views of any flat vector with this layout (e.g. parameters after an optimizer step). */
export function unflatten(g: Graph, layout: ParamLayout, flat: Tensor): Record<string, Tensor> {
  const specs = layout.specs;
  const pieces = g.split(
    flat,
    specs.map((s) => sizeOf(s.shape)),
    0,
  );
  const views: Record<string, Tensor> = {};
  specs.forEach((s, i) => {
    views[s.name] = s.shape.length === 1 ? pieces[i]! : g.reshape(pieces[i]!, s.shape);
  });
  return views;
}

function initInto(out: Float32Array, spec: ParamSpec, rng: Rng): void {
  const init = spec.init;
  switch (init.kind) {
    case 'torch-linear-weight':
    case 'torch-linear-bias': {
      const b = 1 / Math.sqrt(init.fanIn);
      for (let i = 0; i < out.length; i++) out[i] = rng.uniform(-b, b);
      return;
    }
    case 'xavier-uniform': {
      const b = init.gain * Math.sqrt(6 / (init.fanIn + init.fanOut));
      for (let i = 0; i < out.length; i++) out[i] = rng.uniform(-b, b);
      return;
    }
    case 'normal':
      for (let i = 0; i < out.length; i++) out[i] = rng.normal(0, init.std);
      return;
    case 'uniform':
      for (let i = 0; i < out.length; i++) out[i] = rng.uniform(init.lo, init.hi);
      return;
    case 'constant':
      out.fill(init.value);
      return;
    case 'orthogonal':
      orthogonal(out, spec.shape, init.gain, rng);
      return;
  }
}

/**
 * Orthogonal init (Saxe et al. 2014) as torch.nn.init.orthogonal_: for a [rows, cols] matrix,
 * orthonormalize a Gaussian matrix (modified Gram-Schmidt on the longer side) and scale by gain.
 */
export function orthogonal(out: Float32Array, shape: readonly number[], gain: number, rng: Rng): void {
  if (shape.length < 2) throw new Error(`orthogonal init needs a matrix, got shape [${shape.join(',')}]`);
  const rows = shape[0]!;
  const cols = sizeOf(shape) / rows;
  // Orthonormal vectors of length `len`, `count` of them (count <= len).
  const [count, len] = rows <= cols ? [rows, cols] : [cols, rows];
  const q = new Float64Array(count * len);
  for (let i = 0; i < q.length; i++) q[i] = rng.normal();
  for (let i = 0; i < count; i++) {
    const qi = q.subarray(i * len, (i + 1) * len);
    for (let j = 0; j < i; j++) {
      const qj = q.subarray(j * len, (j + 1) * len);
      let dot = 0;
      for (let k = 0; k < len; k++) dot += qi[k]! * qj[k]!;
      for (let k = 0; k < len; k++) qi[k]! -= dot * qj[k]!;
    }
    let norm = 0;
    for (let k = 0; k < len; k++) norm += qi[k]! * qi[k]!;
    norm = Math.sqrt(norm);
    for (let k = 0; k < len; k++) qi[k]! /= norm;
  }
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      out[r * cols + c] = gain * (rows <= cols ? q[r * len + c]! : q[c * len + r]!);
    }
  }
}
