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
      throw new Error(`onnxruntime-node's native binding could not be loaded (${(e as Error).message}); reinstall with 'npm ci' (keep onnxruntime-node-install=skip in .npmrc on machines without CUDA)`);
    }
    cached.initOrt();
  }
  return cached;
}

export function newNativeSession(): NativeSession {
  return new (load().binding.InferenceSession)();
}

export type ExecutionProvider = 'cpu' | 'cuda' | 'webgpu';

/** Execution providers this onnxruntime-node build can load (CUDA only after a CUDA install). */
export function availableProviders(): ExecutionProvider[] {
  const names = ort.listSupportedBackends().map((b) => b.name);
  const out: ExecutionProvider[] = ['cpu'];
  if (names.includes('webgpu')) out.push('webgpu');
  // 'cuda' is listed as not bundled: the binaries exist only after ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci.
  if (names.includes('cuda')) out.push('cuda');
  return out;
}

/** Why a provider cannot load here (null if it may): CUDA needs its binaries next to the binding. */
export function providerMissing(ep: ExecutionProvider): string | null {
  if (ep !== 'cuda') return null;
  const require = createRequire(import.meta.url);
  const dir = join(dirname(require.resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', process.platform, process.arch);
  return existsSync(join(dir, 'libonnxruntime_providers_cuda.so'))
    ? null
    : `CUDA binaries not installed; on a CUDA 12 machine run: ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci`;
}

export { ort };
