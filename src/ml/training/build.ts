/**
 * The feature builder: corpus parquet → `{split}.parquet`, `{split}.seq{L}.safetensors` and
 * `features.json` in one output directory (see rules/ml-training.ts for the target).
 *
 * Integrity: the split is by week, walk-forward; everything fitted (feature choice, code
 * vocabularies, the normaliser) sees training rows only and is applied unchanged to
 * validation and test; labels that reach into a later split are purged, and windows that
 * start in an earlier split are dropped.
 */
import { join } from "node:path";
import { withDuckDb } from "../../io/duckdb.js";
import { writeAtomic } from "../../io/write-atomic.js";
import { stableStringify } from "../../engine/hash.js";
import { writeSafetensors } from "../safetensors.js";
import type { TrainingParams } from "./params.js";
import { makeSplits, perSplit, purgeLimits, SPLIT_NAMES, type SplitName, type WeekSplits } from "./splits.js";
import { assignSplits, baseWeeks, chooseFeatures, loadBase, readDense, writeSplitParquets, type DenseRows, type DroppedColumn, type FeatureColumn } from "./table.js";
import { gatherWindows, makeWindows, type WindowSet } from "./windows.js";

/** Format version of features.json and of the safetensors metadata. */
export const FEATURES_FORMAT_VERSION = 1;

/** Digests of what the builder read, recorded in every output. */
export type InputDigests = Record<string, { sha256: string; bytes?: number }>;

/** What a build produced: the content of features.json. */
export interface TrainingSummary {
  readonly format: "dagbuild.ml_training";
  readonly version: number;
  readonly params: TrainingParams;
  readonly features: { name: string; kind: string; center: number; scale: number }[];
  readonly dropped_features: DroppedColumn[];
  readonly onehot: Record<string, string[]>;
  readonly codes: Record<string, { column: string; vocabulary: string[]; unseen: number }>;
  readonly normaliser: { method: string; fitted_on: "train"; missing: string };
  readonly splits: WeekSplits;
  readonly counts: {
    readonly dropped_incomplete_label: number;
    readonly rows: Record<SplitName, number>;
    readonly purged_rows: Record<SplitName, number>;
    readonly windows: Record<string, Record<SplitName, number> & { skipped: WindowSet["skipped"] }>;
  };
  readonly class_balance: Record<SplitName, { positives: number; negatives: number; positive_rate: number | null }>;
  readonly inputs: InputDigests;
  readonly files: string[];
}

function r6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

function balance(d: DenseRows, k: number): { positives: number; negatives: number; positive_rate: number | null } {
  let pos = 0;
  let n = 0;
  for (let i = 0; i < d.n; i++) {
    if (d.split[i] === k && d.splitRow[i]! >= 0) {
      n++;
      pos += d.ySign[i]!;
    }
  }
  return { positives: pos, negatives: n - pos, positive_rate: n ? r6(pos / n) : null };
}

async function writeWindows(outDir: string, d: DenseRows, ws: WindowSet, meta: Record<string, string>): Promise<string[]> {
  const files: string[] = [];
  for (const s of SPLIT_NAMES) {
    const ends = ws.ends[s];
    const L = ws.length;
    const row = new BigInt64Array(ends.length);
    const ySign = new Uint8Array(ends.length);
    const yMag = new Float32Array(ends.length);
    ends.forEach((e, i) => {
      row[i] = BigInt(d.splitRow[e]!);
      ySign[i] = d.ySign[e]!;
      yMag[i] = d.yMag[e]!;
    });
    const name = `${s}.seq${L}.safetensors`;
    await writeSafetensors(
      join(outDir, name),
      [
        ["X", { dtype: "F32", shape: [ends.length, L, d.F], data: gatherWindows(d.features, d.F, ends, L) }],
        ["y_sign", { dtype: "U8", shape: [ends.length], data: ySign }],
        ["y_mag", { dtype: "F32", shape: [ends.length], data: yMag }],
        ["row", { dtype: "I64", shape: [ends.length], data: row }],
      ],
      { ...meta, split: s, seq_len: String(L) },
    );
    files.push(name);
  }
  return files;
}

/** Progress lines for the action log. */
export type BuildLog = (line: string) => void;

/** Builds the training data from one corpus parquet into `outDir` (which must exist and be empty). */
export async function buildTrainingData(opts: {
  corpus: string;
  outDir: string;
  params: TrainingParams;
  inputs: InputDigests;
  log?: BuildLog;
  /** Called with the splits before anything is written; throws to refuse them (rules/ml-training.ts). */
  checkSplits?: (splits: WeekSplits) => void;
  /** Wall time per phase (benchmarks); never written into the outputs. */
  onPhase?: (phase: "select" | "fit" | "parquet" | "read" | "windows", ms: number) => void;
}): Promise<TrainingSummary> {
  const { params: p, outDir } = opts;
  const log = opts.log ?? (() => undefined);
  let t = performance.now();
  const phase = (name: Parameters<NonNullable<typeof opts.onPhase>>[0]) => {
    const now = performance.now();
    opts.onPhase?.(name, now - t);
    t = now;
  };
  return withDuckDb(async (conn) => {
    const base = await loadBase(conn, opts.corpus, p);
    const splits = makeSplits(await baseWeeks(conn), p.split, p.backtest_span ?? undefined);
    opts.checkSplits?.(splits);
    const counts = await assignSplits(conn, splits, purgeLimits(splits), (p.horizon + p.embargo_min) * 60_000);
    phase("select");
    const chosen = await chooseFeatures(conn, base.cols, p);
    phase("fit");
    await writeSplitParquets(conn, chosen.features, chosen.codes, p, (s) => join(outDir, `${s}.parquet`));
    phase("parquet");
    const dense = await readDense(conn, chosen.features, p);
    phase("read");
    const summaryFeatures = chosen.features.map((f: FeatureColumn) => ({ name: f.name, kind: f.kind, center: f.center, scale: f.scale }));
    const meta = {
      format: "dagbuild.ml_training.seq",
      version: String(FEATURES_FORMAT_VERSION),
      feature_names: JSON.stringify(summaryFeatures.map((f) => f.name)),
      normaliser: stableStringify({ method: p.normalise, features: summaryFeatures }).trimEnd(),
      params: stableStringify(p).trimEnd(),
      input_digests: stableStringify(opts.inputs).trimEnd(),
    };
    const files = SPLIT_NAMES.map((s) => `${s}.parquet`);
    const windows: TrainingSummary["counts"]["windows"] = {};
    for (const L of p.seq_lengths) {
      const ws = makeWindows(dense, L, [p.stride, p.eval_stride, p.eval_stride], p.max_gap_min * 60_000);
      files.push(...(await writeWindows(outDir, dense, ws, meta)));
      windows[`seq${L}`] = { ...perSplit((s) => ws.ends[s].length), skipped: ws.skipped };
    }
    phase("windows");
    const summary: TrainingSummary = {
      format: "dagbuild.ml_training",
      version: FEATURES_FORMAT_VERSION,
      params: p,
      features: summaryFeatures,
      dropped_features: chosen.dropped,
      onehot: chosen.onehot,
      codes: Object.fromEntries(Object.entries(chosen.codes).map(([c, v]) => [c, { column: `code_${c}`, vocabulary: v, unseen: v.length }])),
      normaliser: { method: p.normalise, fitted_on: "train", missing: "0 after normalisation (the training center)" },
      splits,
      counts: {
        dropped_incomplete_label: base.incomplete,
        rows: perSplit((s) => counts[s].rows),
        purged_rows: perSplit((s) => counts[s].purged),
        windows,
      },
      class_balance: perSplit((_, k) => balance(dense, k)),
      inputs: opts.inputs,
      files: [...files, "features.json"].sort(),
    };
    await writeAtomic(join(outDir, "features.json"), stableStringify(summary));
    logSummary(summary, log);
    return summary;
  });
}

function logSummary(s: TrainingSummary, log: BuildLog): void {
  log(`ml-training: ${s.features.length} features (${s.dropped_features.length} dropped: ${s.dropped_features.map((d) => `${d.name} ${d.why}`).join(", ") || "none"}); ${s.counts.dropped_incomplete_label} rows dropped for an incomplete label`);
  for (const k of SPLIT_NAMES) {
    const b = s.class_balance[k];
    const w = Object.entries(s.counts.windows).map(([L, c]) => `${L} ${c[k]}`).join(", ");
    log(`ml-training: ${k}: ${s.splits[k].length} weeks, ${s.counts.rows[k]} rows (${s.counts.purged_rows[k]} purged), windows ${w}, positive rate ${b.positive_rate}`);
  }
  for (const [L, c] of Object.entries(s.counts.windows)) log(`ml-training: ${L} windows not made: ${c.skipped.gap} cross a long gap, ${c.skipped.earlier_split} start in an earlier split, ${c.skipped.purged_label} end on a purged label`);
}
