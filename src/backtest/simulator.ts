/**
 * The legacy backtest simulator (gate-spec section 11), one instrument, one run. Each candle,
 * in order:
 *   1. gate = newest gate with ts_ms <= t (no staleness limit)
 *   2. mark MAE/MFE at the mid, before any fill
 *   3. admitted (admission.ts)
 *   4. hard block: no gate yet, or flat and the session not tradable, or a semantic tag missing
 *   5. direction: the gate's BUY/SELL, else momentum (BUY on the first candle or m >= prev mid)
 *   6. ready = admitted, not hard-blocked and (guardrail variants) the ml score of the minute's
 *      direction at the threshold (admission.ts scoreAllows); size only when ready
 *   7. the stack gives the target net units; fill target - net at the mid
 *   8. equity = NAV + realized + unrealized, one point per candle
 * The stack: a hard-blocked minute drops every sub-trade and last_key; a not-ready minute
 * changes nothing and expires nothing (the legacy defect; `hold_expiry: every_minute` expires
 * there too); a ready minute enters unless the stack holds the other side or the gate's
 * non-empty signal_key repeats last_key, then drops every sub-trade with t >= hold_until.
 * End of data closes nothing: the open book stays in the last equity, not among the trades.
 */
import type { SimProfile } from "../sep/profile.js";
import { admitted, scoreAllows, semanticBlocked } from "./admission.js";
import { Book, usdConversion, type Trade } from "./book.js";
import type { SimGate } from "./gates.js";
import type { InstrumentRules, SimParams } from "./params.js";
import { sessionTradable } from "./session.js";
import { entryUnits } from "./sizing.js";

/** One price point: open time (ms) and mid close. */
export interface MidPoint {
  readonly t: number;
  readonly m: number;
}

/** Why a minute did not enter (counts, for the summary). */
export interface MinuteCounts {
  candles: number;
  ready: number;
  entries: number;
  missing_gate: number;
  session_blocked: number;
  semantic_blocked: number;
  not_admitted: number;
  opposite_side_blocked: number;
  repeated_signal: number;
}

/** The result of one run. */
export interface SimRun {
  readonly instrument: string;
  readonly nav: number;
  readonly times: Float64Array;
  readonly equity: Float64Array;
  /** USD notional held after each candle's fill (|units| marked at the mid). */
  readonly exposure: Float64Array;
  readonly trades: readonly Trade[];
  readonly costs: number;
  /** USD notional traded over all fills. */
  readonly traded: number;
  readonly fills: number;
  /** Units still open at the end (never closed). */
  readonly openUnits: number;
  readonly counts: MinuteCounts;
}

interface Sub {
  readonly side: 1 | -1;
  readonly units: number;
  readonly holdUntil: number;
}

/** The switches of the profile the loop reads. */
export type SimSwitches = Pick<SimProfile, "hold_expiry" | "exposure_clamp" | "cross_conversion" | "usd_rates">;

/** Legacy switches (every defect kept). */
export const LEGACY_SWITCHES: SimSwitches = Object.freeze({ hold_expiry: "legacy", exposure_clamp: "legacy", cross_conversion: "legacy", usd_rates: Object.freeze({}) });

/** A cross under `cross_conversion: usd` without a rate for its quote currency. */
export class MissingUsdRateError extends Error {
  constructor(readonly instrument: string, readonly currency: string) {
    super(`cross_conversion: usd needs usd_rates.${currency} for ${instrument}`);
    this.name = "MissingUsdRateError";
  }
}

function crossRate(instrument: string, sw: SimSwitches): number {
  if (sw.cross_conversion === "legacy" || instrument.endsWith("_USD") || instrument.startsWith("USD_")) return 1;
  const quote = instrument.slice(-3);
  const r = sw.usd_rates[quote];
  if (r === undefined) throw new MissingUsdRateError(instrument, quote);
  return r;
}

/**
 * Runs the simulator over `prices` (already cut to [start, end], in time order) and `gates`
 * (already cut to [start, end], sorted by ts_ms).
 */
export function simulate(
  prices: readonly MidPoint[],
  gates: readonly SimGate[],
  rules: InstrumentRules,
  params: SimParams,
  sw: SimSwitches = LEGACY_SWITCHES,
): SimRun {
  const inst = rules.instrument;
  const nav = params.balance;
  const usdBase = inst.startsWith("USD_");
  const book = new Book(inst, usdConversion(inst, crossRate(inst, sw)), params.costBps);
  const holdS = Math.max(60, 60 * (params.holdMinutes === 0 ? 30 : params.holdMinutes));
  const n = prices.length;
  const times = new Float64Array(n);
  const equity = new Float64Array(n);
  const exposure = new Float64Array(n);
  const counts: MinuteCounts = { candles: n, ready: 0, entries: 0, missing_gate: 0, session_blocked: 0, semantic_blocked: 0, not_admitted: 0, opposite_side_blocked: 0, repeated_signal: 0 };
  let stack: Sub[] = [];
  let lastKey: string | null = null;
  let gi = 0;
  let gate: SimGate | null = null;
  let prevMid: number | null = null;

  for (let i = 0; i < n; i++) {
    const { t, m } = prices[i]!;
    while (gi < gates.length && gates[gi]!.ts_ms <= t) gate = gates[gi++]!;
    book.mark(m);
    const adm = gate !== null && admitted(gate, rules);
    const flat = book.u === 0;
    let hard = false;
    if (gate === null) {
      hard = true;
      counts.missing_gate++;
    } else if (flat && !sessionTradable(rules.session, t)) {
      hard = true;
      counts.session_blocked++;
    } else if (semanticBlocked(gate, rules)) {
      hard = true;
      counts.semantic_blocked++;
    }
    const dir: 1 | -1 = gate?.direction === "BUY" ? 1 : gate?.direction === "SELL" ? -1 : prevMid === null || m >= prevMid ? 1 : -1;
    prevMid = m;
    // The guardrail needs the direction, so it applies here rather than in step 3.
    const ready = adm && !hard && scoreAllows(gate!, rules, dir);

    if (hard) {
      stack = [];
      lastKey = null;
    } else if (!ready) {
      counts.not_admitted++;
      if (sw.hold_expiry === "every_minute") stack = stack.filter((s) => t < s.holdUntil);
    } else {
      counts.ready++;
      const units = entryUnits({ nav, navRiskPct: params.navRiskPct, exposureScale: params.exposureScale, m, usdBase, netUnits: book.u, lastFillPrice: book.lastFillPrice, clamp: sw.exposure_clamp });
      if (stack.length > 0 && stack[0]!.side !== dir) counts.opposite_side_blocked++;
      else if (units > 0 && !(gate!.signalKey !== "" && gate!.signalKey === lastKey)) {
        stack.push({ side: dir, units, holdUntil: t + holdS * 1000 });
        lastKey = gate!.signalKey !== "" ? gate!.signalKey : `auto:${t}`;
        counts.entries++;
      } else if (units > 0) counts.repeated_signal++;
      stack = stack.filter((s) => t < s.holdUntil);
    }
    if (stack.length === 0) lastKey = null;
    let target = 0;
    for (const s of stack) target += s.side * s.units;
    book.fill(t, m, target - book.u);
    times[i] = t;
    equity[i] = nav + book.realized + book.unrealized(m);
    exposure[i] = book.notional(book.u, m);
  }
  return { instrument: inst, nav, times, equity, exposure, trades: book.trades, costs: book.costs, traded: book.traded, fills: book.fills, openUnits: book.u, counts };
}
