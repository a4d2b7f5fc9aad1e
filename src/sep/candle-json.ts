/**
 * Candle JSON reader for `dagbuild replay`: the OANDA export shape used by the golden fixtures,
 * a JSON array of `{time, open, high, low, close, volume}` (time RFC 3339, up to nanoseconds),
 * or the v20 REST response `{candles: [{time, mid: {o, h, l, c}, volume, complete}]}` (only
 * complete candles kept). Prices may be numbers or numeric strings (the REST API sends strings).
 * Every error names file:line, the 1-based row and the field.
 */
import type { Candle } from "../market/candle.js";
import { parseTimestamp } from "../market/weeks.js";
import { CandleDataError, validateCandles } from "./candle-check.js";
import { DECIMAL, inCandleRange, lineAt, locateArrayObjects, MAX_PRICE } from "../market/files.js";

/** Parses candle JSON text; `file` labels errors. Validates the candles (candle-check.ts). */
export function parseCandleJson(text: string, file: string): Candle[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const pos = /position (\d+)/.exec(msg);
    const line = pos ? lineAt(text, Number(pos[1])) : 1;
    throw new CandleDataError(file, 0, "(file)", `not valid JSON: ${msg}`, line);
  }
  let rows: unknown[];
  let rest = false;
  if (Array.isArray(raw)) rows = raw;
  else if (raw !== null && typeof raw === "object" && Array.isArray((raw as { candles?: unknown }).candles)) {
    rows = (raw as { candles: unknown[] }).candles;
    rest = true;
  } else throw new CandleDataError(file, 0, "(file)", "expected a JSON array of candles or an object with a candles array", 1);

  // Located only when an error needs a line (one scan, then cached).
  let located: ReturnType<typeof locateArrayObjects> | undefined;
  const lineOfRow = (i: number): number | undefined => (located ??= locateArrayObjects(text))[i]?.line;
  const out: Candle[] = [];
  const rowsKept: number[] = [];
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    const fail = (field: string, detail: string): never => {
      throw new CandleDataError(file, i + 1, field, detail, lineOfRow(i));
    };
    if (r === null || typeof r !== "object" || Array.isArray(r)) fail("(row)", "expected an object");
    const o = r as Record<string, unknown>;
    const price = (src: Record<string, unknown>, key: string, shown: string): number => {
      const v = src[key];
      // Decimal text only (`0x1` is not a price), and magnitudes a quote or tick count can have.
      const n = typeof v === "number" ? v : typeof v === "string" && DECIMAL.test(v.trim()) ? Number(v) : Number.NaN;
      if (!Number.isFinite(n)) fail(shown, `expected a number, got ${JSON.stringify(v) ?? "nothing"}`);
      if (!inCandleRange(n, key === "volume" ? "volume" : "price")) {
        fail(shown, key === "volume" ? `volume ${n} is out of range (an integer below 2^53)` : `price ${n} is out of range (|price| <= ${MAX_PRICE})`);
      }
      return n;
    };
    const time = o["time"];
    if (typeof time !== "string") fail("time", `expected an RFC 3339 string, got ${JSON.stringify(time) ?? "nothing"}`);
    const t = parseTimestamp(time as string);
    if (t === null) fail("time", `not an RFC 3339 time: ${JSON.stringify(time)}`);
    let k: Candle;
    if (rest) {
      if (o["complete"] === false) continue;
      const mid = o["mid"];
      if (mid === null || typeof mid !== "object") fail("mid", "expected an object {o, h, l, c}");
      const m = mid as Record<string, unknown>;
      k = { t: t!, o: price(m, "o", "mid.o"), h: price(m, "h", "mid.h"), l: price(m, "l", "mid.l"), c: price(m, "c", "mid.c"), volume: price(o, "volume", "volume") };
    } else {
      k = { t: t!, o: price(o, "open", "open"), h: price(o, "high", "high"), l: price(o, "low", "low"), c: price(o, "close", "close"), volume: price(o, "volume", "volume") };
    }
    out.push(k);
    rowsKept.push(i);
  }
  validateCandlesMapped(out, rowsKept, file, lineOfRow);
  return out;
}

/** validateCandles, reporting the original row number (REST rows may have been skipped). */
function validateCandlesMapped(
  candles: Candle[],
  rows: number[],
  file: string,
  lineOfRow: (i: number) => number | undefined,
): void {
  try {
    validateCandles(candles, file);
  } catch (e) {
    if (!(e instanceof CandleDataError)) throw e;
    const row = rows[e.row - 1]!;
    const names: Record<string, string> = { o: "open", h: "high", l: "low", c: "close", t: "time" };
    throw new CandleDataError(file, row + 1, names[e.field] ?? e.field, e.detail, lineOfRow(row));
  }
}
