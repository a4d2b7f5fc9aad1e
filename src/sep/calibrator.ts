/**
 * Adaptive hazard threshold (spec section 7): per instrument, a sorted list of at most 2048
 * published hazards. Every gate (admitted or not) inserts its hazard, the smallest is dropped
 * when the list grows past 2048, and the threshold is the p-quantile (floor index) capped by
 * hazard_max.
 */

/** Capacity of the calibrator list. */
export const CALIBRATOR_CAPACITY = 2048;

/** Clamps the configured percentile into [0.05, 0.99]. */
export function clampPercentile(p: number): number {
  return Math.min(0.99, Math.max(0.05, p));
}

/** A sorted hazard list; `values` is the serialisable state. */
export class HazardCalibrator {
  readonly values: number[];

  /** `initial` must be sorted ascending (carried state); it is copied. */
  constructor(initial: readonly number[] = []) {
    this.values = initial.slice();
    for (let i = 1; i < this.values.length; i++) {
      if (!(this.values[i - 1]! <= this.values[i]!)) throw new Error(`calibrator state is not sorted at index ${i}`);
    }
    while (this.values.length > CALIBRATOR_CAPACITY) this.values.shift();
  }

  /** Inserts a hazard (upper bound position, so equal values keep insertion order irrelevant). */
  insert(h: number): void {
    const v = this.values;
    let lo = 0;
    let hi = v.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (v[mid]! <= h) lo = mid + 1;
      else hi = mid;
    }
    v.splice(lo, 0, h);
    if (v.length > CALIBRATOR_CAPACITY) v.shift();
  }

  /** threshold = min(list[floor(p*(len-1))], hazardMax ?? 1). */
  threshold(p: number, hazardMax: number | undefined): number {
    const v = this.values;
    const cap = hazardMax ?? 1;
    if (v.length === 0) return cap;
    const idx = Math.floor(clampPercentile(p) * (v.length - 1));
    return Math.min(v[idx]!, cap);
  }

  /** Inserts and returns the new threshold (the per-gate step). */
  update(h: number, p: number, hazardMax: number | undefined): number {
    this.insert(h);
    return this.threshold(p, hazardMax);
  }
}
