/**
 * The feature builder's params: what the models learn. Every default is resolved here and
 * written into features.json, so a model directory says exactly what it was trained on.
 */
import { HORIZONS_MIN } from "../../sep/types.js";
import type { SplitSpec } from "./splits.js";

/** Categorical columns the builder knows, and how each may be encoded. */
export const CATEGORICALS = ["instrument", "run_mode", "regime", "hazard_decile"] as const;
export type Categorical = (typeof CATEGORICALS)[number];

/** Resolved feature-builder params. */
export interface TrainingParams {
  readonly horizon: number;
  /** Run modes whose rows are used. */
  readonly run_mode: readonly string[];
  /** One corpus source, or "" = every source but merged `legacy*` exports. */
  readonly source: string;
  readonly bitplanes: boolean;
  readonly normalise: "zscore" | "robust";
  /** Categoricals as one-hot feature columns (0/1, not normalised). */
  readonly onehot: readonly Categorical[];
  /** Categoricals as integer code columns (vocabulary from the training rows; unseen = vocabulary size). */
  readonly codes: readonly Categorical[];
  readonly split: SplitSpec;
  readonly backtest_span: readonly [string, string] | null;
  /** Extra minutes beyond the horizon a label must stay clear of the next split. */
  readonly embargo_min: number;
  readonly seq_lengths: readonly number[];
  /** Stride of the training windows. */
  readonly stride: number;
  /** Stride of the validation and test windows (default 1: every gate is evaluated). */
  readonly eval_stride: number;
  /** Longest gap (minutes) a window may span; the default admits a weekend close (~48 h) and nothing longer. */
  readonly max_gap_min: number;
}

/** A bad param: names it and says what was expected. */
export class TrainingParamError extends Error {
  constructor(name: string, message: string) {
    super(`param "${name}": ${message}`);
    this.name = "TrainingParamError";
  }
}

type Raw = Readonly<Record<string, unknown>>;

const KNOWN = new Set([
  "horizon", "run_mode", "source", "bitplanes", "normalise", "onehot", "codes", "split_train", "split_validation",
  "train_weeks", "validation_weeks", "test_weeks", "train_span", "validation_span", "test_span", "backtest_span",
  "embargo_min", "seq_lengths", "stride", "eval_stride", "max_gap_min",
]);

function num(p: Raw, k: string, dflt: number, ok: (v: number) => boolean, what: string): number {
  const v = p[k];
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isFinite(v) || !ok(v)) throw new TrainingParamError(k, `must be ${what}, got ${JSON.stringify(v)}`);
  return v;
}

function list(p: Raw, k: string, dflt: readonly string[]): string[] {
  const v = p[k];
  if (v === undefined) return [...dflt];
  const l = Array.isArray(v) ? v : [v];
  if (!l.every((x) => typeof x === "string")) throw new TrainingParamError(k, "must be a list of strings");
  return l as string[];
}

function span(p: Raw, k: string): [string, string] | null {
  const v = p[k];
  if (v === undefined) return null;
  const ok = Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === "string" && /^\d{4}-\d{2}-\d{2}$/.test(x)) && v[0] <= v[1];
  if (!ok) throw new TrainingParamError(k, `must be [first Monday, last Monday] as ISO dates, got ${JSON.stringify(v)}`);
  return [v[0], v[1]];
}

function cats(p: Raw, k: string, dflt: readonly Categorical[]): Categorical[] {
  const l = list(p, k, dflt);
  for (const c of l) if (!(CATEGORICALS as readonly string[]).includes(c)) throw new TrainingParamError(k, `unknown categorical "${c}" (known: ${CATEGORICALS.join(", ")})`);
  return l as Categorical[];
}

function splitSpec(p: Raw): SplitSpec {
  const spans = ["train_span", "validation_span", "test_span"].map((k) => span(p, k));
  const counts = ["train_weeks", "validation_weeks", "test_weeks"].filter((k) => p[k] !== undefined);
  const fracs = ["split_train", "split_validation"].filter((k) => p[k] !== undefined);
  const ways = [spans.some(Boolean), counts.length > 0, fracs.length > 0].filter(Boolean).length;
  if (ways > 1) throw new TrainingParamError("split", "give fractions (split_*), week counts (*_weeks) or spans (*_span), not several");
  if (spans.some(Boolean)) {
    if (!spans.every(Boolean)) throw new TrainingParamError("train_span", "train_span, validation_span and test_span go together");
    return { by: "span", train: spans[0]!, validation: spans[1]!, test: spans[2]! };
  }
  if (counts.length) {
    // A decimal string counts too: the pipeline's vars (backtest_weeks, validation_weeks) are strings.
    const int = (k: string) => num(typeof p[k] === "string" && /^\d+$/.test(p[k] as string) ? { [k]: Number(p[k]) } : p, k, NaN, (v) => Number.isInteger(v) && v >= 1, "a positive integer");
    if (p.validation_weeks === undefined || (p.train_weeks === undefined && p.test_weeks === undefined)) throw new TrainingParamError("train_weeks", "give validation_weeks with train_weeks, test_weeks or both");
    // Without train_weeks, training takes the weeks before the last validation + test weeks.
    return { by: "count", ...(p.train_weeks !== undefined ? { train: int("train_weeks") } : {}), validation: int("validation_weeks"), ...(p.test_weeks !== undefined ? { test: int("test_weeks") } : {}) };
  }
  const frac = (k: string, d: number) => num(p, k, d, (v) => v > 0 && v < 1, "a fraction in (0, 1)");
  return { by: "fraction", train: frac("split_train", 0.6), validation: frac("split_validation", 0.2) };
}

/** Resolves and checks the params; unknown keys are errors (a typo must not silently use a default). */
export function resolveTrainingParams(p: Raw): TrainingParams {
  for (const k of Object.keys(p)) if (!KNOWN.has(k)) throw new TrainingParamError(k, `unknown param (known: ${[...KNOWN].sort().join(", ")})`);
  const horizon = num(p, "horizon", 60, (v) => (HORIZONS_MIN as readonly number[]).includes(v), `one of ${HORIZONS_MIN.join("/")}`);
  const normalise = p.normalise ?? "zscore";
  if (normalise !== "zscore" && normalise !== "robust") throw new TrainingParamError("normalise", `must be zscore or robust, got ${JSON.stringify(normalise)}`);
  const onehot = cats(p, "onehot", ["regime"]);
  const codes = cats(p, "codes", ["instrument", "run_mode", "hazard_decile"]);
  const both = onehot.filter((c) => codes.includes(c));
  if (both.length) throw new TrainingParamError("codes", `${both.join(", ")} is also in onehot; choose one encoding`);
  const seq = p.seq_lengths === undefined ? [32, 64] : (Array.isArray(p.seq_lengths) ? p.seq_lengths : [p.seq_lengths]);
  if (!seq.every((v) => Number.isInteger(v) && v >= 2 && v <= 512)) throw new TrainingParamError("seq_lengths", `must be integers in 2..512, got ${JSON.stringify(p.seq_lengths)}`);
  const bitplanes = p.bitplanes ?? false;
  if (typeof bitplanes !== "boolean") throw new TrainingParamError("bitplanes", "must be true or false");
  const source = p.source ?? "";
  if (typeof source !== "string") throw new TrainingParamError("source", "must be a string");
  const runMode = list(p, "run_mode", ["rolling"]);
  if (runMode.length === 0) throw new TrainingParamError("run_mode", "must name at least one run mode");
  return {
    horizon,
    run_mode: [...new Set(runMode)].sort(),
    source,
    bitplanes,
    normalise,
    onehot,
    codes,
    split: splitSpec(p),
    backtest_span: span(p, "backtest_span"),
    embargo_min: num(p, "embargo_min", 0, (v) => v >= 0, "a number of minutes >= 0"),
    seq_lengths: [...new Set(seq as number[])].sort((a, b) => a - b),
    stride: num(p, "stride", 1, (v) => Number.isInteger(v) && v >= 1, "a positive integer"),
    eval_stride: num(p, "eval_stride", 1, (v) => Number.isInteger(v) && v >= 1, "a positive integer"),
    max_gap_min: num(p, "max_gap_min", 3000, (v) => v > 0, "a positive number of minutes"),
  };
}
