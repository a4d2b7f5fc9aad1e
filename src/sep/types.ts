/**
 * Shared types of the SEP gate engine (docs/gate-spec.md, sections 2-9).
 * Pure data: no I/O here, so every stage (replay, corpus, backtest) can import it cheaply.
 */

/** The five regime labels of spec section 6, in the order the classifier tries them. */
export const REGIME_LABELS = ["trend_bull", "trend_bear", "mean_revert", "chaotic", "neutral"] as const;
/** A regime label (spec section 6). */
export type RegimeLabel = (typeof REGIME_LABELS)[number];

/** Forward-return horizons in minutes (spec section 8). */
export const HORIZONS_MIN = [5, 15, 30, 60, 90, 240, 360] as const;
/** The largest horizon: how far past a week's end the label tail must reach. */
export const MAX_HORIZON_MIN = 360;

/** Admission reasons, in the order they are checked and published (spec section 7). */
export const REASONS = [
  "hazard_exceeds_adaptive_threshold",
  "hazard_fallback_requested",
  "regime_filtered",
  "regime_confidence_low",
] as const;
/** One admission reason. */
export type Reason = (typeof REASONS)[number];

/** Trade direction derived from the regime label (spec section 9). */
export type Direction = "BUY" | "SELL" | "FLAT";

/** Run mode (spec section 7): rolling carries state across weeks; isolation starts fresh. */
export type RunMode = "rolling" | "isolation";

/** Published structure metrics (spec section 5), each rounded half-even to 6 decimals. */
export interface StructureMetrics {
  coherence: number;
  stability: number;
  entropy: number;
  hazard: number;
  rupture: number;
  coherence_tau_1: number;
  coherence_tau_4: number;
  coherence_tau_slope: number;
  domain_wall_ratio: number;
  domain_wall_slope: number;
  spectral_lowf_share: number;
  reynolds_ratio: number;
  temporal_half_life: number;
  spatial_corr_length: number;
  pinned_alignment: number;
  /** `c{coherence:.3f}_s{stability:.3f}_e{entropy:.3f}` from the published values. */
  signature: string;
}

/** Codec scales published with each window (spec section 4). */
export interface CodecMeta {
  delta_scale: number;
  atr_scale: number;
  volume_split: number;
  spread_split: number;
}

/** Canonical (unrounded) window features and the regime they classify to (spec section 6). */
export interface RegimeInfo {
  label: RegimeLabel;
  confidence: number;
  realized_vol: number;
  atr_mean: number;
  autocorr: number;
  trend_strength: number;
  volume_zscore: number;
}

/** How the regime's volatility ratio normalises ATR (spec section 6). */
export type RegimeNormalization = "legacy" | "price";

/** A validated strategy profile (config/echo_strategy.yaml, schema/profile.schema.json). */
export interface Profile {
  version: 1;
  /** Calibrator percentile p, clamped to [0.05, 0.99] when used. */
  hazard_percentile: number;
  /** Optional per-instrument cap on the adaptive threshold (absent: 1). */
  hazard_max: Readonly<Record<string, number>>;
  admit_regimes: readonly RegimeLabel[];
  min_confidence: number;
  signature_retention_minutes: number;
  lambda_scale: number;
  regime_normalization: RegimeNormalization;
}

/** Per-instrument carried state (rolling mode): serialisable JSON. */
export interface InstrumentState {
  /** Sorted published hazards, at most 2048. */
  calibrator: number[];
  /** Per signature, the ts_ms of gates still inside the retention window (ascending). */
  repetitions: Record<string, number[]>;
  /** ts_ms of the last gate replayed (null before any): guards against replaying backwards. */
  last_ts_ms: number | null;
}

/** Version of the replay state JSON (`state_{start}_{end}.json`). */
export const REPLAY_STATE_VERSION = 1;

/**
 * On-disk replay state (format version 1): `{version, instruments: {INST: InstrumentState}}`,
 * keys sorted. Written by every week (also in isolation mode, for symmetry).
 */
export interface ReplayState {
  version: typeof REPLAY_STATE_VERSION;
  instruments: Record<string, InstrumentState>;
}

/** Section-5 structure metrics, in publication order (the signature is separate). */
export const STRUCTURE_METRICS = [
  "coherence",
  "stability",
  "entropy",
  "hazard",
  "rupture",
  "coherence_tau_1",
  "coherence_tau_4",
  "coherence_tau_slope",
  "domain_wall_ratio",
  "domain_wall_slope",
  "spectral_lowf_share",
  "reynolds_ratio",
  "temporal_half_life",
  "spatial_corr_length",
  "pinned_alignment",
] as const;
/** One structure metric name. */
export type StructureMetric = (typeof STRUCTURE_METRICS)[number];

/** Section-6 canonical features (unrounded). */
export const CANONICAL_FEATURES = ["realized_vol", "atr_mean", "autocorr", "trend_strength", "volume_zscore"] as const;
/** One canonical feature name. */
export type CanonicalFeature = (typeof CANONICAL_FEATURES)[number];

/** Forward-return horizon keys as they appear in records ("5", ..., "360"). */
export const HORIZON_KEYS = ["5", "15", "30", "60", "90", "240", "360"] as const;
/** One horizon key. */
export type HorizonKey = (typeof HORIZON_KEYS)[number];
