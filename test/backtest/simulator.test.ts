/**
 * The legacy simulator (gate-spec section 11) against hand-computed paths: a long, a short and
 * a stacked trade over two UTC days (P&L, costs, NAV, MAE/MFE, daily returns, Sharpe,
 * drawdown, end of data), then one test per rule: sizing and the exposure clamp, hold expiry
 * (and its fix), the blocked opposite side, netting (USD_XXX enter-and-expire fills nothing),
 * momentum, sessions, admission, guards, semantic filter, signal keys, the legacy profile.
 * Expected values are written out from the spec's formulas, never taken from the code.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { simulate, type SimRun } from "../../src/backtest/simulator.js";
import { computeMetrics } from "../../src/backtest/metrics.js";
import { entryUnits } from "../../src/backtest/sizing.js";
import { sessionTradable } from "../../src/backtest/session.js";
import { admitted, scoreAllows } from "../../src/backtest/admission.js";
import { parseSimProfile } from "../../src/sep/profile.js";
import { at, gate, near, path, profileWith, rulesOf } from "./helpers.js";
import { REPO } from "../helpers/rig.js";

const metricsOf = (r: SimRun) => computeMetrics({ nav: r.nav, times: r.times, equity: r.equity, exposure: r.exposure, trades: r.trades, costs: r.costs, traded: r.traded });

/** The three-trade path (see the header): hold 2 minutes, EUR_USD (usd(x) = x). */
function threeTrades(holdExpiry: "legacy" | "every_minute" = "legacy"): SimRun {
  const prices = path([
    [at(0, 10, 0), 1.0], [at(0, 10, 1), 0.999], [at(0, 10, 2), 1.002], [at(0, 10, 3), 1.002], [at(0, 10, 4), 1.002],
    [at(0, 10, 5), 1.0], [at(0, 10, 6), 1.001], [at(0, 10, 7), 0.998], [at(0, 10, 8), 0.998],
    [at(1, 10, 0), 1.0], [at(1, 10, 1), 1.25], [at(1, 10, 2), 1.2], [at(1, 10, 3), 1.5], [at(1, 10, 4), 1.4],
  ]);
  const gates = [
    gate(at(0, 10, 0), { direction: "BUY", signal_key: "L1" }),
    gate(at(0, 10, 3), { admit: false }),
    gate(at(0, 10, 5), { direction: "SELL", signal_key: "S1" }),
    gate(at(0, 10, 6), { direction: "BUY", signal_key: "B1" }), // opposite side while short
    gate(at(0, 10, 8), { admit: false }),
    gate(at(1, 10, 0), { direction: "BUY" }), // no signal_key: every ready minute enters
    gate(at(1, 10, 2), { admit: false }), // not ready: nothing expires (legacy)
    gate(at(1, 10, 3), { direction: "BUY", signal_key: "K" }),
  ];
  const profile = parseSimProfile(`version: 1\ninstruments:\n  EUR_USD: { session: "00:00,23:00" }\nhold_expiry: ${holdExpiry}\n`, "t.yaml");
  const { rules, params } = rulesOf(profile, "EUR_USD", { holdMinutes: 2 });
  return simulate(prices, gates, rules, params, profile);
}

test("three trades (long, short, stacked) reproduce the hand-computed path to 1e-9", () => {
  const r = threeTrades();
  assert.is(r.trades.length, 3);
  const [t1, t2, t3] = r.trades;
  // Trade 1: long 50000 = trunc(1000 / (1.0 * 0.02)) at 1.0, closed on expiry at 10:02 at 1.002.
  assert.equal([t1!.side, t1!.units, t1!.entry_time, t1!.exit_time], ["LONG", 50000, at(0, 10, 0), at(0, 10, 2)]);
  near(t1!.commission, 1.0 * 50000 * 1.5e-4 + 1.002 * 50000 * 1.5e-4, "t1 commission");
  near(t1!.pnl, (1.002 - 1.0) * 50000 - 15.015, "t1 pnl");
  near(t1!.mae, 50, "t1 mae (10:01 at 0.999)");
  near(t1!.mfe, 100, "t1 mfe (10:02 mark at 1.002)");
  // Trade 2: short 50000 at 1.0 (10:05), the BUY gate at 10:06 is blocked, bought back at 0.998.
  assert.equal([t2!.side, t2!.units, t2!.entry_time, t2!.exit_time], ["SHORT", 50000, at(0, 10, 5), at(0, 10, 7)]);
  near(t2!.pnl, (1.0 - 0.998) * 50000 - (7.5 + 0.998 * 50000 * 1.5e-4), "t2 pnl");
  near(t2!.mae, 50, "t2 mae");
  near(t2!.mfe, 100, "t2 mfe");
  assert.ok(r.counts.opposite_side_blocked >= 1);
  // Trade 3: 50000 at 1.0 + 40000 at 1.25 (10:00, 10:01 day 2); 10:02 not ready keeps both;
  // 10:03 enters trunc(1000 / (1.5 * 0.02)) = 33333 and drops both expired: sell 56667 at 1.5.
  const avg = (1.0 * 50000 + 1.25 * 40000) / 90000;
  assert.equal([t3!.side, t3!.units, t3!.entry_time, t3!.exit_time], ["LONG", 56667, at(1, 10, 0), at(1, 10, 3)]);
  near(t3!.entry_price, avg, "t3 entry price = the book's average");
  const cost3 = 1.5 * 56667 * 1.5e-4;
  const share = (15 * 56667) / 90000;
  near(t3!.commission, share + cost3, "t3 commission");
  near(t3!.pnl, (1.5 - avg) * 56667 - share - cost3, "t3 pnl");
  near(t3!.mae, 0, "t3 mae");
  near(t3!.mfe, (35000 * 56667) / 90000, "t3 mfe");
  // End of data: 33333 still open, marked at 1.4, never closed.
  assert.is(r.openUnits, 33333);
  const lastEq = 100000 + 170 - 15 + (1.5 - avg) * 56667 - cost3 + (1.4 - avg) * 33333;
  near(r.equity[r.equity.length - 1]!, lastEq, "last equity");
  near(r.costs, 7.5 + 7.515 + 7.5 + 7.485 + 7.5 + 7.5 + cost3, "costs paid");

  const m = metricsOf(r);
  near(m.pnl, lastEq - 100000, "pnl");
  near(m.return_pct, (lastEq - 100000) / 100000, "return_pct");
  // Daily: day 1 closes at 100170 against the first minute's 99992.5; day 2 against 100170.
  const r1 = 100170 / 99992.5 - 1, r2 = lastEq / 100170 - 1;
  assert.is(m.T, 2);
  near(m.daily[0]!.ret, r1, "day 1 return");
  near(m.daily[1]!.ret, r2, "day 2 return");
  const mean = (r1 + r2) / 2, sd = Math.abs(r1 - r2) / 2;
  near(m.sharpe, Math.sqrt(252) * mean / sd, "sharpe");
  near(m.sharpe_period, mean / sd, "per-period sharpe");
  // Drawdown: peak 100155 + 12500 at 10:01 day 2, trough 100155 + 8000 at 10:02.
  near(m.max_dd, 4500, "max_dd");
  near(m.max_dd_pct, 4500 / 112655, "max_dd_pct");
  assert.is(m.trades, 3);
  near(m.win_rate, 1, "win rate");
  near(m.avg_mae, (50 + 50 + 0) / 3, "avg_mae");
});

test("hold expiry fix: every_minute closes the expired sub-trade on the not-ready minute", () => {
  const r = threeTrades("every_minute");
  // Day 2 10:02 (not ready): the 10:00 sub-trade (until 10:02) closes: 50000 sold at 1.2.
  const t3 = r.trades[2]!;
  assert.equal([t3.units, t3.exit_time, t3.exit_price], [50000, at(1, 10, 2), 1.2]);
  assert.is(r.trades.length, 4);
});

test("sizing: cap / margin, USD_XXX dollars, the 25 x NAV clamp and its notional fix", () => {
  const base = { nav: 100000, navRiskPct: 0.01, exposureScale: 0.02, netUnits: 0, lastFillPrice: 0, clamp: "legacy" as const };
  assert.is(entryUnits({ ...base, m: 150, usdBase: true }), 50000);
  assert.is(entryUnits({ ...base, m: 1.25, usdBase: false }), 40000);
  assert.is(entryUnits({ ...base, m: 1.5, usdBase: false }), 33333);
  assert.is(entryUnits({ ...base, m: 1, usdBase: false, navRiskPct: 5 }), 5_000_000); // clamped to 1
  // Near the limit: E = 2,499,500 so E + cap > 2.5M: a = 500, units = 500/0.02 = 25000 (the
  // defect: the book passes 25 x NAV); the fix clips to the 500 notional left.
  const near25 = { ...base, m: 150, usdBase: true, netUnits: 2_499_500, lastFillPrice: 150 };
  assert.is(entryUnits(near25), 25000);
  assert.is(entryUnits({ ...near25, clamp: "notional" }), 500);
  assert.is(entryUnits({ ...near25, netUnits: 2_500_000 }), 0);
  // a/margin < 1 but a > 0: one unit.
  assert.is(entryUnits({ ...base, m: 1, usdBase: false, navRiskPct: 1e-8 }), 1);
});

test("netting: a USD_XXX minute where one sub-trade enters and another expires fills nothing", () => {
  const prices = path([[at(0, 9, 0), 150], [at(0, 9, 1), 151], [at(0, 9, 2), 152], [at(0, 9, 3), 153]]);
  const profile = profileWith("USD_JPY");
  const { rules, params } = rulesOf(profile, "USD_JPY", { holdMinutes: 1 });
  const r = simulate(prices, [{ ...gate(at(0, 9, 0)), direction: "BUY" }], rules, params, profile);
  assert.is(r.trades.length, 0);
  assert.is(r.fills, 1);
  near(r.costs, (150 * 50000 * 1.5e-4) / 150, "one entry cost, usd(x) = x/m");
  // USD_XXX unrealized = (m - avg) u / m.
  near(r.equity[3]!, 100000 - 7.5 + ((153 - 150) * 50000) / 153, "equity");
});

test("momentum direction: BUY on the first candle and when m >= previous mid, else SELL", () => {
  const profile = profileWith();
  const { rules, params } = rulesOf(profile, "EUR_USD", { holdMinutes: 1 });
  const prices = path([[at(0, 9, 0), 1.1], [at(0, 9, 1), 1.0], [at(0, 9, 3), 1.0]]);
  // 9:00 BUY (first), 9:01 SELL blocked (long), expiry leaves flat; 9:03: m == prev -> BUY.
  const r = simulate(prices, [gate(at(0, 9, 0))], rules, params, profile);
  assert.is(r.trades[0]!.side, "LONG");
  assert.is(r.counts.opposite_side_blocked, 1);
  assert.ok(r.openUnits > 0, "9:03 entered long on a tie");
});

test("the guardrail reads the score of the minute's own direction: a low P(up) admits the SELLs", () => {
  const profile = profileWith();
  // Falling mids: every minute after the first trades momentum SELL.
  const prices = path([[at(0, 9, 0), 1.1], [at(0, 9, 1), 1.09], [at(0, 9, 2), 1.08], [at(0, 9, 3), 1.07]]);
  const run = (score: number) => {
    const g = gate(at(0, 9, 0));
    g.score = score;
    const { rules, params } = rulesOf(profile, "EUR_USD", { holdMinutes: 1 }, 0.6);
    return simulate(prices, [g], rules, params, profile);
  };
  const low = run(0.3);
  assert.is(low.counts.ready, 3, "9:01-9:03: P(down) 0.7 >= 0.6");
  assert.ok(low.openUnits < 0, "the book ends short");
  const high = run(0.7);
  assert.is(high.counts.ready, 1, "only the first minute (momentum BUY on the first candle)");
  assert.ok(high.openUnits > 0, "and holds that long: the SELL minutes are not ready");
});

test("sessions: [start, end) wrapping, tradable more than 5 minutes before the end", () => {
  const s = profileWith("EUR_USD", "22:00,21:00").instruments["EUR_USD"]!.session!;
  assert.ok(sessionTradable(s, at(0, 20, 54)));
  assert.not.ok(sessionTradable(s, at(0, 20, 55)));
  assert.not.ok(sessionTradable(s, at(0, 21, 59)));
  assert.ok(sessionTradable(s, at(0, 22, 0)));
  assert.ok(sessionTradable(s, at(0, 3, 0)));
  assert.not.ok(sessionTradable(profileWith("EUR_USD", "08:00,08:00").instruments["EUR_USD"]!.session, at(0, 9, 0)), "start = end is empty");
  assert.not.ok(sessionTradable(undefined, at(0, 9, 0)), "no session never trades");
  const obj = parseSimProfile(`version: 1\ninstruments:\n  EUR_USD: { session: { open: "08:00", close: "16:00" } }\n`, "t").instruments["EUR_USD"]!.session!;
  assert.equal([obj.startMin, obj.endMin], [480, 960]);
  // An open position is never session-blocked: entered at 20:54, held through 20:55.
  const profile = profileWith("EUR_USD", "22:00,21:00");
  const { rules, params } = rulesOf(profile, "EUR_USD", { holdMinutes: 30 });
  const r = simulate(path([[at(0, 20, 54), 1], [at(0, 20, 55), 1], [at(0, 20, 56), 1]]), [{ ...gate(at(0, 20, 54)), direction: "BUY" }], rules, params, profile);
  assert.is(r.counts.session_blocked, 0);
  assert.is(r.openUnits, 150000);
});

test("admission: repetitions truncated, lambda vs hazard_max, regime filter and confidence, guards, score", () => {
  const p = parseSimProfile(
    `version: 1\nglobal: { regime_filter: [Neutral], min_regime_confidence: 0.4, hazard_max: 0.5, guard_thresholds: { min_coherence: 0.1, max_domain_wall_slope: 0.2 } }\n`,
    "t",
  );
  const { rules } = rulesOf(p, "GBP_USD", { minReps: 2, hazardMultiplier: 0.8 });
  assert.is(rules.hazardMax, 0.4, "profile hazard_max times the multiplier");
  assert.is(rulesOf(p, "GBP_USD", { hazard: 0.9, hazardMultiplier: 0.8 }).rules.hazardMax, 0.9, "the CLI hazard wins");
  const ok = { repetitions: 2, lambda: 0.35, structure: { coherence: 0.2, domain_wall_slope: 0.1 } };
  assert.ok(admitted(gate(0, ok), rules));
  assert.not.ok(admitted(gate(0, { ...ok, repetitions: 2.9, admit: false }), rules), "admit false");
  assert.not.ok(admitted(gate(0, { ...ok, repetitions: 1.9 }), rules), "int(1.9) = 1 < 2");
  assert.not.ok(admitted(gate(0, { ...ok, repetitions: undefined }), rules), "missing repetitions fail");
  assert.not.ok(admitted(gate(0, { ...ok, lambda: 0.41 }), rules), "lambda over 0.4");
  assert.ok(admitted(gate(0, { ...ok, lambda: undefined }), rules), "missing lambda passes");
  assert.not.ok(admitted(gate(0, { ...ok, regime: "neutral" }), rules), "a flat string regime counts as missing");
  assert.not.ok(admitted(gate(0, { ...ok, regime: { label: "chaotic", confidence: 0.9 } }), rules), "label filtered");
  assert.not.ok(admitted(gate(0, { ...ok, regime: { label: "NEUTRAL", confidence: 0.3 }, regime_confidence: 0.9 }), rules), "confidence low (top level not read)");
  assert.not.ok(admitted(gate(0, { ...ok, structure: { coherence: 0.05, domain_wall_slope: 0.1 } }), rules), "min_coherence");
  assert.ok(admitted(gate(0, { ...ok, structure: { domain_wall_slope: 0.1 }, coherence: undefined }), rules), "missing coherence passes");
  assert.not.ok(admitted(gate(0, { ...ok, structure: { coherence: 0.2 } }), rules), "missing domain_wall_slope fails");
  assert.ok(admitted(gate(0, { ...ok, components: { domain_wall_slope: 0.1 }, structure: { coherence: 0.2, domain_wall_slope: 0.9 } }), rules), "components read first");
  // The guardrail: the probability of the trade's own direction.
  const guarded = rulesOf(p, "GBP_USD", { minReps: 2, hazardMultiplier: 0.8 }, 0.55).rules;
  const g = gate(0, ok);
  assert.ok(admitted(g, guarded), "admission (step 3) does not read the score");
  assert.not.ok(scoreAllows(g, guarded, 1), "no score: not tradable");
  g.score = 0.55;
  assert.ok(scoreAllows(g, guarded, 1), "P(up) 0.55 admits a BUY");
  assert.not.ok(scoreAllows(g, guarded, -1), "and not a SELL (P(down) 0.45)");
  g.score = 0.45;
  assert.ok(scoreAllows(g, guarded, -1), "P(up) 0.45 admits a SELL");
  g.score = 0.549;
  assert.not.ok(scoreAllows(g, guarded, 1));
  assert.ok(scoreAllows(g, rulesOf(p, "GBP_USD").rules, -1), "no guardrail: always");
});

test("semantic filter and signal keys: a missing tag hard-blocks; a repeated key does not re-enter", () => {
  const p = profileWith("EUR_USD", "00:00,23:00", "");
  const sem = parseSimProfile(`version: 1\ninstruments:\n  EUR_USD: { session: "00:00,23:00", semantic_filter: [chaotic_price_action] }\n`, "t");
  const prices = path([[at(0, 9, 0), 1], [at(0, 9, 1), 1], [at(0, 9, 2), 1]]);
  const calm = { structure: { entropy: 0.5 } };
  const r1 = simulate(prices, [gate(at(0, 9, 0), calm)], rulesOf(sem).rules, rulesOf(sem).params, sem);
  assert.is(r1.counts.semantic_blocked, 3);
  const r2 = simulate(prices, [gate(at(0, 9, 0), { structure: { entropy: 0.95 } })], rulesOf(sem).rules, rulesOf(sem).params, sem);
  assert.is(r2.counts.entries, 3);
  const keyed = simulate(prices, [gate(at(0, 9, 0), { signal_key: "x" })], rulesOf(p).rules, rulesOf(p).params, p);
  assert.is(keyed.counts.entries, 1);
  assert.is(keyed.counts.repeated_signal, 2);
});

test("no gate yet: missing_gate blocks; gates carry across gaps with no staleness limit", () => {
  const p = profileWith();
  const { rules, params } = rulesOf(p, "EUR_USD", { holdMinutes: 1 });
  const prices = path([[at(0, 8, 59), 1], [at(0, 9, 0), 1], [at(2, 9, 0), 1]]);
  const r = simulate(prices, [gate(at(0, 9, 0))], rules, params, p);
  assert.is(r.counts.missing_gate, 1);
  assert.is(r.counts.entries, 2, "the day-0 gate still trades two days later");
});

test("legacy echo profile: no session, regime_filter lowvol/highvol: never trades", () => {
  const echo = parseSimProfile(`version: 1\nglobal: { regime_filter: [lowvol, highvol] }\n`, "t");
  const shipped = parseSimProfile(readFileSync(`${REPO}/config/echo_strategy.yaml`, "utf8"), "config/echo_strategy.yaml");
  const prices = path([[at(0, 9, 0), 1], [at(0, 9, 1), 1.001]]);
  for (const p of [echo, shipped]) {
    const r = simulate(prices, [gate(at(0, 9, 0))], rulesOf(p).rules, rulesOf(p).params, p);
    assert.is(r.fills, 0);
    assert.is(r.counts.session_blocked, 2);
  }
  // With a session the lowvol/highvol filter still admits no section-6 label.
  const withSession = parseSimProfile(`version: 1\nglobal: { regime_filter: [lowvol, highvol] }\ninstruments:\n  EUR_USD: { session: "00:00,23:00" }\n`, "t");
  const r = simulate(prices, [gate(at(0, 9, 0))], rulesOf(withSession).rules, rulesOf(withSession).params, withSession);
  assert.is(r.fills, 0);
  assert.is(r.counts.not_admitted, 2);
});

test("metrics: a one-date run has Sharpe 0; an empty run is flat", () => {
  const p = profileWith();
  const { rules, params } = rulesOf(p);
  const r = simulate(path([[at(0, 9, 0), 1], [at(0, 9, 1), 1.01]]), [{ ...gate(at(0, 9, 0)), direction: "BUY" }], rules, params, p);
  const m = metricsOf(r);
  assert.is(m.T, 1);
  assert.is(m.sharpe, 0);
  const e = metricsOf(simulate([], [], rules, params, p));
  assert.equal([e.pnl, e.sharpe, e.max_dd, e.trades, e.win_rate], [0, 0, 0, 0, 0]);
});

test("crosses: legacy leaves P&L in the quote currency; the usd switch converts or names the missing rate", () => {
  const prices = path([[at(0, 9, 0), 160], [at(0, 9, 1), 161]]);
  const mk = (extra: string) => parseSimProfile(`version: 1\ninstruments:\n  EUR_JPY: { session: "00:00,23:00" }\n${extra}`, "t");
  const legacy = mk("");
  const { rules, params } = rulesOf(legacy, "EUR_JPY");
  const g = [{ ...gate(at(0, 9, 0), { signal_key: "c" }), direction: "BUY" as const }];
  const a = simulate(prices, g, rules, params, legacy);
  const units = Math.trunc(1000 / (160 * 0.02));
  near(a.equity[1]! - 100000, -160 * units * 1.5e-4 + (161 - 160) * units, "unconverted yen");
  const fixed = mk("cross_conversion: usd\nusd_rates: { JPY: 0.0068 }\n");
  const b = simulate(prices, g, rulesOf(fixed, "EUR_JPY").rules, params, fixed);
  near(b.equity[1]! - 100000, (-160 * units * 1.5e-4 + (161 - 160) * units) * 0.0068, "converted");
  assert.throws(() => simulate(prices, g, rules, params, mk("cross_conversion: usd\n")), /usd_rates\.JPY for EUR_JPY/);
});

test.run();
