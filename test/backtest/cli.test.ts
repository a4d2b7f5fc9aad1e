/**
 * `dagbuild backtest` end to end on files the test writes (OANDA candle JSON, gate JSONL, a
 * scores parquet): a one-trade run checked by hand, the legacy defaults, the guardrail
 * flags, usage errors (exit 2) and located profile errors.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempRoot } from "../corpus/helpers.js";
import { sqlString, withDuckDb } from "../../src/io/duckdb.js";
import { parseSimProfile, ProfileError } from "../../src/sep/profile.js";
import { near } from "./helpers.js";
import { CLI, REPO } from "../helpers/rig.js";

const root = tempRoot("backtest-cli");
const T0 = Date.UTC(2025, 9, 6, 9, 0);
const iso = (ms: number) => new Date(ms).toISOString();
const candles = [1.0, 1.001, 1.002, 1.003, 1.004].map((c, i) => ({ time: iso(T0 + i * 60_000), open: c, high: c, low: c, close: c, volume: 5 }));
writeFileSync(join(root, "c.json"), JSON.stringify(candles));
// One BUY gate with a signal key: one entry at 9:00, held 2 minutes, closed at 9:02 (the empty
// stack forgets the key, so a non-admitted gate at 9:03 keeps it from entering again).
const gates = [
  { instrument: "EUR_USD", ts_ms: T0, admit: true, repetitions: 1, direction: "BUY", signal_key: "k1", run_mode: "rolling" },
  { instrument: "EUR_USD", ts_ms: T0 + 180_000, admit: false, repetitions: 1, run_mode: "rolling" },
  { instrument: "GBP_USD", ts_ms: T0, admit: true, repetitions: 1 },
];
writeFileSync(join(root, "g.jsonl"), gates.map((g) => JSON.stringify(g)).join("\n") + "\n");

function bt(args: string[]) {
  return spawnSync(CLI, ["backtest", ...args], { encoding: "utf8" });
}
const base = ["--candles", join(root, "c.json"), "--gates", join(root, "g.jsonl"), "--instrument", "EUR_USD", "--start", iso(T0), "--end", iso(T0 + 4 * 60_000)];

test("one trade by hand: summary.json legacy keys and trades.csv", () => {
  const out = join(root, "o1");
  const r = bt([...base, "--hold-minutes", "2", "--out", out]);
  assert.is(r.status, 0, r.stderr);
  const s = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
  const q = 50000; // trunc(1000 / (1.0 * 0.02))
  const pnl = (1.002 - 1.0) * q - (1.0 * q + 1.002 * q) * 1.5e-4;
  near(s.pnl, pnl, "pnl");
  near(s.return_pct, pnl / 100000, "return_pct");
  assert.is(s.trades, 1);
  assert.is(s.win_rate, 1);
  assert.is(s.sharpe, 0, "one date");
  near(s.max_dd, 0, "the peak starts at the first minute's equity (after its entry cost), then only rises");
  near(s.avg_mae, 0, "avg_mae");
  for (const k of ["pnl", "return_pct", "sharpe", "max_dd", "trades", "win_rate", "avg_mae"]) assert.type(s[k], "number", k);
  assert.equal(s.params, { balance: 100000, costBps: 1.5, exposureScale: 0.02, hazard: null, hazardMultiplier: 1, holdMinutes: 2, minReps: 1, navRiskPct: 0.01 });
  assert.match(s.profile, /config\/open_fxday\.yaml$/);
  const rows = readFileSync(join(out, "trades.csv"), "utf8").trim().split("\n");
  assert.is(rows[1], "instrument,entry_time,exit_time,side,units,entry_price,exit_price,commission,pnl,mae,mfe");
  const f = rows[2]!.split(",");
  assert.equal(f.slice(0, 7), ["EUR_USD", iso(T0), iso(T0 + 120_000), "LONG", "50000", "1", "1.002"]);
  near(Number(f[8]), pnl, "trade pnl");
});

test("the legacy flags change the run: --cost-bps, --nav-risk-pct, --min-reps, --hazard", () => {
  const run = (extra: string[]) => {
    const out = join(root, `o-${extra.join("")}`);
    const r = bt([...base, "--hold-minutes", "2", "--out", out, ...extra]);
    assert.is(r.status, 0, r.stderr);
    return JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
  };
  near(run(["--cost-bps", "0"]).pnl, (1.002 - 1.0) * 50000, "no costs");
  near(run(["--nav-risk-pct", "0.02"]).pnl, (1.002 - 1.0) * 100000 - (1.0 + 1.002) * 100000 * 1.5e-4, "double size");
  assert.is(run(["--min-reps", "2"]).trades, 0);
  assert.is(run(["--hazard", "0.1"]).trades, 1, "missing lambda passes the hazard guard");
});

test("--ml-scores with --threshold: the guardrail", async () => {
  const p = join(root, "s.parquet");
  await withDuckDb(async (conn) => {
    await conn.run(`COPY (SELECT 'EUR_USD' AS instrument, CAST(${T0} AS BIGINT) AS ts_ms, 'rolling' AS run_mode, '2025-10-06' AS week, 'test' AS split, 0.6 AS score, 'm' AS model, 'dg' AS model_digest) TO ${sqlString(p)} (FORMAT parquet)`);
  });
  const pass = join(root, "g1"), fail = join(root, "g2");
  assert.is(bt([...base, "--ml-scores", p, "--threshold", "0.6", "--out", pass]).status, 0);
  assert.is(bt([...base, "--ml-scores", p, "--threshold", "0.61", "--out", fail]).status, 0);
  const a = JSON.parse(readFileSync(join(pass, "summary.json"), "utf8"));
  const b = JSON.parse(readFileSync(join(fail, "summary.json"), "utf8"));
  assert.ok(a.minutes.ready > 0);
  assert.is(b.minutes.ready, 0);
  assert.equal([a.ml_scores.model, a.ml_scores.model_digest, a.ml_scores.gates_scored], ["m", "dg", 1]);
});

test("golden gates (test/fixtures/gate-golden, USD_JPY): open_fxday trades, the legacy echo profile never does; runs are byte-identical", () => {
  const fx = join(REPO, "test/fixtures/gate-golden");
  const args = ["--candles", join(fx, "USD_JPY.candles.json"), "--gates", join(fx, "USD_JPY.gates.jsonl"), "--instrument", "USD_JPY", "--start", "2025-07-24", "--end", "2025-07-29"];
  const summary = (out: string) => JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
  for (const o of ["gj1", "gj2"]) assert.is(bt([...args, "--out", join(root, o)]).status, 0);
  const open = summary(join(root, "gj1"));
  assert.ok(open.trades > 0 && open.minutes.ready > 0, "open_fxday trades");
  assert.is(open.minutes.session_blocked > 0, true, "the 20:55-21:59 window and the closure block entries");
  for (const f of ["summary.json", "trades.csv"]) assert.is(readFileSync(join(root, "gj1", f), "utf8"), readFileSync(join(root, "gj2", f), "utf8"), `${f} deterministic`);
  assert.is(bt([...args, "--profile", join(REPO, "config/echo_strategy.yaml"), "--out", join(root, "gj3")]).status, 0);
  const echo = summary(join(root, "gj3"));
  assert.equal([echo.trades, echo.pnl, echo.minutes.ready], [0, 0, 0], "the legacy defect: no session, no trade");
});

test("usage errors exit 2 with a message", () => {
  const cases: [string[], RegExp][] = [
    [["--candles", "x"], /--gates is required/],
    [[...base, "--out", join(root, "u"), "--bogus", "1"], /unknown argument "--bogus"/],
    [[...base, "--out", join(root, "u"), "--threshold", "0.5"], /--ml-scores and --threshold go together/],
    [[...base, "--out", join(root, "u"), "--balance", "-1"], /--balance must be a positive number/],
    [["--candles", "c", "--gates", "g", "--instrument", "EUR_USD", "--start", "yesterday", "--end", "2025-10-07", "--out", "o"], /--start must be an RFC 3339 time/],
    [[...base.slice(0, 6), "--start", iso(T0), "--end", "2025-01-01", "--out", "o"], /is before --start/],
  ];
  for (const [args, re] of cases) {
    const r = bt(args);
    assert.is(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
});

test("profile errors are located: bad session, unknown keys, bad guard", () => {
  const bad = join(root, "bad.yaml");
  writeFileSync(bad, `version: 1\ninstruments:\n  EUR_USD:\n    session: "25:00,21:00"\n`);
  const r = bt([...base, "--profile", bad, "--out", join(root, "p")]);
  assert.is(r.status, 2);
  assert.match(r.stderr, /bad\.yaml:4:14: instruments\.EUR_USD\.session: expected "HH:MM,HH:MM"/);
  const err = (text: string): string => {
    try {
      parseSimProfile(text, "p.yaml");
    } catch (e) {
      assert.instance(e, ProfileError);
      return (e as Error).message;
    }
    throw new Error("no error");
  };
  assert.match(err(`version: 1\nglobal:\n  regime_filter: [lowvol]\n  sesion: "08:00,16:00"\n`), /^p\.yaml:4:3: unknown key "sesion" in global/);
  assert.match(err(`version: 1\ninstruments:\n  EUR_USD: { guards: { min_cohrence: 0.1 } }\n`), /^p\.yaml:3:24: unknown key "min_cohrence" in instruments\.EUR_USD\.guards/);
  assert.match(err(`version: 1\ninstruments:\n  eurusd: { session: "08:00,16:00" }\n`), /^p\.yaml:3:3: bad key "eurusd"/);
  assert.match(err(`version: 1\nhold_expiry: sometimes\n`), /^p\.yaml:2:14: hold_expiry: must be one of \["legacy","every_minute"\]/);
  assert.match(err(`version: 1\ninstruments:\n  EUR_USD: { session: { open: "08:00" } }\n`), /session: expected/);
});

test.run();
