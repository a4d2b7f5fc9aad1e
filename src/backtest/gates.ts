/**
 * Gates as the simulator reads them (gate-spec section 11): only the fields the legacy gate
 * evaluation looks at, taken from a raw JSON line of any section-9 shape. Nothing is derived
 * that the legacy did not read, except the semantic tags (see `tagsOf`).
 */
import { readFile } from "node:fs/promises";
import type { StructureMetric } from "../sep/types.js";
import { tagsFromMetrics } from "../corpus/derived.js";

/** The metrics the guards read: section-5 structure metrics (src/sep/types.ts), in the guards' order. */
export const GUARD_METRICS = [
  "coherence",
  "stability",
  "entropy",
  "coherence_tau_slope",
  "domain_wall_slope",
  "spectral_lowf_share",
  "reynolds_ratio",
  "temporal_half_life",
  "spatial_corr_length",
  "pinned_alignment",
  "rupture",
  "hazard",
] as const satisfies readonly StructureMetric[];

/** One gate, as the simulator sees it. */
export interface SimGate {
  readonly instrument: string | null;
  readonly ts_ms: number;
  readonly admit: boolean;
  /** int(repetitions) (truncated); null when missing or not a number (fails admission). */
  readonly repetitions: number | null;
  readonly lambda: number | null;
  /** `regime.label` of a nested regime; null for a flat-export string regime. */
  readonly regimeLabel: string | null;
  readonly regimeConfidence: number | null;
  /** The gate's own direction when BUY or SELL; null otherwise (momentum). */
  readonly direction: "BUY" | "SELL" | null;
  /** "" when absent. */
  readonly signalKey: string;
  /** Each guard metric from the first of components, structure, metrics, top level that has it. */
  readonly metrics: Readonly<Partial<Record<(typeof GUARD_METRICS)[number], number>>>;
  readonly tags: readonly string[];
  readonly run_mode: string | null;
  /** The ml guardrail's score (P(forward return > 0)); undefined when no scores are attached. */
  score?: number | null;
}

/** A bad gate line or file: names the file, the 1-based line and the field. */
export class BacktestInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BacktestInputError";
  }
}

const obj = (v: unknown): Record<string, unknown> | null => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** Python's int(x) of a JSON value: numbers truncate, integer strings parse, anything else fails. */
function pyInt(v: unknown): number | null {
  if (typeof v === "number" && Number.isFinite(v)) return Math.trunc(v);
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "string" && /^\s*[+-]?\d+\s*$/.test(v)) return Number.parseInt(v, 10);
  return null;
}

/**
 * Semantic tags: the gate's own `semantic_tags` array when it has one (the legacy simulator
 * filters on the tags the gate carries, gate-spec §11; this differs on purpose from the corpus
 * column, which always derives), else derived by the one §9 rule set (`tagsFromMetrics`, owned
 * by src/corpus/derived.ts): replayed gates carry none, and deriving them is this project's
 * choice. With the §5 identity rupture = hazard, a flat line derives what its corpus row does.
 */
function tagsOf(raw: Record<string, unknown>, m: SimGate["metrics"]): string[] {
  const given = raw["semantic_tags"];
  if (Array.isArray(given)) return given.filter((x): x is string => typeof x === "string");
  const hazard = num(raw["hazard"]) ?? m.hazard ?? m.rupture ?? null;
  return tagsFromMetrics({ ...m, rupture: m.rupture ?? hazard, hazard });
}

/** Reads a gate from one parsed JSON line; `where` ("file:line") labels errors. */
export function simGateOf(raw: unknown, where: string): SimGate {
  const o = obj(raw);
  if (!o) throw new BacktestInputError(`${where}: expected a JSON object`);
  const ts = num(o["ts_ms"]) ?? num(o["end_ms"]);
  if (ts === null) throw new BacktestInputError(`${where}: field "ts_ms": expected epoch milliseconds (or end_ms), got ${JSON.stringify(o["ts_ms"] ?? o["end_ms"]) ?? "nothing"}`);
  const sources = [obj(o["components"]), obj(o["structure"]), obj(o["metrics"]), o];
  const metrics: Partial<Record<(typeof GUARD_METRICS)[number], number>> = {};
  for (const k of GUARD_METRICS) {
    for (const s of sources) {
      if (s && Object.hasOwn(s, k) && num(s[k]) !== null) {
        metrics[k] = num(s[k])!;
        break;
      }
    }
  }
  const regime = obj(o["regime"]);
  const dir = o["direction"];
  return {
    instrument: typeof o["instrument"] === "string" ? (o["instrument"] as string) : null,
    ts_ms: ts,
    admit: o["admit"] === true,
    repetitions: pyInt(o["repetitions"]),
    lambda: num(o["lambda"]),
    regimeLabel: regime && typeof regime["label"] === "string" ? (regime["label"] as string) : null,
    regimeConfidence: regime ? num(regime["confidence"]) : null,
    direction: dir === "BUY" || dir === "SELL" ? dir : null,
    signalKey: typeof o["signal_key"] === "string" ? (o["signal_key"] as string) : "",
    metrics,
    tags: tagsOf(o, metrics),
    run_mode: typeof o["run_mode"] === "string" ? (o["run_mode"] as string) : null,
  };
}

/** Selection of a gate file: one instrument and `startMs <= ts_ms <= endMs` (both inclusive). */
export interface GateSelection {
  readonly instrument: string;
  readonly startMs: number;
  readonly endMs: number;
}

/**
 * Gates of JSONL text for one instrument and time range, sorted by ts_ms (stable: equal times
 * keep file order). Lines naming another instrument are skipped; lines without one are kept.
 */
export function parseGateJsonl(text: string, file: string, sel: GateSelection): SimGate[] {
  const out: SimGate[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "") continue;
    // Cheap pre-filter: a line of another instrument is skipped without a full parse.
    if (line.includes('"instrument"') && !line.includes(`"${sel.instrument}"`)) continue;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (e) {
      throw new BacktestInputError(`${file}:${i + 1}: not valid JSON: ${(e as Error).message}`);
    }
    const g = simGateOf(raw, `${file}:${i + 1}`);
    if (g.instrument !== null && g.instrument !== sel.instrument) continue;
    if (g.ts_ms < sel.startMs || g.ts_ms > sel.endMs) continue;
    out.push(g);
  }
  return out.map((g, i) => ({ g, i })).sort((a, b) => a.g.ts_ms - b.g.ts_ms || a.i - b.i).map((x) => x.g);
}

/** Reads a gate JSONL file (see parseGateJsonl). */
export async function readGateJsonl(path: string, sel: GateSelection, shown = path): Promise<SimGate[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new BacktestInputError(`${shown}: cannot read gates: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseGateJsonl(text, shown, sel);
}
