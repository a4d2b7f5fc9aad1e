/**
 * Forward-return labels (spec section 8). `close_asof(x)` is the close of the last candle whose
 * open time is <= x, looked up *by time* over the week's candles plus a label tail (the next
 * week's candles, up to end + 360 min). A horizon whose target time lies after the last candle
 * we have is incomplete: its value is null, never extrapolated.
 */
import { HORIZONS_MIN } from "./types.js";
import type { HorizonMap } from "./records.js";

/** Times and closes of the label series (replayed candles followed by the tail), ascending. */
export interface LabelSeries {
  readonly t: Float64Array;
  readonly c: Float64Array;
}

/** Labels of one gate. */
export interface GateLabels {
  roc_forward_pct: HorizonMap<number | null>;
  label_complete_h: HorizonMap<boolean>;
  label_complete: boolean;
}

/** Builds the label series; the tail must start strictly after the last replayed candle. */
export function labelSeries(
  t: Float64Array,
  c: Float64Array,
  tail: readonly { t: number; c: number }[],
): LabelSeries {
  const n = t.length;
  const lt = new Float64Array(n + tail.length);
  const lc = new Float64Array(n + tail.length);
  lt.set(t);
  lc.set(c);
  for (let i = 0; i < tail.length; i++) {
    lt[n + i] = tail[i]!.t;
    lc[n + i] = tail[i]!.c;
  }
  return { t: lt, c: lc };
}

/** Index of the last element with t <= x (-1 when none), searching from `from` upwards. */
export function asofIndex(t: Float64Array, x: number, from = 0): number {
  let lo = Math.max(0, from);
  let hi = t.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (t[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** `close_asof(x)` over the series, or null when x is past the data (incomplete). */
export function closeAsof(s: LabelSeries, x: number, from = 0): number | null {
  const n = s.t.length;
  if (n === 0 || s.t[n - 1]! < x) return null;
  const i = asofIndex(s.t, x, from);
  return i < 0 ? null : s.c[i]!;
}

/**
 * Forward returns in percent for a gate at `tsMs` whose close is `priceClose`; `from` is the
 * gate's index in the series (a search hint: the answer is never before it).
 */
export function forwardLabels(s: LabelSeries, tsMs: number, priceClose: number, from = 0): GateLabels {
  const roc: HorizonMap<number | null> = {};
  const done: HorizonMap<boolean> = {};
  let all = true;
  for (const h of HORIZONS_MIN) {
    const v = closeAsof(s, tsMs + h * 60_000, from);
    const key = String(h);
    if (v === null) {
      roc[key] = null;
      done[key] = false;
      all = false;
    } else {
      roc[key] = 100 * (v / priceClose - 1);
      done[key] = true;
    }
  }
  return { roc_forward_pct: roc, label_complete_h: done, label_complete: all };
}

/** `100 * (close / previous close - 1)`, or null without a previous close. */
export function rocPrevPct(close: number, prevClose: number | undefined): number | null {
  return prevClose === undefined ? null : 100 * (close / prevClose - 1);
}
