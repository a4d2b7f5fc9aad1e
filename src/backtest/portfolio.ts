/**
 * Several runs (instruments, weeks) as one account curve: on the union of their times, equity =
 * `capital` + the sum of each run's P&L so far (equity - its NAV, held at its last value after
 * the run ends, 0 before it starts), so weeks chain by their P&L and instruments add up.
 * Exposure adds each run's held notional inside its own span only.
 */
import type { SimRun } from "./simulator.js";

/** The combined curve. */
export interface Curve {
  readonly times: Float64Array;
  readonly equity: Float64Array;
  readonly exposure: Float64Array;
}

/** Combines runs into one curve (see the header). */
export function combineRuns(runs: readonly SimRun[], capital: number): Curve {
  const all: number[] = [];
  for (const r of runs) for (const t of r.times) all.push(t);
  all.sort((a, b) => a - b);
  const grid: number[] = [];
  for (const t of all) if (grid.length === 0 || grid[grid.length - 1] !== t) grid.push(t);
  const n = grid.length;
  const equity = new Float64Array(n).fill(capital);
  const exposure = new Float64Array(n);
  for (const r of runs) {
    let j = -1;
    const end = r.times.length > 0 ? r.times[r.times.length - 1]! : Number.NEGATIVE_INFINITY;
    for (let i = 0; i < n; i++) {
      const t = grid[i]!;
      while (j + 1 < r.times.length && r.times[j + 1]! <= t) j++;
      if (j < 0) continue;
      equity[i] += r.equity[j]! - r.nav;
      if (t <= end) exposure[i] += r.exposure[j]!;
    }
  }
  return { times: Float64Array.from(grid), equity, exposure };
}
