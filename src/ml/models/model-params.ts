/**
 * A sequence-model target's params → the model config and the training settings. Every
 * default is resolved here and recorded in config.json, so a model directory says exactly how
 * it was made. Unknown keys are errors: a typo must not silently train with a default.
 */
import { availableParallelism } from "node:os";
import { configProblems, type ModelConfig } from "../nn/config.js";

/** Resolved training settings (everything but the architecture). */
export interface SequenceTraining {
  readonly seed: number;
  readonly epochs: number;
  readonly patience: number;
  readonly batch: number;
  readonly lr: number;
  /** 0 in the params = every core; the result does not depend on it. */
  readonly threads: number;
  /** Our kernels (auto = native, else wasm), or TensorFlow.js (its GPU build when installed: src/ml/nn/tfjs-trainer.ts). */
  readonly backend: "auto" | "native" | "wasm" | "tfjs";
  readonly magnitude_loss: "huber" | "mse";
  readonly magnitude_weight: number;
  /** 0 = every training window each epoch. */
  readonly max_train_samples: number;
  readonly bootstrap: number;
  /** Dropout rate in [0, 1), training only (0 = none; also in the architecture when above 0). */
  readonly dropout: number;
}

/** A bad param, named. */
export class ModelParamError extends Error {
  constructor(name: string, message: string) {
    super(`param "${name}": ${message}`);
    this.name = "ModelParamError";
  }
}

type Raw = Readonly<Record<string, unknown>>;
const COMMON = ["model", "seq_len", "task", "seed", "epochs", "patience", "batch", "lr", "threads", "backend", "magnitude_loss", "magnitude_weight", "max_train_samples", "bootstrap", "dropout"];
const RECURRENT = ["units", "layers"];
const TRANSFORMER = ["d_model", "heads", "layers", "ff", "pos", "pool"];

function int(p: Raw, k: string, d: number, min = 1): number {
  const v = p[k] ?? d;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) throw new ModelParamError(k, `must be an integer >= ${min}, got ${JSON.stringify(p[k])}`);
  return v;
}

function real(p: Raw, k: string, d: number, ok: (v: number) => boolean, what: string): number {
  const v = p[k] ?? d;
  if (typeof v !== "number" || !Number.isFinite(v) || !ok(v)) throw new ModelParamError(k, `must be ${what}, got ${JSON.stringify(p[k])}`);
  return v;
}

function choice<T extends string>(p: Raw, k: string, options: readonly T[]): T {
  const v = p[k] ?? options[0];
  if (typeof v !== "string" || !(options as readonly string[]).includes(v)) throw new ModelParamError(k, `must be one of ${options.join(", ")}, got ${JSON.stringify(p[k])}`);
  return v as T;
}

/** The architecture from the params; n_features comes from the training data. */
export function resolveModelConfig(p: Raw, nFeatures: number): ModelConfig {
  const kind = choice(p, "model", ["lstm", "gru", "transformer"] as const);
  const known = new Set([...COMMON, ...(kind === "transformer" ? TRANSFORMER : RECURRENT)]);
  for (const k of Object.keys(p)) if (!known.has(k)) throw new ModelParamError(k, `unknown for model ${kind} (known: ${[...known].sort().join(", ")})`);
  const seq_len = int(p, "seq_len", 64, 2);
  const magnitude = choice(p, "task", ["sign", "both"] as const) === "both";
  let c: ModelConfig;
  if (kind === "transformer") {
    c = {
      kind, seq_len, n_features: nFeatures, magnitude,
      d_model: int(p, "d_model", 64), heads: int(p, "heads", 4), layers: int(p, "layers", 2), ff: int(p, "ff", 128),
      pos: choice(p, "pos", ["sinusoidal", "learned"] as const), pool: choice(p, "pool", ["last", "mean"] as const),
    };
  } else {
    const layers = int(p, "layers", 1);
    if (layers !== 1 && layers !== 2) throw new ModelParamError("layers", `must be 1 or 2 for ${kind}, got ${layers}`);
    c = { kind, seq_len, n_features: nFeatures, magnitude, units: int(p, "units", 64), layers };
  }
  // Only a rate above 0 enters the architecture: at 0 the config (and the model.onnx and
  // weights.safetensors metadata that embed it) stays what it was before dropout existed.
  const dropout = dropoutParam(p);
  if (dropout > 0) c = { ...c, dropout };
  const problems = configProblems(c);
  if (problems.length) throw new ModelParamError("model", problems.join("; "));
  return c;
}

/** `dropout`: a rate in [0, 1) (default 0). */
function dropoutParam(p: Raw): number {
  return real(p, "dropout", 0, (v) => v >= 0 && v < 1, "a dropout rate in [0, 1)");
}

/** The training settings from the params. */
export function resolveTraining(p: Raw): SequenceTraining {
  const threads = int(p, "threads", 0, 0);
  return {
    seed: int(p, "seed", 7, 0),
    epochs: int(p, "epochs", 12),
    patience: int(p, "patience", 3),
    batch: int(p, "batch", 256),
    lr: real(p, "lr", 1e-3, (v) => v > 0 && v < 1, "a learning rate in (0, 1)"),
    threads: threads === 0 ? Math.min(4, availableParallelism()) : threads,
    backend: choice(p, "backend", ["auto", "native", "wasm", "tfjs"] as const),
    magnitude_loss: choice(p, "magnitude_loss", ["huber", "mse"] as const),
    magnitude_weight: real(p, "magnitude_weight", 0.5, (v) => v >= 0, "a weight >= 0"),
    max_train_samples: int(p, "max_train_samples", 0, 0),
    bootstrap: int(p, "bootstrap", 1000, 0),
    dropout: dropoutParam(p),
  };
}
