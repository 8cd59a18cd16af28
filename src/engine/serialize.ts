import protobuf from 'protobufjs';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ONNX_DTYPE, type AnyTypedArray } from './dtype.js';
import type { AttrValue, GraphCore, Node, Tensor } from './graph.js';

export const IR_VERSION = 8;
export const OPSET = 17;

let root: protobuf.Root | null = null;
/** The project's subset of onnx.proto, parsed once. */
export function onnxRoot(): protobuf.Root {
  if (!root) {
    const path = fileURLToPath(new URL('./onnx.proto', import.meta.url));
    root = protobuf.parse(readFileSync(path, 'utf8'), { keepCase: true }).root;
  }
  return root;
}

export interface SerializeOptions {
  name?: string;
  docString?: string;
  /** metadata_props: the policy card travels here. */
  metadata?: Record<string, string>;
  producerVersion?: string;
}

const ATTR = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

function attrProto(name: string, v: AttrValue): Record<string, unknown> {
  if (typeof v === 'number') return { name, type: ATTR.INT, i: v };
  if (typeof v === 'string') return { name, type: ATTR.STRING, s: Buffer.from(v, 'utf8') };
  if (Array.isArray(v)) return { name, type: ATTR.INTS, ints: v };
  if ('float' in v) return { name, type: ATTR.FLOAT, f: v.float };
  return { name, type: ATTR.FLOATS, floats: v.floats };
}

function valueInfo(t: Tensor): Record<string, unknown> {
  return {
    name: t.name,
    type: {
      tensor_type: {
        elem_type: ONNX_DTYPE[t.dtype],
        shape: { dim: t.shape.map((d) => (d < 0 ? { dim_param: 'batch' } : { dim_value: d })) },
      },
    },
  };
}

function tensorProto(t: Tensor, data: AnyTypedArray): Record<string, unknown> {
  return {
    name: t.name,
    dims: t.shape,
    data_type: ONNX_DTYPE[t.dtype],
    raw_data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

/** Nodes and initializers that contribute to the graph outputs, in topological order. */
export function liveNodes(g: GraphCore): Node[] {
  const need = new Set<number>(g.outputs.map((t) => t.id));
  const keep: Node[] = [];
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (!n.outputs.some((o) => need.has(o.id))) continue;
    keep.push(n);
    for (const t of n.inputs) need.add(t.id);
  }
  return keep.reverse();
}

/** Encodes a graph as an ONNX ModelProto (IR 8, opset 17). Dead nodes are dropped. */
export function serialize(g: GraphCore, opts: SerializeOptions = {}): Uint8Array {
  if (g.outputs.length === 0) throw new Error('serialize: the graph has no outputs; declare them with g.output(name, tensor)');
  const nodes = liveNodes(g);
  const used = new Set<number>(g.outputs.map((t) => t.id));
  for (const n of nodes) for (const t of n.inputs) used.add(t.id);
  const initializers = [...g.initializers.values()].filter(({ tensor }) => used.has(tensor.id));
  const model = {
    ir_version: IR_VERSION,
    opset_import: [{ domain: '', version: OPSET }],
    producer_name: 'o2o',
    producer_version: opts.producerVersion ?? '0.1.0',
    doc_string: opts.docString ?? '',
    graph: {
      name: opts.name ?? 'o2o_graph',
      node: nodes.map((n) => ({
        name: `${n.def.onnx}_${n.index}`,
        op_type: n.def.onnx,
        domain: n.def.domain ?? '',
        input: n.inputs.map((t) => t.name),
        output: n.outputs.map((t) => t.name),
        attribute: Object.entries(n.attrs).map(([k, v]) => attrProto(k, v)),
      })),
      initializer: initializers.map(({ tensor, data }) => tensorProto(tensor, data)),
      input: g.inputs.map(valueInfo),
      output: g.outputs.map(valueInfo),
    },
    metadata_props: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
  const Model = onnxRoot().lookupType('onnx.ModelProto');
  return Model.encode(Model.fromObject(model)).finish();
}
