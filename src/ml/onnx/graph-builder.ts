/**
 * A small builder for ONNX graphs over onnx-proto's generated protobufjs classes: nodes with
 * typed attributes, float32/int64 initializers stored as raw little-endian bytes, and graph
 * inputs/outputs with symbolic dimensions. Node and tensor names come from the caller, and
 * protobufjs writes fields in a fixed order, so the same calls always encode to the same bytes.
 */
import onnxProto from "onnx-proto";

/** The generated `onnx` namespace (ModelProto, GraphProto, ...). */
export const onnx = (onnxProto as unknown as typeof import("onnx-proto")).onnx;
type Proto = typeof onnx;

/** An attribute value: numbers are INT when integral and `int` is asked for, see `attr`. */
export type AttrValue = { f: number } | { i: number } | { s: string } | { ints: readonly number[] } | { floats: readonly number[] } | { strings: readonly string[] };

const utf8 = (s: string) => new TextEncoder().encode(s);

function attribute(name: string, v: AttrValue): InstanceType<Proto["AttributeProto"]> {
  const T = onnx.AttributeProto.AttributeType;
  if ("f" in v) return onnx.AttributeProto.create({ name, type: T.FLOAT, f: v.f });
  if ("i" in v) return onnx.AttributeProto.create({ name, type: T.INT, i: v.i });
  if ("s" in v) return onnx.AttributeProto.create({ name, type: T.STRING, s: utf8(v.s) });
  if ("ints" in v) return onnx.AttributeProto.create({ name, type: T.INTS, ints: [...v.ints] });
  if ("floats" in v) return onnx.AttributeProto.create({ name, type: T.FLOATS, floats: [...v.floats] });
  return onnx.AttributeProto.create({ name, type: T.STRINGS, strings: v.strings.map(utf8) });
}

/** A graph under construction. */
export class GraphBuilder {
  private readonly nodes: InstanceType<Proto["NodeProto"]>[] = [];
  private readonly inits: InstanceType<Proto["TensorProto"]>[] = [];
  private readonly initNames = new Set<string>();
  private readonly inputs: InstanceType<Proto["ValueInfoProto"]>[] = [];
  private readonly outputs: InstanceType<Proto["ValueInfoProto"]>[] = [];
  private counter = 0;

  /** A fresh value name with a readable prefix (`prefix_<n>`), unique in the graph. */
  fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  /** Adds a float32 initializer (raw little-endian bytes); returns its name. */
  float(name: string, dims: readonly number[], data: Float32Array): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new Error(`initializer ${name}: ${data.length} floats for shape [${dims.join(", ")}]`);
    const le = new Uint8Array(n * 4);
    const dv = new DataView(le.buffer);
    for (let i = 0; i < n; i++) dv.setFloat32(i * 4, data[i]!, true);
    return this.addInit(onnx.TensorProto.create({ name, dims: [...dims], dataType: onnx.TensorProto.DataType.FLOAT, rawData: le }));
  }

  /** Adds an int64 initializer (shapes, axes, indices); returns its name. */
  int64(name: string, dims: readonly number[], data: readonly number[]): string {
    const le = new Uint8Array(data.length * 8);
    const dv = new DataView(le.buffer);
    data.forEach((v, i) => dv.setBigInt64(i * 8, BigInt(v), true));
    return this.addInit(onnx.TensorProto.create({ name, dims: [...dims], dataType: onnx.TensorProto.DataType.INT64, rawData: le }));
  }

  private addInit(t: InstanceType<Proto["TensorProto"]>): string {
    if (this.initNames.has(t.name)) throw new Error(`initializer ${t.name} defined twice`);
    this.initNames.add(t.name);
    this.inits.push(t);
    return t.name;
  }

  /** Appends a node; returns its output names (`outputs` many fresh names unless named). */
  node(op: string, inputs: readonly string[], outputs: number | readonly string[] = 1, attrs: Readonly<Record<string, AttrValue>> = {}): string[] {
    const outs = typeof outputs === "number" ? Array.from({ length: outputs }, () => this.fresh(op.toLowerCase())) : [...outputs];
    const attribute_ = Object.keys(attrs)
      .sort()
      .map((k) => attribute(k, attrs[k]!));
    this.nodes.push(onnx.NodeProto.create({ opType: op, name: `${op}_${this.nodes.length}`, input: [...inputs], output: outs, attribute: attribute_ }));
    return outs;
  }

  /** Shorthand for a one-output node. */
  op(op: string, inputs: readonly string[], attrs: Readonly<Record<string, AttrValue>> = {}, out?: string): string {
    return this.node(op, inputs, out ? [out] : 1, attrs)[0]!;
  }

  /** Declares a float32 graph input or output; string dims are symbolic (e.g. "N"). */
  io(kind: "input" | "output", name: string, dims: readonly (number | string)[]): void {
    const shape = onnx.TensorShapeProto.create({ dim: dims.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d })) });
    const v = onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape } } });
    (kind === "input" ? this.inputs : this.outputs).push(v);
  }

  /** The finished GraphProto. */
  graph(name: string, docString: string): InstanceType<Proto["GraphProto"]> {
    return onnx.GraphProto.create({ name, docString, node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs });
  }
}
