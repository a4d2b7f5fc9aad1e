/**
 * Reads M1 candles from the live stack's Valkey (Redis protocol): the sorted set
 * `md:candles:{INST}:{GRAN}`, members JSON `{t, mid: {o, h, l, c}, v, complete}` scored by t
 * (gate-spec section 10). Writers differ: t may be RFC 3339 text or epoch seconds or
 * milliseconds, and the score uses the same unit, so the unit is detected from the set's
 * first score before the range query.
 */
import type { Candle } from "./candle.js";
import { cleanCandles, emptyDropCounts, ImportError, v20Candle, type ImportReport, type RawCandle } from "./files.js";
import { RespClient } from "./resp.js";

/** Where and what to read. */
export interface ValkeyCandleQuery {
  /** `redis://127.0.0.1:6379/0` (a password in the URL is used, never printed). */
  readonly url: string;
  readonly instrument: string;
  /** Open times in [fromMs, toMs). */
  readonly fromMs: number;
  readonly toMs: number;
  /** Default M1. */
  readonly granularity?: string;
}

/** The sorted-set key of an instrument's candles. */
export function candleKey(instrument: string, granularity = "M1"): string {
  return `md:candles:${instrument}:${granularity}`;
}

/** Members fetched per ZRANGEBYSCORE call (bounded replies). */
const PAGE = 5000;

/**
 * Candles in [fromMs, toMs), cleaned like a file import (incomplete, invalid and duplicate
 * members dropped and counted). A member that is not a candle throws an ImportError naming the
 * key, the member's position in the range and the field.
 */
export async function readValkeyCandles(q: ValkeyCandleQuery): Promise<{ candles: Candle[]; report: ImportReport }> {
  const key = candleKey(q.instrument, q.granularity);
  const client = await RespClient.connect(q.url);
  const rows: RawCandle[] = [];
  try {
    const first = (await client.command("ZRANGE", key, 0, 0, "WITHSCORES")) as string[];
    if (first.length === 2) {
      // Scores below 1e11 are epoch seconds (1e11 s is the year 5138).
      const perMs = Math.abs(Number(first[1])) < 1e11 ? 1 / 1000 : 1;
      const min = String(q.fromMs * perMs);
      const max = `(${q.toMs * perMs}`;
      for (let offset = 0; ; offset += PAGE) {
        const page = (await client.command("ZRANGEBYSCORE", key, min, max, "LIMIT", offset, PAGE)) as string[];
        for (let i = 0; i < page.length; i++) {
          const pos = offset + i + 1;
          let member: unknown;
          try {
            member = JSON.parse(page[i]!);
          } catch {
            throw new ImportError(key, pos, "member", `not JSON: ${JSON.stringify(page[i]!.slice(0, 80))}`);
          }
          rows.push(v20Candle(member, key, pos, "member", { time: "t", volume: "v" }));
        }
        if (page.length < PAGE) break;
      }
    }
  } finally {
    client.close();
  }
  const dropped = emptyDropCounts();
  const candles = cleanCandles(rows, dropped, { fromMs: q.fromMs, toMs: q.toMs });
  return { candles, report: { files: [key], rows: rows.length, kept: candles.length, dropped } };
}
