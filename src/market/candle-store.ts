/**
 * Reads and writes candle parquet files (format: see candle.ts) through DuckDB.
 */
import { withDuckDb, sqlString, DETERMINISTIC_PARQUET } from "../io/duckdb.js";
import { CANDLE_FORMAT_VERSION, type Candle } from "./candle.js";
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

/** Writes candles (must be sorted and unique) to a parquet file, atomically. */
export async function writeCandles(path: string, candles: readonly Candle[]): Promise<void> {
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
      appender.appendBigInt(BigInt(Math.round(k.volume)));
      appender.endRow();
    }
    appender.closeSync();
    const opts = DETERMINISTIC_PARQUET.replace(
      /\)$/,
      `, KV_METADATA {dagbuild_candles_version: '${CANDLE_FORMAT_VERSION}'})`,
    );
    await conn.run(`COPY (SELECT * FROM candles ORDER BY t_ms) TO ${sqlString(tmp)} ${opts}`);
  });
  await rename(tmp, path);
}
