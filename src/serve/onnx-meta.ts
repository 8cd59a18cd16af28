/**
 * Reads what serving needs from an ONNX file without decoding its graph: the top-level fields of
 * ModelProto with their byte ranges, and metadata_props (field 14) as key/value pairs. The byte
 * ranges let the artifact hash exclude its own `o2o.sha256` entry wherever a tool placed it.
 */
import protobuf from 'protobufjs';

interface TopField {
  field: number;
  start: number;
  end: number;
}

interface MetadataEntry {
  key: string;
  value: string;
  start: number;
  end: number;
}

export interface OnnxOutline {
  fields: TopField[];
  metadata: MetadataEntry[];
  irVersion: number;
  producer: string;
}

export class ArtifactError extends Error {
  override name = 'ArtifactError';
}

function readEntry(bytes: Uint8Array): { key: string; value: string } {
  const r = protobuf.Reader.create(bytes);
  let key = '';
  let value = '';
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === 2) key = r.string();
    else if (tag >>> 3 === 2 && (tag & 7) === 2) value = r.string();
    else r.skipType(tag & 7);
  }
  return { key, value };
}

/** Walks the top level of a ModelProto. Throws ArtifactError (with `where`) on bytes that are not protobuf. */
export function outlineOnnx(bytes: Uint8Array, where: string): OnnxOutline {
  const r = protobuf.Reader.create(bytes);
  const fields: TopField[] = [];
  const metadata: MetadataEntry[] = [];
  let irVersion = 0;
  let producer = '';
  try {
    while (r.pos < r.len) {
      const start = r.pos;
      const tag = r.uint32();
      const field = tag >>> 3;
      const wire = tag & 7;
      if (field === 0) throw new Error(`invalid field number 0 at byte ${start}`);
      if (field === 1 && wire === 0) irVersion = Number(r.int64());
      else if (field === 2 && wire === 2) producer = r.string();
      else if (field === 14 && wire === 2) {
        const body = r.bytes();
        metadata.push({ ...readEntry(body), start, end: r.pos });
      } else r.skipType(wire);
      fields.push({ field, start, end: r.pos });
    }
  } catch (e) {
    throw new ArtifactError(`${where}: not an ONNX model (${(e as Error).message}); export it again with 'o2o export' or torch.onnx.export`);
  }
  if (!fields.some((f) => f.field === 7)) throw new ArtifactError(`${where}: not an ONNX model (no graph field); check that the file is a .onnx policy`);
  return { fields, metadata, irVersion, producer };
}

/** Appends metadata_props entries (field 14) to encoded model bytes. */
export function appendMetadata(bytes: Uint8Array, entries: Record<string, string>): Uint8Array {
  const w = protobuf.Writer.create();
  for (const [key, value] of Object.entries(entries)) {
    w.uint32((14 << 3) | 2).fork();
    w.uint32((1 << 3) | 2).string(key);
    w.uint32((2 << 3) | 2).string(value);
    w.ldelim();
  }
  const tail = w.finish();
  const out = new Uint8Array(bytes.length + tail.length);
  out.set(bytes, 0);
  out.set(tail, bytes.length);
  return out;
}
