/**
 * Backtest weeks: `splits` of output/ml_training/features.json (train, validation, test and
 * backtest week ids, Mondays as ISO dates). The backtest weeks default to `splits.backtest`
 * (the test weeks when no backtest span is configured) and must never overlap the weeks the
 * model was trained or validated on: that is an error naming the weeks.
 */
import { readFile } from "node:fs/promises";
import { BacktestInputError } from "./gates.js";

/** Week ids by split. */
export interface Splits {
  readonly train: readonly string[];
  readonly validation: readonly string[];
  readonly test: readonly string[];
  readonly backtest: readonly string[];
}

/** Reads `splits` from a features.json. */
export async function readSplits(path: string, shown = path): Promise<Splits> {
  let d: unknown;
  try {
    d = JSON.parse(await readFile(path, "utf8"));
  } catch (e) {
    throw new BacktestInputError(`${shown}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const s = (d as { splits?: Record<string, unknown> } | null)?.splits;
  const list = (k: string): string[] => {
    const v = s?.[k];
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(x))) {
      throw new BacktestInputError(`${shown}: field "splits.${k}": expected a list of week ids (YYYY-MM-DD)`);
    }
    return [...(v as string[])].sort();
  };
  return { train: list("train"), validation: list("validation"), test: list("test"), backtest: list("backtest") };
}

/** The backtest overlaps the model's training or validation weeks. */
export class WeekOverlapError extends BacktestInputError {
  constructor(readonly weeks: readonly string[], what: string) {
    super(`backtest weeks overlap ${what}: ${weeks.join(", ")} (the backtest must lie outside the weeks the model was trained or validated on)`);
    this.name = "WeekOverlapError";
  }
}

/**
 * Checks that `backtest` shares no week with `trainWeeks` or `validationWeeks` (the model's);
 * `model` names the model in the message.
 */
export function checkNoOverlap(backtest: readonly string[], trainWeeks: readonly string[], validationWeeks: readonly string[], model: string): void {
  const tr = new Set(trainWeeks), va = new Set(validationWeeks);
  const bad = backtest.filter((w) => tr.has(w) || va.has(w)).sort();
  if (bad.length === 0) return;
  const kinds = [bad.some((w) => tr.has(w)) ? "training" : "", bad.some((w) => va.has(w)) ? "validation" : ""].filter(Boolean).join(" and ");
  throw new WeekOverlapError(bad, `the ${kinds} weeks of ${model}`);
}
