/**
 * MCAP plumbing shared by the native store and the rosbag2 importer:
 * - `FdWritable`: an @mcap/core IWritable over a file descriptor (each chunk reaches the OS as
 *   soon as McapWriter finalizes it, so a killed writer leaves whole chunks behind);
 * - `scanMcap`: a sequential record reader that names the byte offset of every problem, checks
 *   chunk CRCs, and in `recover` mode stops cleanly at the first incomplete or corrupt record of a
 *   file cut by a crash (reporting what it kept and what it dropped).
 * Record layouts follow the MCAP spec (mcap.dev/spec): opcode u8, length u64, then the content.
 */
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import type { IWritable } from '@mcap/core';
import * as zstd from '@foxglove/wasm-zstd';
import { DataError } from '../errors.js';

export const MCAP_MAGIC = Uint8Array.from([0x89, 0x4d, 0x43, 0x41, 0x50, 0x30, 0x0d, 0x0a]);
const OP = { HEADER: 1, FOOTER: 2, SCHEMA: 3, CHANNEL: 4, MESSAGE: 5, CHUNK: 6, METADATA: 0x0c, DATA_END: 0x0f } as const;

export type Compression = 'zstd' | 'none';

/** Wait for the zstd WebAssembly module (call once before compressing or reading zstd chunks). */
export async function ready(): Promise<void> {
  await zstd.isLoaded;
}

export function compressChunkFn(c: Compression, level = 1): ((d: Uint8Array) => { compression: string; compressedData: Uint8Array }) | undefined {
  if (c === 'none') return undefined;
  return (d) => ({ compression: 'zstd', compressedData: zstd.compress(d, level) });
}

export class FdWritable implements IWritable {
  private pos = 0n;
  constructor(readonly fd: number) {}
  async write(buf: Uint8Array): Promise<void> {
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    this.pos += BigInt(buf.length);
  }
  position(): bigint {
    return this.pos;
  }
}

export interface McapSchemaRec {
  id: number;
  name: string;
  encoding: string;
  data: Uint8Array;
}
export interface McapChannelRec {
  id: number;
  schemaId: number;
  topic: string;
  messageEncoding: string;
  metadata: Map<string, string>;
}
export interface McapMessageRec {
  channel: McapChannelRec;
  schema: McapSchemaRec | undefined;
  sequence: number;
  logTime: bigint;
  data: Uint8Array;
  /** Index of the chunk holding the message (-1 when unchunked) and its file offset. */
  chunkIndex: number;
  chunkOffset: number;
}

export interface ScanResult {
  profile: string;
  /** The data section ended with a DataEnd record (the file was closed properly). */
  complete: boolean;
  chunks: number;
  messages: number;
  metadata: Map<string, Map<string, string>>;
  /** Offset of the first byte not used (end of the last good record). */
  goodBytes: number;
  fileBytes: number;
  /** In recover mode: why scanning stopped early (absent if the file was complete). */
  stopReason?: string;
}

export interface ScanOptions {
  /** Stop quietly at the first incomplete/corrupt record instead of throwing (for *.partial). */
  recover?: boolean;
  /** Called for every message, in file order. A throw aborts the scan. */
  onMessage: (m: McapMessageRec) => void;
  /** Called after all messages of a chunk were delivered (a unit that is either kept or not). */
  onChunkEnd?: (chunkIndex: number) => void;
}

class View {
  p = 0;
  readonly dv: DataView;
  constructor(readonly b: Uint8Array, readonly fail: (what: string) => never) {
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  need(n: number): void {
    if (this.p + n > this.b.length) this.fail(`record content ends early (needs ${n} more bytes at ${this.p})`);
  }
  u16(): number {
    this.need(2);
    const v = this.dv.getUint16(this.p, true);
    this.p += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.dv.getUint32(this.p, true);
    this.p += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.dv.getBigUint64(this.p, true);
    this.p += 8;
    return v;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const v = this.b.subarray(this.p, this.p + n);
    this.p += n;
    return v;
  }
  str(): string {
    return new TextDecoder().decode(this.bytes(this.u32()));
  }
  map(): Map<string, string> {
    const len = this.u32();
    const end = this.p + len;
    const m = new Map<string, string>();
    while (this.p < end) m.set(this.str(), this.str());
    return m;
  }
}

/** Read an MCAP file record by record. See ScanOptions.recover for *.partial files. */
export function scanMcap(file: string, opts: ScanOptions): ScanResult {
  const fd = openSync(file, 'r');
  try {
    return scanFd(fd, file, opts);
  } finally {
    closeSync(fd);
  }
}

class StopScan extends Error {}

function scanFd(fd: number, file: string, opts: ScanOptions): ScanResult {
  const size = fstatSync(fd).size;
  const res: ScanResult = { profile: '', complete: false, chunks: 0, messages: 0, metadata: new Map(), goodBytes: 0, fileBytes: size };
  const schemas = new Map<number, McapSchemaRec>();
  const channels = new Map<number, McapChannelRec>();
  const repairFix = "the file was cut or damaged during a write — run 'o2o dataset repair' to keep every complete chunk";
  const stop = (offset: number, what: string, fix = repairFix): never => {
    if (opts.recover) {
      res.stopReason = `byte ${offset}: ${what}`;
      throw new StopScan();
    }
    throw new DataError(what, { file, offset }, fix);
  };
  const head = Buffer.alloc(9);
  const readAt = (buf: Uint8Array, off: number): number => {
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, off + got);
      if (n === 0) break;
      got += n;
    }
    return got;
  };
  try {
    const magic = new Uint8Array(8);
    if (readAt(magic, 0) < 8 || !MCAP_MAGIC.every((v, i) => magic[i] === v)) {
      stop(0, size < 8 ? `file is ${size} bytes, too short for an MCAP header` : 'not an MCAP file (bad magic)', size < 8 ? repairFix : 'check the path; this command reads MCAP files');
    }
    let off = 8;
    res.goodBytes = 8;
    for (;;) {
      if (off + 9 > size) {
        if (off === size) stop(off, `file ends after ${res.chunks} chunks without a DataEnd record`);
        stop(off, `record header at byte ${off} is cut off (${size - off} bytes left)`);
      }
      readAt(head, off);
      const op = head[0]!;
      const lenBig = head.readBigUInt64LE(1);
      if (lenBig > BigInt(size - off - 9)) stop(off, `record (opcode 0x${op.toString(16)}) of ${lenBig} bytes runs past the end of the file (${size} bytes)`);
      const len = Number(lenBig);
      const body = off + 9;
      const failAt = (what: string): never => stop(off, what);
      if (op === OP.DATA_END) {
        res.complete = true;
        res.goodBytes = body + len;
        break;
      }
      if (op === OP.HEADER || op === OP.SCHEMA || op === OP.CHANNEL || op === OP.MESSAGE || op === OP.CHUNK || op === OP.METADATA) {
        const content = new Uint8Array(len);
        readAt(content, body);
        const v = new View(content, failAt);
        if (op === OP.HEADER) {
          res.profile = v.str();
        } else if (op === OP.METADATA) {
          const name = v.str();
          res.metadata.set(name, v.map());
        } else if (op === OP.CHUNK) {
          v.u64();
          v.u64();
          const usize = Number(v.u64());
          const crc = v.u32();
          const comp = v.str();
          const rlen = Number(v.u64());
          const records = v.bytes(rlen);
          let data: Uint8Array;
          if (comp === '') data = records;
          else if (comp === 'zstd') {
            try {
              data = zstd.decompress(records, usize);
            } catch (e) {
              data = failAt(`chunk ${res.chunks}: zstd decompression failed (${(e as Error).message})`);
            }
          } else {
            data = stop(off, `chunk ${res.chunks} uses compression '${comp}', which o2o cannot read`, "recompress the file with zstd or none (e.g. 'mcap compress --compression zstd')");
          }
          if (data.length !== usize) failAt(`chunk ${res.chunks}: decompressed to ${data.length} bytes, header says ${usize}`);
          if (crc !== 0 && crc32(data) !== crc) failAt(`chunk ${res.chunks}: CRC mismatch`);
          const inner = new View(data, failAt);
          const chunkIndex = res.chunks;
          while (inner.p < data.length) {
            const iop = inner.bytes(1)[0]!;
            const ilen = Number(inner.u64());
            const sub = new View(inner.bytes(ilen), failAt);
            handleRecord(iop, sub, chunkIndex, off);
          }
          res.chunks++;
          opts.onChunkEnd?.(chunkIndex);
        } else {
          handleRecord(op, v, -1, off);
        }
      }
      off = body + len;
      res.goodBytes = off;
    }
  } catch (e) {
    if (!(e instanceof StopScan)) throw e;
  }
  return res;

  function handleRecord(op: number, v: View, chunkIndex: number, chunkOffset: number): void {
    if (op === OP.SCHEMA) {
      const id = v.u16();
      const name = v.str();
      const encoding = v.str();
      const data = v.bytes(v.u32()).slice();
      schemas.set(id, { id, name, encoding, data });
    } else if (op === OP.CHANNEL) {
      const id = v.u16();
      const schemaId = v.u16();
      const topic = v.str();
      const messageEncoding = v.str();
      channels.set(id, { id, schemaId, topic, messageEncoding, metadata: v.map() });
    } else if (op === OP.MESSAGE) {
      const channelId = v.u16();
      const sequence = v.u32();
      const logTime = v.u64();
      v.u64();
      const data = v.bytes(v.b.length - v.p);
      const channel = channels.get(channelId);
      if (!channel) v.fail(`message on unknown channel ${channelId}`);
      res.messages++;
      opts.onMessage({ channel, schema: schemas.get(channel.schemaId), sequence, logTime, data, chunkIndex, chunkOffset });
    }
  }
}
