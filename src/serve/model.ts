/**
 * A loaded policy: any ONNX file with one float observation input [batch, obsDim] (or [obsDim])
 * and a float action output — our artifacts, d3rlpy's input_0/output_0, torch.onnx exports.
 * The batch is fixed to 1 and both tensors are preallocated, so infer() allocates nothing in
 * our code (ORT's binding still builds its small result object).
 *
 * A 'sequence' policy (ModelOptions.interface) takes its observation as [batch, K, obsDim] and
 * the interface's extra inputs (actions, returns-to-go, timesteps, mask), each preallocated at
 * batch 1 (`inputs`); its action output is [batch, actDim] or [batch, K, actDim] (then the last
 * position is the action: a PyTorch Decision Transformer's action_preds).
 *
 * A 'chunked' policy (Diffusion Policy, ACT) takes [batch, K, obsDim] observations and optionally a
 * 'noise' input [batch, H, actDim]; its output is [batch, H, actDim] or [H, actDim] (a foreign
 * export without the batch): infer() writes the whole chunk into `chunk` and its first action into
 * `action`.
 */
import type { PolicyExtraInput, PolicyInterface } from '../nn/index.js';
import { type ExecutionProvider, type NativeSession, openSession, ort } from '../engine/ort-binding.js';
import { ArtifactError } from './onnx-meta.js';

export interface ModelOptions {
  /** cpu (default), cuda or webgpu; falls back to cpu with one warning. */
  executionProvider?: ExecutionProvider;
  /** Intra-op threads (default 1: a batch-1 MLP gains nothing from more, and the robot has other work). */
  threads?: number;
  /** Input and output names; default: the model's only float input / first float output. */
  inputName?: string;
  outputName?: string;
  /** Where the fallback warning goes (default console.warn). */
  warn?: (message: string) => void;
  /** Names of the action-distribution outputs to fetch with inferDistribution() (a card's `distribution`). */
  distribution?: { loc: string; logStd: string };
  /** How the policy is called (default 'mlp'); 'sequence' loads its context inputs too. */
  interface?: PolicyInterface;
}

const ORT_FLOAT = 1;
const ORT_INT64 = 7;

/** A context input's preallocated batch-1 buffer. */
export interface ContextInput {
  spec: PolicyExtraInput;
  data: Float32Array | BigInt64Array;
}

/** dims (without the batch) match the graph's, where the graph's are fixed. */
function sameDims(graph: readonly number[], want: readonly number[]): boolean {
  return graph.length === want.length && graph.every((d, i) => d <= 0 || d === want[i]);
}

interface Meta {
  name: string;
  type: number;
  shape: number[];
}

function pick(list: readonly Meta[], wanted: string | undefined, kind: string, source: string): Meta {
  if (wanted) {
    const m = list.find((x) => x.name === wanted);
    if (!m) throw new ArtifactError(`${source}: no ${kind} named '${wanted}' (${kind}s: ${list.map((x) => x.name).join(', ')}); set the ${kind} name to one of these`);
    return m;
  }
  const floats = list.filter((x) => x.type === ORT_FLOAT);
  if (floats.length === 0)
    throw new ArtifactError(`${source}: no float32 ${kind} (${list.map((x) => `${x.name}:type${x.type}`).join(', ')}); export the policy with float32 observations and actions`);
  if (kind === 'input' && list.length > 1)
    throw new ArtifactError(`${source}: has ${list.length} inputs (${list.map((x) => x.name).join(', ')}); a policy takes one observation input — name it with inputName`);
  return floats[0]!;
}

function featureDim(m: Meta, kind: string, source: string): number {
  const s = m.shape;
  const d = s[s.length - 1];
  const batchOk = s.length === 1 || (s.length === 2 && (s[0] === -1 || s[0] === 1 || s[0] === 0));
  if (m.type !== ORT_FLOAT || !batchOk || d === undefined || !(d > 0)) {
    throw new ArtifactError(`${source}: ${kind} '${m.name}' has type ${m.type} shape [${s.join(',')}]; a policy needs float32 [batch, n] or [n] with n fixed`);
  }
  return d;
}

export class PolicyModel {
  readonly obsDim: number;
  readonly actDim: number;
  readonly inputName: string;
  readonly outputName: string;
  /** Live observation buffer: fill it, then call infer(). */
  readonly obs: Float32Array;
  /** Live action buffer written by infer(). */
  readonly action: Float32Array;
  /** Live distribution buffers written by inferDistribution() (empty without the outputs). */
  readonly loc: Float32Array;
  readonly logStd: Float32Array;
  private readonly feeds: Record<string, ort.Tensor>;
  private readonly fetches: Record<string, ort.Tensor | null>;
  private readonly distributionFetches: Record<string, ort.Tensor | null> | null = null;
  private readonly runOptions = {};
  private disposed = false;

  /** Sequence policies: steps of context (1 for mlp). */
  readonly contextLength: number;
  /** Sequence policies: the context inputs besides the observation, by role (empty for mlp). */
  readonly inputs: ReadonlyMap<PolicyExtraInput['role'], ContextInput>;
  /** Chunked policies: actions per call (1 otherwise). */
  readonly chunkLength: number;
  /** Chunked policies: the live [H, actDim] chunk written by infer() (empty otherwise). */
  readonly chunk: Float32Array;
  /** [1, K, actDim] output (a PyTorch DT's action_preds): infer() copies its last position into `action`. */
  private readonly perStep: Float32Array | null = null;

  private constructor(
    private readonly native: NativeSession,
    readonly provider: ExecutionProvider,
    readonly source: string,
    opts: ModelOptions,
  ) {
    const iface = opts.interface;
    const chunked = iface?.kind === 'chunked';
    const seq = iface?.kind === 'sequence' || chunked;
    const extraNames = new Set(seq ? iface.extraInputs.map((x) => x.name) : []);
    const input = seq ? this.observationInput(native.inputMetadata, extraNames, opts.inputName) : pick(native.inputMetadata, opts.inputName, 'input', source);
    const output = pick(native.outputMetadata, opts.outputName, 'output', source);
    const K = seq ? iface.contextLength : 1;
    this.contextLength = K;
    this.obsDim = seq ? this.contextDim(input, K, 'input') : featureDim(input, 'input', source);
    const H = chunked ? iface.chunkLength : K;
    this.chunkLength = chunked ? H : 1;
    this.actDim = chunked ? this.chunkDim(output, H) : seq && output.shape.length === 3 ? this.contextDim(output, K, 'output') : featureDim(output, 'output', source);
    this.inputName = input.name;
    this.outputName = output.name;
    this.obs = new Float32Array(K * this.obsDim);
    this.action = new Float32Array(this.actDim);
    const inShape = seq ? [1, K, this.obsDim] : input.shape.length === 1 ? [this.obsDim] : [1, this.obsDim];
    const outShape = chunked
      ? output.shape.length === 3
        ? [1, H, this.actDim]
        : [H, this.actDim]
      : output.shape.length === 3
        ? [1, K, this.actDim]
        : output.shape.length === 1
          ? [this.actDim]
          : [1, this.actDim];
    if (output.shape.length === 3 && !chunked) this.perStep = new Float32Array(K * this.actDim);
    this.chunk = new Float32Array(chunked ? H * this.actDim : 0);
    this.feeds = { [input.name]: new ort.Tensor('float32', this.obs, inShape) };
    this.fetches = { [output.name]: new ort.Tensor('float32', chunked ? this.chunk : (this.perStep ?? this.action), outShape) };
    const inputs = new Map<PolicyExtraInput['role'], ContextInput>();
    if (seq) {
      for (const x of iface.extraInputs) {
        const data = chunked ? this.noiseInput(native.inputMetadata, x, H) : this.contextInput(native.inputMetadata, x, K);
        this.feeds[x.name] = new ort.Tensor(x.dtype, data, [1, ...x.shape]);
        inputs.set(x.role, { spec: x, data });
      }
    }
    this.inputs = inputs;
    const dist = opts.distribution;
    this.loc = new Float32Array(dist ? this.actDim : 0);
    this.logStd = new Float32Array(dist ? this.actDim : 0);
    if (dist) {
      const tensorFor = (name: string, buf: Float32Array): ort.Tensor => {
        const m = pick(native.outputMetadata, name, 'output', source);
        if (featureDim(m, 'output', source) !== this.actDim)
          throw new ArtifactError(
            `${source}: distribution output '${name}' has ${featureDim(m, 'output', source)} values per row, the action has ${this.actDim}; re-export the policy`,
          );
        return new ort.Tensor('float32', buf, m.shape.length === 1 ? [this.actDim] : [1, this.actDim]);
      };
      this.distributionFetches = { ...this.fetches, [dist.loc]: tensorFor(dist.loc, this.loc), [dist.logStd]: tensorFor(dist.logStd, this.logStd) };
    }
  }

  /** A sequence policy's observation input: the one named, else the one input its interface does not name. */
  private observationInput(list: readonly Meta[], extra: ReadonlySet<string>, wanted: string | undefined): Meta {
    const src = this.source;
    const rest = list.filter((m) => !extra.has(m.name));
    const all = list.map((m) => m.name).join(', ');
    const missing = [...extra].filter((n) => !list.some((m) => m.name === n));
    if (missing.length)
      throw new ArtifactError(`${src}: the interface names input(s) ${missing.join(', ')}, which the graph does not have (inputs: ${all}); fix the interface's names`);
    if (wanted) {
      const m = rest.find((x) => x.name === wanted);
      if (!m) throw new ArtifactError(`${src}: no observation input named '${wanted}' besides the interface's inputs (inputs: ${all}); set inputName to one of these`);
      const unfed = rest.filter((x) => x !== m).map((x) => x.name);
      if (unfed.length)
        throw new ArtifactError(
          `${src}: input(s) ${unfed.join(', ')} are neither the observation nor in the interface; describe them (role actions, returns-to-go, timesteps or mask)`,
        );
      return m;
    }
    if (rest.length !== 1)
      throw new ArtifactError(
        `${src}: ${rest.length === 0 ? 'no input is left for the observation' : `inputs ${rest.map((x) => x.name).join(', ')} are not in the interface`} (inputs: ${all}); name the observation input (inputName) and describe the others`,
      );
    return rest[0]!;
  }

  /** The feature size of a [batch, K, n] tensor, checking K. */
  private contextDim(m: Meta, K: number, kind: string): number {
    const s = m.shape;
    const d = s[2];
    if (m.type !== ORT_FLOAT || s.length !== 3 || !(s[1]! <= 0 || s[1] === K) || d === undefined || !(d > 0)) {
      throw new ArtifactError(
        `${this.source}: ${kind} '${m.name}' has type ${m.type} shape [${s.join(',')}]; a sequence policy with context ${K} needs float32 [batch, ${K}, n] with n fixed`,
      );
    }
    return d;
  }

  /** A chunked policy's action dimension, from its [batch, H, actDim] or [H, actDim] output. */
  private chunkDim(m: Meta, H: number): number {
    const s = m.shape;
    const [h, d] = s.length === 3 ? [s[1]!, s[2]] : s.length === 2 ? [s[0]!, s[1]] : [0, undefined];
    const batchOk = s.length === 2 || s[0]! <= 0 || s[0] === 1;
    if (m.type !== ORT_FLOAT || !batchOk || !(h <= 0 || h === H) || d === undefined || !(d > 0))
      throw new ArtifactError(
        `${this.source}: output '${m.name}' has type ${m.type} shape [${s.join(',')}]; a chunked policy with chunk ${H} needs float32 [batch, ${H}, n] or [${H}, n] with n fixed`,
      );
    return d;
  }

  /**
   * A chunked policy's noise input [R, actDim] (float32), after checking it against the graph. R is
   * usually the chunk's H; a diffusion policy whose denoised horizon starts before the current step
   * (Diffusion Policy: nObs − 1 steps earlier) draws noise for its whole horizon, R ≥ H.
   */
  private noiseInput(list: readonly Meta[], x: PolicyExtraInput, H: number): Float32Array {
    const m = list.find((y) => y.name === x.name)!;
    const src = this.source;
    if (x.role !== 'noise' || x.dtype !== 'float32' || x.shape.length !== 2 || x.shape[1] !== this.actDim || !(x.shape[0]! >= H))
      throw new ArtifactError(
        `${src}: a chunked policy's extra input is its float32 noise [R ≥ ${H}, ${this.actDim}] (role 'noise'); the interface gives '${x.name}' ${x.role} ${x.dtype} [${x.shape.join(',')}]`,
      );
    if (!sameDims(m.shape.slice(1), x.shape) || !(m.shape[0]! <= 0 || m.shape[0] === 1) || m.type !== ORT_FLOAT)
      throw new ArtifactError(
        `${src}: input '${x.name}' has type ${m.type} shape [${m.shape.join(',')}], the interface says float32 [batch, ${x.shape.join(', ')}]; fix the interface`,
      );
    return new Float32Array(x.shape[0]! * this.actDim);
  }

  /** The preallocated buffer of one context input, after checking it against the graph. */
  private contextInput(list: readonly Meta[], x: PolicyExtraInput, K: number): Float32Array | BigInt64Array {
    const m = list.find((y) => y.name === x.name)!;
    const src = this.source;
    const want = x.role === 'actions' ? [[K, this.actDim]] : [[K], [K, 1]];
    if (x.role === 'noise') throw new ArtifactError(`${src}: input '${x.name}' has the role 'noise', which a 'sequence' policy cannot take (diffusion policies are 'chunked')`);
    if (!want.some((w) => sameDims(x.shape, w)))
      throw new ArtifactError(
        `${src}: the interface gives '${x.name}' (${x.role}) the shape [${x.shape.join(',')}]; with context ${K} it must be ${want.map((w) => `[${w.join(',')}]`).join(' or ')}`,
      );
    if (!sameDims(m.shape.slice(1), x.shape) || !(m.shape[0]! <= 0 || m.shape[0] === 1))
      throw new ArtifactError(`${src}: input '${x.name}' has shape [${m.shape.join(',')}], the interface says [batch, ${x.shape.join(', ')}]; fix the interface`);
    const type = x.dtype === 'int64' ? ORT_INT64 : ORT_FLOAT;
    if (m.type !== type) throw new ArtifactError(`${src}: input '${x.name}' has ORT type ${m.type}, the interface says ${x.dtype}; fix the interface's dtype`);
    const size = x.shape.reduce((a, b) => a * b, 1);
    return x.dtype === 'int64' ? new BigInt64Array(size) : new Float32Array(size);
  }

  /** Whether inferDistribution() is available (the model was loaded with its distribution outputs). */
  get hasDistribution(): boolean {
    return this.distributionFetches !== null;
  }

  /** Loads ONNX bytes into an ORT session (with provider fallback) and preallocates batch-1 buffers. */
  static load(bytes: Uint8Array, source: string, opts: ModelOptions = {}): PolicyModel {
    const options = { graphOptimizationLevel: 'all', intraOpNumThreads: opts.threads ?? 1, interOpNumThreads: 1, executionMode: 'sequential' };
    let native: NativeSession;
    let provider: ExecutionProvider;
    try {
      [native, provider] = openSession(bytes, source, { executionProvider: opts.executionProvider, options, warn: opts.warn }, (n, ep) => [n, ep] as const);
    } catch (e) {
      throw new ArtifactError(
        `${source}: onnxruntime cannot load the model (${(e as Error).message.split('\n')[0]}); check it with python -c "import onnx; onnx.checker.check_model('${source}')"`,
      );
    }
    try {
      return new PolicyModel(native, provider, source, opts);
    } catch (e) {
      native.dispose();
      throw e;
    }
  }

  /** Runs the policy on `this.obs` (and the context inputs), writing `this.action`. */
  infer(): void {
    this.native.run(this.feeds, this.fetches, this.runOptions);
    if (this.perStep) this.lastPosition(this.perStep);
    else if (this.chunk.length) for (let i = 0; i < this.actDim; i++) this.action[i] = this.chunk[i]!;
  }

  private lastPosition(all: Float32Array): void {
    const a = this.action;
    const n = this.actDim;
    const at = all.length - n;
    for (let i = 0; i < n; i++) a[i] = all[at + i]!;
  }

  /** Runs the policy on `this.obs`, writing `this.action`, `this.loc` and `this.logStd`. */
  inferDistribution(): void {
    if (!this.distributionFetches) throw new Error(`${this.source}: loaded without distribution outputs; pass ModelOptions.distribution`);
    this.native.run(this.feeds, this.distributionFetches, this.runOptions);
    if (this.perStep) this.lastPosition(this.perStep);
  }

  /** Runs the native session n times on the current buffers: the raw-ORT baseline for benchmarks. */
  timeNative(n: number): number {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) this.native.run(this.feeds, this.fetches, this.runOptions);
    return (performance.now() - t0) / n;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.native.dispose();
  }
}
