/**
 * The ML corpus schema (format version 1): one table of column definitions that the part
 * writer, the merge and the generated telemetry doc all read, so a column cannot be written
 * without being documented. Each parquet file carries `dagbuild_corpus_version` in its
 * key-value metadata.
 */
import { CANONICAL_FEATURES, HORIZONS, STRUCTURE_METRICS } from "./gate-source.js";

/** Version of the corpus parquet layout; bump on any column change. */
export const CORPUS_FORMAT_VERSION = 1;

/** DuckDB types the corpus uses. */
export type ColumnType = "VARCHAR" | "BIGINT" | "INTEGER" | "DOUBLE" | "BOOLEAN" | "TIMESTAMP" | "VARCHAR[]" | "DOUBLE[]" | "UTINYINT[]";

/** One corpus column. */
export interface ColumnDef {
  readonly name: string;
  readonly type: ColumnType;
  /** What the value means (rendered into docs/telemetry_schema.md). */
  readonly meaning: string;
  /** Only present when the part was built with `decode_bitplanes: true`. */
  readonly bitplane?: boolean;
}

const STRUCTURE_MEANING: Record<string, string> = {
  coherence: "1 - min(H, 1), H = binary entropy of the 512 codec bits",
  stability: "1 - rupture",
  entropy: "binary entropy (log2) of the share of one-bits",
  hazard: "bit transition ratio T/(n-1); equal to rupture",
  rupture: "bit transition ratio T/(n-1)",
  coherence_tau_1: "share of bits equal to the bit 1 earlier",
  coherence_tau_4: "share of bits equal to the bit 4 earlier",
  coherence_tau_slope: "(tau_4 - tau_1)/3",
  domain_wall_ratio: "bit transition ratio (same as rupture)",
  domain_wall_slope: "transition ratio of the second half minus the first half",
  spectral_lowf_share: "share of spectral power in the lowest quarter of frequencies",
  reynolds_ratio: "rupture / max(1e-6, |domain_wall_slope|)",
  temporal_half_life: "ln 2 / max(1e-6, |coherence_tau_slope|)",
  spatial_corr_length: "1 / max(1e-6, |domain_wall_slope|)",
  pinned_alignment: "constant 1 (legacy placeholder)",
};

const CANONICAL_MEANING: Record<string, string> = {
  realized_vol: "population stdev of the 63 log returns of the window",
  atr_mean: "mean ATR (EMA alpha 2/15 of true range) over the 64 candles, price units",
  autocorr: "lag-1 autocorrelation of the window's log returns",
  trend_strength: "OLS slope of closes on index / stdev of closes",
  volume_zscore: "(mean volume - volume_split) / volume_split",
};

/** Every corpus column, in file order. */
export const CORPUS_COLUMNS: readonly ColumnDef[] = [
  { name: "instrument", type: "VARCHAR", meaning: "OANDA instrument name, e.g. EUR_USD" },
  { name: "ts", type: "TIMESTAMP", meaning: "open time of the window's last candle, UTC" },
  { name: "ts_ms", type: "BIGINT", meaning: "ts as epoch milliseconds" },
  { name: "admit", type: "BOOLEAN", meaning: "gate admitted (no reasons)" },
  { name: "reasons", type: "VARCHAR[]", meaning: "rejection reasons, in spec order" },
  { name: "regime", type: "VARCHAR", meaning: "regime label (trend_bull, trend_bear, mean_revert, chaotic, neutral)" },
  { name: "regime_confidence", type: "DOUBLE", meaning: "confidence of the regime label" },
  ...STRUCTURE_METRICS.map((m): ColumnDef => ({ name: `structure_${m}`, type: "DOUBLE", meaning: STRUCTURE_MEANING[m]! })),
  { name: "structure_signature", type: "VARCHAR", meaning: "c{coherence}_s{stability}_e{entropy} (3 decimals)" },
  ...CANONICAL_FEATURES.map((f): ColumnDef => ({ name: `canonical_${f}`, type: "DOUBLE", meaning: CANONICAL_MEANING[f]! })),
  { name: "hazard", type: "DOUBLE", meaning: "gate hazard (= structure rupture)" },
  { name: "lambda", type: "DOUBLE", meaning: "exported hazard rate (hazard times the lambda scale)" },
  { name: "hazard_threshold", type: "DOUBLE", meaning: "adaptive hazard threshold at this gate" },
  { name: "hazard_decile", type: "INTEGER", meaning: "clamp(floor(10*hazard), 0, 9)" },
  { name: "repetitions", type: "INTEGER", meaning: "gates with the same signature inside the retention window" },
  { name: "repetition_bucket", type: "VARCHAR", meaning: "\"1\"..\"4\" or \"5p\"" },
  { name: "strand_id", type: "VARCHAR", meaning: "{regime}_d{decile}_r{bucket}" },
  { name: "semantic_tags", type: "VARCHAR[]", meaning: "highly_stable, strengthening_structure, high_rupture_event, chaotic_price_action, low_hazard_environment" },
  { name: "direction", type: "VARCHAR", meaning: "BUY / SELL / FLAT from the regime label (null in flat exports)" },
  { name: "price_close", type: "DOUBLE", meaning: "close of the candle at ts" },
  { name: "roc_prev_pct", type: "DOUBLE", meaning: "percent change of the close vs the previous candle" },
  ...HORIZONS.map((h): ColumnDef => ({ name: `roc_forward_pct_${h}`, type: "DOUBLE", meaning: `forward return over ${h} min, percent (null when incomplete)` })),
  { name: "label_complete", type: "BOOLEAN", meaning: "every forward horizon is backed by data" },
  { name: "session_asia", type: "BOOLEAN", meaning: "ts hour in 21:00-08:00 UTC" },
  { name: "session_london", type: "BOOLEAN", meaning: "ts hour in 08:00-16:00 UTC" },
  { name: "session_new_york", type: "BOOLEAN", meaning: "ts hour in 13:00-22:00 UTC" },
  { name: "week", type: "VARCHAR", meaning: "week partition id (Monday 00:00 UTC, ISO date)" },
  { name: "run_mode", type: "VARCHAR", meaning: "rolling or isolation" },
  { name: "source", type: "VARCHAR", meaning: "data source label (synthetic, oanda, legacy_*)" },
  { name: "bitplane_dir", type: "UTINYINT[]", meaning: "per candle: 1 if the close rose (decoded codec bits)", bitplane: true },
  { name: "bitplane_abs_delta_est", type: "DOUBLE[]", meaning: "per candle: (move+0.5)/8 * delta_scale", bitplane: true },
  { name: "bitplane_atr_ratio_est", type: "DOUBLE[]", meaning: "per candle: (range+0.5)/4 * atr_scale", bitplane: true },
  { name: "bitplane_liquidity", type: "UTINYINT[]", meaning: "per candle: 1 if h - l <= spread_split", bitplane: true },
  { name: "bitplane_volume_est", type: "DOUBLE[]", meaning: "per candle: volume_split * 1.25 or 0.75", bitplane: true },
];

/** Columns of a corpus file with or without decoded bitplanes. */
export function corpusColumns(withBitplanes: boolean): readonly ColumnDef[] {
  return CORPUS_COLUMNS.filter((c) => withBitplanes || !c.bitplane);
}

/** The unique key of a corpus row. */
export const CORPUS_KEY = ["instrument", "ts_ms", "run_mode", "source"] as const;

/** Row order of every corpus file (the key, so the order is total). */
export const CORPUS_ORDER = "run_mode, source, instrument, ts_ms";

/** COPY options with the format version in the key-value metadata. */
export function corpusParquetOptions(deterministic: string, priceSide?: string): string {
  // The price side (bid/ask/mid) the gates were computed from, when known: a corpus holds one.
  const side = priceSide ? `, dagbuild_price_side: '${priceSide.replace(/'/g, "")}'` : "";
  return deterministic.replace(/\)$/, `, KV_METADATA {dagbuild_corpus_version: '${CORPUS_FORMAT_VERSION}'${side}})`);
}
