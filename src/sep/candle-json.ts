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

/** Offsets of objects whose parent is an array, in document order (string-aware scan). */
function arrayElementOffsets(text: string): number[] {
  const out: number[] = [];
  const stack: string[] = [];
  let inStr = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inStr) {
      if (ch === 92) i++; // backslash: skip the escaped char
      else if (ch === 34) inStr = false;
      continue;
    }
    if (ch === 34) inStr = true;
    else if (ch === 91) stack.push("[");
    else if (ch === 123) {
      if (stack[stack.length - 1] === "[") out.push(i);
      stack.push("{");
    } else if (ch === 93 || ch === 125) stack.pop();
  }
  return out;
}

/** 1-based line of an offset. */
function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

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

  const offsets = arrayElementOffsets(text);
  // Lines are cached lazily: only an error needs them.
  const lineOfRow = (i: number): number | undefined => (offsets[i] !== undefined ? lineAt(text, offsets[i]!) : undefined);
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
      const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : Number.NaN;
      if (!Number.isFinite(n)) fail(shown, `expected a number, got ${JSON.stringify(v) ?? "nothing"}`);
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
    const detail = e.message.slice(e.message.indexOf(`field "${e.field}": `) + `field "${e.field}": `.length);
    const names: Record<string, string> = { o: "open", h: "high", l: "low", c: "close", t: "time" };
    throw new CandleDataError(file, row + 1, names[e.field] ?? e.field, detail, lineOfRow(row));
  }
}
