import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import ort from 'onnxruntime-node';

/**
 * onnxruntime-node's native session, used directly: its run() is synchronous, so a control
 * loop or a training step pays no promise/setImmediate hop (measured ~13 µs per call on the
 * 2-core dev VM). The public InferenceSession wraps exactly this object.
 */
export interface NativeSession {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: object): void;
  readonly inputMetadata: { name: string; type: number; shape: number[] }[];
  readonly outputMetadata: { name: string; type: number; shape: number[] }[];
  run(feeds: Record<string, ort.Tensor>, fetches: Record<string, ort.Tensor | null>, options: object): Record<string, ort.Tensor>;
  /** Writes the profile file (only when the session was created with enableProfiling). */
  endProfiling(): void;
  dispose(): void;
}

interface Binding {
  binding: { InferenceSession: new () => NativeSession };
  initOrt: () => void;
}

let cached: Binding | null = null;
function load(): Binding {
  if (!cached) {
    const require = createRequire(import.meta.url);
    try {
      cached = require('onnxruntime-node/dist/binding.js') as Binding;
    } catch (e) {
      throw new Error(
        `onnxruntime-node's native binding could not be loaded (${(e as Error).message}); reinstall with 'npm ci' (keep onnxruntime-node-install=skip in .npmrc on machines without CUDA)`,
      );
    }
    cached.initOrt();
  }
  return cached;
}

function newNativeSession(): NativeSession {
  return new (load().binding.InferenceSession)();
}

export type ExecutionProvider = 'cpu' | 'cuda' | 'webgpu';

/** Why a provider cannot load here (null if it may): CUDA needs its binaries next to the binding. */
function providerMissing(ep: ExecutionProvider): string | null {
  if (ep !== 'cuda') return null;
  const require = createRequire(import.meta.url);
  const dir = join(dirname(require.resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', process.platform, process.arch);
  return existsSync(join(dir, 'libonnxruntime_providers_cuda.so')) ? null : `CUDA binaries not installed; on a CUDA 12 machine run: ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci`;
}

export interface OpenOptions {
  executionProvider?: ExecutionProvider;
  /** ORT session options besides the provider (threads, optimization level, profiling, config entries). */
  options: Record<string, unknown>;
  /** Where the fallback warning goes (default console.warn). */
  warn?: (message: string) => void;
}

/**
 * The one way o2o opens an ORT session: on the wanted execution provider, or on the CPU with a
 * one-line warning that says why (binaries missing, or the provider failed to load). `open` turns
 * the native session into what the caller needs; its errors on the CPU propagate.
 */
export function openSession<T>(bytes: Uint8Array, source: string, o: OpenOptions, open: (native: NativeSession, ep: ExecutionProvider) => T): T {
  const wanted = o.executionProvider ?? 'cpu';
  const warn = o.warn ?? console.warn;
  const load = (ep: ExecutionProvider): T => {
    const s = newNativeSession();
    s.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, { ...o.options, executionProviders: [ep] });
    return open(s, ep);
  };
  if (wanted !== 'cpu') {
    const missing = providerMissing(wanted);
    if (missing) warn(`o2o: execution provider '${wanted}' unavailable for ${source} (${missing}); running on cpu`);
    else {
      try {
        return load(wanted);
      } catch (e) {
        warn(`o2o: execution provider '${wanted}' unavailable for ${source} (${(e as Error).message.split('\n')[0]}); running on cpu`);
      }
    }
  }
  return load('cpu');
}

export { ort };
