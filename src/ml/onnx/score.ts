/**
 * Scoring through ONNX Runtime (onnxruntime-node, CPU execution provider) of a model written by
 * export.ts. One intra-op and one inter-op thread, sequential execution: the scores are a pure
 * function of the model bytes and the input on a given machine, whatever else runs beside it.
 * Large inputs go through in fixed-size batches (the result does not depend on the batch size:
 * every op of these graphs is per-sample).
 */
import { readFile } from "node:fs/promises";
import * as ort from "onnxruntime-node";
import { ONNX_NAMES } from "./export.js";

/** Scores for n samples: the sign probability, the logit and (magnitude models) the magnitude. */
export interface OnnxScores {
  readonly sign: Float32Array;
  readonly logit: Float32Array;
  readonly mag?: Float32Array;
}

/** A loaded model. */
export interface OnnxScorer {
  /** The session's input/output names (for diagnostics). */
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Scores X [n, L, F] (row-major float32). */
  score(X: Float32Array, n: number, L: number, F: number): Promise<OnnxScores>;
  /** Releases the session. */
  close(): Promise<void>;
}

/** Scorer settings. */
export interface ScorerOptions {
  /** Samples per session.run (default 4096). */
  readonly batch?: number;
}

/** A model that cannot be scored (names the file or the field). */
export class OnnxScoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OnnxScoreError";
  }
}

/** Loads a model from its bytes or a file path. */
export async function createScorer(model: Uint8Array | string, opts: ScorerOptions = {}): Promise<OnnxScorer> {
  const where = typeof model === "string" ? model : "<model bytes>";
  const bytes = typeof model === "string" ? await readFile(model) : Buffer.from(model.buffer, model.byteOffset, model.byteLength);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      executionProviders: ["cpu"],
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
      logSeverityLevel: 3,
    });
  } catch (e) {
    throw new OnnxScoreError(`${where}: ONNX Runtime cannot load the model: ${e instanceof Error ? e.message : String(e)}`);
  }
  const outputs = session.outputNames;
  for (const need of [ONNX_NAMES.logit, ONNX_NAMES.prob]) {
    if (!outputs.includes(need)) throw new OnnxScoreError(`${where}: the model has no output "${need}" (outputs: ${outputs.join(", ")})`);
  }
  if (!session.inputNames.includes(ONNX_NAMES.input)) throw new OnnxScoreError(`${where}: the model has no input "${ONNX_NAMES.input}"`);
  const hasMag = outputs.includes(ONNX_NAMES.magnitude);
  const batch = Math.max(1, opts.batch ?? 4096);
  return {
    inputNames: session.inputNames,
    outputNames: outputs,
    async score(X, n, L, F) {
      if (X.length < n * L * F) throw new OnnxScoreError(`${where}: X has ${X.length} floats; ${n} samples of [${L}, ${F}] need ${n * L * F}`);
      const sign = new Float32Array(n);
      const logit = new Float32Array(n);
      const mag = hasMag ? new Float32Array(n) : undefined;
      for (let at = 0; at < n; at += batch) {
        const b = Math.min(batch, n - at);
        const x = new ort.Tensor("float32", X.subarray(at * L * F, (at + b) * L * F), [b, L, F]);
        const r = await session.run({ [ONNX_NAMES.input]: x });
        sign.set(r[ONNX_NAMES.prob]!.data as Float32Array, at);
        logit.set(r[ONNX_NAMES.logit]!.data as Float32Array, at);
        if (mag) mag.set(r[ONNX_NAMES.magnitude]!.data as Float32Array, at);
        for (const t of Object.values(r)) t.dispose();
      }
      return mag ? { sign, logit, mag } : { sign, logit };
    },
    async close() {
      await session.release();
    },
  };
}
