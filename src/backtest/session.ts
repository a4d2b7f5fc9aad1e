/**
 * Session windows of the simulator (gate-spec section 11): `[start, end)` in UTC minutes of the
 * day, wrapping past midnight when start > end; start = end is empty. A minute is tradable when
 * it is inside and more than 5 minutes before the window's end.
 */
import { minuteOfDay } from "../market/weeks.js";
import type { SimSession } from "../sep/profile.js";

const DAY_MIN = 1440;

/** True if `x` (minute of day) lies in the session window. */
export function inSession(s: SimSession, x: number): boolean {
  if (s.startMin === s.endMin) return false;
  return s.startMin < s.endMin ? x >= s.startMin && x < s.endMin : x >= s.startMin || x < s.endMin;
}

/** Tradable for a flat book at `tMs`: inside and more than 5 minutes before the end. No session: never. */
export function sessionTradable(s: SimSession | undefined, tMs: number): boolean {
  if (!s) return false;
  const x = minuteOfDay(tMs);
  if (!inSession(s, x)) return false;
  const left = (((s.endMin - x) % DAY_MIN) + DAY_MIN) % DAY_MIN;
  return left > 5;
}
