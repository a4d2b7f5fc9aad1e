/**
 * DuckDB result columns to the typed arrays the models take. The feature readers (the
 * training builder's dense matrix, a GBM split, the rows a model is scored on) all select
 * their features as columns and hand the trainers and scorers one row-major float32 matrix.
 */
import type { DuckDBValue } from "@duckdb/node-api";

/** A column name quoted for SQL (`"a""b"`): feature names are corpus column names. */
export function sqlIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * The series id of a row (1, 2, ... over run_mode then instrument), the order the windows
 * and the scores share.
 */
export const SERIES_ID_SQL = "CAST(dense_rank() OVER (ORDER BY run_mode, instrument) AS INTEGER)";

/**
 * The `F` columns `cols[first .. first + F - 1]` as one row-major float32 matrix `[n, F]`
 * (`n` = the length of `cols[first]`, 0 when there are no rows).
 */
export function rowMajor(cols: readonly (readonly DuckDBValue[])[], first: number, F: number): Float32Array {
  const n = cols[first]?.length ?? 0;
  const X = new Float32Array(n * F);
  for (let j = 0; j < F; j++) {
    const c = cols[first + j]!;
    for (let i = 0; i < n; i++) X[i * F + j] = c[i] as number;
  }
  return X;
}
