/**
 * What a model's params say about its training data, checked against what the feature builder
 * recorded (features.json `params`) before anything trains: a sweep trial whose dep named
 * another variant's data (another horizon, windows of other lengths) would otherwise train on
 * the wrong labels and look like a result (issue 13).
 */
import type { TrainingSummary } from "../training/build.js";

/** The training data is not the variant the params ask for: a wiring mistake, not a trial outcome. */
export class DataContractError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DataContractError";
  }
}

/** The model's default window length (src/ml/models/model-params.ts `seq_len`). */
const DEFAULT_SEQ_LEN = 64;

/**
 * Throws a DataContractError naming both values when `horizon` (optional: the label horizon the
 * model expects, minutes) differs from the recorded one, or `seq_len` is not among the built
 * window lengths. Values that are not numbers are left to the model's own param checks.
 */
export function checkDataContract(dir: string, summary: TrainingSummary, params: { readonly horizon?: unknown; readonly seq_len?: unknown }): void {
  const built = summary.params;
  if (params.horizon !== undefined && params.horizon !== built.horizon)
    throw new DataContractError(`param "horizon" is ${JSON.stringify(params.horizon)}, but ${dir}/features.json records horizon ${built.horizon}: the training dep names another horizon's data`);
  const L = params.seq_len ?? DEFAULT_SEQ_LEN;
  if (typeof L === "number" && !built.seq_lengths.includes(L))
    throw new DataContractError(`param "seq_len" is ${L}, but ${dir} has no windows of length ${L} (built: ${built.seq_lengths.join(", ")}, features.json seq_lengths): the training dep names another variant, or its seq_lengths lack ${L}`);
}
