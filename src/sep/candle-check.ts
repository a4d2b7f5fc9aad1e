/**
 * Validation of candles fed to the replay: the codec and the labels assume a strictly
 * increasing time axis and sane OHLC, so bad rows are refused with a located, typed error
 * (file, 1-based row, field) instead of producing silently wrong gates.
 */
import type { Candle } from "../market/candle.js";

/** A bad candle: names the source, the row and the field. */
export class CandleDataError extends Error {
  constructor(
    readonly source: string,
    /** 1-based row (JSON array element or parquet row). */
    readonly row: number,
    readonly field: string,
    /** What is wrong with the field (the message without its location). */
    readonly detail: string,
    /** 1-based text line when the source is a text file. */
    readonly line?: number,
  ) {
    const where = `${line !== undefined ? `${line}: ` : " "}${row > 0 ? `row ${row}: ` : ""}`;
    super(`${source}:${where}field "${field}": ${detail}`);
    this.name = "CandleDataError";
  }
}

/**
 * Checks every candle: finite positive prices, h >= max(o, c), l <= min(o, c), finite
 * non-negative volume, strictly increasing t. `lineOf(i)` maps an index to a text line.
 */
export function validateCandles(
  candles: readonly Candle[],
  source: string,
  lineOf?: (index: number) => number | undefined,
): void {
  let prevT = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < candles.length; i++) {
    const k = candles[i]!;
    const fail = (field: string, detail: string): never => {
      throw new CandleDataError(source, i + 1, field, detail, lineOf?.(i));
    };
    if (!Number.isInteger(k.t)) fail("t", `expected integer milliseconds, got ${k.t}`);
    for (const f of ["o", "h", "l", "c"] as const) {
      const v = k[f];
      if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) fail(f, `expected a finite positive price, got ${v}`);
    }
    if (typeof k.volume !== "number" || !Number.isFinite(k.volume) || k.volume < 0) {
      fail("volume", `expected a finite non-negative tick count, got ${k.volume}`);
    }
    if (k.h < Math.max(k.o, k.c)) fail("h", `high ${k.h} is below max(open, close) = ${Math.max(k.o, k.c)}`);
    if (k.l > Math.min(k.o, k.c)) fail("l", `low ${k.l} is above min(open, close) = ${Math.min(k.o, k.c)}`);
    if (!(k.t > prevT)) {
      fail("t", `time ${new Date(k.t).toISOString()} is not after the previous candle's ${new Date(prevT).toISOString()}`);
    }
    prevT = k.t;
  }
}
