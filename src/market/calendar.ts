/**
 * The FX market calendar and per-week coverage.
 *
 * Two calendars:
 * - `fx`: the real FX week, Sunday 17:00 to Friday 17:00 New York time, so 21:00 UTC while US
 *   daylight saving time is in effect (second Sunday of March 07:00 UTC to first Sunday of
 *   November 06:00 UTC, the rule since 2007) and 22:00 UTC otherwise. Holidays are not in it:
 *   a holiday shows up as missing minutes in the coverage, not as closed time.
 * - `fixed`: the gate spec's DST-free convention, Sunday 21:00 to Friday 21:00 UTC, which the
 *   synthetic market is generated in (`isMarketClosed` in weeks.ts).
 *
 * Coverage of a candle week: the trading minutes the calendar expects in [from, to), how many
 * have a candle, how many do not, and the longest run of consecutive missing minutes.
 */
import type { Candle } from "./candle.js";
import { HOUR_MS, isMarketClosed, minuteOfDay, MINUTE_MS } from "./weeks.js";

/** Which calendar decides whether a minute is a trading minute. */
export type MarketCalendar = "fx" | "fixed";

/** 07:00 UTC on the `n`-th Sunday (1-based) of `month` (0-based) of `year`, plus `hourUtc`. */
function nthSunday(year: number, month: number, n: number, hourUtc: number): number {
  const first = Date.UTC(year, month, 1);
  const dow = new Date(first).getUTCDay(); // 0 = Sunday
  const day = 1 + ((7 - dow) % 7) + (n - 1) * 7;
  return Date.UTC(year, month, day) + hourUtc * HOUR_MS;
}

/** True while US daylight saving time is in effect at `ms` (the post-2007 rule). */
export function usDaylightTime(ms: number): boolean {
  const year = new Date(ms).getUTCFullYear();
  // 02:00 EST = 07:00 UTC (start); 02:00 EDT = 06:00 UTC (end).
  return ms >= nthSunday(year, 2, 2, 7) && ms < nthSunday(year, 10, 1, 6);
}

/** New York local time at `ms`, as ms since the epoch of a UTC clock showing that time. */
function newYorkLocal(ms: number): number {
  return ms + (usDaylightTime(ms) ? -4 : -5) * HOUR_MS;
}

/** True when the FX market is open at `ms` under `calendar`. */
export function isMarketOpen(ms: number, calendar: MarketCalendar = "fx"): boolean {
  if (calendar === "fixed") return !isMarketClosed(ms);
  const local = newYorkLocal(ms);
  const dow = new Date(local).getUTCDay();
  const minute = minuteOfDay(local);
  if (dow === 6) return false; // Saturday
  if (dow === 5) return minute < 17 * 60; // Friday until 17:00
  if (dow === 0) return minute >= 17 * 60; // Sunday from 17:00
  return true;
}

/** Coverage of one instrument-week (format: the `dagbuild_coverage` candle metadata). */
export interface WeekCoverage {
  readonly calendar: MarketCalendar;
  /** Trading minutes the calendar expects in the week. */
  readonly expected: number;
  /** Expected minutes with a candle. */
  readonly present: number;
  /** expected - present. */
  readonly missing: number;
  /** Longest run of consecutive expected minutes without a candle. */
  readonly longest_gap_min: number;
  /** Open time of the first minute of that run (ISO), or null. */
  readonly longest_gap_start: string | null;
  /** Candles outside the calendar's trading minutes (kept with `market_hours: keep`). */
  readonly outside_hours: number;
}

/** Counts the coverage of `candles` (sorted, unique, whole minutes) over [fromMs, toMs). */
export function weekCoverage(candles: readonly Candle[], fromMs: number, toMs: number, calendar: MarketCalendar): WeekCoverage {
  const have = new Set<number>();
  let outside = 0;
  for (const k of candles) {
    if (isMarketOpen(k.t, calendar)) have.add(k.t);
    else outside++;
  }
  let expected = 0;
  let present = 0;
  let run = 0;
  let runStart = 0;
  let longest = 0;
  let longestStart: number | null = null;
  for (let t = Math.ceil(fromMs / MINUTE_MS) * MINUTE_MS; t < toMs; t += MINUTE_MS) {
    if (!isMarketOpen(t, calendar)) {
      run = 0; // the weekend closure is not a gap
      continue;
    }
    expected++;
    if (have.has(t)) {
      present++;
      run = 0;
    } else {
      if (run === 0) runStart = t;
      run++;
      if (run > longest) {
        longest = run;
        longestStart = runStart;
      }
    }
  }
  return {
    calendar,
    expected,
    present,
    missing: expected - present,
    longest_gap_min: longest,
    longest_gap_start: longestStart === null ? null : new Date(longestStart).toISOString(),
    outside_hours: outside,
  };
}
