/**
 * Reads and writes candle parquet files (format: see candle.ts) through DuckDB.
 */
import { withDuckDb, sqlString, DETERMINISTIC_PARQUET } from "../io/duckdb.js";
import { CANDLE_FORMAT_VERSION, type Candle, type PriceSide } from "./candle.js";
import type { WeekCoverage } from "./calendar.js";
import { rename, mkdir } from "node:fs/promises";
import { dirname } from "node:path";

/** Reads and concatenates candle files, sorted by time (duplicates across files: first wins). */
export async function readCandles(paths: readonly string[]): Promise<Candle[]> {
  if (paths.length === 0) return [];
  return withDuckDb(async (conn) => {
    const list = `[${paths.map(sqlString).join(", ")}]`;
    const reader = await conn.runAndReadAll(
      `SELECT t_ms, o, h, l, c, volume FROM read_parquet(${list}) ORDER BY t_ms`,
    );
    const out: Candle[] = [];
    let last = Number.NEGATIVE_INFINITY;
    for (const row of reader.getRows()) {
      const t = Number(row[0]);
      if (t === last) continue;
      last = t;
      out.push({ t, o: row[1] as number, h: row[2] as number, l: row[3] as number, c: row[4] as number, volume: Number(row[5]) });
    }
    return out;
  });
}

/** A candle file that DuckDB could not read. */
export class CandleReadError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = "CandleReadError";
  }
}

/**
 * Reads several candle files with one DuckDB instance (an instance costs ~100 ms to start),
 * returning each file's candles in the order of `paths`, sorted by time, duplicates dropped.
 */
export async function readCandleFiles(paths: readonly string[]): Promise<Candle[][]> {
  if (paths.length === 0) return [];
  return withDuckDb(async (conn) => {
    const out: Candle[][] = [];
    for (const p of paths) {
      let rows;
      try {
        rows = (await conn.runAndReadAll(`SELECT t_ms, o, h, l, c, volume FROM read_parquet(${sqlString(p)}) ORDER BY t_ms`)).getRows();
      } catch (e) {
        throw new CandleReadError(p, (e as Error).message.split("\n")[0]!);
      }
      const list: Candle[] = [];
      let last = Number.NEGATIVE_INFINITY;
      for (const row of rows) {
        const t = Number(row[0]);
        if (t === last) continue;
        last = t;
        list.push({ t, o: row[1] as number, h: row[2] as number, l: row[3] as number, c: row[4] as number, volume: Number(row[5]) });
      }
      out.push(list);
    }
    return out;
  });
}

/** What a candle file records about itself (its key-value metadata). */
export interface CandleMeta {
  readonly price_side: PriceSide;
  readonly instrument?: string;
  readonly week_start?: string;
  readonly coverage?: WeekCoverage;
  /** Import counts (rows, kept, dropped and changed by reason). */
  readonly import?: Readonly<Record<string, unknown>>;
}

function kvLiteral(meta: CandleMeta): string {
  const kv: [string, string][] = [["dagbuild_candles_version", String(CANDLE_FORMAT_VERSION)], ["dagbuild_price_side", meta.price_side]];
  if (meta.instrument !== undefined) kv.push(["dagbuild_instrument", meta.instrument]);
  if (meta.week_start !== undefined) kv.push(["dagbuild_week_start", meta.week_start]);
  if (meta.coverage !== undefined) kv.push(["dagbuild_coverage", JSON.stringify(meta.coverage)]);
  if (meta.import !== undefined) kv.push(["dagbuild_import", JSON.stringify(meta.import)]);
  return kv.map(([k, v]) => `${k}: ${sqlString(v)}`).join(", ");
}

/**
 * The metadata of candle files, in the order of `paths` (one DuckDB instance). A version 1
 * file reads as `{price_side: "mid"}`.
 */
export async function readCandleMeta(paths: readonly string[]): Promise<CandleMeta[]> {
  if (paths.length === 0) return [];
  return withDuckDb(async (conn) => {
    const out: CandleMeta[] = [];
    for (const p of paths) {
      let rows;
      try {
        rows = (await conn.runAndReadAll(`SELECT decode(key), decode(value) FROM parquet_kv_metadata(${sqlString(p)})`)).getRows();
      } catch (e) {
        throw new CandleReadError(p, `${p}: ${(e as Error).message.split("\n")[0]!}`);
      }
      const kv = new Map(rows.map((r) => [String(r[0]), String(r[1])]));
      const json = (k: string) => {
        const v = kv.get(k);
        return v === undefined ? undefined : JSON.parse(v);
      };
      out.push({
        price_side: (kv.get("dagbuild_price_side") ?? "mid") as PriceSide,
        ...(kv.has("dagbuild_instrument") ? { instrument: kv.get("dagbuild_instrument")! } : {}),
        ...(kv.has("dagbuild_week_start") ? { week_start: kv.get("dagbuild_week_start")! } : {}),
        ...(kv.has("dagbuild_coverage") ? { coverage: json("dagbuild_coverage") } : {}),
        ...(kv.has("dagbuild_import") ? { import: json("dagbuild_import") } : {}),
      });
    }
    return out;
  });
}

/**
 * Writes candles (must be sorted and unique) to a parquet file, atomically, with `meta` in the
 * key-value metadata (default: side mid, nothing else).
 */
export async function writeCandles(path: string, candles: readonly Candle[], meta: CandleMeta = { price_side: "mid" }): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await withDuckDb(async (conn) => {
    await conn.run(
      "CREATE TABLE candles (t_ms BIGINT, o DOUBLE, h DOUBLE, l DOUBLE, c DOUBLE, volume BIGINT)",
    );
    const appender = await conn.createAppender("candles");
    for (const k of candles) {
      appender.appendBigInt(BigInt(k.t));
      appender.appendDouble(k.o);
      appender.appendDouble(k.h);
      appender.appendDouble(k.l);
      appender.appendDouble(k.c);
      // Importers refuse volumes beyond 2^53; this names the candle if one gets here anyway.
      const v = Math.round(k.volume);
      if (!Number.isSafeInteger(v)) throw new RangeError(`${path}: volume ${k.volume} at ${new Date(k.t).toISOString()} is not an integer below 2^53`);
      appender.appendBigInt(BigInt(v));
      appender.endRow();
    }
    appender.closeSync();
    const opts = DETERMINISTIC_PARQUET.replace(/\)$/, `, KV_METADATA {${kvLiteral(meta)}})`);
    await conn.run(`COPY (SELECT * FROM candles ORDER BY t_ms) TO ${sqlString(tmp)} ${opts}`);
  });
  await rename(tmp, path);
}
