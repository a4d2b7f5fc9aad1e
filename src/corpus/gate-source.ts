/**
 * Reading gate records for the corpus: every record shape of gate-spec §9 (nested live payload,
 * weekly replay lines, legacy flat exports, `end_ms` / `metrics` / `canonical` spellings) is
 * normalized to one `GateRecord`, with located errors (`file:line: field "x": ...`).
 *
 * This is the corpus' adapter over the replay's record reader. `src/sep/records.ts`
 * (`parseGateLine`) is being written in parallel; until it lands, the tolerant reader below is
 * the implementation. Switching means replacing the body of `readGateLine` with a call to
 * `parseGateLine` plus a mapping to `GateRecord`; nothing else in src/corpus reads raw JSON.
 */

/** Forward-return horizons in minutes (gate-spec §8), as the string keys used in files. */
export const HORIZONS = ["5", "15", "30", "60", "90", "240", "360"] as const;
/** One horizon key. */
export type Horizon = (typeof HORIZONS)[number];

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

/** Codec settings needed to decode `bits_b64` back to per-candle estimates (gate-spec §4). */
export interface CodecMeta {
  readonly delta_scale: number;
  readonly atr_scale: number;
  readonly volume_split: number;
  readonly spread_split: number;
}

/**
 * One gate, whatever shape it was read from. A value absent from the source shape is `null`
 * (a flat legacy line has no tau metrics, no canonical features and no bits).
 */
export interface GateRecord {
  readonly instrument: string;
  /** Open time of the window's last candle, epoch milliseconds (UTC). */
  readonly ts_ms: number;
  readonly hazard: number;
  readonly lambda: number | null;
  readonly hazard_threshold: number | null;
  readonly admit: boolean;
  readonly reasons: readonly string[];
  readonly regime: string;
  readonly regime_confidence: number | null;
  readonly structure: Readonly<Record<StructureMetric, number | null>>;
  readonly signature: string | null;
  readonly canonical: Readonly<Record<CanonicalFeature, number | null>>;
  readonly repetitions: number;
  readonly direction: string | null;
  readonly source: string | null;
  readonly run_mode: string | null;
  readonly bits_b64: string | null;
  readonly codec_meta: CodecMeta | null;
  readonly price_close: number | null;
  readonly roc_prev_pct: number | null;
  /** Percent; null where the label is missing or incomplete. */
  readonly roc_forward_pct: Readonly<Record<Horizon, number | null>>;
  /** As written by the replay; null when the shape has no such field. */
  readonly label_complete: boolean | null;
}

/** A gate line that cannot be read: names the file, the 1-based line and the field. */
export class GateParseError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly field: string | null,
    readonly detail: string,
  ) {
    super(`${file}:${line}: ${field ? `field "${field}": ` : ""}${detail}`);
    this.name = "GateParseError";
  }
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** Reads one line of a gates JSONL file. Blank lines are the caller's business (skip them). */
export function readGateLine(line: string, file: string, lineNo: number): GateRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (e) {
    throw new GateParseError(file, lineNo, null, `invalid JSON (${(e as Error).message})`);
  }
  if (!isObj(raw)) throw new GateParseError(file, lineNo, null, `expected a JSON object, got ${show(raw)}`);
  return normalizeGate(raw, file, lineNo);
}

/** Normalizes one parsed gate object of any §9 shape. */
export function normalizeGate(o: Obj, file: string, lineNo: number): GateRecord {
  const fail = (field: string, detail: string): never => {
    throw new GateParseError(file, lineNo, field, detail);
  };
  const num = (v: unknown, field: string, required: boolean): number | null => {
    if (v === undefined || v === null) return required ? fail(field, "is missing") : null;
    if (typeof v !== "number" || !Number.isFinite(v)) return fail(field, `expected a finite number, got ${show(v)}`);
    return v;
  };
  const str = (v: unknown, field: string, required: boolean): string | null => {
    if (v === undefined || v === null) return required ? fail(field, "is missing") : null;
    if (typeof v !== "string" || v === "") return fail(field, `expected a non-empty string, got ${show(v)}`);
    return v;
  };
  const bool = (v: unknown, field: string, required: boolean): boolean | null => {
    if (v === undefined || v === null) return required ? fail(field, "is missing") : null;
    // Legacy exports wrote booleans as 0/1 in places.
    if (v === true || v === 1) return true;
    if (v === false || v === 0) return false;
    return fail(field, `expected a boolean, got ${show(v)}`);
  };
  const sub = (v: unknown, field: string): Obj | null => {
    if (v === undefined || v === null) return null;
    if (!isObj(v)) return fail(field, `expected an object, got ${show(v)}`);
    return v;
  };

  const instrument = str(o.instrument, "instrument", true)!;
  if (!/^[A-Z]{3}_[A-Z]{3}$/.test(instrument)) fail("instrument", `expected an OANDA name like EUR_USD, got ${show(instrument)}`);
  const tsField = o.ts_ms !== undefined ? "ts_ms" : "end_ms";
  const ts_ms = num(o.ts_ms ?? o.end_ms, tsField, true)!;
  if (!Number.isInteger(ts_ms) || ts_ms < 0) fail(tsField, `expected epoch milliseconds, got ${show(ts_ms)}`);

  // Metrics sit under `structure` (replay, live) or `metrics` (older exports), or flat.
  const structField = o.structure !== undefined ? "structure" : "metrics";
  const struct = sub(o.structure ?? o.metrics, structField);
  const hazard = num(o.hazard ?? struct?.hazard, "hazard", true)!;
  if (hazard < 0 || hazard > 1) fail("hazard", `expected a value in [0, 1], got ${show(hazard)}`);
  const structure = {} as Record<StructureMetric, number | null>;
  for (const m of STRUCTURE_METRICS) {
    const v = struct ? struct[m] : o[m];
    structure[m] = num(v, struct ? `${structField}.${m}` : m, false);
  }
  // hazard = rupture = domain_wall_ratio by definition (gate-spec §5): flat exports carry only
  // `hazard`, so the identities fill the other two instead of leaving them unknown.
  structure.hazard ??= hazard;
  structure.rupture ??= hazard;
  structure.domain_wall_ratio ??= hazard;
  const signature = str(struct?.signature ?? o.signature, struct ? `${structField}.signature` : "signature", false);

  // Regime: a string (flat), or `regime{label, confidence, canonical...}`, or `canonical{regime, regime_confidence, ...}`.
  let regime: string;
  let regimeConf = num(o.regime_confidence, "regime_confidence", false);
  let canonSrc: Obj | null = null;
  let canonField = "regime";
  if (typeof o.regime === "string") {
    regime = o.regime;
    canonSrc = sub(o.canonical, "canonical");
    canonField = "canonical";
  } else if (isObj(o.regime)) {
    canonSrc = o.regime;
    regime = str(o.regime.label, "regime.label", true)!;
    regimeConf ??= num(o.regime.confidence, "regime.confidence", false);
  } else if (isObj(o.canonical)) {
    canonSrc = o.canonical;
    canonField = "canonical";
    regime = str(o.canonical.regime ?? o.canonical.label, "canonical.regime", true)!;
    regimeConf ??= num(o.canonical.regime_confidence ?? o.canonical.confidence, "canonical.regime_confidence", false);
  } else {
    regime = str(o.regime, "regime", true)!;
  }
  if (regime === "") fail("regime", "is empty");
  const canonical = {} as Record<CanonicalFeature, number | null>;
  for (const f of CANONICAL_FEATURES) canonical[f] = canonSrc ? num(canonSrc[f], `${canonField}.${f}`, false) : null;

  let reasons: string[];
  if (Array.isArray(o.reasons)) {
    reasons = o.reasons.map((r, i) => (typeof r === "string" ? r : fail(`reasons[${i}]`, `expected a string, got ${show(r)}`)));
  } else if (typeof o.reasons === "string") {
    reasons = o.reasons === "" ? [] : o.reasons.split("|"); // legacy flat: "|"-joined
  } else if (o.reasons === undefined || o.reasons === null) {
    reasons = [];
  } else {
    return fail("reasons", `expected a list or a "|"-joined string, got ${show(o.reasons)}`);
  }
  const admit = bool(o.admit, "admit", true)!;

  const repetitions = num(o.repetitions, "repetitions", true)!;
  if (!Number.isInteger(repetitions) || repetitions < 1) fail("repetitions", `expected an integer >= 1, got ${show(repetitions)}`);

  const comps = sub(o.components, "components");
  let bits_b64: string | null = null;
  let codec_meta: CodecMeta | null = null;
  if (comps) {
    bits_b64 = str(comps.bits_b64, "components.bits_b64", false);
    const cm = sub(comps.codec_meta, "components.codec_meta");
    if (cm) {
      codec_meta = {
        delta_scale: num(cm.delta_scale, "components.codec_meta.delta_scale", true)!,
        atr_scale: num(cm.atr_scale, "components.codec_meta.atr_scale", true)!,
        volume_split: num(cm.volume_split, "components.codec_meta.volume_split", true)!,
        spread_split: num(cm.spread_split, "components.codec_meta.spread_split", true)!,
      };
    }
  }

  const rocSrc = sub(o.roc_forward_pct, "roc_forward_pct");
  const roc = {} as Record<Horizon, number | null>;
  for (const h of HORIZONS) roc[h] = rocSrc ? num(rocSrc[h], `roc_forward_pct.${h}`, false) : null;

  return {
    instrument,
    ts_ms,
    hazard,
    lambda: num(o.lambda, "lambda", false),
    hazard_threshold: num(o.hazard_threshold, "hazard_threshold", false),
    admit,
    reasons,
    regime,
    regime_confidence: regimeConf,
    structure,
    signature,
    canonical,
    repetitions,
    direction: str(o.direction, "direction", false),
    source: str(o.source, "source", false),
    run_mode: str(o.run_mode, "run_mode", false),
    bits_b64,
    codec_meta,
    price_close: num(o.price_close, "price_close", false),
    roc_prev_pct: num(o.roc_prev_pct, "roc_prev_pct", false),
    roc_forward_pct: roc,
    label_complete: bool(o.label_complete, "label_complete", false),
  };
}
