/**
 * Gate admission (spec section 7): the reasons a gate is refused, in publication order.
 * `admit` is true exactly when the list is empty.
 */
import type { Reason, RegimeLabel } from "./types.js";

/** What admission looks at. */
export interface AdmissionInput {
  /** Published (6-decimal) hazard. */
  hazard: number;
  threshold: number;
  label: RegimeLabel;
  confidence: number;
}

/** Admission policy (from the profile). */
export interface AdmissionPolicy {
  admit_regimes: readonly RegimeLabel[];
  min_confidence: number;
}

/** Reasons, in order: hazard over threshold, over 1.5x threshold, regime filtered, low confidence. */
export function admissionReasons(g: AdmissionInput, policy: AdmissionPolicy): Reason[] {
  const reasons: Reason[] = [];
  if (g.hazard > g.threshold) reasons.push("hazard_exceeds_adaptive_threshold");
  if (g.hazard > 1.5 * g.threshold) reasons.push("hazard_fallback_requested");
  if (!policy.admit_regimes.includes(g.label)) reasons.push("regime_filtered");
  if (g.confidence < policy.min_confidence) reasons.push("regime_confidence_low");
  return reasons;
}
