/**
 * Data-quality decisions on imported candles, applied by the candles rule to every real source
 * (files, OANDA, Valkey) after the import's own cleaning:
 * - off-minute rows (open time not on a whole minute, e.g. :30 or :17 seconds): `align` floors
 *   them to their minute (a row already on that minute wins; the aligned copy is counted as a
 *   duplicate), `drop` drops them, `error` refuses the import;
 * - rows outside the FX market hours (calendar.ts): `drop` (default) or `error`, or `keep`
 *   (the raw feed as it came).
 * Every decision is counted, so the import report says what changed.
 */
import type { Candle } from "./candle.js";
import { isMarketOpen, type MarketCalendar } from "./calendar.js";
import { MINUTE_MS } from "./weeks.js";

export const MARKET_HOURS_MODES = ["drop", "keep", "error"] as const;
export type MarketHoursMode = (typeof MARKET_HOURS_MODES)[number];
export const OFF_MINUTE_MODES = ["align", "drop", "error"] as const;
export type OffMinuteMode = (typeof OFF_MINUTE_MODES)[number];

/** What the quality pass changed. */
export interface QualityCounts {
  /** Off-minute rows floored to their minute and kept. */
  off_minute_aligned: number;
  /** Off-minute rows dropped: `off_minute: drop`, or aligned onto a minute that had a row. */
  off_minute_dropped: number;
  /** Rows outside the market hours dropped. */
  market_closed_dropped: number;
  /** Rows outside the market hours kept (`market_hours: keep`). */
  market_closed_kept: number;
}

/** A quality decision set to `error` met a row. */
export class QualityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QualityError";
  }
}

const DAY_NAMES = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/**
 * Applies the decisions to sorted, unique candles; returns sorted, unique, whole-minute
 * candles (unless market hours are kept) and the counts. `where` names the source in errors.
 */
export function applyQuality(
  candles: readonly Candle[],
  opts: { marketHours: MarketHoursMode; offMinute: OffMinuteMode; calendar?: MarketCalendar; where: string },
): { candles: Candle[]; counts: QualityCounts } {
  const counts: QualityCounts = { off_minute_aligned: 0, off_minute_dropped: 0, market_closed_dropped: 0, market_closed_kept: 0 };
  const onMinute = new Set<number>();
  for (const k of candles) if (k.t % MINUTE_MS === 0) onMinute.add(k.t);
  const byMinute = new Map<number, Candle>();
  for (const k of candles) {
    let t = k.t;
    if (t % MINUTE_MS !== 0) {
      const iso = new Date(t).toISOString();
      if (opts.offMinute === "error") throw new QualityError(`${opts.where}: a row at ${iso} is not on a whole minute (off_minute: align or drop to accept)`);
      if (opts.offMinute === "drop") {
        counts.off_minute_dropped++;
        continue;
      }
      t = Math.floor(t / MINUTE_MS) * MINUTE_MS;
      // The row on the minute wins over a second-late copy; so does the earliest late copy.
      if (onMinute.has(t) || byMinute.has(t)) {
        counts.off_minute_dropped++;
        continue;
      }
      counts.off_minute_aligned++;
    }
    if (!isMarketOpen(t, opts.calendar ?? "fx")) {
      if (opts.marketHours === "error") {
        const d = new Date(t);
        throw new QualityError(`${opts.where}: a row at ${d.toISOString()} (${DAY_NAMES[d.getUTCDay()]}) is outside the FX market hours (market_hours: drop or keep to accept)`);
      }
      if (opts.marketHours === "drop") {
        counts.market_closed_dropped++;
        continue;
      }
      counts.market_closed_kept++;
    }
    byMinute.set(t, t === k.t ? k : { ...k, t });
  }
  return { candles: [...byMinute.values()].sort((a, b) => a.t - b.t), counts };
}

/** `aligned 2, dropped off-minute 1, dropped outside market hours 3`, or `none`. */
export function formatQualityCounts(c: QualityCounts): string {
  const parts: string[] = [];
  if (c.off_minute_aligned) parts.push(`off-minute aligned ${c.off_minute_aligned}`);
  if (c.off_minute_dropped) parts.push(`off-minute dropped ${c.off_minute_dropped}`);
  if (c.market_closed_dropped) parts.push(`outside market hours dropped ${c.market_closed_dropped}`);
  if (c.market_closed_kept) parts.push(`outside market hours kept ${c.market_closed_kept}`);
  return parts.length ? parts.join(", ") : "none";
}
