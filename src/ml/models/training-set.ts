/**
 * Reads the feature builder's output (`output/ml_training/`) for a model: features.json, the
 * sequence tensors of one window length per split, and the raw hazard of each window's last
 * gate (for the hazard heuristic the models are compared with).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { sqlString, withDuckDb, type DuckDBConnection } from "../../io/duckdb.js";
import { readSafetensors, SafetensorsError } from "../safetensors.js";
import type { Split } from "../nn/trainer.js";
import { SPLIT_NAMES, type SplitName } from "../training/splits.js";
import { FEATURES_FORMAT_VERSION, type TrainingSummary } from "../training/build.js";

/** One split's windows, with the index of each window's last gate in `{split}.parquet`. */
export interface WindowSplit extends Split {
  readonly row: Float64Array;
  readonly hazard: Float64Array;
  /** UTC day (days since the epoch) of each window's last gate: the bootstrap's blocks. */
  readonly day: Int32Array;
}

/** The training data a model sees. */
export interface TrainingSet {
  readonly summary: TrainingSummary;
  readonly L: number;
  readonly F: number;
  readonly splits: Record<SplitName, WindowSplit>;
}

/** The training data is missing or not what the model needs. */
export class TrainingSetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TrainingSetError";
  }
}

/** Reads features.json and checks its version. */
export async function readSummary(dir: string): Promise<TrainingSummary> {
  const file = join(dir, "features.json");
  let s: TrainingSummary;
  try {
    s = JSON.parse(await readFile(file, "utf8")) as TrainingSummary;
  } catch (e) {
    throw new TrainingSetError(`${file}: cannot read (${(e as Error).message})`);
  }
  const head = s as Partial<TrainingSummary> | null; // any JSON: null and arrays included
  if (head?.format !== "dagbuild.ml_training" || head.version !== FEATURES_FORMAT_VERSION)
    throw new TrainingSetError(`${file}: format ${JSON.stringify(head?.format)} version ${JSON.stringify(head?.version)}, expected dagbuild.ml_training version ${FEATURES_FORMAT_VERSION}`);
  return s;
}

/** The raw hazard and the UTC day of the given rows of a split parquet. */
async function rowFacts(c: DuckDBConnection, parquet: string, rows: Float64Array): Promise<{ hazard: Float64Array; day: Int32Array }> {
  const [h, d] = (await c.runAndReadAll(`SELECT hazard_raw, CAST(ts_ms // 86400000 AS INTEGER) FROM read_parquet(${sqlString(parquet)})`)).getColumns();
  return { hazard: Float64Array.from(rows, (r) => Number(h![r])), day: Int32Array.from(rows, (r) => Number(d![r])) };
}

/** Loads the windows of length L of every split; `summary` is dir's features.json when the caller has read it already. */
export async function loadTrainingSet(dir: string, L: number, summary?: TrainingSummary): Promise<TrainingSet> {
  summary ??= await readSummary(dir);
  if (!summary.params.seq_lengths.includes(L))
    throw new TrainingSetError(`${dir}: no windows of length ${L} (the feature builder made ${summary.params.seq_lengths.join(", ")}; set its seq_lengths)`);
  const F = summary.features.length;
  const splits = {} as Record<SplitName, WindowSplit>;
  // One DuckDB for the three splits' row facts.
  await withDuckDb(async (c) => {
    for (const s of SPLIT_NAMES) {
      const file = join(dir, `${s}.seq${L}.safetensors`);
      let st;
      try {
        st = await readSafetensors(file);
      } catch (e) {
        if (e instanceof SafetensorsError || (e as NodeJS.ErrnoException).code === "ENOENT") throw new TrainingSetError(`${file}: ${(e as Error).message}`);
        throw e;
      }
      const X = st.tensors.get("X"), ys = st.tensors.get("y_sign"), ym = st.tensors.get("y_mag"), row = st.tensors.get("row");
      if (!X || !ys || !ym || !row || X.shape[1] !== L || X.shape[2] !== F) throw new TrainingSetError(`${file}: expected X [N, ${L}, ${F}], y_sign, y_mag and row`);
      const n = X.shape[0]!;
      if (n === 0) throw new TrainingSetError(`${file}: the ${s} split has no windows of length ${L}`);
      const rows = Float64Array.from(row.data as BigInt64Array, Number);
      splits[s] = { X: X.data as Float32Array, ySign: ys.data as Uint8Array, yMag: ym.data as Float32Array, n, row: rows, ...(await rowFacts(c, join(dir, `${s}.parquet`), rows)) };
    }
  });
  return { summary, L, F, splits };
}
