/**
 * The simulator's run parameters and their legacy CLI defaults (gate-spec section 11), and the
 * per-instrument rules a profile resolves to.
 */
import type { SimGuards, SimProfile, SimSession } from "../sep/profile.js";

/** Run parameters (the legacy CLI's flags). */
export interface SimParams {
  /** Starting balance `NAV`; sizing never sees P&L. */
  readonly balance: number;
  /** Cost per fill in basis points of the fill's notional. */
  readonly costBps: number;
  /** Share of NAV per entry (clamped to [0, 1] when used). */
  readonly navRiskPct: number;
  /** Sub-trade hold in minutes (0 means 30). */
  readonly holdMinutes: number;
  /** Margin per unit (USD_XXX) or per unit of price (others). */
  readonly exposureScale: number;
  /** Minimum repetitions (at least 1); replaces the profile's min_repetitions. */
  readonly minReps: number;
  /** lambda cap overriding the profile's hazard_max (null: the profile's). */
  readonly hazard: number | null;
  /** Multiplies the profile's hazard_max (not `hazard`). */
  readonly hazardMultiplier: number;
}

/** The legacy CLI defaults. */
export const DEFAULT_SIM_PARAMS: SimParams = Object.freeze({
  balance: 100_000,
  costBps: 1.5,
  navRiskPct: 0.01,
  holdMinutes: 30,
  exposureScale: 0.02,
  minReps: 1,
  hazard: null,
  hazardMultiplier: 1,
});

/** What one instrument's run checks each minute, resolved from the profile and the params. */
export interface InstrumentRules {
  readonly instrument: string;
  /** Absent: never tradable when flat (an unlisted instrument, or a listed one without one). */
  readonly session?: SimSession;
  /** Lower-cased; absent or empty: no regime filter. */
  readonly regimeFilter?: readonly string[];
  readonly minRegimeConfidence: number;
  /** lambda cap; absent: no cap. */
  readonly hazardMax?: number;
  readonly guards: SimGuards;
  readonly semanticFilter: readonly string[];
  /** max(1, min_reps). */
  readonly minReps: number;
  /** The ml guardrail: P(the trade's direction) >= scoreThreshold (admission.ts scoreAllows; absent: no guardrail). */
  readonly scoreThreshold?: number;
}

/**
 * Section 11's resolution: a listed instrument takes session, hazard_max, guards and
 * semantic_filter from its entry, regime_filter and min_regime_confidence from it or else from
 * `global`; an unlisted one takes everything from `global` (guards: guard_thresholds) and has no
 * session. hazard_max = params.hazard if given, else the profile's times hazard_multiplier.
 */
export function resolveRules(profile: SimProfile, instrument: string, params: SimParams, scoreThreshold?: number): InstrumentRules {
  const e = Object.hasOwn(profile.instruments, instrument) ? profile.instruments[instrument] : undefined;
  const g = profile.global;
  const profHazard = e ? e.hazard_max : g.hazard_max;
  const hazardMax = params.hazard !== null ? params.hazard : profHazard !== undefined ? profHazard * params.hazardMultiplier : undefined;
  const regime = e?.regime_filter ?? g.regime_filter;
  return {
    instrument,
    ...(e?.session ? { session: e.session } : {}),
    ...(regime ? { regimeFilter: regime.map((s) => s.toLowerCase()) } : {}),
    minRegimeConfidence: e?.min_regime_confidence ?? g.min_regime_confidence ?? 0,
    ...(hazardMax !== undefined ? { hazardMax } : {}),
    guards: e ? e.guards : g.guard_thresholds,
    semanticFilter: e ? e.semantic_filter : g.semantic_filter,
    minReps: Math.max(1, params.minReps),
    ...(scoreThreshold !== undefined ? { scoreThreshold } : {}),
  };
}
