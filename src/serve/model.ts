/**
 * A loaded policy: any ONNX file with one float observation input [batch, obsDim] (or [obsDim])
 * and a float action output — our artifacts, d3rlpy's input_0/output_0, torch.onnx exports.
 * The batch is fixed to 1 and both tensors are preallocated, so infer() allocates nothing in
 * our code (ORT's binding still builds its small result object).
 */
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
}

const ORT_FLOAT = 1;

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

  private constructor(
    private readonly native: NativeSession,
    readonly provider: ExecutionProvider,
    readonly source: string,
    opts: ModelOptions,
  ) {
    const input = pick(native.inputMetadata, opts.inputName, 'input', source);
    const output = pick(native.outputMetadata, opts.outputName, 'output', source);
    this.obsDim = featureDim(input, 'input', source);
    this.actDim = featureDim(output, 'output', source);
    this.inputName = input.name;
    this.outputName = output.name;
    this.obs = new Float32Array(this.obsDim);
    this.action = new Float32Array(this.actDim);
    const inShape = input.shape.length === 1 ? [this.obsDim] : [1, this.obsDim];
    const outShape = output.shape.length === 1 ? [this.actDim] : [1, this.actDim];
    this.feeds = { [input.name]: new ort.Tensor('float32', this.obs, inShape) };
    this.fetches = { [output.name]: new ort.Tensor('float32', this.action, outShape) };
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

  /** Runs the policy on `this.obs`, writing `this.action`. */
  infer(): void {
    this.native.run(this.feeds, this.fetches, this.runOptions);
  }

  /** Runs the policy on `this.obs`, writing `this.action`, `this.loc` and `this.logStd`. */
  inferDistribution(): void {
    if (!this.distributionFetches) throw new Error(`${this.source}: loaded without distribution outputs; pass ModelOptions.distribution`);
    this.native.run(this.feeds, this.distributionFetches, this.runOptions);
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
