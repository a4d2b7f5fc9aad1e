/**
 * UTC calendar helpers for the FX week: week ids (Monday 00:00 UTC, as the pipeline's `week`
 * axis names them), the weekend closure, and strict RFC 3339 parsing (OANDA writes
 * nanoseconds, which Date.parse does not accept in every form).
 */

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
export const WEEK_MS = 7 * DAY_MS;
/** 1970-01-05T00:00Z, the first Monday of the epoch: week index 0 starts here. */
const EPOCH_MONDAY_MS = 4 * DAY_MS;

/** Index of the Monday-to-Monday UTC week holding `ms` (0 = the week of 1970-01-05). */
export function weekIndex(ms: number): number {
  return Math.floor((ms - EPOCH_MONDAY_MS) / WEEK_MS);
}

/** UTC minute of the day of an epoch-ms time, 0 to 1439 (seconds dropped; negative times too). */
export function minuteOfDay(ms: number): number {
  return Math.floor((((ms % DAY_MS) + DAY_MS) % DAY_MS) / MINUTE_MS);
}

/** Monday 00:00 UTC of week `index`, in ms. */
export function weekStartMs(index: number): number {
  return EPOCH_MONDAY_MS + index * WEEK_MS;
}

/**
 * True while the FX market is closed: Friday 21:00 UTC to Sunday 21:00 UTC (the spec's fixed,
 * DST-free convention).
 */
export function isMarketClosed(ms: number): boolean {
  const inWeek = ms - weekStartMs(weekIndex(ms)); // ms since Monday 00:00
  return inWeek >= 4 * DAY_MS + 21 * HOUR_MS && inWeek < 6 * DAY_MS + 21 * HOUR_MS;
}

/** `YYYY-MM-DD` (UTC midnight) → ms; null when malformed or not a real date. */
export function parseIsoDate(s: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const ms = Date.UTC(y, mo - 1, d);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return null;
  return ms;
}

/** ms → `YYYY-MM-DD` (UTC). */
export function formatIsoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * A week axis value → its Monday 00:00 UTC in ms: either the start date (`2025-05-12`, must be
 * a Monday) or an ISO week id (`2025-W20`). Null when it is neither.
 */
export function parseWeekId(id: string): number | null {
  const iso = /^(\d{4})-W(\d{2})$/.exec(id);
  if (iso) {
    const year = Number(iso[1]);
    const week = Number(iso[2]);
    if (week < 1 || week > 53) return null;
    // ISO week 1 is the week holding January 4th.
    const jan4 = Date.UTC(year, 0, 4);
    const monday1 = weekStartMs(weekIndex(jan4));
    const ms = monday1 + (week - 1) * WEEK_MS;
    // Week 53 exists only in long years: its Thursday must still be in `year`.
    if (new Date(ms + 3 * DAY_MS).getUTCFullYear() !== year) return null;
    return ms;
  }
  const ms = parseIsoDate(id);
  if (ms === null || ms !== weekStartMs(weekIndex(ms))) return null;
  return ms;
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:?\d{2})?$/;

/**
 * Parses an RFC 3339 / ISO 8601 timestamp with up to 9 fractional digits (`2020-08-25T07:03:00.000000000Z`).
 * A time without a zone designator is read as UTC shifted by `defaultOffsetMinutes` (local
 * time at that fixed offset: `+120` means the text is UTC+02:00). Sub-millisecond digits are
 * truncated. Returns null when the text is not such a timestamp or names an impossible time.
 */
export function parseTimestamp(s: string, defaultOffsetMinutes = 0): number | null {
  const m = RFC3339.exec(s.trim());
  if (!m) return null;
  const [y, mo, d, hh, mi, ss] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]));
  if (mo! < 1 || mo! > 12 || d! < 1 || d! > 31 || hh! > 23 || mi! > 59 || ss! > 60) return null;
  let ms = Date.UTC(y!, mo! - 1, d!, hh!, mi!, ss!);
  if (new Date(Date.UTC(y!, mo! - 1, d!)).getUTCDate() !== d) return null; // e.g. 2025-02-30
  if (m[7]) ms += Number(m[7].padEnd(3, "0").slice(0, 3));
  const zone = m[8];
  let offset = defaultOffsetMinutes;
  if (zone === "Z" || zone === "z") offset = 0;
  else if (zone) {
    const z = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)!;
    offset = (z[1] === "-" ? -1 : 1) * (Number(z[2]) * 60 + Number(z[3]));
  }
  return ms - offset * MINUTE_MS;
}

/**
 * Reads a time field that may be RFC 3339 text or an epoch time in seconds, milliseconds,
 * microseconds or nanoseconds, told apart by magnitude (number or numeric string; values
 * below 1e11 are seconds: 1e11 s is the year 5138; from 1e14 µs, from 1e17 ns). Numbers below
 * 1e8 (before 1973) are refused rather than guessed: they are more likely a compact date such
 * as 20250724 than a real epoch time. Null when unreadable.
 */
export function parseFlexibleTime(v: unknown, defaultOffsetMinutes = 0): number | null {
  if (typeof v === "number") return epochToMs(v);
  if (typeof v !== "string") return null;
  const t = v.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return epochToMs(Number(t));
  return parseTimestamp(t, defaultOffsetMinutes);
}

function epochToMs(n: number): number | null {
  if (!Number.isFinite(n) || n < 1e8) return null;
  if (n >= 1e17) return Math.floor(n / 1e6); // nanoseconds (pandas int64 times)
  if (n >= 1e14) return Math.floor(n / 1e3); // microseconds
  return Math.round(n < 1e11 ? n * 1000 : n);
}

/** ms → RFC 3339 with nanoseconds, the form OANDA writes (`2025-05-12T00:00:00.000000000Z`). */
export function formatRfc3339Nanos(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000000Z");
}

/**
 * A UTC offset setting → minutes east of UTC: a number of minutes, or `+02:00` / `-0500` / `Z`.
 * Null when malformed.
 */
export function parseUtcOffset(v: unknown): number | null {
  if (v === undefined || v === null) return 0;
  if (typeof v === "number") return Number.isInteger(v) && Math.abs(v) <= 18 * 60 ? v : null;
  if (typeof v !== "string") return null;
  if (v === "Z" || v === "UTC") return 0;
  const z = /^([+-])(\d{2}):?(\d{2})$/.exec(v.trim());
  if (!z) return null;
  return (z[1] === "-" ? -1 : 1) * (Number(z[2]) * 60 + Number(z[3]));
}
