/**
 * Price inputs of the simulator: candle files (parquet, src/market/candle-store.ts, or OANDA
 * JSON, src/sep/candle-json.ts) cut to `start <= t <= end` (both inclusive), the mid close as
 * the price, in time order; and the default profile's location.
 */
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Candle } from "../market/candle.js";
import { parseCandleJson } from "../sep/candle-json.js";
import { BacktestInputError } from "./gates.js";
import type { MidPoint } from "./simulator.js";

/** Candles of `[startMs, endMs]` as mid points. */
export function midPoints(candles: readonly Candle[], startMs: number, endMs: number): MidPoint[] {
  const out: MidPoint[] = [];
  for (const k of candles) if (k.t >= startMs && k.t <= endMs) out.push({ t: k.t, m: k.c });
  out.sort((a, b) => a.t - b.t); // stable: equal times keep file order (not de-duplicated)
  return out;
}

/** Reads one candle file, parquet or JSON by its extension. */
export async function readCandleFile(path: string): Promise<Candle[]> {
  if (path.endsWith(".parquet")) {
    const { readCandles } = await import("../market/candle-store.js");
    try {
      return await readCandles([path]);
    } catch (e) {
      throw new BacktestInputError(`${path}: cannot read candle parquet: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new BacktestInputError(`${path}: cannot read candles: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseCandleJson(text, path);
}

/** config/open_fxday.yaml of this package (the backtest default profile). */
export function defaultProfilePath(): string {
  for (const rel of ["../../../config/open_fxday.yaml", "../../config/open_fxday.yaml"]) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new BacktestInputError("config/open_fxday.yaml not found next to the package");
}
