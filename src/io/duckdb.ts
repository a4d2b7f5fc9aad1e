/**
 * DuckDB access for parquet I/O and SQL. Loaded lazily so commands that never touch parquet
 * start fast. One in-memory database per call site; DuckDB's own threads are capped at
 * `DAGBUILD_DUCKDB_THREADS` (default 1) because the scheduler already runs actions in parallel.
 */
import type { DuckDBConnection } from "@duckdb/node-api";

export type { DuckDBConnection };

/** Opens an in-memory DuckDB connection. Close it with `conn.closeSync()` when done. */
export async function openDuckDb(): Promise<DuckDBConnection> {
  const { DuckDBInstance } = await import("@duckdb/node-api");
  const instance = await DuckDBInstance.create(":memory:", {
    threads: process.env.DAGBUILD_DUCKDB_THREADS ?? "1",
  });
  return instance.connect();
}

/** Runs `fn` with a fresh connection and closes it afterwards. */
export async function withDuckDb<T>(fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
  const conn = await openDuckDb();
  try {
    return await fn(conn);
  } finally {
    conn.closeSync();
  }
}

/** SQL string literal (single quotes doubled). Use for paths; never splice user text otherwise. */
export function sqlString(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/**
 * Parquet COPY options that give byte-identical files for identical rows: one writer thread
 * (row-group order), ZSTD, and no wall-clock metadata (DuckDB writes none).
 */
export const DETERMINISTIC_PARQUET = "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100000)";
