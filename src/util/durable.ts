/**
 * Durable file writes, the one way o2o replaces a file: write a temporary file beside it, fsync
 * it, rename it over the target, fsync the folder. A crash leaves the old file or the new one,
 * never a torn one; after the call returns, a power loss keeps the new one.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export function writeFileDurably(path: string, data: Uint8Array | string | readonly (Uint8Array | string)[], opts: { tmp?: string } = {}): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = opts.tmp ?? `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    for (const part of Array.isArray(data) ? data : [data]) {
      const b = typeof part === 'string' ? Buffer.from(part, 'utf8') : (part as Uint8Array);
      let off = 0;
      while (off < b.length) off += writeSync(fd, b, off, b.length - off);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncDir(dirname(path));
}

/** fsync a folder so a rename inside it survives a power loss (a no-op where unsupported). */
export function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* not supported on every platform */
  }
}
