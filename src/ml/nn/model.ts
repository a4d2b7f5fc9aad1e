/**
 * The model graphs of the CPU engine (docs/nn-engine.md): for each config kind, the forward
 * and backward pass over one chunk of at most `chunk` samples, as a fixed list of kernel calls
 * on one arena. Every activation, cache and gradient buffer is allocated once per (config,
 * chunk); a call list is built once per chunk length (full chunks and the batch's short tail),
 * so a training step allocates nothing and runs the same float operations in the same order
 * every time.
 *
 * Layout of the arena: the parameters [P] and their gradient [P] in paramLayout order, then
 * the chunk's inputs, then the activations. Kernels write input gradients and accumulate
 * parameter gradients, so a chunk starts by zeroing its gradient region.
 */
import { headWidth, paramLayout, sinusoidalPositions, type ModelConfig, type ParamLayout, type RecurrentConfig, type TransformerConfig } from "./config.js";
import { dropoutRate, dropoutScale, type DropoutMask } from "./dropout.js";
import { gruBwdScratchFloats, gruCacheFloats, loadKernels, lstmBwdScratchFloats, lstmCacheFloats, type Arena } from "./kernels.js";

/** A kernel build: the N-API addon or the WebAssembly module. */
export type Backend = "native" | "wasm";

/** Samples per chunk of data parallelism unless told otherwise (docs/nn-engine.md). */
export const DEFAULT_CHUNK = 32;

/** Options of a chunk model. */
export interface ChunkModelOptions {
  readonly backend: Backend | "auto";
  /** The most samples one call handles. */
  readonly chunk: number;
  readonly magnitudeLoss: "huber" | "mse";
  readonly magnitudeWeight: number;
}

/** Summed (not averaged) losses of the samples of one chunk. */
export interface ChunkLoss {
  /** sign + magnitudeWeight · mag. */
  readonly total: number;
  readonly sign: number;
  readonly mag: number;
}

/** One model instance on one arena: what a thread computes a chunk with. */
export interface ChunkModel {
  readonly config: ModelConfig;
  readonly backend: Backend;
  readonly chunk: number;
  readonly nParams: number;
  /** Copies a full parameter vector (paramLayout order) into the arena. */
  setParams(p: Float32Array): void;
  /**
   * Copies samples [from, from + n) of a batch into the chunk's input buffers: X rows of
   * L·F floats, 0/1 sign labels, scaled magnitude targets.
   */
  loadInputs(X: Float32Array, from: number, n: number, ySign: ArrayLike<number>, yMag: ArrayLike<number>): void;
  /** Copies sample `index` of a split (X rows of L·F floats) into position `slot` of the chunk. */
  loadSample(slot: number, X: Float32Array, index: number, ySign: number, yMag: number): void;
  /**
   * Forward and backward over the loaded n samples in training mode: the gradient of
   * scale · Σ_samples (bce + magnitudeWeight · magnitude loss), written to the gradient region.
   * A config with dropout needs `mask` (the step's key and the chunk's first batch position).
   */
  trainChunk(n: number, scale: number, mask?: DropoutMask): ChunkLoss;
  /** Forward only over the loaded n samples, in evaluation mode (dropout is the identity). */
  forwardChunk(n: number): void;
  /** Copies the gradient of the last trainChunk out. */
  readGrad(dst: Float32Array): void;
  /** Copies the last pass's sign logits (and magnitude predictions) to out[at .. at + n). */
  readOutputs(sign: Float32Array, mag: Float32Array, at: number, n: number): void;
  /** The sign logits of the last pass (a view; valid until the next pass). */
  signView(n: number): Float32Array;
  /** Releases the arena. */
  dispose(): void;
}

/** One prepared kernel call. */
interface Call {
  readonly name: string;
  readonly ia: Int32Array;
  readonly fa: Float32Array;
}

/** A bump allocator over float offsets, aligned to 64 bytes; the arena is sized from its total. */
class Regions {
  total = 0;
  alloc(n: number): number {
    const at = this.total;
    this.total += Math.ceil(Math.max(n, 1) / 16) * 16;
    return at;
  }
}

const NO_FA = new Float32Array(0);

/** A config's dropout as kernel scalars (fa = [p, scale]), or null without dropout (no calls at all: p = 0 is today's graph). */
type Drop = { readonly fa: Float32Array } | null;

function dropOf(c: ModelConfig): Drop {
  const p = Math.fround(dropoutRate(c));
  return p > 0 ? { fa: Float32Array.of(p, dropoutScale(p)) } : null;
}

/** ia slots of a dropout call patched per training step: the step's key and the chunk's first batch position. */
const DROP_KEY = 5;
const DROP_FIRST = 7;

/** A dropout call on [n, T, W] at `site` (src/ml/nn/dropout.ts); the key and first are patched per step. */
function dropCall(B: Builder, d: NonNullable<Drop>, x: number, y: number, n: number, T: number, W: number, site: number, t0 = 0): Call {
  return B.call("dropout", [x, y], [n, T, W, 0, site, 0, t0], d.fa);
}

/** The call lists of one graph, built for a given chunk length n. */
interface Graph {
  /** Offsets (floats, relative to the model's region start). */
  readonly x: number;
  readonly ySign: number;
  readonly yMag: number;
  readonly zSign: number;
  readonly zMag: number;
  readonly lossSign: number;
  readonly lossMag: number;
  /** Calls once after the arena exists (constants such as sinusoidal positions). */
  setup(): Call[];
  /** The forward pass; `train` adds the dropout calls (none when the config has no dropout). */
  forward(n: number, train: boolean): Call[];
  /** Loss and backward; `scale` is patched per call into fa[0] of the loss calls. */
  backward(n: number): { calls: Call[]; lossCalls: Call[] };
}

/** Builds calls with offsets shifted by the region base. */
class Builder {
  /** pOff and gOff are region-relative, like every offset handed to call(). */
  constructor(
    readonly base: number,
    readonly layout: ParamLayout,
    readonly pOff: number,
    readonly gOff: number,
  ) {}
  /** Offset of a named parameter. */
  p(name: string): number {
    const at = this.layout.offsets.get(name);
    if (at === undefined) throw new Error(`model graph: no parameter "${name}"`);
    return this.pOff + at;
  }
  /** Offset of a named parameter's gradient. */
  g(name: string): number {
    return this.gOff + this.layout.offsets.get(name)!;
  }
  /** A call; `offs` are region-relative offsets (-1 stays -1), `dims` are passed through. */
  call(name: string, offs: number[], dims: number[], fa: number[] | Float32Array = NO_FA): Call {
    const ia = new Int32Array(offs.length + dims.length);
    offs.forEach((o, i) => (ia[i] = o < 0 ? -1 : o + this.base));
    dims.forEach((d, i) => (ia[offs.length + i] = d));
    return { name, ia, fa: fa instanceof Float32Array ? fa : Float32Array.from(fa) };
  }
}

/** The two heads and the losses, shared by every kind. */
function headsGraph(c: ModelConfig, r: Regions, chunk: number, opts: ChunkModelOptions) {
  const W = headWidth(c);
  const o = {
    feat: r.alloc(chunk * W),
    dfeat: r.alloc(chunk * W),
    dfeat2: r.alloc(chunk * W),
    ySign: r.alloc(chunk),
    yMag: r.alloc(chunk),
    zSign: r.alloc(chunk),
    zMag: r.alloc(chunk),
    dzSign: r.alloc(chunk),
    dzMag: r.alloc(chunk),
    lossSign: r.alloc(1),
    lossMag: r.alloc(1),
  };
  const forward = (b: Builder, n: number): Call[] => {
    const calls = [b.call("dense_fwd", [o.feat, b.p("head_sign.kernel"), b.p("head_sign.bias"), o.zSign], [n, W, 1])];
    if (c.magnitude) calls.push(b.call("dense_fwd", [o.feat, b.p("head_mag.kernel"), b.p("head_mag.bias"), o.zMag], [n, W, 1]));
    return calls;
  };
  /** Loss calls (fa[0] is the scale, patched per step) and the heads' backward into dfeat. */
  const backward = (b: Builder, n: number): { lossCalls: Call[]; calls: Call[] } => {
    const lossCalls = [b.call("bce_logits", [o.zSign, o.ySign, o.dzSign, o.lossSign], [n], [1])];
    if (c.magnitude) {
      lossCalls.push(
        opts.magnitudeLoss === "huber"
          ? b.call("huber", [o.zMag, o.yMag, o.dzMag, o.lossMag], [n], [1, 1])
          : b.call("mse", [o.zMag, o.yMag, o.dzMag, o.lossMag], [n], [1]),
      );
    }
    const calls = [b.call("dense_bwd", [o.feat, b.p("head_sign.kernel"), o.dzSign, b.g("head_sign.kernel"), b.g("head_sign.bias"), o.dfeat], [n, W, 1])];
    if (c.magnitude) {
      calls.push(
        b.call("dense_bwd", [o.feat, b.p("head_mag.kernel"), o.dzMag, b.g("head_mag.kernel"), b.g("head_mag.bias"), o.dfeat2], [n, W, 1]),
        b.call("add", [o.dfeat, o.dfeat2, o.dfeat], [n * W]),
      );
    }
    return { lossCalls, calls };
  };
  /** The label, logit and loss slots a Graph exposes (the trainer writes and reads them). */
  const slots = { ySign: o.ySign, yMag: o.yMag, zSign: o.zSign, zMag: o.zMag, lossSign: o.lossSign, lossMag: o.lossMag };
  return { o, slots, forward, backward };
}

function recurrentGraph(c: RecurrentConfig, r: Regions, chunk: number, opts: ChunkModelOptions, b: () => Builder): Graph {
  const T = c.seq_len;
  const H = c.units;
  const lstm = c.kind === "lstm";
  const x = r.alloc(chunk * T * c.n_features);
  const layers = Array.from({ length: c.layers }, () => ({
    hs: r.alloc(chunk * T * H),
    cache: r.alloc((lstm ? lstmCacheFloats : gruCacheFloats)(chunk, T, H)),
    dhs: r.alloc(chunk * T * H),
  }));
  const scratch = r.alloc((lstm ? lstmBwdScratchFloats : gruBwdScratchFloats)(chunk, T, H));
  const heads = headsGraph(c, r, chunk, opts);
  const k = c.kind;
  const top = layers[c.layers - 1]!;
  const drop = dropOf(c);
  // With dropout, a lower layer's masked output (the next layer's input) needs its own buffer:
  // the layer's backward reads its unmasked hs.
  const masked = layers.map((L, l) => (drop && l < c.layers - 1 ? r.alloc(chunk * T * H) : L.hs));
  /** Layer l's input: X, or the layer below's output (masked in training). */
  const inputOf = (l: number, train: boolean) => (l === 0 ? x : train ? masked[l - 1]! : layers[l - 1]!.hs);
  return {
    x,
    ...heads.slots,
    setup: () => [],
    forward(n, train) {
      const B = b();
      const d = train ? drop : null;
      const calls: Call[] = [];
      layers.forEach((L, l) => {
        const I = l === 0 ? c.n_features : H;
        calls.push(B.call(`${k}_fwd`, [inputOf(l, train), B.p(`${k}${l}.kernel`), B.p(`${k}${l}.recurrent_kernel`), B.p(`${k}${l}.bias`), L.hs, L.cache], [n, T, I, H]));
        if (d && L !== top) calls.push(dropCall(B, d, L.hs, masked[l]!, n, T, H, l));
      });
      calls.push(B.call("last_step_fwd", [top.hs, heads.o.feat], [n, T, H]));
      // The top layer's dropout: on its last step only, the one the heads read (time index T − 1).
      if (d) calls.push(dropCall(B, d, heads.o.feat, heads.o.feat, n, 1, H, c.layers - 1, T - 1));
      calls.push(...heads.forward(B, n));
      return calls;
    },
    backward(n) {
      const B = b();
      const h = heads.backward(B, n);
      const calls = [...h.calls];
      if (drop) calls.push(dropCall(B, drop, heads.o.dfeat, heads.o.dfeat, n, 1, H, c.layers - 1, T - 1));
      calls.push(B.call("zero", [top.dhs], [n * T * H]), B.call("last_step_bwd", [heads.o.dfeat, top.dhs], [n, T, H]));
      for (let l = c.layers - 1; l >= 0; l--) {
        const L = layers[l]!;
        const I = l === 0 ? c.n_features : H;
        const dx = l === 0 ? -1 : layers[l - 1]!.dhs;
        calls.push(
          B.call(
            `${k}_bwd`,
            [inputOf(l, true), B.p(`${k}${l}.kernel`), B.p(`${k}${l}.recurrent_kernel`), L.hs, L.cache, L.dhs, B.g(`${k}${l}.kernel`), B.g(`${k}${l}.recurrent_kernel`), B.g(`${k}${l}.bias`), dx, scratch],
            [n, T, I, H],
          ),
        );
        // dLoss/d(masked output) → dLoss/d(layer l − 1's hs): the same mask.
        if (drop && l > 0) calls.push(dropCall(B, drop, dx, dx, n, T, H, l - 1));
      }
      return { calls, lossCalls: h.lossCalls };
    },
  };
}

/** Buffers of a layer's post-attention part: o-projection, residual, LN2, feed-forward, residual. */
interface Tail {
  /** Attention output (input of the o-projection). */
  readonly ctx: number;
  /** The layer's input (the first residual). */
  readonly xin: number;
  readonly x1: number;
  readonly bn: number;
  readonly ln2: number;
  readonly f1: number;
  readonly x2: number;
}

/** One encoder layer's buffers: LN1 output and stats, q, k, v, attention weights, context, the tail. */
interface EncoderLayer {
  /** The layer's input: the embedded sequence for layer 0, else the previous layer's output. */
  readonly xin: number;
  readonly a: number;
  readonly ln1: number;
  readonly q: number;
  readonly k: number;
  readonly v: number;
  readonly p: number;
  readonly ctx: number;
  readonly t: Tail;
}

/** The transformer's regions, in allocation order (the heads' follow them). */
interface TransformerRegions {
  readonly x: number;
  readonly x0: number;
  /** Sinusoidal positions, or -1 with learned ones. */
  readonly pe: number;
  readonly layers: readonly EncoderLayer[];
  /** Final LN output of every row (-1 when trimmed: the final LN writes the heads' input). */
  readonly y: number;
  readonly lnf: number;
  // Backward scratch, shared by the layers (used one layer at a time).
  readonly dR: number;
  readonly dT: number;
  readonly dF: number;
  readonly dC: number;
  readonly dq: number;
  readonly dk: number;
  readonly dv: number;
  /** Last-token gradients of the trimmed layer (-1 when not trimmed). */
  readonly dRL: number;
  readonly dCL: number;
  readonly attnScratch: number;
}

function transformerRegions(c: TransformerConfig, r: Regions, chunk: number): TransformerRegions {
  const { seq_len: L, d_model: D, ff: FF, heads: NH } = c;
  const NC = chunk * L; // rows of a full chunk
  const trim = c.pool === "last";
  const x = r.alloc(NC * c.n_features);
  const x0 = r.alloc(NC * D);
  const pe = c.pos === "sinusoidal" ? r.alloc(L * D) : -1;
  const tail = (rows: number, ctx: number, xin: number): Tail => ({
    ctx,
    xin,
    x1: r.alloc(rows * D),
    bn: r.alloc(rows * D),
    ln2: r.alloc(2 * rows),
    f1: r.alloc(rows * FF),
    x2: r.alloc(rows * D),
  });
  const layers: EncoderLayer[] = [];
  for (let l = 0; l < c.layers; l++) {
    const xin = l === 0 ? x0 : layers[l - 1]!.t.x2;
    const a = r.alloc(NC * D);
    const ln1 = r.alloc(2 * NC);
    const q = r.alloc(NC * D);
    const k = r.alloc(NC * D);
    const v = r.alloc(NC * D);
    const p = r.alloc(chunk * NH * L * L);
    const ctx = r.alloc(NC * D);
    // The trimmed last layer's tail works on gathered last-token rows [chunk, D].
    const last = trim && l === c.layers - 1;
    const t = last ? tail(chunk, r.alloc(chunk * D), r.alloc(chunk * D)) : tail(NC, ctx, xin);
    layers.push({ xin, a, ln1, q, k, v, p, ctx, t });
  }
  return {
    x, x0, pe, layers,
    y: trim ? -1 : r.alloc(NC * D),
    lnf: r.alloc(2 * NC),
    dR: r.alloc(NC * D),
    dT: r.alloc(NC * D),
    dF: r.alloc(NC * FF),
    dC: r.alloc(NC * D),
    dq: r.alloc(NC * D),
    dk: r.alloc(NC * D),
    dv: r.alloc(NC * D),
    dRL: trim ? r.alloc(chunk * D) : -1,
    dCL: trim ? r.alloc(chunk * D) : -1,
    attnScratch: r.alloc(L * (D / NH) + L),
  };
}

const LN_EPS = [1e-5];

/**
 * The rows a tail works on: n samples of T rows each (R = n·T), the first being time index t0
 * (all L rows from 0, or the last token alone: T = 1, t0 = L − 1), and the layer's dropout.
 */
interface TailRows {
  readonly n: number;
  readonly T: number;
  readonly t0: number;
  /** Encoder layer index (dropout sites 2l: attention output, 2l + 1: feed-forward output). */
  readonly l: number;
  /** Dropout in this pass, or null (evaluation, or no dropout). */
  readonly d: Drop;
}

/** A layer's post-attention part forward over the rows `w` (prefix `p`, e.g. "enc0"); dropout before each residual add. */
function tailForward(c: TransformerConfig, B: Builder, p: string, t: Tail, w: TailRows): Call[] {
  const { d_model: D, ff: FF } = c;
  const R = w.n * w.T;
  const drop = (at: number, site: number) => (w.d ? [dropCall(B, w.d, at, at, w.n, w.T, D, site, w.t0)] : []);
  return [
    B.call("dense_fwd", [t.ctx, B.p(`${p}.attn.wo`), B.p(`${p}.attn.bo`), t.x1], [R, D, D]),
    ...drop(t.x1, 2 * w.l),
    B.call("add", [t.x1, t.xin, t.x1], [R * D]),
    B.call("layernorm_fwd", [t.x1, t.bn, B.p(`${p}.ln2.gamma`), B.p(`${p}.ln2.beta`), t.ln2], [R, D], LN_EPS),
    B.call("dense_fwd", [t.bn, B.p(`${p}.ff1.kernel`), B.p(`${p}.ff1.bias`), t.f1], [R, D, FF]),
    B.call("relu_fwd", [t.f1, t.f1], [R * FF]),
    B.call("dense_fwd", [t.f1, B.p(`${p}.ff2.kernel`), B.p(`${p}.ff2.bias`), t.x2], [R, FF, D]),
    ...drop(t.x2, 2 * w.l + 1),
    B.call("add", [t.x2, t.x1, t.x2], [R * D]),
  ];
}

/**
 * Its backward: dRt = dLoss/dx2 on entry, dLoss/dx1 on exit; dCt receives dLoss/dctx. With
 * dropout, each branch's gradient is masked into dT (free here) while the residual keeps dRt.
 */
function tailBackward(c: TransformerConfig, g: TransformerRegions, B: Builder, p: string, t: Tail, w: TailRows, dRt: number, dCt: number): Call[] {
  const { d_model: D, ff: FF } = c;
  const { dF, dT } = g;
  const R = w.n * w.T;
  const d = w.d;
  const masked = (site: number): [Call[], number] => (d ? [[dropCall(B, d, dRt, dT, w.n, w.T, D, site, w.t0)], dT] : [[], dRt]);
  const [ffMask, dFF] = masked(2 * w.l + 1);
  const calls = [
    // Feed-forward branch: x2 = x1 + drop(ff2(relu(ff1(LN2(x1))))).
    ...ffMask,
    B.call("dense_bwd", [t.f1, B.p(`${p}.ff2.kernel`), dFF, B.g(`${p}.ff2.kernel`), B.g(`${p}.ff2.bias`), dF], [R, FF, D]),
    B.call("relu_bwd", [t.f1, dF, dF], [R * FF]),
    B.call("dense_bwd", [t.bn, B.p(`${p}.ff1.kernel`), dF, B.g(`${p}.ff1.kernel`), B.g(`${p}.ff1.bias`), dT], [R, D, FF]),
    B.call("layernorm_bwd", [t.x1, dT, B.p(`${p}.ln2.gamma`), t.ln2, dT, B.g(`${p}.ln2.gamma`), B.g(`${p}.ln2.beta`)], [R, D]),
    B.call("axpy", [dT, dRt], [R * D], [1]),
  ];
  // x1 = xin + drop(wo(ctx)).
  const [attnMask, dA] = masked(2 * w.l);
  calls.push(...attnMask, B.call("dense_bwd", [t.ctx, B.p(`${p}.attn.wo`), dA, B.g(`${p}.attn.wo`), B.g(`${p}.attn.bo`), dCt], [R, D, D]));
  return calls;
}

type Heads = ReturnType<typeof headsGraph>;

/** Forward over n samples: embedding, the layers, the final LN and pooling, the heads (dropout `d` in training). */
function transformerForward(c: TransformerConfig, g: TransformerRegions, heads: Heads, B: Builder, n: number, d: Drop): Call[] {
  const { seq_len: L, d_model: D, heads: NH } = c;
  const N = n * L;
  const trim = c.pool === "last";
  const top = g.layers[g.layers.length - 1]!;
  const calls: Call[] = [B.call("dense_fwd", [g.x, B.p("proj.kernel"), B.p("proj.bias"), g.x0], [N, c.n_features, D])];
  calls.push(B.call("add_pos_fwd", [g.x0, g.pe >= 0 ? g.pe : B.p("pos.embedding")], [n, L, D]));
  g.layers.forEach((Y, l) => {
    const p = `enc${l}`;
    calls.push(
      B.call("layernorm_fwd", [Y.xin, Y.a, B.p(`${p}.ln1.gamma`), B.p(`${p}.ln1.beta`), Y.ln1], [N, D], LN_EPS),
      B.call("dense_fwd", [Y.a, B.p(`${p}.attn.wq`), B.p(`${p}.attn.bq`), Y.q], [N, D, D]),
      B.call("dense_fwd", [Y.a, B.p(`${p}.attn.wk`), B.p(`${p}.attn.bk`), Y.k], [N, D, D]),
      B.call("dense_fwd", [Y.a, B.p(`${p}.attn.wv`), B.p(`${p}.attn.bv`), Y.v], [N, D, D]),
      B.call("attention_fwd", [Y.q, Y.k, Y.v, Y.ctx, Y.p, g.attnScratch], [n, L, D, NH]),
    );
    if (trim && Y === top) {
      calls.push(B.call("last_step_fwd", [Y.ctx, Y.t.ctx], [n, L, D]), B.call("last_step_fwd", [Y.xin, Y.t.xin], [n, L, D]));
      calls.push(...tailForward(c, B, p, Y.t, { n, T: 1, t0: L - 1, l, d }));
    } else calls.push(...tailForward(c, B, p, Y.t, { n, T: L, t0: 0, l, d }));
  });
  if (trim) calls.push(B.call("layernorm_fwd", [top.t.x2, heads.o.feat, B.p("final_ln.gamma"), B.p("final_ln.beta"), g.lnf], [n, D], LN_EPS));
  else {
    calls.push(B.call("layernorm_fwd", [top.t.x2, g.y, B.p("final_ln.gamma"), B.p("final_ln.beta"), g.lnf], [N, D], LN_EPS));
    calls.push(B.call("mean_pool_fwd", [g.y, heads.o.feat], [n, L, D]));
  }
  calls.push(...heads.forward(B, n));
  return calls;
}

/** Loss and backward over n samples, in the reverse order of transformerForward. */
function transformerBackward(c: TransformerConfig, g: TransformerRegions, heads: Heads, B: Builder, n: number, d: Drop): { calls: Call[]; lossCalls: Call[] } {
  const { seq_len: L, d_model: D, heads: NH } = c;
  const N = n * L;
  const trim = c.pool === "last";
  const { dR, dT, dC, dq, dk, dv, dRL, dCL } = g;
  const top = g.layers[g.layers.length - 1]!;
  const h = heads.backward(B, n);
  const calls: Call[] = [...h.calls];
  // dR (dRL when trimmed) = dLoss/dx at the top of the residual stream.
  if (trim) calls.push(B.call("layernorm_bwd", [top.t.x2, heads.o.dfeat, B.p("final_ln.gamma"), g.lnf, dRL, B.g("final_ln.gamma"), B.g("final_ln.beta")], [n, D]));
  else {
    calls.push(B.call("mean_pool_bwd", [heads.o.dfeat, dT], [n, L, D]));
    calls.push(B.call("layernorm_bwd", [top.t.x2, dT, B.p("final_ln.gamma"), g.lnf, dR, B.g("final_ln.gamma"), B.g("final_ln.beta")], [N, D]));
  }
  for (let l = g.layers.length - 1; l >= 0; l--) {
    const Y = g.layers[l]!;
    const p = `enc${l}`;
    if (trim && Y === top) {
      // Scatter the last-token gradients back to full rows (zeros elsewhere).
      calls.push(
        ...tailBackward(c, g, B, p, Y.t, { n, T: 1, t0: L - 1, l, d }, dRL, dCL),
        B.call("zero", [dC], [N * D]),
        B.call("last_step_bwd", [dCL, dC], [n, L, D]),
        B.call("zero", [dR], [N * D]),
        B.call("last_step_bwd", [dRL, dR], [n, L, D]),
      );
    } else calls.push(...tailBackward(c, g, B, p, Y.t, { n, T: L, t0: 0, l, d }, dR, dC));
    // Attention branch: ctx = attn(q, k, v) of a = LN1(xin); dR += dLoss/dxin through it.
    calls.push(
      B.call("attention_bwd", [Y.q, Y.k, Y.v, Y.p, dC, dq, dk, dv, g.attnScratch], [n, L, D, NH]),
      B.call("dense_bwd", [Y.a, B.p(`${p}.attn.wq`), dq, B.g(`${p}.attn.wq`), B.g(`${p}.attn.bq`), dT], [N, D, D]),
      B.call("dense_bwd", [Y.a, B.p(`${p}.attn.wk`), dk, B.g(`${p}.attn.wk`), B.g(`${p}.attn.bk`), dC], [N, D, D]),
      B.call("axpy", [dC, dT], [N * D], [1]),
      B.call("dense_bwd", [Y.a, B.p(`${p}.attn.wv`), dv, B.g(`${p}.attn.wv`), B.g(`${p}.attn.bv`), dC], [N, D, D]),
      B.call("axpy", [dC, dT], [N * D], [1]),
      B.call("layernorm_bwd", [Y.xin, dT, B.p(`${p}.ln1.gamma`), Y.ln1, dT, B.g(`${p}.ln1.gamma`), B.g(`${p}.ln1.beta`)], [N, D]),
      B.call("axpy", [dT, dR], [N * D], [1]),
    );
  }
  if (c.pos === "learned") calls.push(B.call("add_pos_bwd", [dR, B.g("pos.embedding")], [n, L, D]));
  calls.push(B.call("dense_bwd", [g.x, B.p("proj.kernel"), dR, B.g("proj.kernel"), B.g("proj.bias"), -1], [N, c.n_features, D]));
  return { calls, lossCalls: h.lossCalls };
}

/**
 * Pre-LN transformer encoder. With `pool: last` only the last token's output reaches the heads,
 * so the last layer's post-attention part (o-projection, LN2, feed-forward, and the final LN)
 * runs on that token's row alone: the same values the full computation gives at that row
 * (every op after attention is row-wise), for about a fifth less work.
 */
function transformerGraph(c: TransformerConfig, r: Regions, chunk: number, opts: ChunkModelOptions, b: () => Builder): Graph {
  const g = transformerRegions(c, r, chunk);
  const heads = headsGraph(c, r, chunk, opts);
  const drop = dropOf(c);
  return {
    x: g.x,
    ...heads.slots,
    setup: () => (g.pe >= 0 ? [b().call("sinusoid_pe", [g.pe], [c.seq_len, c.d_model])] : []),
    forward: (n, train) => transformerForward(c, g, heads, b(), n, train ? drop : null),
    backward: (n) => transformerBackward(c, g, heads, b(), n, drop),
  };
}

class KernelChunkModel implements ChunkModel {
  readonly nParams: number;
  private readonly fwd = new Map<number, Call[]>();
  /** Training step per chunk length: forward (with dropout), loss, backward, and the dropout calls to patch. */
  private readonly steps = new Map<number, { fwd: Call[]; lossCalls: Call[]; calls: Call[]; drops: Call[] }>();
  private readonly hasDropout: boolean;
  private readonly zeroGrad: Call;
  private readonly per: number;

  constructor(
    readonly config: ModelConfig,
    readonly backend: Backend,
    readonly chunk: number,
    private readonly arena: Arena,
    private readonly base: number,
    private readonly graph: Graph,
    private readonly builder: Builder,
    private readonly opts: ChunkModelOptions,
  ) {
    this.nParams = builder.layout.total;
    this.hasDropout = dropOf(config) !== null;
    this.per = config.seq_len * config.n_features;
    this.zeroGrad = builder.call("zero", [builder.gOff], [this.nParams]);
    for (const call of graph.setup()) this.run(call);
  }

  private run(c: Call): void {
    this.arena.call(c.name, c.ia, c.fa);
  }

  private view(off: number, n: number): Float32Array {
    const at = this.base + off;
    return this.arena.f32.subarray(at, at + n);
  }

  setParams(p: Float32Array): void {
    this.arena.f32.set(p.subarray(0, this.nParams), this.base + this.builder.pOff);
  }

  loadInputs(X: Float32Array, from: number, n: number, ySign: ArrayLike<number>, yMag: ArrayLike<number>): void {
    if (n > this.chunk) throw new Error(`chunk of ${n} samples exceeds the model's ${this.chunk}`);
    const f = this.arena.f32;
    const g = this.graph;
    f.set(X.subarray(from * this.per, (from + n) * this.per), this.base + g.x);
    for (let i = 0; i < n; i++) {
      f[this.base + g.ySign + i] = ySign[from + i]!;
      f[this.base + g.yMag + i] = yMag[from + i]!;
    }
  }

  loadSample(slot: number, X: Float32Array, index: number, ySign: number, yMag: number): void {
    if (slot >= this.chunk) throw new Error(`sample slot ${slot} outside the model's chunk of ${this.chunk}`);
    const per = this.per;
    if (!(index >= 0 && (index + 1) * per <= X.length)) throw new RangeError(`sample ${index} outside X (${X.length / per} samples)`);
    const f = this.arena.f32;
    const g = this.graph;
    f.set(X.subarray(index * per, (index + 1) * per), this.base + g.x + slot * per);
    f[this.base + g.ySign + slot] = ySign;
    f[this.base + g.yMag + slot] = yMag;
  }

  private forwardCalls(n: number): Call[] {
    let calls = this.fwd.get(n);
    if (!calls) this.fwd.set(n, (calls = this.graph.forward(n, false)));
    return calls;
  }

  forwardChunk(n: number): void {
    for (const c of this.forwardCalls(n)) this.run(c);
  }

  /** The training step's calls for n samples (without dropout the forward is the evaluation one, call for call). */
  private stepCalls(n: number) {
    let st = this.steps.get(n);
    if (!st) {
      const fwd = this.hasDropout ? this.graph.forward(n, true) : this.forwardCalls(n);
      const b = this.graph.backward(n);
      st = { fwd, ...b, drops: [...fwd, ...b.calls].filter((c) => c.name === "dropout") };
      this.steps.set(n, st);
    }
    return st;
  }

  trainChunk(n: number, scale: number, mask?: DropoutMask): ChunkLoss {
    const b = this.stepCalls(n);
    if (this.hasDropout) {
      if (!mask) throw new Error(`trainChunk: the config has dropout ${this.config.dropout}: a training step needs its mask (key, first)`);
      if (!(Number.isInteger(mask.key) && mask.key >= 0 && mask.key < 2 ** 31 && Number.isInteger(mask.first) && mask.first >= 0))
        throw new Error(`trainChunk: dropout mask key must be a 31-bit integer and first a batch position (got ${mask.key}, ${mask.first})`);
      for (const c of b.drops) {
        c.ia[DROP_KEY] = mask.key;
        c.ia[DROP_FIRST] = mask.first;
      }
    }
    this.run(this.zeroGrad);
    for (const c of b.fwd) this.run(c);
    b.lossCalls[0]!.fa[0] = scale;
    if (b.lossCalls[1]) b.lossCalls[1].fa[0] = scale * this.opts.magnitudeWeight;
    for (const c of b.lossCalls) this.run(c);
    for (const c of b.calls) this.run(c);
    const f = this.arena.f32;
    const sign = f[this.base + this.graph.lossSign]!;
    const mag = this.config.magnitude ? f[this.base + this.graph.lossMag]! : 0;
    return { total: sign + this.opts.magnitudeWeight * mag, sign, mag };
  }

  readGrad(dst: Float32Array): void {
    dst.set(this.view(this.builder.gOff, this.nParams));
  }

  readOutputs(sign: Float32Array, mag: Float32Array, at: number, n: number): void {
    sign.set(this.view(this.graph.zSign, n), at);
    if (this.config.magnitude) mag.set(this.view(this.graph.zMag, n), at);
  }

  signView(n: number): Float32Array {
    return this.view(this.graph.zSign, n);
  }

  dispose(): void {
    this.arena.dispose();
  }
}

/** Builds a chunk model of `config` on a fresh arena of the requested backend. */
export async function createChunkModel(config: ModelConfig, opts: ChunkModelOptions): Promise<ChunkModel> {
  if (!Number.isInteger(opts.chunk) || opts.chunk < 1) throw new Error(`chunk must be a positive integer (got ${opts.chunk})`);
  const d = config.dropout;
  if (d !== undefined && !(typeof d === "number" && d >= 0 && d < 1)) throw new Error(`model config: dropout must be a rate in [0, 1) (got ${JSON.stringify(d)})`);
  const layout = paramLayout(config);
  const r = new Regions();
  const pOff = r.alloc(layout.total);
  const gOff = r.alloc(layout.total);
  let builder: Builder | null = null;
  const b = () => builder!;
  const graph = config.kind === "transformer" ? transformerGraph(config, r, opts.chunk, opts, b) : recurrentGraph(config, r, opts.chunk, opts, b);
  const kernels = await loadKernels(opts.backend);
  const arena = kernels.arena(r.total);
  const base = arena.alloc(r.total);
  builder = new Builder(base, layout, pOff, gOff);
  return new KernelChunkModel(config, kernels.backend, opts.chunk, arena, base, graph, builder, opts);
}

/** Adam's state on an arena of its own: the master parameters, the summed gradient, the moments. */
export interface AdamState {
  /** The parameters Adam updates (a view into the arena). */
  readonly params: Float32Array;
  /** Where the caller puts the step's gradient (a view into the arena). */
  readonly grad: Float32Array;
  /** One Adam update with the current gradient. */
  step(): void;
  dispose(): void;
}

/** Adam (β1 0.9, β2 0.999, ε 1e-8 as PyTorch) over P parameters, run by the adam_step kernel. */
export async function createAdam(backend: Backend, P: number, o: { lr: number; beta1?: number; beta2?: number; eps?: number }): Promise<AdamState> {
  const kernels = await loadKernels(backend);
  const arena = kernels.arena(4 * P + 64);
  const p = arena.alloc(P);
  const g = arena.alloc(P);
  const m = arena.alloc(P);
  const v = arena.alloc(P);
  arena.f32.fill(0, m, m + P);
  arena.f32.fill(0, v, v + P);
  const ia = Int32Array.from([p, g, m, v, P, 0]);
  const fa = Float32Array.from([o.lr, o.beta1 ?? 0.9, o.beta2 ?? 0.999, o.eps ?? 1e-8, 0]);
  return {
    get params() {
      return arena.f32.subarray(p, p + P);
    },
    get grad() {
      return arena.f32.subarray(g, g + P);
    },
    step() {
      ia[5] = ia[5]! + 1;
      arena.call("adam_step", ia, fa);
    },
    dispose() {
      arena.dispose();
    },
  };
}

/** Sinusoidal positions as the kernels see them (re-exported for tests). */
export { sinusoidalPositions };
