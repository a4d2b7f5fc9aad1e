/**
 * Gate record: the JSONL line format of `output/gates/{mode}/gates_{start}_{end}.jsonl`
 * (GATE_RECORD_VERSION = 1), its writer and a tolerant reader for legacy variants.
 *
 * One gate per line, keys sorted recursively (so identical gates give identical bytes):
 *   record_version  1
 *   instrument      "EUR_USD"
 *   ts_ms           open time of the window's last candle, ms since epoch UTC
 *   ts              the same as ISO 8601 UTC ("2025-07-24T06:04:00.000Z")
 *   hazard          published (6-decimal) rupture; lambda = hazard * lambda_scale
 *   hazard_threshold, admit, reasons[]   adaptive threshold and admission (spec section 7)
 *   regime          {label, confidence, realized_vol, atr_mean, autocorr, trend_strength,
 *                    volume_zscore}: canonical features, unrounded (spec section 6)
 *   regime_confidence, coherence, stability, entropy, repetitions, signature: flat legacy copies
 *   structure       {all section-5 metrics, signature}
 *   components      {bits_b64, codec_meta{delta_scale, atr_scale, volume_split, spread_split}}
 *   direction       BUY | SELL | FLAT (from the regime label)
 *   source          "replay";  run_mode  "rolling" | "isolation"
 *   price_close, roc_prev_pct      percent
 *   roc_forward_pct {"5":..,"15":..,"30":..,"60":..,"90":..,"240":..,"360":..}, null where the
 *                   horizon reaches past the data
 *   label_complete  true only if every horizon is complete; label_complete_h {"5":true,...}
 *
 * `parseGateLine` reads this shape and the legacy ones of spec section 9 (ts_ms or end_ms;
 * metrics under structure or metrics; canonical features under regime{} or canonical{}; reasons
 * as an array or a "|"-joined string; regime as a flat label string) into one normalised
 * `ParsedGate`, and throws a GateRecordError naming file:line and the field on bad input.
 */
import type {
  CodecMeta,
  Direction,
  Reason,
  RegimeInfo,
  RegimeLabel,
  RunMode,
  StructureMetrics,
} from "./types.js";
import { HORIZONS_MIN, HORIZON_KEYS, STRUCTURE_METRICS, CANONICAL_FEATURES } from "./types.js";

/** Version of the gate record line format. */
export const GATE_RECORD_VERSION = 1;

/** Forward-return map keyed by horizon minutes as a string ("5", "15", ...). */
export type HorizonMap<T> = Record<string, T>;

/** One gate as written by the replay (see the module header for the meaning of each field). */
export interface GateRecord {
  record_version: typeof GATE_RECORD_VERSION;
  instrument: string;
  ts_ms: number;
  ts: string;
  hazard: number;
  lambda: number;
  hazard_threshold: number;
  admit: boolean;
  reasons: Reason[];
  regime: RegimeInfo;
  regime_confidence: number;
  coherence: number;
  stability: number;
  entropy: number;
  repetitions: number;
  signature: string;
  structure: StructureMetrics;
  components: { bits_b64: string; codec_meta: CodecMeta };
  direction: Direction;
  source: string;
  run_mode: RunMode;
  price_close: number;
  roc_prev_pct: number | null;
  roc_forward_pct: HorizonMap<number | null>;
  label_complete: boolean;
  label_complete_h: HorizonMap<boolean>;
}

/** Canonical features as read back (each null when a legacy file lacks it). */
export interface ParsedCanonical {
  realized_vol: number | null;
  atr_mean: number | null;
  autocorr: number | null;
  trend_strength: number | null;
  volume_zscore: number | null;
}

/**
 * A gate read from any supported variant, normalised. Fields a legacy variant does not carry
 * are null (or empty), never invented; `direction` is derived from the label when absent.
 */
export interface ParsedGate {
  instrument: string | null;
  ts_ms: number;
  hazard: number;
  lambda: number | null;
  hazard_threshold: number | null;
  admit: boolean | null;
  reasons: string[];
  regime: string | null;
  regime_confidence: number | null;
  canonical: ParsedCanonical;
  coherence: number | null;
  stability: number | null;
  entropy: number | null;
  repetitions: number | null;
  signature: string | null;
  /** Published section-5 metrics present in the line (structure{} or metrics{}). */
  structure: Partial<Record<Exclude<keyof StructureMetrics, "signature">, number>>;
  bits_b64: string | null;
  codec_meta: CodecMeta | null;
  direction: Direction | null;
  source: string | null;
  run_mode: string | null;
  price_close: number | null;
  roc_prev_pct: number | null;
  roc_forward_pct: HorizonMap<number | null> | null;
  label_complete: boolean | null;
  label_complete_h: HorizonMap<boolean> | null;
}

/** Bad gate line: names the file, the 1-based line and the offending field. */
export class GateRecordError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly field: string,
    /** What is wrong with the field (the message without its location). */
    readonly detail: string,
  ) {
    super(`${file}:${line}: field "${field}": ${detail}`);
    this.name = "GateRecordError";
  }
}

/** JSON with object keys sorted recursively (arrays keep their order). */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) return "null";
    return JSON.stringify(value) ?? "null";
  }
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(",")}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  let out = "{";
  for (let i = 0; i < keys.length; i++) {
    if (i > 0) out += ",";
    out += `${JSON.stringify(keys[i])}:${stableStringify(obj[keys[i]!])}`;
  }
  return `${out}}`;
}

const jn = (x: number | null | undefined): string => (typeof x === "number" && Number.isFinite(x) ? String(x) : "null");
const js = (s: string): string => JSON.stringify(s);
/** Keys of the horizon maps in sorted (string) order, as stableStringify would emit them. */
const HKEYS_SORTED = HORIZONS_MIN.map(String).sort();
const STRUCT_KEYS_SORTED = [
  "coherence", "coherence_tau_1", "coherence_tau_4", "coherence_tau_slope", "domain_wall_ratio",
  "domain_wall_slope", "entropy", "hazard", "pinned_alignment", "reynolds_ratio", "rupture",
  "signature", "spatial_corr_length", "spectral_lowf_share", "stability", "temporal_half_life",
] as const;

/**
 * One gate as a JSONL line (no trailing newline). Byte-identical to `stableStringify(gate)`
 * (a test holds it to that) but written field by field in sorted order: the generic sorter
 * was the replay's largest cost.
 */
export function formatGateLine(g: GateRecord): string {
  const s = g.structure;
  let st = "{";
  for (const k of STRUCT_KEYS_SORTED) {
    st += `${st.length > 1 ? "," : ""}"${k}":${k === "signature" ? js(s.signature) : jn(s[k])}`;
  }
  st += "}";
  let roc = "{";
  let done = "{";
  for (let i = 0; i < HKEYS_SORTED.length; i++) {
    const k = HKEYS_SORTED[i]!;
    const sep = i === 0 ? "" : ",";
    roc += `${sep}"${k}":${jn(g.roc_forward_pct[k])}`;
    done += `${sep}"${k}":${g.label_complete_h[k] === true}`;
  }
  const cm = g.components.codec_meta;
  const r = g.regime;
  return (
    `{"admit":${g.admit},"coherence":${jn(g.coherence)},` +
    `"components":{"bits_b64":${js(g.components.bits_b64)},"codec_meta":{"atr_scale":${jn(cm.atr_scale)},` +
    `"delta_scale":${jn(cm.delta_scale)},"spread_split":${jn(cm.spread_split)},"volume_split":${jn(cm.volume_split)}}},` +
    `"direction":${js(g.direction)},"entropy":${jn(g.entropy)},"hazard":${jn(g.hazard)},` +
    `"hazard_threshold":${jn(g.hazard_threshold)},"instrument":${js(g.instrument)},` +
    `"label_complete":${g.label_complete},"label_complete_h":${done}},"lambda":${jn(g.lambda)},` +
    `"price_close":${jn(g.price_close)},"reasons":[${g.reasons.map(js).join(",")}],` +
    `"record_version":${g.record_version},` +
    `"regime":{"atr_mean":${jn(r.atr_mean)},"autocorr":${jn(r.autocorr)},"confidence":${jn(r.confidence)},` +
    `"label":${js(r.label)},"realized_vol":${jn(r.realized_vol)},"trend_strength":${jn(r.trend_strength)},` +
    `"volume_zscore":${jn(r.volume_zscore)}},"regime_confidence":${jn(g.regime_confidence)},` +
    `"repetitions":${jn(g.repetitions)},"roc_forward_pct":${roc}},"roc_prev_pct":${jn(g.roc_prev_pct)},` +
    `"run_mode":${js(g.run_mode)},"signature":${js(g.signature)},"source":${js(g.source)},` +
    `"stability":${jn(g.stability)},"structure":${st},"ts":${js(g.ts)},"ts_ms":${jn(g.ts_ms)}}`
  );
}

/** Direction of a regime label (spec section 9). */
export function directionOf(label: string): Direction {
  if (label.includes("bull")) return "BUY";
  if (label.includes("bear")) return "SELL";
  return "FLAT";
}

const METRIC_KEYS = STRUCTURE_METRICS;
const CANONICAL_KEYS = CANONICAL_FEATURES;

type Obj = Record<string, unknown>;

/** Field readers bound to one line, so every error carries file:line and a dotted field path. */
class LineReader {
  constructor(
    readonly file: string,
    readonly line: number,
  ) {}

  fail(field: string, detail: string): never {
    throw new GateRecordError(this.file, this.line, field, detail);
  }

  static show(v: unknown): string {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 40)}...` : s;
  }

  num(o: Obj, key: string, path: string): number | null {
    const v = o[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== "number" || !Number.isFinite(v)) this.fail(path, `expected a finite number, got ${LineReader.show(v)}`);
    return v;
  }

  str(o: Obj, key: string, path: string): string | null {
    const v = o[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== "string") this.fail(path, `expected a string, got ${LineReader.show(v)}`);
    return v;
  }

  bool(o: Obj, key: string, path: string): boolean | null {
    const v = o[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== "boolean") this.fail(path, `expected true or false, got ${LineReader.show(v)}`);
    return v;
  }

  obj(o: Obj, key: string, path: string): Obj | null {
    const v = o[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== "object" || Array.isArray(v)) this.fail(path, `expected an object, got ${LineReader.show(v)}`);
    return v as Obj;
  }
}

/**
 * Parses one gate line (any supported variant). `file` and `lineNo` (1-based) only label errors.
 * Required: a JSON object with a timestamp (ts_ms, end_ms, or an ISO `ts`) and a hazard
 * (top level, or structure/metrics hazard or rupture).
 */
export function parseGateLine(line: string, file: string, lineNo: number): ParsedGate {
  const r: LineReader = new LineReader(file, lineNo);
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (e) {
    r.fail("(line)", `not valid JSON: ${(e as Error).message}`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) r.fail("(line)", "expected a JSON object");
  const o = raw as Obj;

  // Timestamp: ts_ms, else end_ms, else the ISO string.
  let ts = r.num(o, "ts_ms", "ts_ms");
  if (ts === null) ts = r.num(o, "end_ms", "end_ms");
  if (ts === null) {
    const iso = r.str(o, "ts", "ts");
    if (iso !== null) {
      const t = Date.parse(iso);
      if (Number.isNaN(t)) r.fail("ts", `not an ISO 8601 time: ${LineReader.show(iso)}`);
      ts = t;
    }
  }
  if (ts === null) r.fail("ts_ms", "missing (also looked for end_ms and ts)");
  if (!Number.isInteger(ts)) r.fail("ts_ms", `expected integer milliseconds, got ${ts}`);

  // Metrics: structure{} or metrics{}.
  let mKey = "structure";
  let m = r.obj(o, "structure", "structure");
  if (m === null) {
    mKey = "metrics";
    m = r.obj(o, "metrics", "metrics");
  }
  const structure: ParsedGate["structure"] = {};
  let mSig: string | null = null;
  if (m !== null) {
    for (const k of METRIC_KEYS) {
      const v = r.num(m, k, `${mKey}.${k}`);
      if (v !== null) structure[k] = v;
    }
    mSig = r.str(m, "signature", `${mKey}.signature`);
  }

  // Regime: a flat label string, or an object (regime{} or canonical{}) with label/regime inside.
  let label: string | null = null;
  let confidence = r.num(o, "regime_confidence", "regime_confidence");
  const canonical: ParsedCanonical = {
    realized_vol: null,
    atr_mean: null,
    autocorr: null,
    trend_strength: null,
    volume_zscore: null,
  };
  const regimeRaw = o["regime"];
  let canonObj: Obj | null = null;
  let canonKey = "regime";
  if (typeof regimeRaw === "string") label = regimeRaw;
  else if (regimeRaw !== undefined && regimeRaw !== null) canonObj = r.obj(o, "regime", "regime");
  const c2 = r.obj(o, "canonical", "canonical");
  if (canonObj === null && c2 !== null) {
    canonObj = c2;
    canonKey = "canonical";
  }
  if (canonObj !== null) {
    const l = r.str(canonObj, "label", `${canonKey}.label`) ?? r.str(canonObj, "regime", `${canonKey}.regime`);
    if (l !== null) label = l;
    const cf = r.num(canonObj, "confidence", `${canonKey}.confidence`) ??
      r.num(canonObj, "regime_confidence", `${canonKey}.regime_confidence`);
    if (confidence === null) confidence = cf;
    for (const k of CANONICAL_KEYS) canonical[k] = r.num(canonObj, k, `${canonKey}.${k}`);
  }

  let hazard = r.num(o, "hazard", "hazard");
  if (hazard === null) hazard = structure.hazard ?? structure.rupture ?? null;
  if (hazard === null) r.fail("hazard", "missing (also looked for structure.hazard and structure.rupture)");

  // Reasons: array of strings, or a "|"-joined string ("" = none).
  let reasons: string[] = [];
  const rr = o["reasons"];
  if (typeof rr === "string") reasons = rr === "" ? [] : rr.split("|");
  else if (Array.isArray(rr)) {
    rr.forEach((x, i) => {
      if (typeof x !== "string") r.fail(`reasons[${i}]`, `expected a string, got ${LineReader.show(x)}`);
    });
    reasons = rr as string[];
  } else if (rr !== undefined && rr !== null) r.fail("reasons", `expected an array or a "|"-joined string, got ${LineReader.show(rr)}`);

  const comps = r.obj(o, "components", "components");
  let bits: string | null = null;
  let codecMeta: CodecMeta | null = null;
  if (comps !== null) {
    bits = r.str(comps, "bits_b64", "components.bits_b64");
    const cm = r.obj(comps, "codec_meta", "components.codec_meta");
    if (cm !== null) {
      const get = (k: keyof CodecMeta): number => {
        const v = r.num(cm, k, `components.codec_meta.${k}`);
        if (v === null) r.fail(`components.codec_meta.${k}`, "missing");
        return v;
      };
      codecMeta = { delta_scale: get("delta_scale"), atr_scale: get("atr_scale"), volume_split: get("volume_split"), spread_split: get("spread_split") };
    }
  }

  let direction = r.str(o, "direction", "direction") as Direction | null;
  if (direction !== null && direction !== "BUY" && direction !== "SELL" && direction !== "FLAT") {
    r.fail("direction", `expected BUY, SELL or FLAT, got ${LineReader.show(direction)}`);
  }
  if (direction === null && label !== null) direction = directionOf(label);

  let rocFwd: HorizonMap<number | null> | null = null;
  const rf = r.obj(o, "roc_forward_pct", "roc_forward_pct");
  if (rf !== null) {
    rocFwd = {};
    for (const k of Object.keys(rf).sort()) rocFwd[k] = r.num(rf, k, `roc_forward_pct.${k}`);
  }
  let completeH: HorizonMap<boolean> | null = null;
  const lc = r.obj(o, "label_complete_h", "label_complete_h");
  if (lc !== null) {
    completeH = {};
    for (const k of Object.keys(lc).sort()) {
      const b = r.bool(lc, k, `label_complete_h.${k}`);
      if (b === null) r.fail(`label_complete_h.${k}`, "expected true or false, got null");
      completeH[k] = b;
    }
  }

  const reps = r.num(o, "repetitions", "repetitions");
  if (reps !== null && (!Number.isInteger(reps) || reps < 0)) r.fail("repetitions", `expected a non-negative integer, got ${reps}`);

  return {
    instrument: r.str(o, "instrument", "instrument"),
    ts_ms: ts,
    hazard,
    lambda: r.num(o, "lambda", "lambda"),
    hazard_threshold: r.num(o, "hazard_threshold", "hazard_threshold"),
    admit: r.bool(o, "admit", "admit"),
    reasons,
    regime: label,
    regime_confidence: confidence,
    canonical,
    coherence: r.num(o, "coherence", "coherence") ?? structure.coherence ?? null,
    stability: r.num(o, "stability", "stability") ?? structure.stability ?? null,
    entropy: r.num(o, "entropy", "entropy") ?? structure.entropy ?? null,
    repetitions: reps,
    signature: r.str(o, "signature", "signature") ?? mSig,
    structure,
    bits_b64: bits,
    codec_meta: codecMeta,
    direction,
    source: r.str(o, "source", "source"),
    run_mode: r.str(o, "run_mode", "run_mode"),
    price_close: r.num(o, "price_close", "price_close"),
    roc_prev_pct: r.num(o, "roc_prev_pct", "roc_prev_pct"),
    roc_forward_pct: rocFwd,
    label_complete: r.bool(o, "label_complete", "label_complete"),
    label_complete_h: completeH,
  };
}

/**
 * Parses a whole JSONL text (blank lines skipped). Errors name `file:line`.
 */
export function parseGateLines(text: string, file: string): ParsedGate[] {
  const out: ParsedGate[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!.trim();
    if (l === "") continue;
    out.push(parseGateLine(l, file, i + 1));
  }
  return out;
}

export { HORIZON_KEYS };

/** Re-exported so record consumers need one import. */
export type { RegimeLabel };
