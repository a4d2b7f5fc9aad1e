/**
 * The ml guardrail's scores: `output/ml_scores/<model>.parquet` (src/ml/models/scores.ts,
 * format dagbuild.ml_scores v1) read into a lookup by instrument, run mode and ts_ms, and
 * attached to gates. A gate without a score (or with a NULL one) is never tradable under the
 * guardrail.
 */
import { sqlString, withDuckDb } from "../io/duckdb.js";
import { BacktestInputError, type SimGate } from "./gates.js";

/** Scores of one model. */
export interface ScoreTable {
  readonly model: string | null;
  readonly digest: string | null;
  /** Weeks present, by split. */
  readonly weeks: Readonly<Record<string, readonly string[]>>;
  /** Key `instrument|run_mode|ts_ms` (and `instrument||ts_ms` for the first run mode seen). */
  readonly byKey: ReadonlyMap<string, number | null>;
  readonly rows: number;
}

/** Reads a scores parquet. */
export async function readScores(path: string, shown = path): Promise<ScoreTable> {
  return withDuckDb(async (conn) => {
    let rows;
    try {
      rows = (await conn.runAndReadAll(`SELECT instrument, run_mode, CAST(ts_ms AS DOUBLE), score, CAST(week AS VARCHAR), split, model, model_digest FROM read_parquet(${sqlString(path)}) ORDER BY instrument, run_mode, ts_ms`)).getRows();
    } catch (e) {
      throw new BacktestInputError(`${shown}: cannot read ml scores (expected columns instrument, run_mode, ts_ms, score, week, split, model, model_digest): ${(e as Error).message.split("\n")[0]}`);
    }
    const byKey = new Map<string, number | null>();
    const weeks: Record<string, Set<string>> = {};
    let model: string | null = null, digest: string | null = null;
    for (const r of rows) {
      const [inst, mode, ts, score, week, split] = r as [string, string, number, number | null, string, string];
      const s = score === null || score === undefined ? null : Number(score);
      byKey.set(`${inst}|${mode}|${ts}`, s);
      const loose = `${inst}||${ts}`;
      if (!byKey.has(loose)) byKey.set(loose, s);
      (weeks[split] ??= new Set()).add(week);
      model ??= (r[6] as string | null) ?? null;
      digest ??= (r[7] as string | null) ?? null;
    }
    const w: Record<string, string[]> = {};
    for (const k of Object.keys(weeks).sort()) w[k] = [...weeks[k]!].sort();
    return { model, digest, weeks: w, byKey, rows: rows.length };
  });
}

/** Sets each gate's score from the table (null when absent). */
export function attachScores(gates: SimGate[], table: ScoreTable, instrument: string): number {
  let found = 0;
  for (const g of gates) {
    const key = g.run_mode !== null ? `${instrument}|${g.run_mode}|${g.ts_ms}` : `${instrument}||${g.ts_ms}`;
    const s = table.byKey.get(key);
    g.score = s ?? null;
    if (s !== undefined && s !== null) found++;
  }
  return found;
}
