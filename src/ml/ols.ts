/**
 * Ordinary least squares with classical standard errors, via the normal equations solved by
 * Gaussian elimination with partial pivoting (the designs here have a handful of columns, so
 * conditioning, not speed, is the concern: columns are used as given; a singular design is an
 * error rather than a silent pseudo-inverse).
 */

/** Coefficients and their t statistics. */
export interface OlsFit {
  readonly coef: number[];
  readonly stderr: number[];
  readonly t: number[];
  readonly n: number;
  readonly r2: number;
  readonly sigma2: number;
}

/** A design that cannot be fitted (too few rows, collinear columns). */
export class OlsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OlsError";
  }
}

/** Solves A x = b in place (A square, row-major arrays). Returns x; throws on singular A. */
export function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[p]![c]!)) p = r;
    const scale = Math.max(1, ...M.map((r) => Math.abs(r[c]!)));
    if (Math.abs(M[p]![c]!) < 1e-12 * scale) throw new OlsError(`singular design (column ${c} is collinear with others)`);
    [M[c], M[p]] = [M[p]!, M[c]!];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = M[r]![c]! / M[c]![c]!;
      if (f !== 0) for (let k = c; k <= n; k++) M[r]![k]! -= f * M[c]![k]!;
    }
  }
  return M.map((row, i) => row[n]! / row[i]!);
}

/** Inverse of a small square matrix (column by column through `solve`). */
export function invert(A: number[][]): number[][] {
  const n = A.length;
  const cols = Array.from({ length: n }, (_, j) => solve(A, Array.from({ length: n }, (_, i) => (i === j ? 1 : 0))));
  return Array.from({ length: n }, (_, i) => cols.map((c) => c[i]!));
}

/** Fits y = X b (include a column of ones in X for an intercept). */
export function ols(X: readonly (readonly number[])[], y: readonly number[]): OlsFit {
  const n = y.length;
  const p = X[0]?.length ?? 0;
  if (n <= p) throw new OlsError(`need more rows (${n}) than columns (${p})`);
  const XtX = Array.from({ length: p }, () => new Array<number>(p).fill(0));
  const Xty = new Array<number>(p).fill(0);
  for (let i = 0; i < n; i++) {
    const xi = X[i]!;
    for (let a = 0; a < p; a++) {
      Xty[a]! += xi[a]! * y[i]!;
      for (let b = a; b < p; b++) XtX[a]![b]! += xi[a]! * xi[b]!;
    }
  }
  for (let a = 0; a < p; a++) for (let b = 0; b < a; b++) XtX[a]![b] = XtX[b]![a]!;
  const coef = solve(XtX, Xty);
  let sse = 0, mean = 0;
  for (const v of y) mean += v / n;
  let sst = 0;
  for (let i = 0; i < n; i++) {
    let f = 0;
    for (let a = 0; a < p; a++) f += X[i]![a]! * coef[a]!;
    sse += (y[i]! - f) ** 2;
    sst += (y[i]! - mean) ** 2;
  }
  const sigma2 = sse / (n - p);
  const inv = invert(XtX);
  const stderr = inv.map((row, a) => Math.sqrt(Math.max(0, sigma2 * row[a]!)));
  return { coef, stderr, t: coef.map((c, a) => (stderr[a]! > 0 ? c / stderr[a]! : Number.NaN)), n, r2: sst > 0 ? 1 - sse / sst : Number.NaN, sigma2 };
}
