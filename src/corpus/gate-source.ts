/**
 * Reading gate records for the corpus: a thin adapter over the replay's tolerant reader
 * (`parseGateLine`, src/sep/records.ts, every record shape of gate-spec §9) that adds what the
 * corpus requires of a row (instrument, admit, regime, repetitions >= 1, hazard in [0, 1]) and
 * gives one `GateRecord` shape with located errors (`file:line: field "x": ...`).
 */
import { GateRecordError, parseGateLine, type ParsedGate } from "../sep/records.js";

/** Forward-return horizons in minutes (gate-spec §8), as the string keys used in files. */
// The record's field lists are the gate engine's (src/sep/types.ts); one definition.
export { HORIZON_KEYS as HORIZONS, STRUCTURE_METRICS, CANONICAL_FEATURES } from "../sep/types.js";
export type { HorizonKey as Horizon, StructureMetric, CanonicalFeature } from "../sep/types.js";
import { HORIZON_KEYS as HORIZONS, STRUCTURE_METRICS, CANONICAL_FEATURES } from "../sep/types.js";
import type { HorizonKey as Horizon, StructureMetric, CanonicalFeature } from "../sep/types.js";

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

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** Reads one line of a gates JSONL file. Blank lines are the caller's business (skip them). */
export function readGateLine(line: string, file: string, lineNo: number): GateRecord {
  let p: ParsedGate;
  try {
    p = parseGateLine(line, file, lineNo);
  } catch (e) {
    if (e instanceof GateRecordError) {
      throw new GateParseError(file, lineNo, e.field === "(line)" ? null : e.field, e.detail);
    }
    throw e;
  }
  return fromParsed(p, file, lineNo);
}

/** Checks the corpus requirements on a parsed gate and fills the spec identities. */
export function fromParsed(p: ParsedGate, file: string, lineNo: number): GateRecord {
  const fail = (field: string, detail: string): never => {
    throw new GateParseError(file, lineNo, field, detail);
  };
  const instrument = p.instrument ?? fail("instrument", "is missing");
  if (!/^[A-Z]{3}_[A-Z]{3}$/.test(instrument)) fail("instrument", `expected an OANDA name like EUR_USD, got ${show(instrument)}`);
  if (p.ts_ms < 0) fail("ts_ms", `expected epoch milliseconds, got ${p.ts_ms}`);
  if (!(p.hazard >= 0 && p.hazard <= 1)) fail("hazard", `expected a value in [0, 1], got ${show(p.hazard)}`);
  const admit = p.admit ?? fail("admit", "is missing");
  const regime = p.regime ?? fail("regime", "is missing");
  if (regime === "") fail("regime", "is empty");
  const repetitions = p.repetitions ?? fail("repetitions", "is missing");
  if (repetitions < 1) fail("repetitions", `expected an integer >= 1, got ${repetitions}`);

  const structure = {} as Record<StructureMetric, number | null>;
  for (const m of STRUCTURE_METRICS) structure[m] = p.structure[m] ?? null;
  // Flat exports carry coherence/stability/entropy at the top level only.
  structure.coherence ??= p.coherence;
  structure.stability ??= p.stability;
  structure.entropy ??= p.entropy;
  // hazard = rupture = domain_wall_ratio by definition (gate-spec §5): flat exports carry only
  // `hazard`, so the identities fill the other two instead of leaving them unknown.
  structure.hazard ??= p.hazard;
  structure.rupture ??= p.hazard;
  structure.domain_wall_ratio ??= p.hazard;

  const roc = {} as Record<Horizon, number | null>;
  for (const h of HORIZONS) roc[h] = p.roc_forward_pct?.[h] ?? null;
  // Per-horizon completeness (replay) wins; otherwise the single flag, if any.
  let complete = p.label_complete;
  if (p.label_complete_h) complete = HORIZONS.every((h) => p.label_complete_h![h] === true) && complete !== false;

  return {
    instrument,
    ts_ms: p.ts_ms,
    hazard: p.hazard,
    lambda: p.lambda,
    hazard_threshold: p.hazard_threshold,
    admit,
    reasons: p.reasons,
    regime,
    regime_confidence: p.regime_confidence,
    structure,
    signature: p.signature,
    canonical: { ...p.canonical },
    repetitions,
    direction: p.direction,
    source: p.source,
    run_mode: p.run_mode,
    bits_b64: p.bits_b64,
    codec_meta: p.codec_meta,
    price_close: p.price_close,
    roc_prev_pct: p.roc_prev_pct,
    roc_forward_pct: roc,
    label_complete: complete,
  };
}
