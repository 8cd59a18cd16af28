/**
 * Protobuf codecs for the control path (o2o.proto Observation / Action), hand-written so decoding
 * writes into preallocated buffers: no message objects, no arrays per message. They produce and
 * accept exactly the wire format protobufjs and protoc use (tested against both). The rarer
 * messages (RobotStatus, PolicyUpdate, TransitionBatch) go through protobufjs (see src/data/schema).
 */

export class CodecError extends Error {
  override name = 'CodecError';
}

export interface ControlHeader {
  robotId: string;
  sequence: number;
  /** Nanoseconds since the Unix epoch (a float: exact to ~256 ns at today's dates). */
  timeUnixNs: number;
}

/** Observation fields besides its values. */
export interface ObservationFields extends ControlHeader {
  reward: number;
  terminated: boolean;
  truncated: boolean;
  episode: number;
}

/** Action fields besides its values. */
export interface ActionFields extends ControlHeader {
  policyVersion: string;
  safe: boolean;
  faults: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

class Writer {
  buf: Uint8Array;
  view: DataView;
  pos = 0;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }
  varint(v: number): void {
    // Exact for non-negative integers up to 2^64 that are representable as doubles.
    while (v >= 128) {
      this.buf[this.pos++] = (v % 128) | 128;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }
  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }
  string(field: number, s: string): void {
    if (!s) return;
    const b = enc.encode(s);
    this.tag(field, 2);
    this.varint(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  uint(field: number, v: number): void {
    if (!v) return;
    this.tag(field, 0);
    this.varint(v);
  }
  bool(field: number, v: boolean): void {
    if (!v) return;
    this.tag(field, 0);
    this.varint(1);
  }
  float(field: number, v: number): void {
    if (v === 0 && !Object.is(v, -0)) return;
    this.tag(field, 5);
    this.view.setFloat32(this.pos, v, true);
    this.pos += 4;
  }
  floats(field: number, v: ArrayLike<number>, n: number): void {
    if (!n) return;
    this.tag(field, 2);
    this.varint(4 * n);
    for (let i = 0; i < n; i++, this.pos += 4) this.view.setFloat32(this.pos, v[i]!, true);
  }
}

function maxSize(n: number, strings: string): number {
  return 64 + 4 * n + 3 * strings.length;
}

/** Encodes an Observation (a fresh buffer: MQTT keeps payloads until the socket takes them). */
export function encodeObservation(f: ObservationFields, values: ArrayLike<number>, n = values.length): Uint8Array {
  const w = new Writer(maxSize(n, f.robotId));
  w.string(1, f.robotId);
  w.uint(2, f.sequence);
  w.uint(3, f.timeUnixNs);
  w.floats(4, values, n);
  w.float(5, f.reward);
  w.bool(6, f.terminated);
  w.bool(7, f.truncated);
  w.uint(8, f.episode);
  return w.buf.subarray(0, w.pos);
}

export function encodeAction(f: ActionFields, values: ArrayLike<number>, n = values.length): Uint8Array {
  const w = new Writer(maxSize(n, f.robotId + f.policyVersion));
  w.string(1, f.robotId);
  w.uint(2, f.sequence);
  w.uint(3, f.timeUnixNs);
  w.floats(4, values, n);
  w.string(5, f.policyVersion);
  w.bool(6, f.safe);
  w.uint(7, f.faults);
  return w.buf.subarray(0, w.pos);
}

/**
 * Decodes Observation / Action messages into reused storage: `values` (length = expected dim)
 * and `fields`. decode() returns the number of values found (which may differ from the expected
 * dim: the caller decides; extra values are counted, not written) and throws CodecError on
 * malformed bytes — never an uncaught RangeError from a short buffer.
 */
class ControlDecoder<F extends ControlHeader> {
  readonly values: Float32Array;
  private lastIdBytes: Uint8Array = new Uint8Array(0);
  private bytes: Uint8Array = new Uint8Array(0);
  private where = '';
  private pos = 0;

  private varint(): number {
    const bytes = this.bytes;
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= bytes.length) throw new CodecError(`${this.where}: message cut inside a varint at byte ${this.pos}`);
      const b = bytes[this.pos++]!;
      v += (b & 127) * mul;
      if (b < 128) return v;
      mul *= 128;
    }
    throw new CodecError(`${this.where}: varint longer than 10 bytes at byte ${this.pos}`);
  }

  constructor(
    dim: number,
    readonly fields: F,
    private readonly scalar: (f: F, field: number, wire: number, v: number) => void,
    private readonly str: (f: F, field: number, s: string) => void,
  ) {
    this.values = new Float32Array(dim);
  }

  decode(bytes: Uint8Array, where: string): number {
    const f = this.fields;
    f.robotId = f.robotId ?? '';
    f.sequence = 0;
    f.timeUnixNs = 0;
    this.scalar(f, 0, -1, 0); // reset message-specific fields
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const len = bytes.length;
    this.bytes = bytes;
    this.where = where;
    this.pos = 0;
    let count = 0;
    let sawId = false;
    while (this.pos < len) {
      const tag = this.varint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (field === 0) throw new CodecError(`${where}: field number 0 at byte ${this.pos}; not an o2o message`);
      if (wire === 0) {
        const v = this.varint();
        if (field === 2) f.sequence = v;
        else if (field === 3) f.timeUnixNs = v;
        else this.scalar(f, field, 0, v);
      } else if (wire === 5) {
        if (this.pos + 4 > len) throw new CodecError(`${where}: message cut inside a float at byte ${this.pos}`);
        if (field === 4) {
          if (count < this.values.length) this.values[count] = view.getFloat32(this.pos, true);
          count++;
        } else this.scalar(f, field, 5, view.getFloat32(this.pos, true));
        this.pos += 4;
      } else if (wire === 2) {
        const n = this.varint();
        if (this.pos + n > len) throw new CodecError(`${where}: field ${field} claims ${n} bytes, ${len - this.pos} left; the message was cut`);
        if (field === 4) {
          if (n % 4) throw new CodecError(`${where}: packed floats of ${n} bytes (not a multiple of 4)`);
          for (let e = this.pos + n; this.pos < e; this.pos += 4, count++) if (count < this.values.length) this.values[count] = view.getFloat32(this.pos, true);
        } else if (field === 1) {
          // Robot ids repeat on every message: decode only when the bytes change.
          const idb = bytes.subarray(this.pos, this.pos + n);
          if (!sameBytes(idb, this.lastIdBytes)) {
            f.robotId = dec.decode(idb);
            this.lastIdBytes = Uint8Array.from(idb);
          }
          sawId = true;
          this.pos += n;
        } else {
          this.str(f, field, dec.decode(bytes.subarray(this.pos, this.pos + n)));
          this.pos += n;
        }
      } else if (wire === 1) this.pos += 8;
      else throw new CodecError(`${where}: unsupported wire type ${wire} for field ${field}; not an o2o message`);
    }
    if (this.pos > len) throw new CodecError(`${where}: message cut at byte ${len}`);
    if (!sawId) {
      f.robotId = '';
      this.lastIdBytes = new Uint8Array(0);
    }
    return count;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class ObservationDecoder extends ControlDecoder<ObservationFields> {
  constructor(dim: number) {
    super(
      dim,
      { robotId: '', sequence: 0, timeUnixNs: 0, reward: 0, terminated: false, truncated: false, episode: 0 },
      (f, field, wire, v) => {
        if (wire === -1) {
          f.reward = 0;
          f.terminated = false;
          f.truncated = false;
          f.episode = 0;
        } else if (field === 5 && wire === 5) f.reward = v;
        else if (field === 6 && wire === 0) f.terminated = v !== 0;
        else if (field === 7 && wire === 0) f.truncated = v !== 0;
        else if (field === 8 && wire === 0) f.episode = v;
      },
      () => {},
    );
  }
}

export class ActionDecoder extends ControlDecoder<ActionFields> {
  constructor(dim: number) {
    super(
      dim,
      { robotId: '', sequence: 0, timeUnixNs: 0, policyVersion: '', safe: false, faults: 0 },
      (f, field, wire, v) => {
        if (wire === -1) {
          f.safe = false;
          f.faults = 0;
          f.policyVersion = '';
        } else if (field === 6 && wire === 0) f.safe = v !== 0;
        else if (field === 7 && wire === 0) f.faults = v;
      },
      (f, field, s) => {
        if (field === 5) f.policyVersion = s;
      },
    );
  }
}

/** Wall-clock nanoseconds since the Unix epoch, as a float (performance.timeOrigin-based: sub-µs resolution). */
export function nowUnixNs(): number {
  return (performance.timeOrigin + performance.now()) * 1e6;
}
