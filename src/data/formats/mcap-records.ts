/**
 * MCAP records at the byte level (mcap.dev/spec: opcode u8, length u64, then the content), for
 * scanMcap (mcap-io.ts): the magic and opcodes, a bounds-checked little-endian reader over a
 * record's content, a Chunk record's checked decompression and its inner records, and the test
 * that salvage mode resyncs on (does a whole, valid chunk start here?).
 */
import { crc32 } from 'node:zlib';
import * as zstd from '@foxglove/wasm-zstd';

export const MCAP_MAGIC = Uint8Array.from([0x89, 0x4d, 0x43, 0x41, 0x50, 0x30, 0x0d, 0x0a]);
export const OP = { HEADER: 1, FOOTER: 2, SCHEMA: 3, CHANNEL: 4, MESSAGE: 5, CHUNK: 6, MESSAGE_INDEX: 7, METADATA: 0x0c, DATA_END: 0x0f } as const;

/** A bounds-checked little-endian reader over one record's content; `fail` names the problem. */
export class View {
  p = 0;
  readonly dv: DataView;
  constructor(
    readonly b: Uint8Array,
    readonly fail: (what: string) => never,
  ) {
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

/** Decompress and check a Chunk record's content; a CRC/size/zstd problem is returned, not thrown. */
export function chunkData(v: View, chunkIndex: number, failAt: (w: string) => never, badComp: (c: string) => never): { data: Uint8Array; crcError?: string } {
  v.u64();
  v.u64();
  const usize = Number(v.u64());
  const crc = v.u32();
  const comp = v.str();
  const rlen = Number(v.u64());
  const records = v.bytes(rlen);
  if (v.p !== v.b.length) failAt(`chunk ${chunkIndex}: ${v.b.length - v.p} bytes after the compressed records`);
  let data: Uint8Array;
  if (comp === '') data = records;
  else if (comp === 'zstd') {
    try {
      data = zstd.decompress(records, usize);
    } catch (e) {
      return { data: new Uint8Array(0), crcError: `chunk ${chunkIndex}: zstd decompression failed (${(e as Error).message})` };
    }
  } else return badComp(comp);
  if (data.length !== usize) return { data, crcError: `chunk ${chunkIndex}: decompressed to ${data.length} bytes, header says ${usize}` };
  if (crc !== 0 && crc32(data) !== crc) return { data, crcError: `chunk ${chunkIndex}: CRC mismatch` };
  return { data };
}

/** Split a chunk's decompressed records (opcode, length, content). */
export function innerRecords(data: Uint8Array, failAt: (w: string) => never): { ok: true; list: { op: number; v: View }[] } | { ok: false; error: string; list: [] } {
  const list: { op: number; v: View }[] = [];
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let p = 0;
  while (p < data.length) {
    if (p + 9 > data.length) return { ok: false, error: `record header cut off at chunk byte ${p}`, list: [] };
    const op = data[p]!;
    const len = dv.getBigUint64(p + 1, true);
    if (len > BigInt(data.length - p - 9)) return { ok: false, error: `record (opcode 0x${op.toString(16)}) at chunk byte ${p} runs past the end of the chunk`, list: [] };
    list.push({ op, v: new View(data.subarray(p + 9, p + 9 + Number(len)), failAt) });
    p += 9 + Number(len);
  }
  return { ok: true, list };
}

/** Does a whole, valid Chunk record (framing, compression, CRC, inner records) start at `p`? */
export function validChunkAt(buf: Buffer, p: number): boolean {
  if (buf[p] !== OP.CHUNK || p + 9 > buf.length) return false;
  const len = buf.readBigUInt64LE(p + 1);
  if (len > BigInt(buf.length - p - 9) || len < 40n) return false;
  const content = buf.subarray(p + 9, p + 9 + Number(len));
  const fail = (w: string): never => {
    throw new Damage(0, w);
  };
  try {
    const v = new View(content, fail);
    v.p = 28;
    const clen = v.u32();
    if (clen > 16) return false;
    v.p = 28;
    const comp = v.str();
    if (comp !== '' && comp !== 'zstd') return false;
    if (Number(v.u64()) !== content.length - v.p) return false;
    v.p = 0;
    const d = chunkData(v, 0, fail, fail);
    return !d.crcError && innerRecords(d.data, fail).ok;
  } catch (e) {
    if (e instanceof Damage) return false;
    throw e;
  }
}

/** MCAP opcodes defined by the spec (0x01–0x0F) and the user range (0x80–0xFF). */
export function isOpcode(op: number): boolean {
  return (op >= 0x01 && op <= 0x0f) || op >= 0x80;
}

export class Damage extends Error {
  constructor(
    readonly offset: number,
    readonly what: string,
    readonly messages: Uint8Array[] = [],
  ) {
    super(what);
  }
}
