/**
 * Which corpus rows a consumer learns from, by their `source` label: one named source, or by
 * default every source except merged legacy exports (`legacy*`), which repeat the same gates
 * with the legacy engine's truncated labels. The baseline (src/ml/features.ts) and lead_lag
 * filter the same way.
 */
import { sqlString } from "../io/duckdb.js";

/** The SQL condition on column `source` (`source`: the param; empty or undefined = default). */
export function sourceCondition(source: string | undefined): string {
  return source ? `source = ${sqlString(source)}` : "source NOT LIKE 'legacy%'";
}

/** Human form of the filter, for logs and model files. */
export function describeSourceFilter(source: string | undefined): string {
  return source ? `source = ${source}` : "every source but legacy*";
}
