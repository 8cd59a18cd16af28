import { type AnyTypedArray, type DType, allocate, isFloat, sizeOf } from './dtype.js';
import type { OpDef } from './ops/define.js';

/** A value in a graph: static shape (training) or a leading -1 for a symbolic batch (serving). */
export class Tensor {
  constructor(
    readonly graph: GraphCore,
    readonly id: number,
    public name: string,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly producer: Node | null,
  ) {}
  get rank(): number {
    return this.shape.length;
  }
  get size(): number {
    return sizeOf(this.shape);
  }
  toString(): string {
    return `${this.name}${fmtShape(this.shape)}:${this.dtype}`;
  }
}

export type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

export interface Node {
  readonly index: number;
  readonly def: OpDef;
  readonly inputs: Tensor[];
  readonly outputs: Tensor[];
  /** ONNX attributes written as-is. Numbers are ints unless wrapped as {float}. */
  readonly attrs: Record<string, AttrValue>;
  /** Op-specific data the gradient rule needs (axes, perm, ...). */
  readonly meta: Record<string, unknown>;
}

export class GraphBuildError extends Error {
  override name = 'GraphBuildError';
}

/** Bookkeeping of GraphCore.unrolled(). */
interface Chain {
  k: number;
  /** State name → its value at the start of update k. */
  current: Map<string, Tensor>;
  /** State name → its value after update k (applied when the update is built). */
  pending: Map<string, Tensor>;
  /** State name → the graph input holding it. */
  roots: Map<string, Tensor>;
  stateOf: Map<Tensor, string>;
  /** Names declared as state. */
  state: Set<string>;
  /** Inputs made during the chain, by name. */
  created: Map<string, Tensor>;
}

/** Whether `t` has exactly this shape and dtype. */
function matches(t: Tensor, shape: readonly number[], dtype: DType): boolean {
  return t.dtype === dtype && t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
}

export function fmtShape(s: readonly number[]): string {
  return `[${s.map((d) => (d < 0 ? 'batch' : String(d))).join(',')}]`;
}

/** Node storage, naming, inputs/outputs, constants. Op methods live on Graph (graph.ts ops). */
export class GraphCore {
  readonly nodes: Node[] = [];
  readonly inputs: Tensor[] = [];
  readonly outputs: Tensor[] = [];
  readonly initializers = new Map<number, { tensor: Tensor; data: AnyTypedArray }>();
  /** State bindings: after a run, the output's value becomes the input's next value. */
  readonly bindings = new Map<Tensor, Tensor>();
  private tensors = 0;
  private names = new Set<string>();
  private constCache = new Map<string, Tensor>();
  /** Set while unrolled() builds chained updates (see there). */
  private chain: Chain | null = null;

  constructor(readonly dtype: 'float32' | 'float64' = 'float32') {}

  private uniqueName(base: string): string {
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  newTensor(shape: readonly number[], dtype: DType, producer: Node | null, name?: string): Tensor {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < -1) {
        throw new GraphBuildError(`invalid shape ${fmtShape(shape)}: dims must be non-negative integers (or -1 for batch)`);
      }
    }
    const id = this.tensors++;
    return new Tensor(this, id, this.uniqueName(name ?? `t${id}`), [...shape], dtype, producer);
  }

  /**
   * Builds `updates` chained copies of one training update in this graph, so a single run performs
   * them all and the state (parameters, optimizer moments, targets) leaves the session once per run
   * instead of once per update. `build(k)` writes update k exactly as a one-update graph would:
   *  - an input that an earlier update bound (state) is that update's value, not a new input; so
   *    is an input named in `state` (states some updates only read, e.g. TD3's actor on critic-only
   *    updates): its latest value, or the one graph input holding it;
   *  - any other input of update k ≥ 1 is a new input named `<name>@k` (batch, noise, schedules);
   *  - outputs of update k ≥ 1 are named `<name>@k`;
   *  - bind() inside the chain only records the next value; after the last update each state input
   *    is bound to its final value.
   */
  unrolled(updates: number, build: (k: number) => void, state: Iterable<string> = []): void {
    if (!(Number.isInteger(updates) && updates >= 1)) throw new GraphBuildError(`unrolled: updates must be an integer ≥ 1, got ${updates}`);
    if (this.chain) throw new GraphBuildError('unrolled: already building an unrolled graph');
    const chain: Chain = { k: 0, current: new Map(), pending: new Map(), roots: new Map(), stateOf: new Map(), state: new Set(state), created: new Map() };
    this.chain = chain;
    try {
      for (let k = 0; k < updates; k++) {
        chain.k = k;
        build(k);
        for (const [name, next] of chain.pending) {
          chain.current.set(name, next);
          chain.stateOf.set(next, name);
        }
        chain.pending.clear();
      }
    } finally {
      this.chain = null;
    }
    for (const [name, root] of chain.roots) this.bind(root, chain.current.get(name)!);
  }

  /** Whether `t` is a state value: a graph input, or (in an unrolled build) a state's value carried from an earlier update. */
  isState(t: Tensor): boolean {
    return (t.producer === null && this.inputs.includes(t)) || (this.chain?.stateOf.has(t) ?? false);
  }

  /** The name of the state `t` holds (the input's name); see isState. */
  stateName(t: Tensor): string {
    return this.chain?.stateOf.get(t) ?? t.name;
  }

  /** A graph input fed at run time (observations, flat parameters, noise, ...). */
  input(name: string, shape: readonly number[], dtype: DType = this.dtype): Tensor {
    const chain = this.chain;
    if (chain) {
      const carried = chain.current.get(name);
      if (carried) {
        if (!matches(carried, shape, dtype)) {
          throw new GraphBuildError(`input '${name}': update ${chain.k} asks for ${fmtShape(shape)}:${dtype}, the state is ${carried}`);
        }
        return carried;
      }
      const declared = chain.state.has(name);
      const existing = declared ? chain.created.get(name) : undefined;
      if (existing) return existing;
      if (chain.k > 0 && !declared) name = `${name}@${chain.k}`;
    }
    if (this.names.has(name)) throw new GraphBuildError(`input '${name}': name already used in this graph`);
    if (shape.some((d) => d === 0)) throw new GraphBuildError(`input '${name}': invalid shape ${fmtShape(shape)}, dims must be positive`);
    const t = this.newTensor(shape, dtype, null, name);
    this.inputs.push(t);
    chain?.created.set(name, t);
    return t;
  }

  /** Marks tensors as graph outputs under the given names. */
  output(name: string, t: Tensor): Tensor {
    if (this.chain && this.chain.k > 0) name = `${name}@${this.chain.k}`;
    this.assertOwn(t, `output '${name}'`);
    if (this.outputs.some((o) => o.name === name)) throw new GraphBuildError(`output '${name}' declared twice`);
    let out = t;
    // An output must be a distinct named value; rename through Identity if it is an input/initializer or already named.
    if (t.producer === null || this.outputs.includes(t) || /^t\d+(_\d+)?$/.test(t.name) === false) {
      out = this.emitIdentity(t, name);
    } else {
      this.names.delete(t.name);
      if (this.names.has(name)) throw new GraphBuildError(`output '${name}': name already used in this graph`);
      this.names.add(name);
      t.name = name;
    }
    this.outputs.push(out);
    return out;
  }

  /**
   * Binds a computed tensor to a graph input: the compiled session feeds its value back into
   * that input on the next run (optimizer state, parameters, target networks), like ONNX
   * TrainingInfoProto's update_binding.
   */
  bind(input: Tensor, next: Tensor): void {
    const chain = this.chain;
    if (chain) {
      // Inside unrolled(): record the state's next value; the real binding is made at the end.
      const name = this.stateName(input);
      const root = chain.roots.get(name) ?? input;
      if (!this.inputs.includes(root)) throw new GraphBuildError(`bind: ${input} is not a graph input or a state carried from an earlier update`);
      if (chain.pending.has(name)) throw new GraphBuildError(`bind: state '${name}' is bound twice in update ${chain.k}`);
      if (!matches(next, root.shape, root.dtype)) throw new GraphBuildError(`bind: ${next} does not match input ${root}`);
      chain.roots.set(name, root);
      chain.pending.set(name, next);
      return;
    }
    this.assertOwn(next, `bind(${input.name})`);
    if (!this.inputs.includes(input)) throw new GraphBuildError(`bind: ${input} is not a graph input`);
    if (this.bindings.has(input)) throw new GraphBuildError(`bind: input '${input.name}' is already bound`);
    if (!matches(next, input.shape, input.dtype)) throw new GraphBuildError(`bind: ${next} does not match input ${input}`);
    this.bindings.set(input, this.output(`${input.name}.next`, next));
  }

  protected emitIdentity(_t: Tensor, _name: string): Tensor {
    throw new Error('emitIdentity is provided by Graph');
  }

  /** A constant (ONNX initializer); a number fills `shape`. Number constants are deduplicated. */
  constant(data: AnyTypedArray | number, shape?: readonly number[], dtype?: DType): Tensor {
    if (typeof data === 'number') {
      const dt = dtype ?? this.dtype;
      const key = `${dt}:${Object.is(data, -0) ? '-0' : data}:${shape ? fmtShape(shape) : ''}`;
      const hit = this.constCache.get(key);
      if (hit) return hit;
      const arr = allocate(dt, shape ? sizeOf(shape) : 1);
      if (dt === 'int64') (arr as BigInt64Array).fill(BigInt(data));
      else (arr as Float32Array).fill(data);
      const t = this.addInitializer(arr, shape ?? [], dt);
      this.constCache.set(key, t);
      return t;
    }
    const s = shape ?? [data.length];
    if (sizeOf(s) !== data.length) {
      throw new GraphBuildError(`constant: ${data.length} values do not fill shape ${fmtShape(s)}`);
    }
    return this.addInitializer(data, s, dtype ?? dtypeFromArray(data));
  }

  /** int64 vector constant (shapes, axes, slice bounds). */
  ints(values: readonly number[]): Tensor {
    const key = `ints:${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const arr = BigInt64Array.from(values.map((v) => BigInt(v)));
    const t = this.addInitializer(arr, [values.length], 'int64');
    this.constCache.set(key, t);
    return t;
  }

  private addInitializer(data: AnyTypedArray, shape: readonly number[], dtype: DType): Tensor {
    const t = this.newTensor(shape.length ? shape : [], dtype, null, `c${this.tensors}`);
    this.initializers.set(t.id, { tensor: t, data });
    return t;
  }

  isConstant(t: Tensor): boolean {
    return this.initializers.has(t.id);
  }

  assertOwn(t: Tensor, where: string): void {
    if (!(t instanceof Tensor)) throw new GraphBuildError(`${where}: expected a Tensor, got ${typeof t}`);
    if (t.graph !== this) throw new GraphBuildError(`${where}: tensor ${t} belongs to another graph`);
  }

  /** Appends a node; `infer` has already computed output shapes. */
  addNode(
    def: OpDef,
    inputs: Tensor[],
    outShapes: { shape: readonly number[]; dtype: DType }[],
    attrs: Record<string, AttrValue> = {},
    meta: Record<string, unknown> = {},
  ): Tensor[] {
    inputs.forEach((t, i) => this.assertOwn(t, `${def.onnx} input ${i}`));
    const node: Node = { index: this.nodes.length, def, inputs, outputs: [], attrs, meta };
    for (const o of outShapes) node.outputs.push(this.newTensor(o.shape, o.dtype, node));
    this.nodes.push(node);
    return node.outputs;
  }

  /** Float tensors this graph treats as differentiable leaves (inputs). */
  isDifferentiable(t: Tensor): boolean {
    return isFloat(t.dtype);
  }
}

function dtypeFromArray(a: AnyTypedArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof BigInt64Array) return 'int64';
  return 'bool';
}
