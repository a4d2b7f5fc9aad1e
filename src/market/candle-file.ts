/**
 * One candle file as a command line names it (`dagbuild replay`, `dagbuild backtest`): candle
 * parquet (src/market/candle-store.ts) or OANDA JSON, gzipped or not (by its magic bytes).
 * Every error is a CandleDataError naming the file, and the row and field where there is one.
 */
import { InputFileError, readTextFile } from "./read-text.js";
import { CandleDataError, validateCandles } from "../sep/candle-check.js";
import { parseCandleJson } from "../sep/candle-json.js";
import type { Candle } from "./candle.js";

/** Reads and checks one candle file (parquet or OANDA JSON, optionally gzipped). */
export async function readCandleFile(path: string): Promise<Candle[]> {
  if (path.endsWith(".parquet")) {
    const { readCandles } = await import("./candle-store.js");
    let candles: Candle[];
    try {
      candles = await readCandles([path]);
    } catch (e) {
      throw new CandleDataError(path, 0, "(file)", `cannot read candle parquet: ${(e as Error).message.split("\n")[0]}`);
    }
    validateCandles(candles, path);
    return candles;
  }
  let text: string;
  try {
    text = await readTextFile(path); // gzip too (`x.json.gz`), by its magic bytes
  } catch (e) {
    if (e instanceof InputFileError) throw new CandleDataError(path, 0, "(file)", e.message.slice(path.length + 2));
    throw e;
  }
  return parseCandleJson(text, path);
}
