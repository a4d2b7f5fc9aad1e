/**
 * The backtest members of the Stage-1 bundle: the rolling gate files and the 1-minute candles
 * of the weeks the Stage 2 backtests simulate, so that nothing but the bundle and its manifest
 * crosses droplet -> gpu (issue 14). The weeks are the last `backtestWeeks` weeks of the span
 * (the test split, targets/stage1.yaml var `backtest_weeks`) and the `validationWeeks` weeks
 * before them (the validation split, whose backtests choose a model's threshold).
 *
 * Archive layout (under the bundle's top directory NAME/), so the ingest puts them under
 * data/ml_corpus/backtest/:
 *   backtest/gates/{mode}/gates_{week}_{week.end}.jsonl   one file per week, every instrument
 *   backtest/candles/{instrument}/{week}.parquet           one file per instrument-week
 * BUNDLE_INDEX.json (version 2) lists them under `backtest` (BacktestIndex); the ingest copies
 * that section into INGEST.json (src/bundle/ingest-backtest.ts).
 */
import { basename, dirname } from "node:path";

/** Where the backtest members sit inside the bundle (and inside the ingest directory). */
export const BACKTEST_DIR = "backtest";

/** The `backtest` section of BUNDLE_INDEX.json and INGEST.json. */
export interface BacktestIndex {
  /** Run mode of the gates (the `{mode}` of their directory). */
  readonly mode: string;
  /** The backtest weeks (the last weeks of the span), sorted. */
  readonly weeks: readonly string[];
  /** The weeks before them whose gates and candles are carried too (threshold selection). */
  readonly validation_weeks: readonly string[];
  readonly instruments: readonly string[];
  /** Week → the gate file's path inside the bundle (relative to its top directory). */
  readonly gates: Readonly<Record<string, string>>;
  /** The candle files' paths inside the bundle, sorted. */
  readonly candles: readonly string[];
  /** What was asked: `backtest_weeks` and `validation_weeks` (the span may hold fewer). */
  readonly requested: { readonly backtest_weeks: number; readonly validation_weeks: number };
}

/** A file to pack under an archive path of its own. */
export interface PlacedFile {
  readonly input: string;
  /** Path inside the bundle (POSIX). */
  readonly path: string;
  /** Absolute source path. */
  readonly source: string;
}

/** A week id of a gate file name `gates_{week}_{end}.jsonl`, else null. */
function gateWeek(path: string): string | null {
  return /^gates_(\d{4}-\d{2}-\d{2})_\d{4}-\d{2}-\d{2}\.jsonl$/.exec(basename(path))?.[1] ?? null;
}

/** The run mode directory of a gate file (`.../gates/{mode}/gates_*.jsonl`). */
function gateMode(path: string): string {
  return basename(dirname(path));
}

/** A bad backtest input of the bundle rule: names the file or the param. */
export class BacktestMembersError extends Error {
  constructor(message: string) {
    super(`bundle: ${message}`);
    this.name = "BacktestMembersError";
  }
}

/**
 * Picks the carried weeks and files: the last `backtestWeeks` weeks of the gate files' weeks
 * (the span) are the backtest weeks, the `validationWeeks` before them validation; a span
 * shorter than both keeps what it has (the feature builder then refuses a split that reaches
 * past them, naming INGEST.json). Every carried week needs a gate file and, per instrument of
 * the candle inputs, a candle file.
 */
export function selectBacktestMembers(
  gates: readonly string[],
  candles: readonly string[],
  backtestWeeks: number,
  validationWeeks: number,
): { index: BacktestIndex; files: PlacedFile[] } {
  const byWeek = new Map<string, string>();
  const modes = new Set<string>();
  for (const g of gates) {
    const w = gateWeek(g);
    if (!w) throw new BacktestMembersError(`input "backtest_gates": ${g} is not named gates_{week}_{week.end}.jsonl`);
    if (byWeek.has(w)) throw new BacktestMembersError(`input "backtest_gates": two gate files for week ${w}: ${byWeek.get(w)} and ${g} (give one run mode)`);
    byWeek.set(w, g);
    modes.add(gateMode(g));
  }
  if (modes.size !== 1) throw new BacktestMembersError(`input "backtest_gates": expected the gates of one run mode, got ${[...modes].sort().join(", ") || "none"}`);
  const span = [...byWeek.keys()].sort();
  const nBt = Math.min(backtestWeeks, span.length);
  const nVal = Math.min(validationWeeks, span.length - nBt);
  const weeks = span.slice(span.length - nBt);
  const validation = span.slice(span.length - nBt - nVal, span.length - nBt);
  const carried = new Set([...validation, ...weeks]);
  const mode = [...modes][0]!;
  const files: PlacedFile[] = [];
  const gatePaths: Record<string, string> = {};
  for (const w of [...carried].sort()) {
    const p = `${BACKTEST_DIR}/gates/${mode}/${basename(byWeek.get(w)!)}`;
    gatePaths[w] = p;
    files.push({ input: "backtest_gates", path: p, source: byWeek.get(w)! });
  }
  const instruments = [...new Set(candles.map((c) => basename(dirname(c))))].sort();
  const have = new Set(candles.map((c) => `${basename(dirname(c))}/${basename(c, ".parquet")}`));
  const candlePaths: string[] = [];
  for (const inst of instruments) {
    for (const w of [...carried].sort()) {
      if (!have.has(`${inst}/${w}`)) throw new BacktestMembersError(`input "backtest_candles": no data/candles/${inst}/${w}.parquet for the carried week ${w}`);
    }
  }
  for (const c of candles) {
    const w = basename(c, ".parquet");
    if (!carried.has(w)) continue;
    const p = `${BACKTEST_DIR}/candles/${basename(dirname(c))}/${w}.parquet`;
    candlePaths.push(p);
    files.push({ input: "backtest_candles", path: p, source: c });
  }
  candlePaths.sort();
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return {
    index: { mode, weeks, validation_weeks: validation, instruments, gates: gatePaths, candles: candlePaths, requested: { backtest_weeks: backtestWeeks, validation_weeks: validationWeeks } },
    files,
  };
}
