/**
 * Entry sizing (gate-spec section 11): from the starting balance, never from P&L.
 *   cap = NAV * nav_risk_pct; margin = exposure_scale (USD_XXX) or m * exposure_scale;
 *   E = |net| (USD_XXX) or |net| * last fill price; a = cap, but if E + cap > 25 NAV then
 *   a = min(cap, max(0, 25 NAV - E)); units = trunc(a/margin) if a/margin >= 1, else 1 if a > 0.
 * The legacy clamp adds a margin amount to a notional (the defect); `notional` clips the entry
 * to the notional room left under 25 x NAV instead.
 */

/** Max gross exposure as a multiple of NAV. */
export const MAX_LEVERAGE = 25;

/** Inputs of one sizing. */
export interface SizeInput {
  readonly nav: number;
  readonly navRiskPct: number;
  readonly exposureScale: number;
  /** This minute's mid. */
  readonly m: number;
  /** USD_XXX: units are dollars. */
  readonly usdBase: boolean;
  readonly netUnits: number;
  /** Price of the last fill (exposure is not re-marked). */
  readonly lastFillPrice: number;
  readonly clamp: "legacy" | "notional";
}

/** Units of a new sub-trade (>= 0). */
export function entryUnits(s: SizeInput): number {
  const pct = Math.min(1, Math.max(0, s.navRiskPct));
  const cap = s.nav * pct;
  const margin = s.usdBase ? s.exposureScale : s.m * s.exposureScale;
  const E = s.netUnits === 0 ? 0 : s.usdBase ? Math.abs(s.netUnits) : Math.abs(s.netUnits) * s.lastFillPrice;
  const limit = MAX_LEVERAGE * s.nav;
  let a = cap;
  if (s.clamp === "legacy" && E + cap > limit) a = Math.min(cap, Math.max(0, limit - E));
  const ratio = a / margin;
  let units = ratio >= 1 ? Math.trunc(ratio) : a > 0 ? 1 : 0;
  if (s.clamp === "notional") {
    const room = Math.max(0, limit - E);
    const perUnit = s.usdBase ? 1 : s.m;
    units = Math.min(units, Math.trunc(room / perUnit));
  }
  return units;
}
