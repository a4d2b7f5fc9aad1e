/**
 * Hand-made inputs for the backtest tests: gates as raw JSON objects (any section-9 shape),
 * read through the simulator's own reader, and a profile with a session for every minute.
 */
import { simGateOf, type SimGate } from "../../src/backtest/gates.js";
import { parseSimProfile, type SimProfile } from "../../src/sep/profile.js";
import { DEFAULT_SIM_PARAMS, resolveRules, type InstrumentRules, type SimParams } from "../../src/backtest/params.js";
import type { MidPoint } from "../../src/backtest/simulator.js";

export const MIN = 60_000;
export const DAY = 86_400_000;
/** Monday 2025-10-06 00:00 UTC. */
export const D0 = Date.UTC(2025, 9, 6);

/** `hh:mm` of day `d` (0 = D0) as epoch ms. */
export function at(d: number, hh: number, mm: number): number {
  return D0 + d * DAY + hh * 3_600_000 + mm * MIN;
}

/** A replay-like admitted gate; `extra` overrides or adds fields. */
export function gate(ts: number, extra: Record<string, unknown> = {}): SimGate {
  return simGateOf(
    {
      instrument: "EUR_USD",
      ts_ms: ts,
      admit: true,
      repetitions: 1,
      lambda: 0.3,
      direction: "FLAT",
      regime: { label: "neutral", confidence: 0.5 },
      structure: { coherence: 0.2, stability: 0.5, entropy: 0.95, rupture: 0.5, hazard: 0.5 },
      ...extra,
    },
    "test",
  );
}

/** Mid points at the given [time, mid] pairs. */
export function path(points: readonly [number, number][]): MidPoint[] {
  return points.map(([t, m]) => ({ t, m }));
}

/** A profile with `session` (default "00:00,23:00") for `inst`, plus extra YAML lines. */
export function profileWith(inst = "EUR_USD", session = "00:00,23:00", extra = ""): SimProfile {
  return parseSimProfile(`version: 1\ninstruments:\n  ${inst}: { session: "${session}" }\n${extra}`, "test.yaml");
}

/** Rules of `inst` under `profile` with params overriding the legacy defaults. */
export function rulesOf(profile: SimProfile, inst = "EUR_USD", p: Partial<SimParams> = {}, threshold?: number): { rules: InstrumentRules; params: SimParams } {
  const params = { ...DEFAULT_SIM_PARAMS, ...p };
  return { rules: resolveRules(profile, inst, params, threshold), params };
}

/** |a - b| <= 1e-9 (relative to max(1, |b|)). */
export function near(a: number, b: number, what: string, tol = 1e-9): void {
  if (!(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)))) throw new Error(`${what}: got ${a}, expected ${b}`);
}

