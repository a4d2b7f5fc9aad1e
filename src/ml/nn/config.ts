/**
 * Model configs and their parameter layout (docs/nn-engine.md): the one place that says which
 * named tensors a model has, in which order, and how they start. The C kernels, the TensorFlow.js
 * reference, the ONNX exporter and weights.safetensors all read the layout from here.
 */
import { mulberry32 } from "../../engine/prng.js";

/** A recurrent model: stacked LSTM or GRU layers, the last hidden state feeds the heads. */
export interface RecurrentConfig {
  readonly kind: "lstm" | "gru";
  readonly seq_len: number;
  readonly n_features: number;
  readonly units: number;
  readonly layers: 1 | 2;
  /** Train a magnitude head beside the sign head (`task: both`). */
  readonly magnitude: boolean;
  /** Dropout rate in [0, 1) on each layer's output, training only (absent = 0; docs/nn-engine.md "Dropout"). */
  readonly dropout?: number;
}

/** A small pre-LN transformer encoder. */
export interface TransformerConfig {
  readonly kind: "transformer";
  readonly seq_len: number;
  readonly n_features: number;
  readonly d_model: number;
  readonly heads: number;
  readonly layers: number;
  readonly ff: number;
  readonly pos: "learned" | "sinusoidal";
  readonly pool: "last" | "mean";
  readonly magnitude: boolean;
  /** Dropout rate in [0, 1) on the attention and feed-forward outputs, training only (absent = 0). */
  readonly dropout?: number;
}

/** Every model the engine trains. */
export type ModelConfig = RecurrentConfig | TransformerConfig;

/** One named parameter tensor. `init` says how it starts (see initParams). */
export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: "glorot" | "zeros" | "ones" | "lstm_bias" | "normal_0.02";
}

/** The width of the representation that feeds the heads. */
export function headWidth(c: ModelConfig): number {
  return c.kind === "transformer" ? c.d_model : c.units;
}

function recurrentSpecs(c: RecurrentConfig): ParamSpec[] {
  const g = c.kind === "lstm" ? 4 : 3;
  const out: ParamSpec[] = [];
  for (let l = 0; l < c.layers; l++) {
    const I = l === 0 ? c.n_features : c.units;
    const p = `${c.kind}${l}`;
    out.push({ name: `${p}.kernel`, shape: [I, g * c.units], init: "glorot" });
    out.push({ name: `${p}.recurrent_kernel`, shape: [c.units, g * c.units], init: "glorot" });
    // LSTM: forget-gate bias 1 (Jozefowicz et al.), as Keras' unit_forget_bias.
    out.push(c.kind === "lstm" ? { name: `${p}.bias`, shape: [4 * c.units], init: "lstm_bias" } : { name: `${p}.bias`, shape: [2, 3 * c.units], init: "zeros" });
  }
  return out;
}

function transformerSpecs(c: TransformerConfig): ParamSpec[] {
  const D = c.d_model;
  const out: ParamSpec[] = [
    { name: "proj.kernel", shape: [c.n_features, D], init: "glorot" },
    { name: "proj.bias", shape: [D], init: "zeros" },
  ];
  if (c.pos === "learned") out.push({ name: "pos.embedding", shape: [c.seq_len, D], init: "normal_0.02" });
  for (let l = 0; l < c.layers; l++) {
    const p = `enc${l}`;
    out.push(
      { name: `${p}.ln1.gamma`, shape: [D], init: "ones" },
      { name: `${p}.ln1.beta`, shape: [D], init: "zeros" },
    );
    for (const w of ["q", "k", "v", "o"]) {
      out.push({ name: `${p}.attn.w${w}`, shape: [D, D], init: "glorot" }, { name: `${p}.attn.b${w}`, shape: [D], init: "zeros" });
    }
    out.push(
      { name: `${p}.ln2.gamma`, shape: [D], init: "ones" },
      { name: `${p}.ln2.beta`, shape: [D], init: "zeros" },
      { name: `${p}.ff1.kernel`, shape: [D, c.ff], init: "glorot" },
      { name: `${p}.ff1.bias`, shape: [c.ff], init: "zeros" },
      { name: `${p}.ff2.kernel`, shape: [c.ff, D], init: "glorot" },
      { name: `${p}.ff2.bias`, shape: [D], init: "zeros" },
    );
  }
  out.push({ name: "final_ln.gamma", shape: [D], init: "ones" }, { name: "final_ln.beta", shape: [D], init: "zeros" });
  return out;
}

/** The model's parameters, in flat-vector order. */
export function paramSpecs(c: ModelConfig): ParamSpec[] {
  const body = c.kind === "transformer" ? transformerSpecs(c) : recurrentSpecs(c);
  const W = headWidth(c);
  body.push({ name: "head_sign.kernel", shape: [W, 1], init: "glorot" }, { name: "head_sign.bias", shape: [1], init: "zeros" });
  if (c.magnitude) body.push({ name: "head_mag.kernel", shape: [W, 1], init: "glorot" }, { name: "head_mag.bias", shape: [1], init: "zeros" });
  return body;
}

/** Where each named tensor sits in the flat vector. */
export interface ParamLayout {
  readonly specs: readonly ParamSpec[];
  readonly offsets: ReadonlyMap<string, number>;
  readonly total: number;
}

/** Offsets of every tensor in the flat parameter vector. */
export function paramLayout(c: ModelConfig): ParamLayout {
  const specs = paramSpecs(c);
  const offsets = new Map<string, number>();
  let at = 0;
  for (const s of specs) {
    offsets.set(s.name, at);
    at += s.shape.reduce((a, b) => a * b, 1);
  }
  return { specs, offsets, total: at };
}

/** A view of one named tensor inside a flat vector. */
export function paramView(layout: ParamLayout, flat: Float32Array, name: string): Float32Array {
  const at = layout.offsets.get(name);
  const spec = layout.specs.find((s) => s.name === name);
  if (at === undefined || !spec) throw new Error(`model has no parameter "${name}"`);
  return flat.subarray(at, at + spec.shape.reduce((a, b) => a * b, 1));
}


/**
 * Initial parameters: Glorot-uniform kernels (fan-in and fan-out of the [in, out] matrix; for
 * recurrent kernels the gate blocks count as the fan-out), zero biases, LSTM forget bias 1,
 * layer-norm gains 1, learned positions N(0, 0.02). Deterministic in `seed`.
 */
export function initParams(c: ModelConfig, seed: number): Float32Array {
  const layout = paramLayout(c);
  const flat = new Float32Array(layout.total);
  const rand = mulberry32(seed);
  for (const s of layout.specs) {
    const v = paramView(layout, flat, s.name);
    switch (s.init) {
      case "glorot": {
        const [fanIn, fanOut] = [s.shape[0]!, s.shape[1] ?? 1];
        const lim = Math.sqrt(6 / (fanIn + fanOut));
        for (let i = 0; i < v.length; i++) v[i] = (rand() * 2 - 1) * lim;
        break;
      }
      case "ones":
        v.fill(1);
        break;
      case "lstm_bias": {
        const H = v.length / 4;
        v.fill(0);
        v.subarray(H, 2 * H).fill(1);
        break;
      }
      case "normal_0.02":
        for (let i = 0; i < v.length; i++) {
          // Box-Muller from two uniforms in (0, 1].
          const u = 1 - rand();
          const w = rand();
          v[i] = 0.02 * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * w);
        }
        break;
      case "zeros":
        break;
    }
  }
  return flat;
}

/** Sinusoidal positional encoding [L, D] (docs/nn-engine.md). */
export function sinusoidalPositions(L: number, D: number): Float32Array {
  const pe = new Float32Array(L * D);
  for (let t = 0; t < L; t++) {
    for (let i = 0; i < D; i += 2) {
      const angle = t / Math.pow(10000, i / D);
      pe[t * D + i] = Math.sin(angle);
      if (i + 1 < D) pe[t * D + i + 1] = Math.cos(angle);
    }
  }
  return pe;
}

/** A config's structural problems, or none (heads must divide d_model, and so on). */
export function configProblems(c: ModelConfig): string[] {
  const p: string[] = [];
  const pos = (k: string, v: number) => {
    if (!Number.isInteger(v) || v < 1) p.push(`${k} must be a positive integer (got ${v})`);
  };
  pos("seq_len", c.seq_len);
  pos("n_features", c.n_features);
  if (c.dropout !== undefined && !(typeof c.dropout === "number" && c.dropout >= 0 && c.dropout < 1))
    p.push(`dropout must be a rate in [0, 1) (got ${JSON.stringify(c.dropout)})`);
  if (c.kind === "transformer") {
    pos("d_model", c.d_model);
    pos("heads", c.heads);
    pos("layers", c.layers);
    pos("ff", c.ff);
    if (c.d_model % c.heads !== 0) p.push(`heads (${c.heads}) must divide d_model (${c.d_model})`);
  } else {
    pos("units", c.units);
    if (c.layers !== 1 && c.layers !== 2) p.push(`layers must be 1 or 2 (got ${c.layers})`);
  }
  return p;
}
