/**
 * The simulator's gate evaluation (gate-spec section 11, step 3): `admitted` from the gate's
 * own admit flag, its repetitions, lambda against hazard_max, the regime filter and confidence,
 * the guards, and (for guardrail variants) the ml score. The gate's `reasons` play no part.
 */
import type { InstrumentRules } from "./params.js";
import type { SimGate } from "./gates.js";

type Metric = keyof SimGate["metrics"];

/** Each guard: the metric it reads, its comparison, and whether a missing metric passes. */
export const GUARDS: Readonly<Record<string, { metric: Metric; kind: "min" | "max"; missingPasses: boolean }>> = {
  min_coherence: { metric: "coherence", kind: "min", missingPasses: true },
  min_stability: { metric: "stability", kind: "min", missingPasses: true },
  max_entropy: { metric: "entropy", kind: "max", missingPasses: true },
  max_coherence_tau_slope: { metric: "coherence_tau_slope", kind: "max", missingPasses: false },
  max_domain_wall_slope: { metric: "domain_wall_slope", kind: "max", missingPasses: false },
  min_low_freq_share: { metric: "spectral_lowf_share", kind: "min", missingPasses: false },
  max_reynolds_ratio: { metric: "reynolds_ratio", kind: "max", missingPasses: false },
  min_temporal_half_life: { metric: "temporal_half_life", kind: "min", missingPasses: false },
  min_spatial_corr_length: { metric: "spatial_corr_length", kind: "min", missingPasses: false },
  min_pinned_alignment: { metric: "pinned_alignment", kind: "min", missingPasses: false },
};

/** True if every guard set in `rules` passes. */
export function guardsPass(g: SimGate, rules: InstrumentRules): boolean {
  for (const name of Object.keys(rules.guards)) {
    const def = GUARDS[name];
    if (!def) continue; // the schema refuses unknown guards
    const limit = rules.guards[name]!;
    const v = g.metrics[def.metric];
    if (v === undefined) {
      if (!def.missingPasses) return false;
      continue;
    }
    if (def.kind === "min" ? v < limit : v > limit) return false;
  }
  return true;
}

/** Step 3: the gate is admitted for trading (before any hard block). */
export function admitted(g: SimGate, rules: InstrumentRules): boolean {
  if (!g.admit) return false;
  if (g.repetitions === null || g.repetitions < rules.minReps) return false;
  if (rules.hazardMax !== undefined && g.lambda !== null && g.lambda > rules.hazardMax) return false;
  if (rules.regimeFilter && rules.regimeFilter.length > 0) {
    if (g.regimeLabel === null || !rules.regimeFilter.includes(g.regimeLabel.toLowerCase())) return false;
  }
  if (rules.minRegimeConfidence > 0 && (g.regimeConfidence === null || g.regimeConfidence < rules.minRegimeConfidence)) return false;
  return guardsPass(g, rules);
}

/**
 * The ml guardrail, once the minute's trade direction is known (step 5): the model's
 * probability that the price moves that way, P(up) for a BUY and 1 - P(up) for a SELL, must
 * reach the threshold. (Replayed gates are FLAT and trade momentum, so a P(up) score alone
 * would admit SELL trades exactly when the model expects a rise.) No guardrail: always true;
 * a gate without a score is never tradable under one.
 */
export function scoreAllows(g: SimGate, rules: InstrumentRules, dir: 1 | -1): boolean {
  if (rules.scoreThreshold === undefined) return true;
  if (g.score === undefined || g.score === null) return false;
  return (dir === 1 ? g.score : 1 - g.score) >= rules.scoreThreshold;
}

/** Step 4's semantic part: a tag of the semantic filter is missing from the gate. */
export function semanticBlocked(g: SimGate, rules: InstrumentRules): boolean {
  return rules.semanticFilter.some((t) => !g.tags.includes(t));
}
