/**
 * Sliding windows of consecutive gates for the sequence models. A window is L consecutive
 * rows of one (instrument, run_mode) series in time order. It never crosses a series, a gap
 * longer than `maxGapMs`, or a split boundary (a window that starts in an earlier split than
 * its last gate is dropped: its inputs would be another split's data). Its label is the last
 * gate's and it belongs to the last gate's split; a last gate whose label was purged yields
 * no window.
 */
import { perSplit, type SplitName } from "./splits.js";

/** What the windowing needs per row, in series order (series contiguous, ts ascending). */
export interface SeriesRows {
  /** Series id per row (instrument × run_mode); rows of a series are contiguous. */
  readonly series: Int32Array;
  readonly ts_ms: Float64Array;
  /** Split index per row (0 train, 1 validation, 2 test, -1 outside every split). */
  readonly split: Int8Array;
  /** Row index in its split's parquet, or -1 when the row was purged or dropped. */
  readonly splitRow: Int32Array;
}

/** Windows of one length, per split: the global row index of each window's LAST gate. */
export interface WindowSet {
  readonly length: number;
  readonly ends: Record<SplitName, Int32Array>;
  /** Windows not made, per reason, over every split. */
  readonly skipped: { readonly gap: number; readonly earlier_split: number; readonly purged_label: number };
}

/**
 * Enumerates windows of length L with a stride per split (train, validation, test), counted
 * per series from each series' first possible end, so a stride is the same whatever the other
 * series hold. A single number applies to every split.
 */
export function makeWindows(rows: SeriesRows, L: number, stride: number | readonly [number, number, number], maxGapMs: number): WindowSet {
  const strides = typeof stride === "number" ? [stride, stride, stride] : stride;
  const n = rows.ts_ms.length;
  const ends: number[][] = [[], [], []];
  const skipped = { gap: 0, earlier_split: 0, purged_label: 0 };
  // runStart: first row of the current unbroken run (same series, no long gap).
  let runStart = 0;
  let seriesStart = 0;
  for (let i = 0; i < n; i++) {
    if (i > 0 && rows.series[i] !== rows.series[i - 1]) {
      runStart = i;
      seriesStart = i;
    } else if (i > 0 && rows.ts_ms[i]! - rows.ts_ms[i - 1]! > maxGapMs) {
      runStart = i;
    }
    const first = i - L + 1;
    if (first < seriesStart) continue;
    const k = rows.split[i]!;
    if (k < 0) continue;
    if ((i - (seriesStart + L - 1)) % strides[k]! !== 0) continue;
    if (first < runStart) {
      skipped.gap++;
      continue;
    }
    if (rows.split[first] !== k) {
      skipped.earlier_split++;
      continue;
    }
    if (rows.splitRow[i]! < 0) {
      skipped.purged_label++;
      continue;
    }
    ends[k]!.push(i);
  }
  return {
    length: L,
    ends: perSplit((_, k) => Int32Array.from(ends[k]!)),
    skipped,
  };
}

/** Gathers windows into X [N, L, F] from a row-major feature matrix [rows, F]. */
export function gatherWindows(features: Float32Array, F: number, ends: Int32Array, L: number): Float32Array {
  const X = new Float32Array(ends.length * L * F);
  for (let w = 0; w < ends.length; w++) {
    const first = ends[w]! - L + 1;
    X.set(features.subarray(first * F, (ends[w]! + 1) * F), w * L * F);
  }
  return X;
}
