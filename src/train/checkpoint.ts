import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurably } from '../util/durable.js';
import type { Checkpoint } from '../algos/index.js';

/**
 * Checkpoint file: "O2OCKPT1", u32 little-endian header length, JSON header, then the float32
 * state tensors back to back. The header lists each tensor's name, offset and length and a
 * sha256 of the payload. Written to a temporary file, fsynced, then renamed: a crash never
 * leaves a half-written checkpoint under the final name.
 */
const MAGIC = 'O2OCKPT1';

export interface TrainCheckpoint {
  learner: Checkpoint;
  /** Sampler generator state: resume draws the same batches. */
  samplerRng: number[];
  /** Anything else the trainer needs to resume (normalization, dataset id, options). */
  meta: Record<string, unknown>;
}

export function writeCheckpoint(path: string, c: TrainCheckpoint): void {
  const tensors = Object.entries(c.learner.state);
  let offset = 0;
  const index = tensors.map(([name, v]) => {
    const e = { name, offset, length: v.length };
    offset += v.length * 4;
    return e;
  });
  const payload = Buffer.alloc(offset);
  for (const [i, [, v]] of tensors.entries()) Buffer.from(v.buffer, v.byteOffset, v.byteLength).copy(payload, index[i]!.offset);
  const header = Buffer.from(
    JSON.stringify({
      algo: c.learner.algo,
      steps: c.learner.steps,
      rng: c.learner.rng,
      config: c.learner.config,
      samplerRng: c.samplerRng,
      meta: c.meta,
      tensors: index,
      sha256: createHash('sha256').update(payload).digest('hex'),
    }),
    'utf8',
  );
  const len = Buffer.alloc(4);
  len.writeUInt32LE(header.length);
  writeFileDurably(path, [Buffer.from(MAGIC, 'ascii'), len, header, payload]);
}

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

export function readCheckpoint(path: string): TrainCheckpoint {
  const buf = readFileSync(path);
  const fail = (what: string, at: number): never => {
    throw new CheckpointError(`${path}: byte ${at}: ${what}; the file is not an o2o checkpoint or was cut short — use an earlier checkpoint`);
  };
  if (buf.length < 12 || buf.toString('ascii', 0, 8) !== MAGIC) fail(`missing '${MAGIC}' header`, 0);
  const hlen = buf.readUInt32LE(8);
  if (12 + hlen > buf.length) fail(`header of ${hlen} bytes runs past the end (${buf.length} bytes)`, 8);
  let h: {
    algo: string;
    steps: number;
    rng: number[];
    config: unknown;
    samplerRng: number[];
    meta: Record<string, unknown>;
    tensors: { name: string; offset: number; length: number }[];
    sha256: string;
  };
  try {
    h = JSON.parse(buf.toString('utf8', 12, 12 + hlen));
  } catch (e) {
    return fail(`unreadable header (${(e as Error).message})`, 12);
  }
  const payload = buf.subarray(12 + hlen);
  const need = h.tensors.reduce((m, t) => Math.max(m, t.offset + t.length * 4), 0);
  if (payload.length !== need) fail(`payload has ${payload.length} bytes, header describes ${need}`, 12 + hlen);
  if (createHash('sha256').update(payload).digest('hex') !== h.sha256) fail('payload checksum mismatch', 12 + hlen);
  const state: Record<string, Float32Array> = {};
  for (const t of h.tensors) {
    const bytes = payload.subarray(t.offset, t.offset + t.length * 4);
    state[t.name] = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  }
  return { learner: { algo: h.algo, steps: h.steps, rng: h.rng, config: h.config, state }, samplerRng: h.samplerRng, meta: h.meta };
}

/** The checkpoint `<prefix>-<N>.o2o` with the largest N in `dir`, or null. */
export function newestCheckpoint(dir: string, prefix: string): string | null {
  if (!existsSync(dir)) return null;
  const re = new RegExp(`^${prefix}-(\\d+)\\.o2o$`);
  let best: { n: number; f: string } | null = null;
  for (const f of readdirSync(dir)) {
    const m = re.exec(f);
    if (m && (!best || Number(m[1]) > best.n)) best = { n: Number(m[1]), f };
  }
  return best ? join(dir, best.f) : null;
}
