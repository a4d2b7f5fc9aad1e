/**
 * Series statistics (spec section 2), computed once over the whole replayed series of one
 * instrument: the ATR (EMA of true range, alpha 2/15) at every candle, and the two medians the
 * codec splits on. No warm-up: the series is exactly the candles being replayed.
 */
import type { Candle } from "../market/candle.js";

/** Candles as parallel typed arrays: the hot loops read these, not objects. */
export interface CandleColumns {
  readonly n: number;
  readonly t: Float64Array;
  readonly o: Float64Array;
  readonly h: Float64Array;
  readonly l: Float64Array;
  readonly c: Float64Array;
  readonly v: Float64Array;
}

/** Series-level statistics the codec and the regime read. */
export interface SeriesStats {
  /** ATR_t = max(ema_t, 1e-8), own true range included. */
  readonly atr: Float64Array;
  /** median(h - l) over the series. */
  readonly spreadSplit: number;
  /** median(max(1e-12, volume)) over the series. */
  readonly volumeSplit: number;
}

/** EMA smoothing of the true range. */
export const ATR_ALPHA = 2 / 15;

/** Converts candles to columns. */
export function toColumns(candles: readonly Candle[]): CandleColumns {
  const n = candles.length;
  const cols = {
    n,
    t: new Float64Array(n),
    o: new Float64Array(n),
    h: new Float64Array(n),
    l: new Float64Array(n),
    c: new Float64Array(n),
    v: new Float64Array(n),
  };
  for (let i = 0; i < n; i++) {
    const k = candles[i]!;
    cols.t[i] = k.t;
    cols.o[i] = k.o;
    cols.h[i] = k.h;
    cols.l[i] = k.l;
    cols.c[i] = k.c;
    cols.v[i] = k.volume;
  }
  return cols;
}

/** Median as Python's statistics.median: mean of the two middle values for an even count. */
export function median(values: Float64Array): number {
  const n = values.length;
  if (n === 0) return 0;
  const s = Float64Array.from(values).sort();
  const mid = n >> 1;
  return n % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** ATR series (spec section 2): seed ema = h0 - l0, prev = c0; TR includes the candle itself. */
export function atrSeries(cols: CandleColumns): Float64Array {
  const { n, h, l, c } = cols;
  const atr = new Float64Array(n);
  if (n === 0) return atr;
  const a = ATR_ALPHA;
  let ema = h[0]! - l[0]!;
  let prev = c[0]!;
  for (let i = 0; i < n; i++) {
    const hi = h[i]!;
    const lo = l[i]!;
    const tr = Math.max(hi - lo, Math.abs(hi - prev), Math.abs(lo - prev));
    ema = a * tr + (1 - a) * ema;
    atr[i] = Math.max(ema, 1e-8);
    prev = c[i]!;
  }
  return atr;
}

/** All series statistics of one instrument's replay series. */
export function computeSeriesStats(cols: CandleColumns): SeriesStats {
  const spreads = new Float64Array(cols.n);
  const vols = new Float64Array(cols.n);
  for (let i = 0; i < cols.n; i++) {
    spreads[i] = cols.h[i]! - cols.l[i]!;
    vols[i] = Math.max(1e-12, cols.v[i]!);
  }
  return { atr: atrSeries(cols), spreadSplit: median(spreads), volumeSplit: median(vols) };
}
