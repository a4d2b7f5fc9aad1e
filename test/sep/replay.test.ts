/**
 * Week replay: rolling chains carry state (week N+1 rolling == N then N+1 with the carried
 * state), isolation ignores history; the replay-week rule on real candle parquet (DuckDB);
 * the profile loader; and the replay CLI's located errors.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Candle } from "../../src/market/candle.js";
import { writeCandles } from "../../src/market/candle-store.js";
import type { RuleContext } from "../../src/engine/rule.js";
import rule from "../../rules/replay-week.js";
import { replayWeek } from "../../src/sep/week.js";
import { replayInstrument } from "../../src/sep/replay.js";
import { DEFAULT_PROFILE, loadProfile, parseProfile } from "../../src/sep/profile.js";
import { formatGateLine, parseGateLines } from "../../src/sep/records.js";
import { parseReplayState } from "../../src/sep/state.js";
import type { ReplayState } from "../../src/sep/types.js";
import { GOLDEN_DIR, ROOT, guard, profile, walk } from "./helpers.js";

const DAY = 86_400_000;
const W0 = Date.UTC(2025, 6, 21); // Monday
const INSTS = ["EUR_USD", "USD_JPY"];

/** Three weeks of candles per instrument, one list each. */
const data = new Map<string, Candle[]>(
  INSTS.map((inst, i) => [inst, walk(100 + i, W0 - 3 * 3_600_000, 3 * 7200 + 300, inst === "USD_JPY" ? 150 : 1.1)]),
);
const weekOf = (w: number): Map<string, Candle[]> =>
  new Map([...data].map(([k, v]) => [k, v.filter((c) => c.t >= W0 + w * 7 * DAY && c.t < W0 + (w + 2) * 7 * DAY)]));
const run = (w: number, mode: "rolling" | "isolation", state: ReplayState | undefined) =>
  replayWeek({ candles: weekOf(w), startMs: W0 + w * 7 * DAY, endMs: W0 + (w + 1) * 7 * DAY, weekStart: "", weekEnd: "", mode, profile: DEFAULT_PROFILE, state });

test("rolling: week N+1 with carried state equals replaying N then N+1 instrument by instrument", () => {
  const w0 = run(0, "rolling", undefined);
  const w1 = run(1, "rolling", JSON.parse(JSON.stringify(w0.state)));
  for (const inst of INSTS) {
    const wk = (w: number) => data.get(inst)!.filter((c) => c.t >= W0 + w * 7 * DAY && c.t < W0 + (w + 1) * 7 * DAY);
    const tail = (w: number) => data.get(inst)!.filter((c) => c.t >= W0 + (w + 1) * 7 * DAY && c.t <= W0 + (w + 1) * 7 * DAY + 360 * 60_000);
    const a = replayInstrument(wk(0), tail(0), DEFAULT_PROFILE, undefined, { instrument: inst, runMode: "rolling" });
    const b = replayInstrument(wk(1), tail(1), DEFAULT_PROFILE, a.state, { instrument: inst, runMode: "rolling" });
    const mine = w1.gates.filter((g) => g.instrument === inst).map(formatGateLine);
    assert.equal(mine, b.gates.map(formatGateLine));
    assert.ok(a.state.calibrator.length > 0);
  }
  // Sorted by instrument then time.
  const keys = w1.gates.map((g) => `${g.instrument}/${String(g.ts_ms).padStart(15, "0")}`);
  assert.equal(keys, [...keys].sort());
});

test("isolation ignores history; metrics, regime and labels agree with rolling, state-driven fields differ", () => {
  const w0 = run(0, "rolling", undefined);
  const roll = run(1, "rolling", w0.state);
  const iso = run(1, "isolation", w0.state); // state passed but must be ignored
  const isoFresh = run(1, "isolation", undefined);
  assert.equal(iso.gates.map(formatGateLine), isoFresh.gates.map(formatGateLine));
  assert.is(roll.gates.length, iso.gates.length);
  let thresholdsDiffer = 0;
  for (let i = 0; i < roll.gates.length; i++) {
    const r = roll.gates[i]!;
    const s = iso.gates[i]!;
    assert.equal(r.structure, s.structure);
    assert.equal(r.regime, s.regime);
    assert.equal(r.roc_forward_pct, s.roc_forward_pct);
    if (r.hazard_threshold !== s.hazard_threshold) thresholdsDiffer++;
  }
  assert.ok(thresholdsDiffer > 0, "carried calibrator must change some thresholds");
  assert.is(roll.gates[0]!.run_mode, "rolling");
  assert.is(iso.gates[0]!.run_mode, "isolation");
});

test("replaying weeks out of order with carried state is refused", () => {
  const w1 = run(1, "rolling", undefined);
  assert.throws(() => run(0, "rolling", w1.state), /replayed in order/);
});

function ctxFor(root: string, inputs: Record<string, string[]>, params: Record<string, unknown>): RuleContext & { logs: string[] } {
  const out = join(root, "out");
  mkdirSync(out, { recursive: true });
  const logs: string[] = [];
  return {
    root,
    target: "gates",
    partition: { mode: String(params["mode"]), week: String(params["week_start"]) },
    params,
    inputs,
    outputs: { gates: join(out, "gates.jsonl"), summary: join(out, "summary.json"), state: join(out, "state.json") },
    log: (l: string) => logs.push(l),
    signal: new AbortController().signal,
    logs,
  };
}

test("replay-week rule on candle parquet: outputs match the pure replay; chain via the state file", async () => {
  const root = mkdtempSync(join(tmpdir(), "dagbuild-sep-"));
  try {
    const files = (w: number) =>
      INSTS.map((inst) => join(root, "data/candles", inst, `w${w}.parquet`));
    for (const w of [0, 1, 2]) {
      for (const inst of INSTS) {
        const rows = data.get(inst)!.filter((c) => c.t >= W0 + w * 7 * DAY && c.t < W0 + (w + 1) * 7 * DAY);
        await guard(writeCandles(join(root, "data/candles", inst, `w${w}.parquet`), rows), 30_000, "writeCandles");
      }
    }
    const prof = join(ROOT, "config/echo_strategy.yaml");
    const iso = (d: number) => new Date(W0 + d * DAY).toISOString().slice(0, 10);
    const c0 = ctxFor(join(root, "r0"), { candles: files(0), tail: files(1), profile: [prof] }, { mode: "rolling", week_start: iso(0), week_end: iso(7) });
    await guard(Promise.resolve(rule.run(c0)), 60_000, "rule week 0");
    const c1 = ctxFor(join(root, "r1"), { candles: files(1), tail: files(2), profile: [prof], state: [c0.outputs.state!] }, { mode: "rolling", week_start: iso(7), week_end: iso(14) });
    await guard(Promise.resolve(rule.run(c1)), 60_000, "rule week 1");

    const expect0 = run(0, "rolling", undefined);
    const expect1 = run(1, "rolling", expect0.state);
    const text1 = readFileSync(c1.outputs.gates!, "utf8");
    assert.is(text1, expect1.gates.map((g) => `${formatGateLine(g)}\n`).join(""));
    const st = parseReplayState(readFileSync(c1.outputs.state!, "utf8"), "state.json");
    assert.equal(st, JSON.parse(JSON.stringify(expect1.state)));
    const summary = JSON.parse(readFileSync(c1.outputs.summary!, "utf8"));
    assert.is(summary.version, 1);
    assert.is(summary.gates, expect1.gates.length);
    assert.is(summary.week_start, iso(7));
    const complete5 = expect1.gates.filter((g) => g.roc_forward_pct["5"] !== null).length;
    assert.is(summary.all["5"].count, complete5);
    // Every line reads back through the shared reader.
    assert.is(parseGateLines(text1, "gates.jsonl").length, expect1.gates.length);

    // The last week without a tail: its final gates are marked incomplete.
    const c2 = ctxFor(join(root, "r2"), { candles: files(2), profile: [prof] }, { mode: "isolation", week_start: iso(14), week_end: iso(21) });
    await guard(Promise.resolve(rule.run(c2)), 60_000, "rule week 2");
    const g2 = parseGateLines(readFileSync(c2.outputs.gates!, "utf8"), "g2");
    assert.is(g2.filter((g) => g.instrument === "EUR_USD").at(-1)!.label_complete, false);
    assert.ok(existsSync(c2.outputs.state!)); // written in isolation too

    // A bad candle row fails with the file and the row named.
    const bad = data.get("EUR_USD")!.filter((c) => c.t >= W0 && c.t < W0 + 7 * DAY).map((c) => ({ ...c }));
    bad[41]!.h = bad[41]!.l / 2;
    const badPath = join(root, "bad/EUR_USD/w0.parquet");
    await writeCandles(badPath, bad);
    const cb = ctxFor(join(root, "rb"), { candles: [badPath], profile: [prof] }, { mode: "rolling", week_start: iso(0), week_end: iso(7) });
    try {
      await rule.run(cb);
      assert.unreachable("bad candles must fail");
    } catch (e) {
      assert.is((e as Error).name, "RuleError");
      assert.match((e as Error).message, /w0\.parquet.*row 42: field "h"/);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("profile: the shipped config equals the legacy defaults; bad keys are located", async () => {
  assert.equal(await loadProfile(join(ROOT, "config/echo_strategy.yaml")), { ...DEFAULT_PROFILE, hazard_max: {}, admit_regimes: [...DEFAULT_PROFILE.admit_regimes] });
  assert.throws(() => parseProfile("version: 1\nhazard_percentile: 0.9\nadmit_regime: [neutral]\n", "p.yaml"), /^p\.yaml:3:1: unknown key "admit_regime"/);
  assert.throws(() => parseProfile("version: 1\nadmit_regimes:\n  - neutral\n  - bullish\n", "p.yaml"), /^p\.yaml:4:5: admit_regimes\.1: must be one of/);
  assert.throws(() => parseProfile("version: 1\nhazard_max: { EUR_USD: 1.5 }\n", "p.yaml"), /^p\.yaml:2:24: hazard_max\.EUR_USD: must be <= 1/);
  const p = parseProfile("version: 1\nhazard_max: { USD_JPY: 0.4 }\nregime_normalization: price\n", "p.yaml");
  assert.is(p.hazard_max["USD_JPY"], 0.4);
  assert.is(p.hazard_percentile, 0.95);
  assert.is(p.regime_normalization, "price");
});

test("profile switches change the stream: hazard_max caps thresholds, price normalisation relabels USD_JPY", () => {
  const jpy = walk(7, W0, 2000, 150);
  const opts = { instrument: "USD_JPY", runMode: "isolation" as const };
  const legacy = replayInstrument(jpy, [], profile(), undefined, opts).gates;
  // The documented legacy defect: realized vol / an ATR of ~0.015 yen makes vr tiny on USD_JPY.
  assert.ok(legacy.every((g) => g.regime.label === "mean_revert" || g.regime.label === "neutral"));
  assert.ok(legacy.filter((g) => g.regime.label === "mean_revert").length > legacy.length * 0.8);
  const priced = replayInstrument(jpy, [], profile({ regime_normalization: "price" }), undefined, opts).gates;
  assert.ok(priced.some((g, i) => g.regime.label !== legacy[i]!.regime.label || g.regime.confidence !== legacy[i]!.regime.confidence));
  assert.equal(priced.map((g) => g.structure), legacy.map((g) => g.structure));
  const capped = replayInstrument(jpy, [], profile({ hazard_max: { USD_JPY: 0.3 } }), undefined, opts).gates;
  assert.ok(capped.every((g) => g.hazard_threshold <= 0.3));
  const lam = replayInstrument(jpy, [], profile({ lambda_scale: 0.1 }), undefined, opts).gates;
  assert.ok(Math.abs(lam[3]!.lambda - lam[3]!.hazard * 0.1) < 1e-15);
});

function cli(args: string[]): { code: number | null; err: string } {
  const r = spawnSync(process.execPath, [join(ROOT, "bin/dagbuild"), "replay", ...args], { encoding: "utf8", timeout: 60_000 });
  return { code: r.status, err: r.stderr };
}

test("replay CLI: golden file to JSONL; bad candle files fail with exit 2 and a located message", () => {
  const dir = mkdtempSync(join(tmpdir(), "dagbuild-sepcli-"));
  try {
    const src = readFileSync(join(GOLDEN_DIR, "EUR_USD.candles.json"), "utf8");
    const out = join(dir, "g.jsonl");
    const ok = cli(["--candles", join(GOLDEN_DIR, "EUR_USD.candles.json"), "--instrument", "EUR_USD", "--out", out]);
    assert.is(ok.code, 0, ok.err);
    const gates = parseGateLines(readFileSync(out, "utf8"), out);
    assert.is(gates.length, 184);
    assert.is(gates[0]!.signature, "c0.039_s0.540_e0.961");

    const lines = src.split("\n");
    const cases: [string, (l: string[]) => void, RegExp][] = [
      ["high", (l) => (l[5] = l[5]!.replace(/"high":[0-9.]+/, '"high":0.5')), /bad\.json:6: row 5: field "high"/],
      ["close", (l) => (l[9] = l[9]!.replace(/"close":[0-9.]+/, '"close":"x"')), /bad\.json:10: row 9: field "close": expected a number/],
      ["time", (l) => (l[3] = l[3]!.replace(/"time":"[^"]+"/, '"time":"yesterday"')), /bad\.json:4: row 3: field "time"/],
      ["order", (l) => ([l[20], l[21]] = [l[21]!, l[20]!]), /bad\.json:22: row 21: field "time": .* not after/],
      ["syntax", (l) => (l[7] = l[7]!.replace("}", "")), /bad\.json:\d+: field "\(file\)": not valid JSON/],
    ];
    for (const [name, edit, re] of cases) {
      const l = [...lines];
      edit(l);
      const bad = join(dir, "bad.json");
      writeFileSync(bad, l.join("\n"));
      const badOut = join(dir, `out-${name}.jsonl`);
      const r = cli(["--candles", bad, "--instrument", "EUR_USD", "--out", badOut]);
      assert.is(r.code, 2, `${name}: ${r.err}`);
      assert.match(r.err, re, name);
      assert.ok(!existsSync(badOut), `${name}: nothing written`);
    }
    const usage = cli(["--candles", "x.json", "--instrument", "EUR_USD"]);
    assert.is(usage.code, 2);
    assert.match(usage.err, /--out is required/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
