/**
 * Corpus-only derived values (gate-spec §9): hazard decile, repetition bucket, strand id,
 * semantic tags, trading sessions, the Monday of a gate's week, and the optional decoded
 * bitplanes (gate-spec §4 decoder). Pure functions: the same gate always derives the same values,
 * whichever record shape it was read from.
 */
import type { CodecMeta, GateRecord } from "./gate-source.js";
import { decodePlanes, type DecodedBitplanes } from "../sep/codec.js";

export type { DecodedBitplanes };

/** `clamp(floor(10*hazard), 0, 9)`. */
export function hazardDecile(hazard: number): number {
  return Math.min(9, Math.max(0, Math.floor(10 * hazard)));
}

/** "1".."4", or "5p" for five or more repetitions. */
export function repetitionBucket(repetitions: number): string {
  return repetitions >= 5 ? "5p" : String(Math.max(1, Math.trunc(repetitions)));
}

/** `{regime}_d{decile}_r{bucket}`. */
export function strandId(regime: string, decile: number, bucket: string): string {
  return `${regime}_d${decile}_r${bucket}`;
}

/** The metrics the semantic tags read; null or absent when the record lacks one. */
export type SemanticInputs = Readonly<
  Partial<Record<"coherence" | "stability" | "coherence_tau_slope" | "rupture" | "entropy" | "hazard", number | null>>
>;

/**
 * The semantic-tag rules of gate-spec §9, in spec order: the one definition (the corpus's
 * `semantic_tags` column and the simulator's derived tags, src/backtest/gates.ts, both call it).
 * A tag whose metric is unknown (flat legacy lines carry no tau slope) is not assigned: unknown
 * is not evidence. Callers fill the §5 identity rupture = hazard before calling.
 */
export function tagsFromMetrics(m: SemanticInputs): string[] {
  const tags: string[] = [];
  const coh = m.coherence ?? null, stab = m.stability ?? null;
  if (coh !== null && stab !== null && coh >= 0.7 && stab >= 0.7) tags.push("highly_stable");
  if (m.coherence_tau_slope != null && m.coherence_tau_slope > 0.005) tags.push("strengthening_structure");
  if (m.rupture != null && m.rupture >= 0.4) tags.push("high_rupture_event");
  if (m.entropy != null && m.entropy >= 0.9) tags.push("chaotic_price_action");
  if (m.hazard != null && m.hazard <= 0.1) tags.push("low_hazard_environment");
  return tags;
}

/**
 * The corpus's `semantic_tags` column: always derived from the metrics (a `semantic_tags`
 * array in the source line is not read; the backtest's differs on purpose, see `tagsOf` in
 * src/backtest/gates.ts), so a corpus row's tags follow its published metrics whatever wrote it.
 */
export function semanticTags(g: GateRecord): string[] {
  const s = g.structure;
  return tagsFromMetrics({ ...s, rupture: s.rupture ?? g.hazard, hazard: g.hazard });
}

/** Trading sessions of a UTC instant (no DST): asia 21-08, london 08-16, new_york 13-22. */
export interface Sessions {
  readonly asia: boolean;
  readonly london: boolean;
  readonly new_york: boolean;
}

/** Sessions by the UTC hour of `ts_ms` (half-open hours: 08:00 is london, not asia). */
export function sessionsAt(tsMs: number): Sessions {
  const h = new Date(tsMs).getUTCHours();
  return { asia: h >= 21 || h < 8, london: h >= 8 && h < 16, new_york: h >= 13 && h < 22 };
}

const DAY_MS = 86_400_000;

/** ISO date (YYYY-MM-DD) of the Monday 00:00 UTC that starts the week holding `tsMs`. */
export function mondayOf(tsMs: number): string {
  const day = Math.floor(tsMs / DAY_MS);
  // 1970-01-01 was a Thursday: (day + 3) % 7 is 0 on Mondays.
  const monday = day - ((day + 3) % 7 + 7) % 7;
  return new Date(monday * DAY_MS).toISOString().slice(0, 10);
}

/** Decodes `bits_b64` with its codec meta (gate-spec §4); throws on a wrong byte count. */
export function decodeBitplanes(bitsB64: string, meta: CodecMeta): DecodedBitplanes {
  const bytes = Buffer.from(bitsB64, "base64");
  if (bytes.length !== 64) throw new Error(`bits_b64 decodes to ${bytes.length} bytes, expected 64`);
  return decodePlanes(bytes, meta);
}
