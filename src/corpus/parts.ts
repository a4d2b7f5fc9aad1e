/**
 * Gate JSONL → corpus rows → parquet. A weekly part is the incremental unit of the corpus:
 * one replay week's gates are read once, here, and every later step reads parquet.
 */
import { createReadStream } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { createInterface } from "node:readline";
import { createGunzip } from "node:zlib";
import { isGzip } from "../market/read-text.js";
import { WEEK_MS } from "../market/weeks.js";
import { DETERMINISTIC_PARQUET, sqlString, withDuckDb, type DuckDBConnection } from "../io/duckdb.js";
import { corpusColumns, corpusParquetOptions, CORPUS_ORDER, type ColumnDef } from "./columns.js";
import {
  decodeBitplanes,
  hazardDecile,
  mondayOf,
  repetitionBucket,
  semanticTags,
  sessionsAt,
  strandId,
} from "./derived.js";
import { CANONICAL_FEATURES, GateParseError, HORIZONS, readGateLine, STRUCTURE_METRICS, type GateRecord } from "./gate-source.js";

/** Labels a gate file's rows with where they came from. */
export interface RowContext {
  /** Week partition id; when absent, the Monday of each gate's ts. */
  readonly week?: string;
  /** Run mode; when absent, taken from each record (an error if the record has none). */
  readonly run_mode?: string;
  /** Source label; wins over the record's own `source`. */
  readonly source?: string;
  /** Add the decoded per-candle bitplane columns. */
  readonly decode_bitplanes?: boolean;
  /** Price side of the candles the gates came from (recorded in the part's metadata). */
  readonly price_side?: string;
}

/** A corpus row, keyed by column name (values as written to parquet). */
export type CorpusRow = Record<string, string | number | boolean | null | readonly (string | number)[]>;

/** Derives the full corpus row of one gate. Throws GateParseError (located) on bad combinations. */
export function toCorpusRow(g: GateRecord, rc: RowContext, file: string, lineNo: number): CorpusRow {
  const runMode = rc.run_mode ?? g.run_mode;
  if (!runMode) throw new GateParseError(file, lineNo, "run_mode", "is missing (and no run_mode param was given)");
  if (rc.run_mode && g.run_mode && g.run_mode !== rc.run_mode) {
    throw new GateParseError(file, lineNo, "run_mode", `is "${g.run_mode}" but this file is declared "${rc.run_mode}"`);
  }
  const source = rc.source ?? g.source;
  if (!source) throw new GateParseError(file, lineNo, "source", "is missing (and no source param was given)");
  const week = rc.week ?? mondayOf(g.ts_ms);
  if (rc.week && /^\d{4}-\d{2}-\d{2}$/.test(rc.week)) {
    const start = Date.parse(`${rc.week}T00:00:00Z`);
    if (g.ts_ms < start || g.ts_ms >= start + WEEK_MS) {
      throw new GateParseError(file, lineNo, "ts_ms", `${new Date(g.ts_ms).toISOString()} is outside week ${rc.week}`);
    }
  }
  const decile = hazardDecile(g.hazard);
  const bucket = repetitionBucket(g.repetitions);
  const sessions = sessionsAt(g.ts_ms);
  const labelsPresent = HORIZONS.every((h) => g.roc_forward_pct[h] !== null);
  const row: CorpusRow = {
    instrument: g.instrument,
    ts_ms: g.ts_ms,
    admit: g.admit,
    reasons: g.reasons,
    regime: g.regime,
    regime_confidence: g.regime_confidence,
  };
  for (const m of STRUCTURE_METRICS) row[`structure_${m}`] = g.structure[m];
  row.structure_signature = g.signature;
  for (const f of CANONICAL_FEATURES) row[`canonical_${f}`] = g.canonical[f];
  Object.assign(row, {
    hazard: g.hazard,
    lambda: g.lambda,
    hazard_threshold: g.hazard_threshold,
    hazard_decile: decile,
    repetitions: g.repetitions,
    repetition_bucket: bucket,
    strand_id: strandId(g.regime, decile, bucket),
    semantic_tags: semanticTags(g),
    direction: g.direction,
    price_close: g.price_close,
    roc_prev_pct: g.roc_prev_pct,
  });
  for (const h of HORIZONS) row[`roc_forward_pct_${h}`] = g.roc_forward_pct[h];
  Object.assign(row, {
    // Complete only when the replay did not flag it and every horizon has a value.
    label_complete: g.label_complete !== false && labelsPresent,
    session_asia: sessions.asia,
    session_london: sessions.london,
    session_new_york: sessions.new_york,
    week,
    run_mode: runMode,
    source,
  });
  if (rc.decode_bitplanes) {
    if (!g.bits_b64 || !g.codec_meta) {
      throw new GateParseError(file, lineNo, "components", "decode_bitplanes needs components.bits_b64 and components.codec_meta");
    }
    let d;
    try {
      d = decodeBitplanes(g.bits_b64, g.codec_meta);
    } catch (e) {
      throw new GateParseError(file, lineNo, "components.bits_b64", (e as Error).message);
    }
    row.bitplane_dir = d.dir;
    row.bitplane_abs_delta_est = d.abs_delta_est;
    row.bitplane_atr_ratio_est = d.atr_ratio_est;
    row.bitplane_liquidity = d.liquidity;
    row.bitplane_volume_est = d.volume_est;
  }
  return row;
}

/** Creates the staging table `name` for the given columns; `ts` is computed at COPY time. */
export async function createRowTable(conn: DuckDBConnection, name: string, cols: readonly ColumnDef[], extra = ""): Promise<void> {
  const defs = cols.filter((c) => c.name !== "ts").map((c) => `"${c.name}" ${c.type}`);
  await conn.run(`CREATE TABLE ${name} (${defs.join(", ")}${extra})`);
}

/** Streams rows into an appender (column order = `cols` minus ts, then `extra` values). */
export class RowAppender {
  private readonly cols: readonly ColumnDef[];
  // List types are built once: constructing them per row showed up in profiles.
  private readonly listTypes: Record<"VARCHAR[]" | "DOUBLE[]" | "UTINYINT[]", unknown>;
  private constructor(
    private readonly ap: Awaited<ReturnType<DuckDBConnection["createAppender"]>>,
    cols: readonly ColumnDef[],
    private readonly types: Awaited<typeof import("@duckdb/node-api")>,
  ) {
    this.cols = cols.filter((c) => c.name !== "ts");
    this.listTypes = { "VARCHAR[]": types.LIST(types.VARCHAR), "DOUBLE[]": types.LIST(types.DOUBLE), "UTINYINT[]": types.LIST(types.UTINYINT) };
  }

  static async open(conn: DuckDBConnection, table: string, cols: readonly ColumnDef[]): Promise<RowAppender> {
    const duck = await import("@duckdb/node-api");
    return new RowAppender(await conn.createAppender(table), cols, duck);
  }

  append(row: CorpusRow, extra: readonly number[] = []): void {
    const ap = this.ap;
    const lt = this.listTypes as Record<string, Parameters<typeof ap.appendList>[1]>;
    for (const c of this.cols) {
      const v = row[c.name];
      if (v === null || v === undefined) {
        ap.appendNull();
        continue;
      }
      switch (c.type) {
        case "VARCHAR": ap.appendVarchar(v as string); break;
        case "BIGINT": ap.appendBigInt(BigInt(v as number)); break;
        case "INTEGER": ap.appendInteger(v as number); break;
        case "DOUBLE": ap.appendDouble(v as number); break;
        case "BOOLEAN": ap.appendBoolean(v as boolean); break;
        case "VARCHAR[]": ap.appendList(v as string[], lt["VARCHAR[]"]); break;
        case "DOUBLE[]": ap.appendList(v as number[], lt["DOUBLE[]"]); break;
        case "UTINYINT[]": ap.appendList(v as number[], lt["UTINYINT[]"]); break;
        case "TIMESTAMP": throw new Error("ts is computed at COPY time");
      }
    }
    for (const x of extra) ap.appendBigInt(BigInt(x));
    ap.endRow();
  }

  close(): void {
    this.ap.closeSync();
  }
}

/**
 * Streams one gates JSONL file through `onRow`. Blank lines are skipped; any bad line throws a
 * GateParseError naming the file (as `label`) and line.
 */
export async function forEachGateRow(
  path: string,
  label: string,
  rc: RowContext,
  onRow: (row: CorpusRow, lineNo: number) => void,
): Promise<number> {
  // A gzipped export (`.jsonl.gz`, told by its magic bytes) is read through gunzip; a
  // truncated or corrupt member is an error naming the file and the last line read.
  const gz = await startsWithGzip(path);
  const raw = createReadStream(path);
  const input = gz ? raw.pipe(createGunzip()) : raw;
  let streamError: Error | undefined;
  if (gz) {
    raw.on("error", (e) => input.destroy(e));
    input.on("error", (e: Error) => (streamError = e));
  }
  const rl = createInterface({ input: input.setEncoding("utf8"), crlfDelay: Infinity });
  let lineNo = 0;
  let n = 0;
  try {
    for await (const line of rl) {
      lineNo++;
      if (line.trim() === "") continue;
      if (lineNo === 1 && line.charCodeAt(0) === 0xfeff) {
        onRow(toCorpusRow(readGateLine(line.slice(1), label, lineNo), rc, label, lineNo), lineNo);
      } else onRow(toCorpusRow(readGateLine(line, label, lineNo), rc, label, lineNo), lineNo);
      n++;
    }
  } catch (e) {
    if (e instanceof GateParseError) throw e;
    throw gzipError(label, lineNo, e as Error);
  }
  if (streamError) throw gzipError(label, lineNo, streamError);
  return n;
}

async function startsWithGzip(path: string): Promise<boolean> {
  const fh = await open(path, "r");
  try {
    const b = Buffer.alloc(2);
    const { bytesRead } = await fh.read(b, 0, 2, 0);
    return bytesRead === 2 && isGzip(b);
  } finally {
    await fh.close();
  }
}

function gzipError(label: string, lineNo: number, e: Error): GateParseError {
  const truncated = /unexpected end of file/i.test(e.message);
  return new GateParseError(label, Math.max(1, lineNo), "gzip", truncated ? `truncated gzip (unexpected end of file after line ${lineNo})` : `cannot read: ${e.message}`);
}

/** SELECT list that turns a staging table into corpus columns in file order. */
export function selectCorpusColumns(cols: readonly ColumnDef[]): string {
  return cols.map((c) => (c.name === "ts" ? "epoch_ms(ts_ms) AS ts" : `"${c.name}"`)).join(", ");
}

/** Result of building one weekly part. */
export interface PartStats {
  readonly rows: number;
  readonly duplicates: number;
}

/**
 * Builds one part: reads the gates file, checks the (instrument, ts_ms) key is unique within it,
 * writes `out` atomically (temp file + rename) in corpus order.
 */
export async function buildPart(gatesPath: string, label: string, rc: RowContext, out: string): Promise<PartStats> {
  const cols = corpusColumns(!!rc.decode_bitplanes);
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    return await withDuckDb(async (conn) => {
      await createRowTable(conn, "part", cols, ", _line BIGINT");
      const ap = await RowAppender.open(conn, "part", cols);
      let rows: number;
      try {
        rows = await forEachGateRow(gatesPath, label, rc, (row, lineNo) => ap.append(row, [lineNo]));
      } finally {
        ap.close();
      }
      const dup = await conn.runAndReadAll(
        `SELECT instrument, ts_ms, min(_line), max(_line) FROM part GROUP BY instrument, ts_ms HAVING count(*) > 1 ORDER BY 3 LIMIT 1`,
      );
      const d = dup.getRows()[0];
      if (d) {
        throw new GateParseError(label, Number(d[3]), "ts_ms", `duplicate gate ${d[0]} @ ${d[1]} (first at line ${Number(d[2])})`);
      }
      await conn.run(
        `COPY (SELECT ${selectCorpusColumns(cols)} FROM part ORDER BY ${CORPUS_ORDER}) TO ${sqlString(tmp)} ${corpusParquetOptions(DETERMINISTIC_PARQUET, rc.price_side)}`,
      );
      await rename(tmp, out);
      return { rows, duplicates: 0 };
    });
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
