/**
 * Versions of a model directory's own records, shared by the sequence models
 * (sequence-model.ts) and the GBM (gbm-model.ts). metrics.json has its own
 * (model-metrics.ts METRICS_FORMAT_VERSION), model.onnx its (onnx/export.ts).
 *
 * - config.json: `{"format":"dagbuild.ml_model","version":MODEL_CONFIG_VERSION,...}`, what was
 *   trained (architecture, training params, features, normaliser) and on which inputs.
 * - weights.safetensors (sequence models): metadata `format: dagbuild.ml_weights`,
 *   `version: WEIGHTS_FORMAT_VERSION` (a string: safetensors metadata values are strings),
 *   `config` (the model config JSON); one tensor per parameter name (docs/nn-engine.md).
 *
 * readModelConfig is config.json's reader for the scorer (scores.ts).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";

/** Format version of config.json (format dagbuild.ml_model). */
export const MODEL_CONFIG_VERSION = 1;

/** Format version of weights.safetensors' metadata (format dagbuild.ml_weights). */
export const WEIGHTS_FORMAT_VERSION = 1;

/** A model directory's config.json that cannot be used (names the file and the field). */
export class ModelConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelConfigError";
  }
}

/** What a scorer needs of config.json: the model kind, its window length, its feature names. */
export interface ModelConfigView {
  readonly kind: string;
  /** The window length (sequence models; absent for the GBM). */
  readonly seqLen?: number;
  readonly features: readonly string[];
}

/** Reads `<dir>/config.json` and checks its format, version and the fields a scorer uses. */
export async function readModelConfig(dir: string): Promise<ModelConfigView> {
  const file = join(dir, "config.json");
  let c: { format?: unknown; version?: unknown; architecture?: { kind?: unknown; seq_len?: unknown }; features?: unknown };
  try {
    c = JSON.parse(await readFile(file, "utf8"));
  } catch (e) {
    throw new ModelConfigError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (c?.format !== "dagbuild.ml_model" || c.version !== MODEL_CONFIG_VERSION)
    throw new ModelConfigError(`${file}: format ${JSON.stringify(c?.format)} version ${JSON.stringify(c?.version)}, expected dagbuild.ml_model version ${MODEL_CONFIG_VERSION}`);
  const kind = c.architecture?.kind;
  if (typeof kind !== "string") throw new ModelConfigError(`${file}: field "architecture.kind": expected a string`);
  if (!Array.isArray(c.features) || !c.features.every((f) => typeof f === "string")) throw new ModelConfigError(`${file}: field "features": expected a list of names`);
  if (kind === "xgboost") return { kind, features: c.features };
  const L = c.architecture!.seq_len;
  if (typeof L !== "number" || !Number.isInteger(L) || L < 1) throw new ModelConfigError(`${file}: field "architecture.seq_len": expected a positive integer`);
  return { kind, seqLen: L, features: c.features };
}
