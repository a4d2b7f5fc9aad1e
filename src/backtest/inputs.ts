/**
 * Price inputs of the simulator: candle files (parquet, src/market/candle-store.ts, or OANDA
 * JSON, src/sep/candle-json.ts) cut to `start <= t <= end` (both inclusive), the mid close as
 * the price, in time order; and the default profile's location.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Candle } from "../market/candle.js";
import { BacktestInputError } from "./gates.js";
import type { MidPoint } from "./simulator.js";

/** Candles of `[startMs, endMs]` as mid points. */
export function midPoints(candles: readonly Candle[], startMs: number, endMs: number): MidPoint[] {
  const out: MidPoint[] = [];
  for (const k of candles) if (k.t >= startMs && k.t <= endMs) out.push({ t: k.t, m: k.c });
  out.sort((a, b) => a.t - b.t); // stable: equal times keep file order (not de-duplicated)
  return out;
}

/** config/open_fxday.yaml of this package (the backtest default profile). */
export function defaultProfilePath(): string {
  for (const rel of ["../../../config/open_fxday.yaml", "../../config/open_fxday.yaml"]) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new BacktestInputError("config/open_fxday.yaml not found next to the package");
}
