/**
 * ONNX export of the engine's models (docs/nn-engine.md) at opset 17, IR version 8.
 *
 * The file (`model.onnx`), format version 1 (metadata `dagbuild.onnx_format`):
 * - input `x`: float32 [N, L, F] (N symbolic), the same normalised windows the engine trains on;
 * - outputs `sign_logit` [N], `sign_prob` [N] (= Sigmoid(sign_logit)) and, for a config with
 *   `magnitude`, `magnitude` [N]: the head's output (the trainer's scaled units) times
 *   `opts.magScale` when given (then in the target's raw units; metadata
 *   `dagbuild.magnitude_scale` records the factor);
 * - metadata_props, sorted by key: `dagbuild.onnx_format`, `dagbuild.model_config` (the
 *   ModelConfig as sorted-key JSON) and every entry of the caller's `meta` (model digest, input
 *   digests, normaliser, ...).
 *
 * LSTM and GRU layers are the ONNX LSTM/GRU ops over the sequence-first input (Transpose to
 * [L, N, F]); LSTM gate blocks are reordered from our i,f,c,o to ONNX's i,o,f,c and the kernels
 * transposed to [1, gates·H, I]; the LSTM bias goes in Wb with Rb zero; the GRU runs with
 * linear_before_reset = 1 (Keras reset_after), B = [bias row 0, bias row 1]. Activations are set
 * explicitly (Sigmoid, Tanh[, Tanh]): ONNX's defaults are right, but the hard-sigmoid trap
 * (TensorFlow.js's layers) is worth ruling out in the file itself. Stacked layers chain ops,
 * Squeezing Y's num_directions axis; the last layer's Y_h feeds the heads.
 *
 * The transformer is MatMul/Add/LayerNormalization/Softmax/Relu/Reshape/Transpose, with the
 * positional encoding (learned or sinusoidal) as an initializer, and Gather (last token) or
 * ReduceMean (axes as an attribute: opset 17) for pooling.
 *
 * Same config, parameters and meta → the same bytes (fixed node names, sorted metadata).
 */
import { paramLayout, paramView, sinusoidalPositions, type ModelConfig, type RecurrentConfig, type TransformerConfig } from "../nn/config.js";
import { GraphBuilder, onnx, type AttrValue } from "./graph-builder.js";

/** The export format version, written as metadata `dagbuild.onnx_format`. */
export const ONNX_FORMAT_VERSION = 1;
/** The opset the exporter targets. */
export const ONNX_OPSET = 17;

/** Graph value names, fixed by the format (scorers read them). */
export const ONNX_NAMES = { input: "x", logit: "sign_logit", prob: "sign_prob", magnitude: "magnitude" } as const;

/** Extra metadata_props (string → string); keys may not start with `dagbuild.`. */
export type ExportMeta = Readonly<Record<string, string>>;

/** Export settings. */
export interface ExportOptions {
  /**
   * Multiply the magnitude head's output by this (the trainer's magScale), so `magnitude` is
   * in the target's raw units. Omitted: the head's output as it is (no Mul node).
   */
  readonly magScale?: number;
}

/** A bad export request (names the field). */
export class OnnxExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OnnxExportError";
  }
}

function sortedJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(sortedJson).join(",")}]`;
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${sortedJson(o[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

/** Our gate blocks as ONNX wants them: ONNX block g is our block `order[g]`, transposed to [G·H, I]. */
function gateMajor(k: Float32Array, I: number, H: number, order: readonly number[]): Float32Array {
  const G = order.length;
  const out = new Float32Array(G * H * I);
  for (let g = 0; g < G; g++) {
    for (let j = 0; j < H; j++) {
      const col = order[g]! * H + j;
      for (let i = 0; i < I; i++) out[(g * H + j) * I + i] = k[i * G * H + col]!;
    }
  }
  return out;
}

/** ONNX LSTM gate order i,o,f,c from ours i,f,c,o. */
const LSTM_ORDER = [0, 3, 1, 2] as const;
/** GRU: z,r,h in both. */
const GRU_ORDER = [0, 1, 2] as const;

function recurrentGraph(g: GraphBuilder, c: RecurrentConfig, view: (name: string) => Float32Array): string {
  const H = c.units;
  const lstm = c.kind === "lstm";
  let seq = g.op("Transpose", [ONNX_NAMES.input], { perm: { ints: [1, 0, 2] } }, "x_seq_first"); // [L, N, F]
  let yh = "";
  for (let l = 0; l < c.layers; l++) {
    const I = l === 0 ? c.n_features : H;
    const p = `${c.kind}${l}`;
    const order = lstm ? LSTM_ORDER : GRU_ORDER;
    const G = order.length;
    const W = g.float(`${p}.W`, [1, G * H, I], gateMajor(view(`${p}.kernel`), I, H, order));
    const R = g.float(`${p}.R`, [1, G * H, H], gateMajor(view(`${p}.recurrent_kernel`), H, H, order));
    const bias = view(`${p}.bias`);
    const B = new Float32Array(2 * G * H); // [Wb, Rb]
    if (lstm) {
      for (let q = 0; q < 4; q++) B.set(bias.subarray(order[q]! * H, (order[q]! + 1) * H), q * H);
    } else {
      B.set(bias); // [2, 3H] row-major: row 0 = Wb, row 1 = Rb, both z,r,h
    }
    const Bn = g.float(`${p}.B`, [1, 2 * G * H], B);
    const last = l === c.layers - 1;
    const attrs: Record<string, AttrValue> = lstm
      ? { hidden_size: { i: H }, direction: { s: "forward" }, activations: { strings: ["Sigmoid", "Tanh", "Tanh"] } }
      : { hidden_size: { i: H }, direction: { s: "forward" }, activations: { strings: ["Sigmoid", "Tanh"] }, linear_before_reset: { i: 1 } };
    const [y, h] = g.node(lstm ? "LSTM" : "GRU", [seq, W, R, Bn], last ? ["", `${p}_Y_h`] : [`${p}_Y`, `${p}_Y_h`], attrs);
    yh = h!;
    if (!last) seq = g.op("Squeeze", [y!, g.int64(`${p}.squeeze_axes`, [1], [1])], {}, `${p}_seq`); // [L, 1, N, H] → [L, N, H]
  }
  return g.op("Squeeze", [yh, g.int64("last_h.squeeze_axes", [1], [0])], {}, "last_h"); // [1, N, H] → [N, H]
}

function transformerGraph(g: GraphBuilder, c: TransformerConfig, name: (n: string) => string): string {
  const { seq_len: L, d_model: D, heads } = c;
  const dh = D / heads;
  const dense = (x: string, k: string, b: string) => g.op("Add", [g.op("MatMul", [x, name(k)]), name(b)]);
  const ln = (x: string, p: string) => g.op("LayerNormalization", [x, name(`${p}.gamma`), name(`${p}.beta`)], { axis: { i: -1 }, epsilon: { f: 1e-5 } });
  let x = dense(ONNX_NAMES.input, "proj.kernel", "proj.bias"); // [N, L, D]
  const pos = c.pos === "learned" ? name("pos.embedding") : g.float("pos.sinusoidal", [L, D], sinusoidalPositions(L, D));
  x = g.op("Add", [x, pos]);
  const headsShape = g.int64("shape.heads", [4], [0, 0, heads, dh]);
  const mergeShape = g.int64("shape.merge", [3], [0, 0, D]);
  const scale = g.float("attn.sqrt_dh", [], Float32Array.of(Math.sqrt(dh)));
  for (let l = 0; l < c.layers; l++) {
    const p = `enc${l}`;
    const a = ln(x, `${p}.ln1`);
    const split = (w: string, perm: number[]) => g.op("Transpose", [g.op("Reshape", [dense(a, `${p}.attn.w${w}`, `${p}.attn.b${w}`), headsShape])], { perm: { ints: perm } });
    const q = split("q", [0, 2, 1, 3]); // [N, h, L, dh]
    const kt = split("k", [0, 2, 3, 1]); // [N, h, dh, L]
    const v = split("v", [0, 2, 1, 3]);
    const scores = g.op("Div", [g.op("MatMul", [q, kt]), scale]);
    const ctx = g.op("MatMul", [g.op("Softmax", [scores], { axis: { i: -1 } }), v]); // [N, h, L, dh]
    const merged = g.op("Reshape", [g.op("Transpose", [ctx], { perm: { ints: [0, 2, 1, 3] } }), mergeShape]);
    x = g.op("Add", [x, dense(merged, `${p}.attn.wo`, `${p}.attn.bo`)]);
    const b = ln(x, `${p}.ln2`);
    const hidden = g.op("Relu", [dense(b, `${p}.ff1.kernel`, `${p}.ff1.bias`)]);
    x = g.op("Add", [x, dense(hidden, `${p}.ff2.kernel`, `${p}.ff2.bias`)]);
  }
  x = ln(x, "final_ln");
  if (c.pool === "last") return g.op("Gather", [x, g.int64("pool.last_index", [], [L - 1])], { axis: { i: 1 } }, "pooled"); // [N, D]
  return g.op("ReduceMean", [x], { axes: { ints: [1] }, keepdims: { i: 0 } }, "pooled");
}

/**
 * The ONNX model for `config` with `flatParams` (paramLayout order), as deterministic bytes.
 * `meta` goes into metadata_props (keys must not start with `dagbuild.`, which the format uses).
 */
export function exportOnnx(config: ModelConfig, flatParams: Float32Array, meta: ExportMeta = {}, opts: ExportOptions = {}): Uint8Array {
  const layout = paramLayout(config);
  if (flatParams.length !== layout.total) throw new OnnxExportError(`flatParams has ${flatParams.length} floats; the ${config.kind} config needs ${layout.total}`);
  for (const k of Object.keys(meta)) if (k.startsWith("dagbuild.")) throw new OnnxExportError(`meta key "${k}": the dagbuild. prefix is reserved for the format's own metadata`);
  const g = new GraphBuilder();
  const view = (n: string) => paramView(layout, flatParams, n);
  // Parameters used as they are become initializers under their own names, on first use.
  const used = new Set<string>();
  const name = (n: string) => {
    if (!used.has(n)) {
      used.add(n);
      g.float(n, layout.specs.find((s) => s.name === n)!.shape, view(n));
    }
    return n;
  };
  const { seq_len: L, n_features: F } = config;
  g.io("input", ONNX_NAMES.input, ["N", L, F]);
  const rep = config.kind === "transformer" ? transformerGraph(g, config, name) : recurrentGraph(g, config, view);
  const flatShape = g.int64("shape.flat", [1], [-1]);
  const head = (p: string, out: string) => g.op("Reshape", [g.op("Add", [g.op("MatMul", [rep, name(`${p}.kernel`)]), name(`${p}.bias`)]), flatShape], {}, out);
  head("head_sign", ONNX_NAMES.logit);
  g.op("Sigmoid", [ONNX_NAMES.logit], {}, ONNX_NAMES.prob);
  g.io("output", ONNX_NAMES.logit, ["N"]);
  g.io("output", ONNX_NAMES.prob, ["N"]);
  const props: Record<string, string> = { ...meta, "dagbuild.onnx_format": String(ONNX_FORMAT_VERSION), "dagbuild.model_config": sortedJson(config) };
  if (opts.magScale !== undefined && !(Number.isFinite(opts.magScale) && opts.magScale > 0)) throw new OnnxExportError(`opts.magScale must be a positive finite number (got ${opts.magScale})`);
  if (config.magnitude) {
    if (opts.magScale === undefined) head("head_mag", ONNX_NAMES.magnitude);
    else {
      const scaled = head("head_mag", "magnitude_scaled");
      g.op("Mul", [scaled, g.float("magnitude.scale", [], Float32Array.of(opts.magScale))], {}, ONNX_NAMES.magnitude);
      props["dagbuild.magnitude_scale"] = String(opts.magScale);
    }
    g.io("output", ONNX_NAMES.magnitude, ["N"]);
  }
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: "", version: ONNX_OPSET }],
    producerName: "dagbuild",
    producerVersion: String(ONNX_FORMAT_VERSION),
    modelVersion: 1,
    docString: `dagbuild ${config.kind} model (docs/nn-engine.md)`,
    graph: g.graph(`dagbuild_${config.kind}`, `input x [N, ${L}, ${F}]; outputs sign_logit, sign_prob${config.magnitude ? ", magnitude" : ""}`),
    metadataProps: Object.keys(props)
      .sort()
      .map((key) => ({ key, value: props[key]! })),
  });
  return onnx.ModelProto.encode(model).finish();
}

/** The metadata_props of an exported model (for tests and for the scorer's digest check). */
export function onnxMetadata(bytes: Uint8Array): Record<string, string> {
  const m = onnx.ModelProto.decode(bytes);
  return Object.fromEntries(m.metadataProps.map((e) => [e.key, e.value]));
}
