import { type AnyTypedArray, type DType, allocate, dtypeOfArray, sizeOf } from './dtype.js';
import type { GraphCore } from './graph.js';
import { type ExecutionProvider, type NativeSession, openSession, type ort } from './ort-binding.js';
import { serialize } from './serialize.js';
import { StateStore, makeTensor } from './state.js';

export interface SessionOptions {
  /** cpu (default), cuda or webgpu; falls back to cpu with a one-line warning. */
  executionProvider?: ExecutionProvider;
  /** Intra-op threads; default 2 on CPU. Choose deliberately: ORT's default (all cores) made a
   * batch-256 step 2.5x slower on a 16-core machine. */
  threads?: number;
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Name used in errors. */
  name?: string;
  /** Where the fallback warning goes (default console.warn). */
  warn?: (message: string) => void;
  /** Shared training state; bound inputs live here, and inputs named like a state read from it. */
  store?: StateStore;
  /** Write ORT's per-kernel profile (JSON, chrome://tracing format) to files with this prefix;
   * also set for every session by the environment variable O2O_ORT_PROFILE. */
  profile?: string;
  /** ORT session config entries (onnxruntime_session_options_config_keys.h), e.g.
   * { session: { intra_op: { allow_spinning: '0' } } }. */
  ortConfig?: Record<string, unknown>;
}

export class SessionRunError extends Error {
  override name = 'SessionRunError';
}

interface ValueSpec {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
}

/** What a session feeds and fetches, and which outputs are the next value of which inputs. */
interface Signature {
  inputs: readonly ValueSpec[];
  outputs: readonly ValueSpec[];
  bindings: readonly (readonly [ValueSpec, string])[];
}

const DTYPE_OF: Record<number, DType | undefined> = { 1: 'float32', 11: 'float64', 7: 'int64', 9: 'bool' };

interface Slot {
  name: string;
  dtype: DType;
  shape: number[];
  tensor: ort.Tensor | null;
  data: AnyTypedArray | null;
  given: boolean;
}

/**
 * A compiled graph: one ORT session plus reusable input/output buffers. run() is synchronous.
 * Inputs bound to outputs (g.bind) are state in a StateStore: a run reads their current value
 * and writes the next one; commit() swaps, so a diverged step is dropped by not committing.
 */
export class Session {
  readonly provider: ExecutionProvider;
  readonly name: string;
  readonly store: StateStore;
  private readonly ins = new Map<string, Slot>();
  private readonly outs = new Map<string, Slot>();
  /** input name → output name for state bindings. */
  private readonly binds = new Map<string, string>();
  private profiling = false;
  private readonly feeds: Record<string, ort.Tensor> = {};
  private readonly fetches: Record<string, ort.Tensor | null> = {};
  private readonly runOptions = {};
  /** Milliseconds spent inside onnxruntime's run() since creation (benchmarks: time outside ORT). */
  nativeMs = 0;

  private constructor(
    private readonly native: NativeSession,
    sig: Signature,
    provider: ExecutionProvider,
    name: string,
    store: StateStore,
  ) {
    this.provider = provider;
    this.name = name;
    this.store = store;
    for (const [input, output] of sig.bindings) {
      this.binds.set(input.name, output);
      store.ensure(input.name, input.dtype, input.shape);
    }
    for (const t of sig.inputs) {
      const slot: Slot = { name: t.name, dtype: t.dtype, shape: [...t.shape], tensor: null, data: null, given: false };
      if (!t.shape.includes(-1) && !this.binds.has(t.name)) {
        slot.data = allocate(t.dtype, sizeOf(t.shape));
        slot.tensor = makeTensor(t.dtype, slot.data, slot.shape);
        this.feeds[t.name] = slot.tensor;
      }
      this.ins.set(t.name, slot);
    }
    const boundOutputs = new Set(this.binds.values());
    for (const t of sig.outputs) {
      const slot: Slot = { name: t.name, dtype: t.dtype, shape: [...t.shape], tensor: null, data: null, given: true };
      if (!t.shape.includes(-1) && !boundOutputs.has(t.name)) {
        slot.data = allocate(t.dtype, sizeOf(t.shape));
        slot.tensor = makeTensor(t.dtype, slot.data, slot.shape);
      }
      this.fetches[t.name] = slot.tensor;
      this.outs.set(t.name, slot);
    }
  }

  /** Compiles a graph (serialized to ONNX in memory) into a session. */
  static async create(graph: GraphCore, opts: SessionOptions = {}): Promise<Session> {
    const sig: Signature = {
      inputs: graph.inputs,
      outputs: graph.outputs,
      bindings: [...graph.bindings].map(([i, o]) => [i, o.name] as const),
    };
    return Session.load(serialize(graph), () => sig, opts);
  }

  /**
   * Loads any ONNX model (a shipped policy, a foreign export): inputs and outputs come from the
   * model itself, symbolic dimensions become a dynamic batch (-1).
   */
  static async fromOnnx(bytes: Uint8Array, opts: SessionOptions = {}): Promise<Session> {
    return Session.load(
      bytes,
      (native) => {
        const spec = (m: NativeSession['inputMetadata'][number]): ValueSpec => {
          const dtype = DTYPE_OF[m.type];
          if (!dtype) throw new SessionRunError(`${opts.name ?? 'model'}: value '${m.name}' has ONNX type ${m.type}, which o2o does not feed`);
          return { name: m.name, dtype, shape: m.shape.map((d) => (d >= 1 ? d : -1)) };
        };
        return { inputs: native.inputMetadata.map(spec), outputs: native.outputMetadata.map(spec), bindings: [] };
      },
      opts,
    );
  }

  private static async load(bytes: Uint8Array, signature: (native: NativeSession) => Signature, opts: SessionOptions): Promise<Session> {
    const name = opts.name ?? 'graph';
    const store = opts.store ?? new StateStore();
    const profile = opts.profile ?? process.env.O2O_ORT_PROFILE;
    const options = {
      graphOptimizationLevel: opts.optimization ?? 'all',
      intraOpNumThreads: opts.threads ?? 2,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      ...(opts.ortConfig ? { extra: opts.ortConfig } : {}),
      ...(profile ? { enableProfiling: true, profileFilePrefix: `${profile}-${name}` } : {}),
    };
    try {
      return openSession(bytes, name, { executionProvider: opts.executionProvider, options, warn: opts.warn }, (native, ep) => {
        const session = new Session(native, signature(native), ep, name, store);
        session.profiling = !!profile;
        return session;
      });
    } catch (e) {
      if (e instanceof SessionRunError) throw e;
      throw new SessionRunError(`${name}: onnxruntime rejected the graph: ${(e as Error).message}`);
    }
  }

  private slot(name: string): Slot {
    const s = this.ins.get(name);
    if (!s) throw new SessionRunError(`${this.name}: no input '${name}' (inputs: ${[...this.ins.keys()].join(', ')})`);
    return s;
  }

  /** The live buffer of a static-shape input (or state), to fill in place before run(). */
  input(name: string): AnyTypedArray {
    const s = this.slot(name);
    if (this.store.has(name)) return this.store.value(name);
    if (!s.data) throw new SessionRunError(`${this.name}: input '${name}' has a dynamic batch; pass it to run() instead`);
    s.given = true;
    return s.data;
  }

  /** Copies values into an input or state (e.g. initial parameters or optimizer state). */
  set(name: string, values: ArrayLike<number> | AnyTypedArray): void {
    const s = this.slot(name);
    const buf = this.input(name);
    if (values.length !== buf.length) {
      throw new SessionRunError(`${this.name}: input '${name}' expects ${s.dtype}[${s.shape.join(',')}] (${buf.length} values), got ${values.length}`);
    }
    (buf as Float32Array).set(values as ArrayLike<number>);
  }

  /**
   * Runs the graph. `feeds` may replace input arrays for this run (checked for dtype and size).
   * Returns the output buffers, valid until the next run.
   */
  run(feeds?: Record<string, AnyTypedArray>): Record<string, AnyTypedArray> {
    if (feeds) for (const [name, arr] of Object.entries(feeds)) this.feed(name, arr);
    for (const s of this.ins.values()) {
      if (this.store.has(s.name)) {
        this.feeds[s.name] = this.store.get(s.name).curTensor;
      } else if (!s.given) {
        throw new SessionRunError(`${this.name}: input '${s.name}' was never given a value; pass it to run() or set() it first`);
      }
    }
    for (const [input, output] of this.binds) this.fetches[output] = this.store.get(input).nextTensor;
    let result: Record<string, ort.Tensor>;
    const t0 = performance.now();
    try {
      result = this.native.run(this.feeds, this.fetches, this.runOptions);
      this.nativeMs += performance.now() - t0;
    } catch (e) {
      throw new SessionRunError(`${this.name}: run failed: ${(e as Error).message}`);
    }
    const out: Record<string, AnyTypedArray> = {};
    for (const [name, s] of this.outs) out[name] = s.data ?? (result[name]!.data as AnyTypedArray);
    return out;
  }

  private feed(name: string, arr: AnyTypedArray): void {
    const s = this.slot(name);
    const dt = dtypeOfArray(arr);
    if (dt !== s.dtype) throw new SessionRunError(`${this.name}: input '${name}' expects ${s.dtype}, got ${arr.constructor.name}`);
    if (this.store.has(name)) {
      this.store.set(name, arr as Float32Array);
      return;
    }
    if (s.data) {
      if (arr.length !== s.data.length) {
        throw new SessionRunError(`${this.name}: input '${name}' expects shape [${s.shape.join(',')}] (${s.data.length} values), got ${arr.length}`);
      }
      if (arr !== s.data) (s.data as Float32Array).set(arr as Float32Array);
    } else {
      const per = sizeOf(s.shape.map((d) => (d < 0 ? 1 : d)));
      if (arr.length === 0 || arr.length % per !== 0) {
        throw new SessionRunError(
          `${this.name}: input '${name}' expects shape [${s.shape.map((d) => (d < 0 ? 'batch' : d)).join(',')}], got ${arr.length} values (not a multiple of ${per})`,
        );
      }
      this.feeds[name] = makeTensor(
        s.dtype,
        arr,
        s.shape.map((d) => (d < 0 ? arr.length / per : d)),
      );
    }
    s.given = true;
  }

  /** Makes the last run's bound outputs the next inputs (swaps buffers; no copy). */
  commit(): void {
    for (const input of this.binds.keys()) this.store.swap(input);
  }

  /** Current value of a state input (parameters, moments, targets). */
  state(name: string): AnyTypedArray {
    return this.store.value(name);
  }

  /**
   * Runs the native session `iterations` times on the current feeds, bypassing this wrapper:
   * benchmarks compare it with run() to measure time spent outside ORT.
   */
  timeNative(iterations: number): number {
    const t0 = performance.now();
    for (let i = 0; i < iterations; i++) this.native.run(this.feeds, this.fetches, this.runOptions);
    return (performance.now() - t0) / iterations;
  }

  inputNames(): string[] {
    return [...this.ins.keys()];
  }

  outputNames(): string[] {
    return [...this.outs.keys()];
  }

  dispose(): void {
    if (this.profiling) this.native.endProfiling();
    this.native.dispose();
  }
}
