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
  /**
   * The normaliser the model was trained under (center and scale per feature, in `features`
   * order), when config.json records it. A model held by `retrain_every` scores training data
   * normalised by a newer fit: the scorer maps those values back to this one.
   */
  readonly normaliser?: readonly NormalisedFeature[];
}

/** One feature's normaliser, value' = (value - center) / scale. */
export interface NormalisedFeature {
  readonly name: string;
  readonly center: number;
  readonly scale: number;
}

/** Reads `<dir>/config.json` and checks its format, version and the fields a scorer uses. */
export async function readModelConfig(dir: string): Promise<ModelConfigView> {
  const file = join(dir, "config.json");
  let c: { format?: unknown; version?: unknown; architecture?: { kind?: unknown; seq_len?: unknown }; features?: unknown; normaliser?: { features?: unknown } };
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
  const normaliser = readNormaliser(file, c.normaliser?.features, c.features);
  if (kind === "xgboost") return { kind, features: c.features, ...(normaliser && { normaliser }) };
  const L = c.architecture!.seq_len;
  if (typeof L !== "number" || !Number.isInteger(L) || L < 1) throw new ModelConfigError(`${file}: field "architecture.seq_len": expected a positive integer`);
  return { kind, seqLen: L, features: c.features, ...(normaliser && { normaliser }) };
}

/** `normaliser.features` of config.json (absent in older configs: undefined), checked against `features`. */
function readNormaliser(file: string, raw: unknown, names: readonly string[]): NormalisedFeature[] | undefined {
  if (raw === undefined) return undefined;
  const ok = (f: unknown): f is NormalisedFeature => {
    const g = f as NormalisedFeature;
    return typeof g?.name === "string" && Number.isFinite(g.center) && Number.isFinite(g.scale) && g.scale !== 0;
  };
  if (!Array.isArray(raw) || !raw.every(ok) || raw.map((f) => f.name).join("\0") !== names.join("\0"))
    throw new ModelConfigError(`${file}: field "normaliser.features": expected {name, center, scale} for each of "features", in order`);
  return raw.map((f) => ({ name: f.name, center: f.center, scale: f.scale }));
}
