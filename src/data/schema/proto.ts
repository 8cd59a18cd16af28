/**
 * The o2o.proto schema loaded with protobufjs, and its FileDescriptorSet (what MCAP channels embed
 * as their schema with encoding 'protobuf', so Foxglove and `mcap` tools decode our messages).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import descriptorExt from 'protobufjs/ext/descriptor/index.js';

export const PROTO_PATH = fileURLToPath(new URL('./o2o.proto', import.meta.url));

let cachedRoot: protobuf.Root | undefined;
let cachedFds: Uint8Array | undefined;

/** The parsed schema (field names as written in the .proto, snake_case). */
export function o2oRoot(): protobuf.Root {
  if (!cachedRoot) {
    const src = readFileSync(PROTO_PATH, 'utf8');
    cachedRoot = protobuf.parse(src, { keepCase: true }).root;
    cachedRoot.resolveAll();
  }
  return cachedRoot;
}

export function o2oType(name: 'TransitionBatch' | 'RobotStatus' | 'PolicyUpdate' | 'InfoColumn' | 'Observation' | 'Action' | 'TransitionAck'): protobuf.Type {
  return o2oRoot().lookupType(`o2o.${name}`);
}

interface FieldDesc {
  options?: { packed?: boolean } | null;
}
interface MsgDesc {
  field?: FieldDesc[];
  nestedType?: MsgDesc[];
}

/** Serialized google.protobuf.FileDescriptorSet of o2o.proto. */
export function o2oFileDescriptorSet(): Uint8Array {
  if (!cachedFds) {
    const ext = descriptorExt as unknown as {
      FileDescriptorSet: { encode(m: unknown): { finish(): Uint8Array } };
    };
    const root = o2oRoot() as unknown as { toDescriptor(syntax: string): { file: { name?: string; messageType?: MsgDesc[] }[] } };
    const fds = root.toDescriptor('proto3');
    // protobufjs marks proto3 fields `packed = false` when it cannot see the default; proto3
    // repeated scalars are packed, which is what we write, so drop the explicit option.
    const strip = (m: MsgDesc): void => {
      for (const f of m.field ?? []) if (f.options && f.options.packed === false) f.options = null;
      for (const n of m.nestedType ?? []) strip(n);
    };
    for (const file of fds.file) {
      file.name = 'o2o.proto';
      for (const m of file.messageType ?? []) strip(m);
    }
    cachedFds = ext.FileDescriptorSet.encode(fds).finish();
  }
  return cachedFds;
}
