/**
 * Hand-written protobuf codec for o2o.TransitionBatch (src/data/schema/o2o.proto), the hot path
 * of the store and of MQTT ingest: packed float fields are copied as raw little-endian bytes
 * straight into dataset columns, no per-value work. Bytes are standard protobuf: protobufjs,
 * protoc and Foxglove decode them (tests check both directions against protobufjs).
 */
import type { Dataset } from '../dataset.js';
import { nextObservationsOf } from '../next-obs.js';
import type { DatasetBuilder } from '../builder.js';
import { DataError } from '../errors.js';

export interface BatchHeader {
  robotId: string;
  /** Sequence number of the first transition (per robot; up to 2^53). */
  firstSequence: number;
  policyVersion: string;
  timeUnixNs: number;
}

const F_ROBOT = 1,
  F_SEQ = 2,
  F_OBSDIM = 3,
  F_ACTDIM = 4,
  F_COUNT = 5,
  F_OBS = 6,
  F_ACT = 7,
  F_REW = 8;
const F_NOBS = 9,
  F_TERM = 10,
  F_TOUT = 11,
  F_EPS = 12,
  F_POLICY = 13,
  F_TIME = 14,
  F_INFO = 15,
  F_ACKED_BELOW = 16;

const te = new TextEncoder();
const td = new TextDecoder('utf-8', { fatal: true });

function varintSize(v: number): number {
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

class Out {
  p = 0;
  constructor(readonly b: Uint8Array) {}
  varint(v: number): void {
    while (v >= 128) {
      this.b[this.p++] = (v % 128) | 128;
      v = Math.floor(v / 128);
    }
    this.b[this.p++] = v;
  }
  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }
  bytes(field: number, src: Uint8Array): void {
    this.tag(field, 2);
    this.varint(src.length);
    this.b.set(src, this.p);
    this.p += src.length;
  }
}

function floatBytes(a: Float32Array, start: number, count: number): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset + start * 4, count * 4);
}

/** Encode rows [start, end) of `ds` as a TransitionBatch message. */
export function encodeTransitionBatch(ds: Dataset, start: number, end: number, h: Partial<BatchHeader> = {}): Uint8Array {
  const n = end - start;
  const o = ds.obsDim;
  const a = ds.actDim;
  const robot = te.encode(h.robotId ?? '');
  const policy = te.encode(h.policyVersion ?? '');
  const seq = h.firstSequence ?? 0;
  const time = h.timeUnixNs ?? 0;
  let epBytes = 0;
  for (let i = start; i < end; i++) epBytes += varintSize(ds.episodeIds[i]!);
  const infos = Object.entries(ds.info).map(([name, c]) => ({ name: te.encode(name), dim: c.dim, data: c.data }));
  const lenField = (len: number): number => (len > 0 ? 1 + varintSize(len) + len : 0);
  const infoLens = infos.map((c) => lenField(c.name.length) + 1 + varintSize(c.dim) + lenField(n * c.dim * 4));
  let size = lenField(robot.length) + lenField(policy.length);
  if (seq > 0) size += 1 + varintSize(seq);
  if (time > 0) size += 1 + varintSize(time);
  size += 1 + varintSize(o) + 1 + varintSize(a) + (n > 0 ? 1 + varintSize(n) : 0);
  size += 2 * lenField(n * o * 4) + lenField(n * a * 4) + lenField(n * 4) + 2 * lenField(n) + lenField(epBytes);
  for (const l of infoLens) size += 1 + varintSize(l) + l;

  const w = new Out(new Uint8Array(size));
  if (robot.length) w.bytes(F_ROBOT, robot);
  if (seq > 0) w.tag(F_SEQ, 0), w.varint(seq);
  w.tag(F_OBSDIM, 0), w.varint(o);
  w.tag(F_ACTDIM, 0), w.varint(a);
  if (n > 0) {
    w.tag(F_COUNT, 0), w.varint(n);
    w.bytes(F_OBS, floatBytes(ds.observations, start * o, n * o));
    w.bytes(F_ACT, floatBytes(ds.actions, start * a, n * a));
    w.bytes(F_REW, floatBytes(ds.rewards, start, n));
    w.bytes(F_NOBS, floatBytes(nextObservationsOf(ds, start, end), 0, n * o)); // one per row, whatever the in-memory form
    w.bytes(F_TERM, ds.terminals.subarray(start, end));
    w.bytes(F_TOUT, ds.timeouts.subarray(start, end));
    w.tag(F_EPS, 2), w.varint(epBytes);
    for (let i = start; i < end; i++) w.varint(ds.episodeIds[i]!);
  }
  if (policy.length) w.bytes(F_POLICY, policy);
  if (time > 0) w.tag(F_TIME, 0), w.varint(time);
  infos.forEach((c, k) => {
    w.tag(F_INFO, 2), w.varint(infoLens[k]!);
    if (c.name.length) w.bytes(1, c.name);
    w.tag(2, 0), w.varint(c.dim);
    if (n > 0) w.bytes(3, floatBytes(c.data, start * c.dim, n * c.dim));
  });
  if (w.p !== size) throw new Error(`encodeTransitionBatch: internal size mismatch ${w.p} != ${size}`);
  return w.b;
}

interface Span {
  p: number;
  len: number;
}

export interface DecodedBatch extends BatchHeader {
  /** TransitionBatch.acked_below: the sender's transitions below it were acknowledged elsewhere (0: none). */
  ackedBelow: number;
  obsDim: number;
  actDim: number;
  count: number;
  /** Byte spans inside the message of each packed field. */
  spans: { obs?: Span; act?: Span; rew?: Span; nobs?: Span; term?: Span; tout?: Span; eps?: Span };
  info: { name: string; dim: number; values?: Span }[];
  bytes: Uint8Array;
}

class In {
  p: number;
  constructor(
    readonly b: Uint8Array,
    p: number,
    readonly end: number,
    readonly where: string,
  ) {
    this.p = p;
  }
  varint(): number {
    let v = 0;
    let mul = 1;
    for (let k = 0; k < 10; k++) {
      if (this.p >= this.end) this.fail('message ends inside a varint');
      const byte = this.b[this.p++]!;
      v += (byte & 127) * mul;
      if (byte < 128) return v;
      mul *= 128;
    }
    return this.fail('varint longer than 10 bytes');
  }
  span(): Span {
    const len = this.varint();
    if (this.p + len > this.end) this.fail(`length-delimited field of ${len} bytes runs past the end of the message`);
    const s = { p: this.p, len };
    this.p += len;
    return s;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.p += 8;
    else if (wire === 2) this.span();
    else if (wire === 5) this.p += 4;
    else this.fail(`unsupported wire type ${wire}`);
    if (this.p > this.end) this.fail('field runs past the end of the message');
  }
  fail(what: string): never {
    throw new DataError(
      `malformed TransitionBatch (${what}) at message byte ${this.p}`,
      { file: this.where },
      'the data is corrupt; run `o2o dataset repair` or re-import from the source',
    );
  }
}

/** Parse a TransitionBatch without copying its arrays. `where` names the source in errors. */
export function decodeTransitionBatch(bytes: Uint8Array, where = 'TransitionBatch'): DecodedBatch {
  const r = new In(bytes, 0, bytes.length, where);
  const d: DecodedBatch = { robotId: '', firstSequence: 0, ackedBelow: 0, policyVersion: '', timeUnixNs: 0, obsDim: 0, actDim: 0, count: 0, spans: {}, info: [], bytes };
  const str = (s: Span): string => td.decode(bytes.subarray(s.p, s.p + s.len));
  while (r.p < r.end) {
    const tag = r.varint();
    const f = Math.floor(tag / 8);
    const wire = tag & 7;
    const want = (w: number): void => {
      if (wire !== w) r.fail(`field ${f} has wire type ${wire}, expected ${w}${w === 2 ? ' (packed)' : ''}`);
    };
    switch (f) {
      case F_ROBOT:
        want(2), (d.robotId = str(r.span()));
        break;
      case F_SEQ:
        want(0), (d.firstSequence = r.varint());
        break;
      case F_OBSDIM:
        want(0), (d.obsDim = r.varint());
        break;
      case F_ACTDIM:
        want(0), (d.actDim = r.varint());
        break;
      case F_COUNT:
        want(0), (d.count = r.varint());
        break;
      case F_OBS:
        want(2), (d.spans.obs = r.span());
        break;
      case F_ACT:
        want(2), (d.spans.act = r.span());
        break;
      case F_REW:
        want(2), (d.spans.rew = r.span());
        break;
      case F_NOBS:
        want(2), (d.spans.nobs = r.span());
        break;
      case F_TERM:
        want(2), (d.spans.term = r.span());
        break;
      case F_TOUT:
        want(2), (d.spans.tout = r.span());
        break;
      case F_EPS:
        want(2), (d.spans.eps = r.span());
        break;
      case F_POLICY:
        want(2), (d.policyVersion = str(r.span()));
        break;
      case F_TIME:
        want(0), (d.timeUnixNs = r.varint());
        break;
      case F_ACKED_BELOW:
        want(0), (d.ackedBelow = r.varint());
        break;
      case F_INFO: {
        want(2);
        const s = r.span();
        const ir = new In(bytes, s.p, s.p + s.len, where);
        const col: { name: string; dim: number; values?: Span } = { name: '', dim: 0 };
        while (ir.p < ir.end) {
          const t = ir.varint();
          if (t === 10) col.name = str(ir.span());
          else if (t === 16) col.dim = ir.varint();
          else if (t === 26) col.values = ir.span();
          else ir.skip(t & 7);
        }
        d.info.push(col);
        break;
      }
      default:
        r.skip(wire);
    }
  }
  const n = d.count;
  const check = (name: string, s: Span | undefined, len: number): void => {
    if ((s?.len ?? 0) !== len) r.fail(`${name} has ${s?.len ?? 0} bytes, expected ${len} for count ${n}`);
  };
  check('observations', d.spans.obs, n * d.obsDim * 4);
  check('actions', d.spans.act, n * d.actDim * 4);
  check('rewards', d.spans.rew, n * 4);
  check('next_observations', d.spans.nobs, n * d.obsDim * 4);
  check('terminals', d.spans.term, n);
  check('timeouts', d.spans.tout, n);
  for (const c of d.info) check(`info '${c.name}'`, c.values, n * c.dim * 4);
  return d;
}

/**
 * Append a decoded batch to `builder` (dims must match). Flags and episode ids are checked; the
 * builder is unchanged if anything is wrong (the rows are only committed at the end).
 */
export function appendDecoded(builder: DatasetBuilder, d: DecodedBatch, where = 'TransitionBatch'): void {
  if (d.obsDim !== builder.obsDim || d.actDim !== builder.actDim) {
    throw new DataError(
      `batch has obs_dim ${d.obsDim}, act_dim ${d.actDim}; the dataset has ${builder.obsDim}, ${builder.actDim}`,
      { file: where },
      'send transitions with the dataset spec dimensions, or write them to another dataset',
    );
  }
  const n = d.count;
  if (n === 0) return;
  builder.reserve(n);
  const s = builder.size;
  const b = d.bytes;
  const put = (dst: Float32Array | Uint8Array, bytesPerRow: number, span: Span | undefined): void => {
    if (!span) return;
    new Uint8Array(dst.buffer, dst.byteOffset + s * bytesPerRow, span.len).set(b.subarray(span.p, span.p + span.len));
  };
  const o = builder.obsDim;
  const a = builder.actDim;
  put(builder.observations, o * 4, d.spans.obs);
  put(builder.actions, a * 4, d.spans.act);
  put(builder.rewards, 4, d.spans.rew);
  put(builder.terminals, 1, d.spans.term);
  put(builder.timeouts, 1, d.spans.tout);
  for (const [name, col] of Object.entries(builder.info)) {
    const src = d.info.find((c) => c.name === name);
    if (src && src.dim === col.dim) put(col.data, col.dim * 4, src.values);
    else col.data.fill(0, s * col.dim, (s + n) * col.dim);
  }
  for (let i = 0; i < n; i++) {
    if (builder.terminals[s + i]! > 1 || builder.timeouts[s + i]! > 1) {
      throw new DataError('terminal/timeout flag is not 0 or 1', { file: where, row: i }, 'the data is corrupt; re-import from the source');
    }
  }
  const eps = builder.episodeIds;
  const span = d.spans.eps;
  if (span) {
    const r = new In(b, span.p, span.p + span.len, where);
    let i = 0;
    while (r.p < r.end && i < n) eps[s + i++] = r.varint();
    if (i !== n || r.p !== r.end) r.fail(`episode_ids has ${i} values, expected ${n}`);
  } else {
    eps.fill(0, s, s + n);
  }
  // next observations: read in place when 4-byte aligned, else copied once; the builder keeps
  // only those that are not the following row's observation
  const ns = d.spans.nobs!;
  const at = b.byteOffset + ns.p;
  let next: Float32Array;
  if (at % 4 === 0) next = new Float32Array(b.buffer, at, n * o);
  else {
    next = new Float32Array(n * o);
    new Uint8Array(next.buffer).set(b.subarray(ns.p, ns.p + ns.len));
  }
  builder.commit(n, next);
}

/** The bytes of a TransitionBatch with acked_below set (appended: protobuf's last value wins; 0 leaves them as they are). */
export function withAckedBelow(bytes: Uint8Array, ackedBelow: number): Uint8Array {
  if (ackedBelow <= 0) return bytes;
  const tail: number[] = [0x80, 0x01]; // the tag of field 16, wire type 0 (varint): (16 << 3) | 0 = 128
  let v = ackedBelow;
  while (v >= 128) {
    tail.push((v % 128) | 128);
    v = Math.floor(v / 128);
  }
  tail.push(v);
  const out = new Uint8Array(bytes.length + tail.length);
  out.set(bytes);
  out.set(tail, bytes.length);
  return out;
}
