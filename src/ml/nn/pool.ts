/**
 * Data parallelism for the training engine (docs/nn-engine.md, "Determinism"): a batch is cut
 * into fixed chunks of `chunk` samples, whatever the thread count; any thread (the main thread
 * included) takes the next chunk from a shared counter, computes that chunk's gradient alone
 * into the chunk's own slot, and the main thread sums the slots in chunk order. So 1, 2 or 16
 * threads compute the same float operations in the same order and give bit-identical weights.
 *
 * Everything the threads share lives in SharedArrayBuffers allocated once per pool (the
 * training split, the batch's sample indices, the parameters, the chunk gradients, the chunk
 * losses, the prediction batch and its outputs); a step is started with Atomics.notify on a
 * generation counter and its end awaited with Atomics.wait, so a step costs no allocation and
 * no message passing. A training step also sums the chunk gradients on every thread: after a
 * barrier, each thread takes fixed slices of the parameter vector and adds the chunk slots
 * into slot 0 in chunk order (per element the same additions as one thread would do).
 */
import { Worker } from "node:worker_threads";
import type { ModelConfig } from "./config.js";
import { createChunkModel, type Backend, type ChunkModel } from "./model.js";

/** Slots of the shared control array. */
export const CTRL = {
  /** Bumped by the main thread to start a job; workers wait on it. */
  gen: 0,
  /** The job: JOB_TRAIN, JOB_PREDICT or JOB_EXIT. */
  cmd: 1,
  /** Chunks in this job. */
  chunks: 2,
  /** The next chunk to take (Atomics.add). */
  next: 3,
  /** Workers that finished this job. */
  done: 4,
  /** Samples in the batch (the last chunk may be short). */
  n: 5,
  /** Non-zero when a worker failed; its message is in the error text buffer. */
  error: 6,
  /** Bumped when the shared parameters change; workers copy them in when it moved. */
  paramsVersion: 7,
  /** Chunks computed by worker threads since the pool started (a statistic). */
  workerChunks: 8,
  /** Chunks of this job finished (the barrier before the gradient sum). */
  chunksDone: 9,
  /** The next slice of the gradient sum to take. */
  reduceNext: 10,
  /** The training step's dropout key (src/ml/nn/dropout.ts; unused without dropout). */
  maskKey: 11,
  size: 12,
} as const;

export const JOB_TRAIN = 1;
export const JOB_PREDICT = 2;
export const JOB_EXIT = 3;

/** Per-chunk loss slots: the chunk's summed total loss, sign BCE and magnitude loss. */
export const LOSS_SLOTS = 3;

/** Floats per slice of the parallel gradient sum (fixed: not a function of the thread count). */
export const REDUCE_SLICE = 4096;

/** A typed array's memory as it travels to workers. */
export interface SharedRegion {
  readonly buffer: ArrayBufferLike;
  readonly byteOffset: number;
  readonly length: number;
}

/** The shared buffers, as handed to each worker. */
export interface PoolShared {
  /** The training split (X rows, 0/1 labels, scaled magnitudes); absent for prediction pools. */
  readonly srcX: SharedRegion | null;
  readonly srcSign: SharedRegion | null;
  readonly srcMag: SharedRegion | null;
  /** The current training batch: indices into the training split. */
  readonly order: SharedArrayBuffer;
  readonly ctrl: SharedArrayBuffer;
  readonly params: SharedArrayBuffer;
  readonly grads: SharedArrayBuffer;
  readonly losses: SharedArrayBuffer;
  readonly x: SharedArrayBuffer;
  readonly ySign: SharedArrayBuffer;
  readonly yMag: SharedArrayBuffer;
  readonly outSign: SharedArrayBuffer;
  readonly outMag: SharedArrayBuffer;
  readonly errText: SharedArrayBuffer;
}

/** What a worker needs to build the same chunk model as the main thread. */
export interface WorkerInit {
  readonly config: ModelConfig;
  readonly backend: Backend;
  readonly chunk: number;
  readonly batch: number;
  readonly magnitudeLoss: "huber" | "mse";
  readonly magnitudeWeight: number;
  readonly shared: PoolShared;
}

/** Typed views of the shared buffers (one set per thread). */
export interface PoolViews {
  readonly srcX: Float32Array | null;
  readonly srcSign: Uint8Array | null;
  readonly srcMag: Float32Array | null;
  readonly order: Int32Array;
  readonly ctrl: Int32Array;
  readonly params: Float32Array;
  readonly grads: Float32Array;
  readonly losses: Float64Array;
  readonly x: Float32Array;
  readonly ySign: Float32Array;
  readonly yMag: Float32Array;
  readonly outSign: Float32Array;
  readonly outMag: Float32Array;
  readonly errText: Uint8Array;
}

export function poolViews(s: PoolShared): PoolViews {
  return {
    srcX: s.srcX && new Float32Array(s.srcX.buffer, s.srcX.byteOffset, s.srcX.length),
    srcSign: s.srcSign && new Uint8Array(s.srcSign.buffer, s.srcSign.byteOffset, s.srcSign.length),
    srcMag: s.srcMag && new Float32Array(s.srcMag.buffer, s.srcMag.byteOffset, s.srcMag.length),
    order: new Int32Array(s.order),
    ctrl: new Int32Array(s.ctrl),
    params: new Float32Array(s.params),
    grads: new Float32Array(s.grads),
    losses: new Float64Array(s.losses),
    x: new Float32Array(s.x),
    ySign: new Float32Array(s.ySign),
    yMag: new Float32Array(s.yMag),
    outSign: new Float32Array(s.outSign),
    outMag: new Float32Array(s.outMag),
    errText: new Uint8Array(s.errText),
  };
}

/**
 * Runs chunks of the current job until the shared counter runs out. Used by the main thread
 * and by every worker, so a chunk's computation does not depend on which thread took it.
 * Training chunks read their samples from the training split through the batch's indices;
 * prediction chunks read the prediction batch.
 */
export function runChunks(model: ChunkModel, v: PoolViews, cmd: number, isWorker = false): void {
  const ctrl = v.ctrl;
  const chunks = Atomics.load(ctrl, CTRL.chunks);
  const n = Atomics.load(ctrl, CTRL.n);
  const C = model.chunk;
  const P = model.nParams;
  for (;;) {
    const c = Atomics.add(ctrl, CTRL.next, 1);
    if (c >= chunks) return;
    const from = c * C;
    const m = Math.min(C, n - from);
    if (cmd === JOB_TRAIN) {
      for (let i = 0; i < m; i++) {
        const k = v.order[from + i]!;
        model.loadSample(i, v.srcX!, k, v.srcSign![k]!, v.srcMag!.length > k ? v.srcMag![k]! : 0);
      }
      // The chunk's dropout mask: the step's key, and the batch position of its first sample.
      const l = model.trainChunk(m, 1 / n, { key: Atomics.load(ctrl, CTRL.maskKey), first: from });
      model.readGrad(v.grads.subarray(c * P, (c + 1) * P));
      v.losses[c * LOSS_SLOTS] = l.total;
      v.losses[c * LOSS_SLOTS + 1] = l.sign;
      v.losses[c * LOSS_SLOTS + 2] = l.mag;
      if (Atomics.add(ctrl, CTRL.chunksDone, 1) + 1 === chunks) Atomics.notify(ctrl, CTRL.chunksDone);
    } else {
      model.loadInputs(v.x, from, m, v.ySign, v.yMag);
      model.forwardChunk(m);
      model.readOutputs(v.outSign, v.outMag, from, m);
    }
    if (isWorker) Atomics.add(ctrl, CTRL.workerChunks, 1);
  }
}

/**
 * The gradient sum of a training job, after every chunk is done: slot 0 += slot 1, += slot 2 ...
 * in chunk order, over the slices this thread takes. Returns early when a thread failed.
 */
export function reduceGrads(v: PoolViews, P: number): void {
  const ctrl = v.ctrl;
  const chunks = Atomics.load(ctrl, CTRL.chunks);
  for (;;) {
    const done = Atomics.load(ctrl, CTRL.chunksDone);
    if (done >= chunks) break;
    if (Atomics.load(ctrl, CTRL.error) !== 0) return;
    Atomics.wait(ctrl, CTRL.chunksDone, done, 20);
  }
  const g = v.grads;
  const slices = Math.ceil(P / REDUCE_SLICE);
  for (;;) {
    const s = Atomics.add(ctrl, CTRL.reduceNext, 1);
    if (s >= slices) return;
    const lo = s * REDUCE_SLICE;
    const hi = Math.min(P, lo + REDUCE_SLICE);
    for (let c = 1; c < chunks; c++) {
      const o = c * P;
      for (let i = lo; i < hi; i++) g[i] += g[o + i]!;
    }
  }
}

function writeErr(v: PoolViews, message: string): void {
  const bytes = new TextEncoder().encode(message.slice(0, 900));
  v.errText.fill(0);
  v.errText.set(bytes.subarray(0, v.errText.length - 1));
  Atomics.store(v.ctrl, CTRL.error, 1);
}

function readErr(v: PoolViews): string {
  const end = v.errText.indexOf(0);
  // TextDecoder refuses views of shared memory: copy out first.
  return new TextDecoder().decode(v.errText.slice(0, end < 0 ? v.errText.length : end));
}

/** The job loop of a worker thread (worker.ts calls it); returns on JOB_EXIT. */
export function workerLoop(model: ChunkModel, v: PoolViews): void {
  let gen = 0;
  let paramsVersion = -1;
  for (;;) {
    Atomics.wait(v.ctrl, CTRL.gen, gen);
    gen = Atomics.load(v.ctrl, CTRL.gen);
    const cmd = Atomics.load(v.ctrl, CTRL.cmd);
    if (cmd === JOB_EXIT) return;
    try {
      const pv = Atomics.load(v.ctrl, CTRL.paramsVersion);
      if (pv !== paramsVersion) {
        model.setParams(v.params);
        paramsVersion = pv;
      }
      runChunks(model, v, cmd, true);
      if (cmd === JOB_TRAIN) reduceGrads(v, model.nParams);
    } catch (e) {
      writeErr(v, `training worker: ${(e as Error)?.stack ?? String(e)}`);
      Atomics.notify(v.ctrl, CTRL.chunksDone);
    }
    Atomics.add(v.ctrl, CTRL.done, 1);
    Atomics.notify(v.ctrl, CTRL.done);
  }
}

/** Options of a pool. */
export interface PoolOptions {
  readonly config: ModelConfig;
  readonly backend: Backend | "auto";
  /** Threads in all, the main thread included (1 = no workers). */
  readonly threads: number;
  /** Samples per chunk (fixed: part of the result, not of the schedule). */
  readonly chunk: number;
  /** The largest batch a job holds. */
  readonly batch: number;
  readonly magnitudeLoss: "huber" | "mse";
  readonly magnitudeWeight: number;
  /**
   * Whether the main thread takes chunks too (default true). Tests turn it off so that, with
   * workers, every chunk provably runs on another thread and arena.
   */
  readonly mainWorks?: boolean;
  /**
   * The training split, for JOB_TRAIN: X rows, 0/1 labels and magnitude targets already scaled.
   * With workers it is copied once into shared memory (unless it already is shared).
   */
  readonly source?: { readonly X: Float32Array; readonly ySign: Uint8Array; readonly yMag: Float32Array };
}

/** A typed array as a region workers can read: itself when shared (or when no worker needs it), else a shared copy. */
function shareRegion(a: Float32Array | Uint8Array, workers: number): SharedRegion {
  if (workers === 0 || a.buffer instanceof SharedArrayBuffer) return { buffer: a.buffer, byteOffset: a.byteOffset, length: a.length };
  const buf = new SharedArrayBuffer(Math.max(8, a.byteLength));
  (a instanceof Float32Array ? new Float32Array(buf, 0, a.length) : new Uint8Array(buf, 0, a.length)).set(a);
  return { buffer: buf, byteOffset: 0, length: a.length };
}

/** A job that no worker finished in this long is reported as a hang. */
const JOB_TIMEOUT_MS = 300_000;

/**
 * The main thread's side of data parallelism: owns the shared buffers, a chunk model of its own
 * (which also takes chunks) and threads − 1 workers.
 */
export class TrainPool {
  readonly views: PoolViews;
  readonly maxChunks: number;
  private closed = false;

  private constructor(
    readonly opts: PoolOptions,
    readonly model: ChunkModel,
    private readonly workers: Worker[],
    readonly shared: PoolShared,
  ) {
    this.views = poolViews(shared);
    this.maxChunks = Math.ceil(opts.batch / opts.chunk);
  }

  /** Starts the workers (each loads its own kernel backend) and waits until they are ready. */
  static async create(opts: PoolOptions): Promise<TrainPool> {
    if (!Number.isInteger(opts.threads) || opts.threads < 1) throw new Error(`threads must be a positive integer (got ${opts.threads})`);
    const model = await createChunkModel(opts.config, { backend: opts.backend, chunk: opts.chunk, magnitudeLoss: opts.magnitudeLoss, magnitudeWeight: opts.magnitudeWeight });
    const P = model.nParams;
    const maxChunks = Math.ceil(opts.batch / opts.chunk);
    const LF = opts.config.seq_len * opts.config.n_features;
    const sab = (bytes: number) => new SharedArrayBuffer(Math.max(8, bytes));
    const nw = opts.threads - 1;
    const src = opts.source;
    const shared: PoolShared = {
      srcX: src ? shareRegion(src.X, nw) : null,
      srcSign: src ? shareRegion(src.ySign, nw) : null,
      srcMag: src ? shareRegion(src.yMag, nw) : null,
      order: sab(4 * opts.batch),
      ctrl: sab(4 * CTRL.size),
      params: sab(4 * P),
      grads: sab(4 * P * maxChunks),
      losses: sab(8 * LOSS_SLOTS * maxChunks),
      x: sab(4 * LF * opts.batch),
      ySign: sab(4 * opts.batch),
      yMag: sab(4 * opts.batch),
      outSign: sab(4 * opts.batch),
      outMag: sab(4 * opts.batch),
      errText: sab(1024),
    };
    const { source: _source, ...plain } = opts;
    void _source;
    const init: WorkerInit = {
      config: opts.config,
      backend: model.backend,
      chunk: opts.chunk,
      batch: opts.batch,
      magnitudeLoss: opts.magnitudeLoss,
      magnitudeWeight: opts.magnitudeWeight,
      shared,
    };
    const workers: Worker[] = [];
    try {
      for (let i = 1; i < opts.threads; i++) workers.push(new Worker(new URL("./worker.js", import.meta.url), { workerData: init }));
      await Promise.all(workers.map((w) => ready(w)));
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      model.dispose();
      throw e;
    }
    return new TrainPool({ ...plain, backend: model.backend }, model, workers, shared);
  }

  /** The backend the kernels run on ("native" or "wasm"). */
  get backend(): Backend {
    return this.model.backend;
  }

  /** Makes `params` the parameters every thread computes with. */
  setParams(params: Float32Array): void {
    this.views.params.set(params);
    Atomics.add(this.views.ctrl, CTRL.paramsVersion, 1);
  }

  /**
   * Runs one job over `n` samples: JOB_TRAIN over the training samples whose indices are in
   * views.order[0, n), leaving the summed gradient in views.grads[0, P) and each chunk's losses
   * in views.losses; JOB_PREDICT over the prediction batch views.x, filling views.outSign and
   * views.outMag. Returns the number of chunks. `maskKey` is a training step's dropout key
   * (dropoutKey; ignored by prediction and by configs without dropout).
   */
  run(cmd: typeof JOB_TRAIN | typeof JOB_PREDICT, n: number, maskKey = 0): number {
    if (this.closed) throw new Error("training pool is closed");
    const v = this.views;
    const chunks = Math.ceil(n / this.opts.chunk);
    if (chunks > this.maxChunks) throw new Error(`batch of ${n} exceeds the pool's ${this.opts.batch}`);
    if (cmd === JOB_TRAIN && !v.srcX) throw new Error("training pool: JOB_TRAIN needs the training split (PoolOptions.source)");
    const ctrl = v.ctrl;
    Atomics.store(ctrl, CTRL.cmd, cmd);
    Atomics.store(ctrl, CTRL.chunks, chunks);
    Atomics.store(ctrl, CTRL.n, n);
    Atomics.store(ctrl, CTRL.next, 0);
    Atomics.store(ctrl, CTRL.done, 0);
    Atomics.store(ctrl, CTRL.error, 0);
    Atomics.store(ctrl, CTRL.chunksDone, 0);
    Atomics.store(ctrl, CTRL.reduceNext, 0);
    Atomics.store(ctrl, CTRL.maskKey, maskKey);
    if (this.workers.length > 0) {
      Atomics.add(ctrl, CTRL.gen, 1);
      Atomics.notify(ctrl, CTRL.gen);
    }
    // The main thread's model reads the shared parameters like the workers do.
    const pv = Atomics.load(ctrl, CTRL.paramsVersion);
    if (pv !== this.mainParamsVersion) {
      this.model.setParams(v.params);
      this.mainParamsVersion = pv;
    }
    let mainError: unknown;
    try {
      if (this.opts.mainWorks !== false || this.workers.length === 0) {
        runChunks(this.model, v, cmd);
        if (cmd === JOB_TRAIN) reduceGrads(v, this.model.nParams);
      }
    } catch (e) {
      mainError = e;
      // Stop the others: no new chunks, and the barrier of the gradient sum gives way.
      Atomics.store(ctrl, CTRL.next, chunks);
      Atomics.store(ctrl, CTRL.error, 1);
      Atomics.notify(ctrl, CTRL.chunksDone);
    }
    const deadline = Date.now() + JOB_TIMEOUT_MS;
    for (;;) {
      const done = Atomics.load(ctrl, CTRL.done);
      if (done >= this.workers.length) break;
      if (Date.now() > deadline) throw new Error(`training pool: ${this.workers.length - done} worker(s) did not finish a job in ${JOB_TIMEOUT_MS / 1000} s`);
      Atomics.wait(ctrl, CTRL.done, done, 1000);
    }
    if (mainError) throw mainError;
    if (Atomics.load(ctrl, CTRL.error) !== 0) throw new Error(readErr(v));
    return chunks;
  }

  private mainParamsVersion = -1;

  /** Chunks that worker threads computed so far. */
  get workerChunks(): number {
    return Atomics.load(this.views.ctrl, CTRL.workerChunks);
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const ctrl = this.views.ctrl;
    Atomics.store(ctrl, CTRL.cmd, JOB_EXIT);
    Atomics.add(ctrl, CTRL.gen, 1);
    Atomics.notify(ctrl, CTRL.gen);
    await Promise.all(this.workers.map((w) => new Promise<void>((res) => (w.threadId < 0 ? res() : w.once("exit", () => res())))));
    this.model.dispose();
  }
}

function ready(w: Worker): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(new Error(`training worker failed to start: ${e.message}`));
    w.once("error", onError);
    w.once("message", (m: { type: string; message?: string }) => {
      w.off("error", onError);
      if (m.type === "ready") resolve();
      else reject(new Error(`training worker failed to start: ${m.message ?? "unknown error"}`));
    });
  });
}
