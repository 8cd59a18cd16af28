/**
 * MCAP plumbing shared by the native store and the rosbag2 importer:
 * - `FdWritable`: an @mcap/core IWritable over a file descriptor (each chunk reaches the OS as
 *   soon as McapWriter finalizes it, so a killed writer leaves whole chunks behind);
 * - `scanMcap`: a sequential record reader that names the byte offset of every problem, checks
 *   chunk CRCs, and in `recover` mode stops cleanly at the first incomplete or corrupt record of a
 *   file cut by a crash (reporting what it kept and what it dropped), and in `salvage` mode skips
 *   every damaged chunk (bad CRC, bad zstd data, broken inner records: continue at the next record
 *   when the chunk's own length is intact, else resync by searching for the next valid chunk
 *   record) and reports each damaged byte range through `onDamage`.
 * Record layouts follow the MCAP spec (mcap.dev/spec); the byte-level readers are in mcap-records.ts.
 */
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { IWritable } from '@mcap/core';
import * as zstd from '@foxglove/wasm-zstd';
import { DataError } from '../errors.js';
import { chunkData, Damage, innerRecords, isOpcode, MCAP_MAGIC, OP, validChunkAt, View } from './mcap-records.js';

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

interface McapSchemaRec {
  id: number;
  name: string;
  encoding: string;
  data: Uint8Array;
}
interface McapChannelRec {
  id: number;
  schemaId: number;
  topic: string;
  messageEncoding: string;
  metadata: Map<string, string>;
}
interface McapMessageRec {
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
  /** In salvage mode: every damaged byte range that was skipped, in file order. */
  damaged: McapDamage[];
}

/** A byte range that salvage mode skipped. */
export interface McapDamage {
  /** Position of the damaged chunk among the file's chunks (-1: not a chunk record). After a
   * resync, chunks that were inside the skipped range are not counted. */
  chunkIndex: number;
  /** File offset of the first skipped byte (the damaged record's opcode). */
  offset: number;
  /** Bytes skipped. */
  bytes: number;
  reason: string;
  /** The record framing was broken: the next chunk was found by searching (else the damaged
   * record's own length was used to step over it). */
  resynced: boolean;
  /** Message payloads still readable inside the damaged chunk (e.g. an uncompressed chunk with a
   * CRC mismatch), for reporting what was in it; never trusted as data. */
  messages: Uint8Array[];
}

export interface ScanOptions {
  /** Stop quietly at the first incomplete/corrupt record instead of throwing (for *.partial). */
  recover?: boolean;
  /** Called for every message, in file order. A throw aborts the scan. */
  onMessage: (m: McapMessageRec) => void;
  /** Called after all messages of a chunk were delivered (a unit that is either kept or not). */
  onChunkEnd?: (chunkIndex: number) => void;
  /** Skip damaged chunks and records instead of stopping (see McapDamage); the result lists them. */
  salvage?: boolean;
  /** Salvage mode: called for each skipped byte range. */
  onDamage?: (d: McapDamage) => void;
  /** Salvage mode: channel (and schema) to assume for messages on a channel whose Channel record
   * was lost (it is written once, in the first chunk). */
  fallbackChannel?: { channel: McapChannelRec; schema?: McapSchemaRec };
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
  const res: ScanResult = { profile: '', complete: false, chunks: 0, messages: 0, metadata: new Map(), goodBytes: 0, fileBytes: size, damaged: [] };
  const schemas = new Map<number, McapSchemaRec>();
  const channels = new Map<number, McapChannelRec>();
  const repairFix = repairFixFor(file);
  const stop = (offset: number, what: string, fix = repairFix): never => {
    if (opts.salvage) throw new Damage(offset, what);
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
  const damage = (d: Omit<McapDamage, 'messages'> & { messages?: Uint8Array[] }): void => {
    const full: McapDamage = { ...d, messages: d.messages ?? [] };
    res.damaged.push(full);
    opts.onDamage?.(full);
  };
  /** A record header that could start at `at` (salvage: is the length of a skipped record sane?). */
  const plausibleAt = (at: number): boolean => {
    if (at === size) return true;
    if (at + 9 > size) return false;
    readAt(head, at);
    return isOpcode(head[0]!) && head.readBigUInt64LE(1) <= BigInt(size - at - 9);
  };
  try {
    const magic = new Uint8Array(8);
    if (readAt(magic, 0) < 8 || !MCAP_MAGIC.every((v, i) => magic[i] === v)) {
      try {
        stop(
          0,
          size < 8 ? `file is ${size} bytes, too short for an MCAP header` : 'not an MCAP file (bad magic)',
          size < 8 ? repairFix : 'check the path; this command reads MCAP files',
        );
      } catch (e) {
        if (!(e instanceof Damage)) throw e;
        damage({ chunkIndex: -1, offset: 0, bytes: Math.min(8, size), reason: e.what, resynced: false });
        if (size < 8) return res;
      }
    }
    let off = 8;
    res.goodBytes = 8;
    for (;;) {
      let op = -1;
      let len = 0;
      try {
        if (off + 9 > size) {
          if (off === size) stop(off, `file ends after ${res.chunks} chunks without a DataEnd record`);
          stop(off, `record header at byte ${off} is cut off (${size - off} bytes left)`);
        }
        readAt(head, off);
        op = head[0]!;
        const lenBig = head.readBigUInt64LE(1);
        if (opts.salvage && !isOpcode(op)) stop(off, `no MCAP record starts here (opcode 0x${op.toString(16)})`);
        if (lenBig > BigInt(size - off - 9))
          stop(off, `record (opcode 0x${op.toString(16)}${op === OP.CHUNK ? `, chunk ${res.chunks}` : ''}) of ${lenBig} bytes runs past the end of the file (${size} bytes)`);
        len = Number(lenBig);
        if (op === OP.DATA_END) {
          res.complete = true;
          res.goodBytes = off + 9 + len;
          break;
        }
        readRecord(op, off, len);
      } catch (e) {
        if (!(e instanceof Damage)) throw e;
        if (off >= size) break; // clean end of a file without DataEnd: nothing was skipped
        // Step over the damaged record by its own length when that leads (past message indexes)
        // to a valid chunk or the DataEnd; else search for the next valid chunk record.
        const framed = len > 0 && plausibleAt(off + 9 + len);
        let next = framed ? nextByFraming(off + 9 + len) : -1;
        if (next < 0) next = findChunk(off + 1);
        const isChunk = op === OP.CHUNK || !framed;
        const bytes = framed ? 9 + len : (next < 0 ? size : next) - off;
        damage({ chunkIndex: isChunk ? res.chunks : -1, offset: off, bytes, reason: e.what, resynced: !framed, messages: e.messages });
        if (isChunk) res.chunks++;
        if (next < 0) break;
        off = next;
        continue;
      }
      off = off + 9 + len;
      res.goodBytes = off;
    }
  } catch (e) {
    if (!(e instanceof StopScan)) throw e;
  }
  if (opts.salvage && !res.complete && !res.stopReason) res.stopReason = `file ends after ${res.chunks} chunks without a DataEnd record`;
  return res;

  /** Parse one record at `off` (content `len` bytes) and deliver its messages. */
  function readRecord(op: number, off: number, len: number): void {
    if (!(op === OP.HEADER || op === OP.SCHEMA || op === OP.CHANNEL || op === OP.MESSAGE || op === OP.CHUNK || op === OP.METADATA)) return;
    const content = new Uint8Array(len);
    readAt(content, off + 9);
    const failAt = (what: string): never => stop(off, what);
    const v = new View(content, failAt);
    if (op === OP.HEADER) {
      res.profile = v.str();
    } else if (op === OP.METADATA) {
      const name = v.str();
      res.metadata.set(name, v.map());
    } else if (op === OP.CHUNK) {
      const chunkIndex = res.chunks;
      const data = chunkData(v, chunkIndex, failAt, (comp) =>
        stop(off, `chunk ${chunkIndex} uses compression '${comp}', which o2o cannot read`, "recompress the file with zstd or none (e.g. 'mcap compress --compression zstd')"),
      );
      const recs = innerRecords(data.data, failAt);
      if (data.crcError) {
        if (!opts.salvage) failAt(data.crcError);
        // Keep the readable payloads only as evidence of what was lost.
        const messages = recs.ok ? recs.list.filter((r) => r.op === OP.MESSAGE).map((r) => r.v.b.subarray(Math.min(r.v.b.length, 22))) : [];
        throw new Damage(off, data.crcError, messages);
      }
      if (!recs.ok) failAt(recs.error);
      // Validate every record of the chunk before delivering any (a chunk is kept whole or not).
      const msgs: McapMessageRec[] = [];
      for (const r of recs.list) handleRecord(r.op, r.v, chunkIndex, off, msgs);
      for (const m of msgs) {
        res.messages++;
        opts.onMessage(m);
      }
      res.chunks++;
      opts.onChunkEnd?.(chunkIndex);
    } else {
      const msgs: McapMessageRec[] = [];
      handleRecord(op, v, -1, off, msgs);
      for (const m of msgs) {
        res.messages++;
        opts.onMessage(m);
      }
    }
  }

  /** Salvage: from a record boundary `at`, skip message indexes; the offset of the valid chunk
   * or DataEnd found there, or -1. */
  function nextByFraming(at: number): number {
    for (let q = at; q + 9 <= size; ) {
      readAt(head, q);
      const op = head[0]!;
      const len = head.readBigUInt64LE(1);
      if (len > BigInt(size - q - 9)) return -1;
      if (op === OP.MESSAGE_INDEX) {
        q += 9 + Number(len);
        continue;
      }
      if (op === OP.DATA_END) return q;
      if (op !== OP.CHUNK) return -1;
      const rec = Buffer.alloc(9 + Number(len));
      readAt(rec, q);
      return validChunkAt(rec, 0) ? q : -1;
    }
    return -1;
  }

  /** Salvage: the offset of the next valid chunk record at or after `from` (-1: none). */
  function findChunk(from: number): number {
    if (from >= size) return -1;
    const rest = Buffer.alloc(size - from);
    readAt(rest, from);
    for (let p = rest.indexOf(OP.CHUNK, 0); p >= 0; p = rest.indexOf(OP.CHUNK, p + 1)) {
      if (validChunkAt(rest, p)) return from + p;
    }
    return -1;
  }

  function handleRecord(op: number, v: View, chunkIndex: number, chunkOffset: number, out: McapMessageRec[]): void {
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
      const fb = opts.salvage ? opts.fallbackChannel : undefined;
      const channel = channels.get(channelId) ?? fb?.channel;
      if (!channel) v.fail(`message on unknown channel ${channelId}`);
      const schema = channels.has(channelId) ? schemas.get(channel.schemaId) : fb?.schema;
      out.push({ channel, schema, sequence, logTime, data, chunkIndex, chunkOffset });
    }
  }
}

/** How to fix a damaged file: a store segment is repaired in its folder, anything else re-copied. */
function repairFixFor(file: string): string {
  if (/^seg-\d{4,}\.mcap(\.partial)?$/.test(basename(file))) {
    return `the file was cut or damaged — run 'o2o dataset repair ${dirname(file)}' to keep every intact chunk (the damaged file is kept as *.damaged)`;
  }
  return 'the file was cut or damaged; copy it again from its source';
}
