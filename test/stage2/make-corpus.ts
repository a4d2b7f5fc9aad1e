/**
 * Small hand-made corpora for the Stage 2 tests: a few instruments and weeks of gates every
 * 16 minutes, Monday 00:00 to Friday 20:00 UTC, with a handful of feature columns whose
 * values the tests can predict, written as a corpus-shaped parquet through DuckDB.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { withDuckDb, sqlString } from "../../src/io/duckdb.js";
import { prng } from "../helpers/prng.js";

/** One corpus row as the tests build it. */
export interface GateRow {
  instrument: string;
  ts_ms: number;
  run_mode: string;
  source: string;
  week: string;
  regime: string;
  hazard: number;
  hazard_decile: number;
  structure_coherence: number;
  structure_entropy: number | null;
  structure_pinned_alignment: number;
  canonical_realized_vol: number;
  session_london: boolean;
  roc_prev_pct: number;
  roc_forward_pct_60: number | null;
}

/** Rows for `weeks` Mondays × instruments × run modes, in corpus order per (mode, instrument). */
export function makeRows(opts: { weeks: string[]; instruments?: string[]; modes?: string[]; stepMin?: number; seed?: number }): GateRow[] {
  const rand = prng(opts.seed ?? 1);
  const out: GateRow[] = [];
  const step = (opts.stepMin ?? 16) * 60_000;
  for (const mode of opts.modes ?? ["rolling"]) {
    for (const inst of opts.instruments ?? ["EUR_USD", "USD_JPY"]) {
      for (const week of opts.weeks) {
        const start = Date.parse(`${week}T00:00:00Z`);
        for (let t = start + 64 * 60_000; t < start + 4 * 86_400_000 + 20 * 3_600_000; t += step) {
          const h = rand();
          out.push({
            instrument: inst,
            ts_ms: t,
            run_mode: mode,
            source: "synthetic",
            week,
            regime: ["neutral", "trend_bull", "chaotic"][Math.floor(rand() * 3)]!,
            hazard: h,
            hazard_decile: Math.min(9, Math.floor(h * 10)),
            structure_coherence: rand(),
            structure_entropy: rand(),
            structure_pinned_alignment: 1,
            canonical_realized_vol: rand() * 0.001,
            session_london: new Date(t).getUTCHours() >= 8 && new Date(t).getUTCHours() < 16,
            roc_prev_pct: (rand() - 0.5) * 0.01,
            roc_forward_pct_60: (rand() - 0.5) * 0.1,
          });
        }
      }
    }
  }
  return out;
}

/** Writes rows as a corpus parquet (columns typed as the real corpus types them). */
export async function writeCorpus(path: string, rows: readonly GateRow[]): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  const json = `${path}.rows.json`;
  writeFileSync(json, JSON.stringify(rows));
  await withDuckDb(async (conn) => {
    await conn.run(
      `COPY (SELECT instrument, make_timestamp(ts_ms * 1000) AS ts, CAST(ts_ms AS BIGINT) AS ts_ms, run_mode, source, week, regime,
              CAST(hazard AS DOUBLE) AS hazard, CAST(hazard_decile AS INTEGER) AS hazard_decile,
              CAST(structure_coherence AS DOUBLE) AS structure_coherence, CAST(structure_entropy AS DOUBLE) AS structure_entropy,
              CAST(structure_pinned_alignment AS DOUBLE) AS structure_pinned_alignment,
              CAST(canonical_realized_vol AS DOUBLE) AS canonical_realized_vol, CAST(session_london AS BOOLEAN) AS session_london,
              CAST(roc_prev_pct AS DOUBLE) AS roc_prev_pct, CAST(roc_forward_pct_60 AS DOUBLE) AS roc_forward_pct_60
       FROM read_json(${sqlString(json)}, format = 'array', columns = {instrument: 'VARCHAR', ts_ms: 'BIGINT', run_mode: 'VARCHAR', source: 'VARCHAR', week: 'VARCHAR', regime: 'VARCHAR', hazard: 'DOUBLE', hazard_decile: 'INTEGER', structure_coherence: 'DOUBLE', structure_entropy: 'DOUBLE', structure_pinned_alignment: 'DOUBLE', canonical_realized_vol: 'DOUBLE', session_london: 'BOOLEAN', roc_prev_pct: 'DOUBLE', roc_forward_pct_60: 'DOUBLE'})
       ORDER BY run_mode, source, instrument, ts_ms) TO ${sqlString(path)} (FORMAT parquet)`,
    );
  });
}
