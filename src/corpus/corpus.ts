/**
 * The corpus merge: weekly parquet parts plus optional legacy JSONL exports → one parquet file,
 * one row per (instrument, ts_ms, run_mode, source), in a total order, byte-identical on
 * rebuild. Parts are read as parquet (never their JSONL again), so adding a week costs one
 * part build plus this merge.
 */
import { rename, rm } from "node:fs/promises";
import { DETERMINISTIC_PARQUET, sqlString, withDuckDb, type DuckDBConnection } from "../io/duckdb.js";
import { corpusColumns, corpusParquetOptions, CORPUS_FORMAT_VERSION, CORPUS_KEY, CORPUS_ORDER } from "./columns.js";
import { createRowTable, forEachGateRow, RowAppender, selectCorpusColumns } from "./parts.js";

/** A legacy export to fold in, with the labels its rows get. */
export interface LegacyInput {
  readonly path: string;
  /** Shown in errors (workspace-relative path). */
  readonly label: string;
  readonly source: string;
  /** When absent, each record's own `run_mode` is used. */
  readonly run_mode?: string;
  /** Price side of the legacy system's candles (bid/ask/mid); when absent, the parts' side is assumed, with a warning. */
  readonly price_side?: string;
}

/** What the merge did. */
export interface CorpusStats {
  readonly rows: number;
  readonly partRows: number;
  readonly legacyRows: number;
  /** Rows dropped because an earlier input already had their key. */
  readonly duplicates: number;
  /** The corpus's price side (recorded in its metadata), or null when no input declares one. */
  readonly priceSide: string | null;
  /** What the merge assumed (e.g. an undeclared legacy side). */
  readonly warnings: readonly string[];
}

/** The `dagbuild_price_side` of each parquet file (null: not recorded). */
export async function readPriceSides(conn: DuckDBConnection, paths: readonly string[]): Promise<(string | null)[]> {
  const out: (string | null)[] = [];
  for (const p of paths) {
    const r = await conn.runAndReadAll(`SELECT decode(value) FROM parquet_kv_metadata(${sqlString(p)}) WHERE decode(key) = 'dagbuild_price_side'`);
    const v = r.getRows()[0]?.[0];
    out.push(v === undefined || v === null ? null : String(v));
  }
  return out;
}

/**
 * The one price side of the merge: every part and every legacy input that declares a side
 * must agree (bid and mid prices differ by half the spread: their gates are not comparable).
 */
function mergeSides(parts: readonly string[], partSides: readonly (string | null)[], legacy: readonly LegacyInput[], warnings: string[]): string | null {
  const seen = new Map<string, string>(); // side -> first input
  partSides.forEach((s, i) => {
    if (s !== null && !seen.has(s)) seen.set(s, parts[i]!);
  });
  for (const l of legacy) if (l.price_side && !seen.has(l.price_side)) seen.set(l.price_side, l.label);
  if (seen.size > 1) {
    throw new CorpusFormatError(
      `inputs quote different price sides: ${[...seen].map(([side, at]) => `${side} (${at})`).join(", ")}; a corpus holds one side (rebuild with one price_side, or leave the other input out)`,
    );
  }
  const side = seen.size ? [...seen.keys()][0]! : null;
  for (const l of legacy) {
    if (!l.price_side) warnings.push(`legacy ${l.label}: price side not declared (params.legacy["${l.label}"].price_side: bid | ask | mid); assumed ${side ?? "unknown"}, like the parts`);
  }
  return side;
}

/** A corpus part that is not a corpus part (wrong or missing format version). */
export class CorpusFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CorpusFormatError";
  }
}

/** Checks `dagbuild_corpus_version` of each parquet file. */
export async function checkCorpusVersion(conn: DuckDBConnection, paths: readonly string[]): Promise<void> {
  for (const p of paths) {
    const r = await conn.runAndReadAll(
      `SELECT decode(value) FROM parquet_kv_metadata(${sqlString(p)}) WHERE decode(key) = 'dagbuild_corpus_version'`,
    );
    const v = r.getRows()[0]?.[0];
    if (v !== String(CORPUS_FORMAT_VERSION)) {
      throw new CorpusFormatError(`${p}: not a corpus v${CORPUS_FORMAT_VERSION} parquet file (dagbuild_corpus_version = ${v ?? "absent"})`);
    }
  }
}

/** Merges parts and legacy exports into `out` (written to a temp file, then renamed). */
export async function buildCorpus(opts: {
  parts: readonly string[];
  legacy: readonly LegacyInput[];
  decode_bitplanes: boolean;
  out: string;
}): Promise<CorpusStats> {
  const cols = corpusColumns(opts.decode_bitplanes);
  const tmp = `${opts.out}.tmp-${process.pid}`;
  try {
    return await withDuckDb(async (conn) => {
      await checkCorpusVersion(conn, opts.parts);
      const warnings: string[] = [];
      const side = mergeSides(opts.parts, await readPriceSides(conn, opts.parts), opts.legacy, warnings);
      // Legacy rows go through the same row derivation as the parts (one code path).
      await createRowTable(conn, "legacy", cols, ", _src BIGINT, _row BIGINT");
      const ap = await RowAppender.open(conn, "legacy", cols);
      let legacyRows = 0;
      try {
        for (const [i, l] of opts.legacy.entries()) {
          legacyRows += await forEachGateRow(
            l.path,
            l.label,
            { source: l.source, run_mode: l.run_mode, decode_bitplanes: opts.decode_bitplanes },
            (row, lineNo) => ap.append(row, [opts.parts.length + i, lineNo]),
          );
        }
      } finally {
        ap.close();
      }
      const srcs: string[] = [];
      let partRows = 0;
      if (opts.parts.length > 0) {
        const list = `[${opts.parts.map(sqlString).join(", ")}]`;
        await conn.run(
          `CREATE TABLE parts AS SELECT * EXCLUDE (filename, file_row_number), list_position(${list}, filename) - 1 AS _src, file_row_number AS _row
           FROM read_parquet(${list}, union_by_name = true, filename = true, file_row_number = true)`,
        );
        const have = new Set((await conn.runAndReadAll(`SELECT column_name FROM (DESCRIBE parts)`)).getRows().map((r) => String(r[0])));
        // Parts built without bitplanes get typed NULLs when the corpus asks for them.
        const sel = cols
          .filter((c) => c.name !== "ts")
          .map((c) => (have.has(c.name) ? `"${c.name}"` : `CAST(NULL AS ${c.type}) AS "${c.name}"`));
        srcs.push(`SELECT ${sel.join(", ")}, _src, _row FROM parts`);
        partRows = Number((await conn.runAndReadAll("SELECT count(*) FROM parts")).getRows()[0]![0]);
      }
      srcs.push(`SELECT * FROM legacy`);
      await conn.run(`CREATE TABLE allrows AS ${srcs.join(" UNION ALL ")}`);
      await conn.run(
        `CREATE TABLE merged AS SELECT * FROM allrows
         QUALIFY row_number() OVER (PARTITION BY ${CORPUS_KEY.join(", ")} ORDER BY _src, _row) = 1`,
      );
      const rows = Number((await conn.runAndReadAll("SELECT count(*) FROM merged")).getRows()[0]![0]);
      await conn.run(
        `COPY (SELECT ${selectCorpusColumns(cols)} FROM merged ORDER BY ${CORPUS_ORDER}) TO ${sqlString(tmp)} ${corpusParquetOptions(DETERMINISTIC_PARQUET, side ?? undefined)}`,
      );
      await rename(tmp, opts.out);
      return { rows, partRows, legacyRows, duplicates: partRows + legacyRows - rows, priceSide: side, warnings };
    });
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
