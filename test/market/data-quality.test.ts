/**
 * Data quality of real feeds, visible and decided (issue 12): the FX calendar, coverage,
 * off-minute rows, market hours, number parsing, gzip with file names, price sides, profile use.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { isMarketOpen, usDaylightTime, weekCoverage } from "../../src/market/calendar.js";
import { applyQuality, QualityError } from "../../src/market/quality.js";
import { ImportError, importCandleFiles, parseCandleText } from "../../src/market/files.js";
import { parseCandleJson } from "../../src/sep/candle-json.js";
import { checkProfileUse, ProfileError } from "../../src/sep/profile.js";
import { readCandleMeta, writeCandles } from "../../src/market/candle-store.js";
import type { Candle } from "../../src/market/candle.js";
import corpusPart from "../../rules/corpus-part.js";
import corpus from "../../rules/corpus.js";
import { RuleError } from "../../src/engine/rule.js";
import { makeNestedGates, writeGates } from "../fixtures/corpus/make-gates.js";
import { runRule } from "../corpus/helpers.js";
import { REPO } from "../helpers/rig.js";

const T = (s: string) => Date.parse(s);
const root = mkdtempSync(join(tmpdir(), "dagbuild-quality-"));
test.after(() => rmSync(root, { recursive: true, force: true }));
const k = (iso: string, o = 1.1): Candle => ({ t: T(iso), o, h: o + 0.001, l: o - 0.001, c: o, volume: 10 });

test("FX calendar: Sunday 17:00 to Friday 17:00 New York, DST-aware", () => {
  // Summer (EDT): 21:00 UTC both ends.
  assert.not.ok(isMarketOpen(T("2025-07-27T20:59:00Z")));
  assert.ok(isMarketOpen(T("2025-07-27T21:00:00Z")));
  assert.ok(isMarketOpen(T("2025-07-25T20:59:00Z")));
  assert.not.ok(isMarketOpen(T("2025-07-25T21:00:00Z")));
  assert.not.ok(isMarketOpen(T("2025-07-26T10:00:00Z")), "Saturday");
  // Winter (EST): 22:00 UTC.
  assert.not.ok(isMarketOpen(T("2025-11-09T21:30:00Z")));
  assert.ok(isMarketOpen(T("2025-11-09T22:00:00Z")));
  assert.ok(isMarketOpen(T("2025-11-14T21:59:00Z")));
  assert.not.ok(isMarketOpen(T("2025-11-14T22:00:00Z")));
  // Transition weekends: Friday before DST starts closes 22:00 UTC, that Sunday opens 21:00 UTC.
  assert.ok(isMarketOpen(T("2025-03-07T21:30:00Z")));
  assert.ok(isMarketOpen(T("2025-03-09T21:00:00Z")));
  assert.not.ok(isMarketOpen(T("2025-03-09T20:59:00Z")));
  assert.ok(usDaylightTime(T("2025-03-09T07:00:00Z")) && !usDaylightTime(T("2025-03-09T06:59:00Z")));
  assert.ok(usDaylightTime(T("2025-11-02T05:59:00Z")) && !usDaylightTime(T("2025-11-02T06:00:00Z")));
  // The spec's fixed calendar (the synthetic market's) ignores DST.
  assert.ok(isMarketOpen(T("2025-11-09T21:30:00Z"), "fixed"));
});

test("coverage: expected trading minutes, present, missing, longest gap", () => {
  const from = T("2025-07-21T00:00:00Z"), to = T("2025-07-28T00:00:00Z");
  const candles: Candle[] = [];
  for (let t = from; t < to; t += 60_000) if (isMarketOpen(t) && !(t >= T("2025-07-22T10:00:00Z") && t < T("2025-07-22T11:00:00Z")) && t !== T("2025-07-23T12:00:00Z")) candles.push({ t, o: 1, h: 1, l: 1, c: 1, volume: 1 });
  const c = weekCoverage(candles, from, to, "fx");
  assert.is(c.expected, 7200);
  assert.is(c.missing, 61, "an hour and one minute");
  assert.is(c.present, 7200 - 61);
  assert.is(c.longest_gap_min, 60);
  assert.is(c.longest_gap_start, "2025-07-22T10:00:00.000Z");
  assert.is(c.outside_hours, 0);
});

test("off-minute rows: aligned (the row on the minute wins), dropped, or refused; market hours decided and counted", () => {
  const rows = [k("2025-07-22T10:00:00Z", 1.1), k("2025-07-22T10:00:30Z", 1.2), k("2025-07-22T10:01:17Z", 1.3), k("2025-07-26T10:00:00Z"), k("2025-07-27T20:00:00Z"), k("2025-07-27T21:00:00Z")];
  const a = applyQuality(rows, { marketHours: "drop", offMinute: "align", where: "x" });
  assert.equal(a.candles.map((c) => [new Date(c.t).toISOString(), c.o]), [["2025-07-22T10:00:00.000Z", 1.1], ["2025-07-22T10:01:00.000Z", 1.3], ["2025-07-27T21:00:00.000Z", 1.1]]);
  assert.equal(a.counts, { off_minute_aligned: 1, off_minute_dropped: 1, market_closed_dropped: 2, market_closed_kept: 0 });
  const d = applyQuality(rows, { marketHours: "keep", offMinute: "drop", where: "x" });
  assert.is(d.candles.length, 4);
  assert.equal(d.counts, { off_minute_aligned: 0, off_minute_dropped: 2, market_closed_dropped: 0, market_closed_kept: 2 });
  assert.throws(() => applyQuality(rows, { marketHours: "drop", offMinute: "error", where: "EUR_USD files (b.csv)" }), (e: unknown) => e instanceof QualityError && /EUR_USD files \(b\.csv\): a row at 2025-07-22T10:00:30\.000Z is not on a whole minute/.test((e as Error).message));
  assert.throws(() => applyQuality(rows, { marketHours: "error", offMinute: "align", where: "w" }), /2025-07-26T10:00:00\.000Z \(Saturday\) is outside the FX market hours/);
});

test("numbers: hex, absurd prices and volumes beyond int64 are located errors", () => {
  const csv = (price: string, vol = "5") => `time,open,high,low,close,volume\n2025-07-22T10:00:00Z,1.1,1.2,1.0,1.1,5\n2025-07-22T10:01:00Z,${price},1.2,1.0,1.1,${vol}\n`;
  const err = (text: string, file = "b.csv") => {
    try {
      parseCandleText(text, file);
    } catch (e) {
      assert.instance(e, ImportError);
      return (e as Error).message;
    }
    throw new Error("no error");
  };
  assert.match(err(csv("0x1")), /^b\.csv:3: open: not a number: "0x1"$/);
  assert.match(err(csv("1e308")), /^b\.csv:3: open: price 1e308 is out of range/);
  assert.match(err(csv("1.1", "1e20")), /^b\.csv:3: volume: volume 1e20 is out of range \(an integer below 2\^53\)/);
  assert.match(err(`[{"time":"2025-07-22T10:00:00Z","open":"0x1","high":1,"low":1,"close":1,"volume":1}]`, "a.json"), /^a\.json:1: open: not a number/);
  assert.match(err(`[{"time":"2025-07-22T10:00:00Z","open":1,"high":1,"low":1,"close":1,"volume":1e20}]`, "a.json"), /^a\.json:1: volume: volume 100000000000000000000 is out of range/);
  assert.is(parseCandleText(csv("1.15e0"), "ok.csv")[1]!.o, 1.15, "exponent notation of a sane price is fine");
  // The replay's JSON reader too.
  assert.throws(() => parseCandleJson(`[{"time":"2025-07-22T10:00:00Z","open":"0x1","high":1,"low":1,"close":1,"volume":1}]`, "r.json"), /r\.json:1: row 1: field "open": expected a number, got "0x1"/);
  assert.throws(() => parseCandleJson(`[{"time":"2025-07-22T10:00:00Z","open":1,"high":1,"low":1,"close":1,"volume":1e20}]`, "r.json"), /field "volume": volume 100000000000000000000 is out of range/);
});

test("gzip: a truncated member names the file; the replay CLI reads .json.gz; legacy .jsonl.gz merges", async () => {
  const csv = "time,open,high,low,close,volume\n" + Array.from({ length: 400 }, (_, i) => `${new Date(T("2025-07-22T10:00:00Z") + i * 60_000).toISOString()},1.1,1.2,1.0,1.1,${i}`).join("\n") + "\n";
  const gz = gzipSync(csv);
  writeFileSync(join(root, "cut.csv.gz"), gz.subarray(0, gz.length - 20));
  const e = await importCandleFiles([join(root, "cut.csv.gz")]).catch((x: unknown) => x);
  assert.instance(e, ImportError);
  assert.match((e as Error).message, /cut\.csv\.gz: truncated gzip \(unexpected end of file\)$/);

  const golden = readFileSync(join(REPO, "test/fixtures/gate-golden/EUR_USD.candles.json"));
  writeFileSync(join(root, "c.json.gz"), gzipSync(golden));
  writeFileSync(join(root, "c.json"), golden);
  const replay = (f: string, out: string) => spawnSync(process.execPath, [join(REPO, "bin/dagbuild"), "replay", "--candles", join(root, f), "--instrument", "EUR_USD", "--out", join(root, out)], { encoding: "utf8", timeout: 60_000 });
  const plain = replay("c.json", "plain.jsonl");
  const zipped = replay("c.json.gz", "zipped.jsonl");
  assert.is(zipped.status, 0, zipped.stderr);
  assert.is(readFileSync(join(root, "zipped.jsonl"), "utf8"), readFileSync(join(root, "plain.jsonl"), "utf8"), plain.stderr);
  writeFileSync(join(root, "cut.json.gz"), gzipSync(golden).subarray(0, 100));
  const cut = replay("cut.json.gz", "cut.jsonl");
  assert.is(cut.status, 2);
  assert.match(cut.stderr, /cut\.json\.gz: .*truncated gzip/);

  // Legacy gate exports: .jsonl.gz is read like .jsonl; a truncated one names the file.
  mkdirSync(join(root, "legacy"), { recursive: true });
  const gates = makeNestedGates({ week: "2025-07-21", mode: "rolling", perInstrument: 10, seed: 4 });
  writeGates(join(root, "legacy/plain.jsonl"), gates);
  writeFileSync(join(root, "legacy/export.jsonl.gz"), gzipSync(readFileSync(join(root, "legacy/plain.jsonl"))));
  writeFileSync(join(root, "legacy/cut.jsonl.gz"), gzipSync(readFileSync(join(root, "legacy/plain.jsonl"))).subarray(0, 2000));
  const legacy = (f: string, out: string) =>
    runRule(corpus, root, { inputs: { legacy: [`legacy/${f}`] }, outputs: { corpus: `out/${out}` }, params: { legacy: { [`legacy/${f}`]: { source: "legacy_x", run_mode: "rolling" } } } });
  await legacy("plain.jsonl", "a.parquet");
  await legacy("export.jsonl.gz", "b.parquet");
  assert.ok(readFileSync(join(root, "out/a.parquet")).equals(readFileSync(join(root, "out/b.parquet"))), "same corpus from .jsonl and .jsonl.gz");
  const bad = await legacy("cut.jsonl.gz", "c.parquet").catch((x: unknown) => x);
  assert.instance(bad, RuleError);
  assert.match((bad as Error).message, /legacy\/cut\.jsonl\.gz:\d+: /);
});

test("price side: recorded in candle and corpus files; sides are never merged silently", async () => {
  await writeCandles(join(root, "bid.parquet"), [k("2025-07-22T10:00:00Z")], { price_side: "bid", instrument: "EUR_USD" });
  assert.is((await readCandleMeta([join(root, "bid.parquet")]))[0]!.price_side, "bid");
  mkdirSync(join(root, "g"), { recursive: true });
  const parts: Record<string, string> = {};
  for (const [i, [week, side]] of [["2025-07-14", "bid"], ["2025-07-21", "mid"]].entries()) {
    writeGates(join(root, `g/${week}.jsonl`), makeNestedGates({ week: week!, mode: "rolling", perInstrument: 5, seed: 20 + i }));
    parts[side!] = `parts/${week}.parquet`;
    await runRule(corpusPart, root, { inputs: { gates: [`g/${week}.jsonl`] }, outputs: { part: parts[side!]! }, params: { run_mode: "rolling", week, source: "files", price_side: side } });
  }
  const mixed = await runRule(corpus, root, { inputs: { parts: [parts.bid!, parts.mid!] }, outputs: { corpus: "out/mixed.parquet" } }).catch((x: unknown) => x);
  assert.instance(mixed, RuleError);
  assert.match((mixed as Error).message, /inputs quote different price sides: bid \(.*2025-07-14\.parquet\), mid \(.*2025-07-21\.parquet\)/);
  // A legacy export declared as another side is refused; an undeclared one is assumed, and said.
  const legacyBid = await runRule(corpus, root, {
    inputs: { parts: [parts.mid!], legacy: ["legacy/plain.jsonl"] },
    outputs: { corpus: "out/l.parquet" },
    params: { legacy: { "legacy/plain.jsonl": { source: "legacy_fxcm", run_mode: "rolling", price_side: "bid" } } },
  }).catch((x: unknown) => x);
  assert.instance(legacyBid, RuleError);
  assert.match((legacyBid as Error).message, /mid \(.*\), bid \(legacy\/plain\.jsonl\)/);
  const log = await runRule(corpus, root, {
    inputs: { parts: [parts.mid!], legacy: ["legacy/plain.jsonl"] },
    outputs: { corpus: "out/l.parquet" },
    params: { legacy: { "legacy/plain.jsonl": { source: "legacy_fxcm", run_mode: "rolling" } } },
  });
  assert.match(log.join("\n"), /warning: legacy legacy\/plain\.jsonl: price side not declared .*assumed mid/);
  assert.match(log.join("\n"), /price side mid/);
});

test("profile use: a hazard_max typo is a located error; clamping and unreplayed majors are warnings", () => {
  const text = "version: 1\nhazard_percentile: 0.01\nhazard_max:\n  EUR_USD: 0.5\n  USD_CAD: 0.4\n";
  assert.equal(checkProfileUse(text, "p.yaml", ["EUR_USD", "USD_JPY"]), [
    "p.yaml:2:20: warning: hazard_percentile 0.01 is used as 0.05 (the calibrator clamps it to [0.05, 0.99])",
    "p.yaml:5:3: warning: hazard_max.USD_CAD is ignored: USD_CAD is not replayed (EUR_USD, USD_JPY)",
  ]);
  assert.throws(() => checkProfileUse(text + "  EUR_USX: 0.3\n", "p.yaml", ["EUR_USD"]), (e: unknown) => e instanceof ProfileError && (e as Error).message === 'p.yaml:6:3: hazard_max: unknown instrument "EUR_USX" (replayed: EUR_USD)');
  assert.equal(checkProfileUse("version: 1\nhazard_percentile: 0.5\n", "p.yaml", ["EUR_USD"]), []);
  // The replay CLI says so too.
  const prof = join(root, "clamp.yaml");
  writeFileSync(prof, "version: 1\nhazard_percentile: 0.01\n");
  const golden = join(REPO, "test/fixtures/gate-golden/EUR_USD.candles.json");
  const r = spawnSync(process.execPath, [join(REPO, "bin/dagbuild"), "replay", "--candles", golden, "--instrument", "EUR_USD", "--profile", prof, "--out", join(root, "clamp.jsonl")], { encoding: "utf8", timeout: 60_000 });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /clamp\.yaml:2:20: warning: hazard_percentile 0\.01 is used as 0\.05/);
  writeFileSync(prof, "version: 1\nhazard_max:\n  EUR_USX: 0.3\n");
  const bad = spawnSync(process.execPath, [join(REPO, "bin/dagbuild"), "replay", "--candles", golden, "--instrument", "EUR_USD", "--profile", prof, "--out", join(root, "clamp2.jsonl")], { encoding: "utf8", timeout: 60_000 });
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /clamp\.yaml:3:3: hazard_max: unknown instrument "EUR_USX"/);
});

test("candles rule: a CSV mapping and delimiter from vars (string forms), FXCM-style bid columns", async () => {
  const { default: rule } = await import("../../rules/candles.js");
  const file = join(root, "fxcm.csv");
  const rows = ["DateTime;BidOpen;BidHigh;BidLow;BidClose;AskOpen;AskHigh;AskLow;AskClose;TickQty"];
  for (let i = 0; i < 3; i++) rows.push(`2025-07-22 10:0${i}:00;1.1;1.2;1.0;1.15;1.1002;1.2002;1.0002;1.1502;${7 + i}`);
  writeFileSync(file, rows.join("\n") + "\n");
  const out = join(root, "fxcm.parquet");
  const log: string[] = [];
  const ctx = {
    root, target: "candles", partition: {}, inputs: { files: [file] }, outputs: { candles: out }, log: (l: string) => log.push(l), signal: new AbortController().signal,
    params: { source: "files", instrument: "EUR_USD", week_start: "2025-07-21", price_side: "bid", files: { format: "auto", tz_offset: "Z", delimiter: ";", mapping: "time=DateTime, open=BidOpen,high=BidHigh,low=BidLow,close=BidClose,volume=TickQty" } },
  };
  await rule.run(ctx);
  const { readCandles } = await import("../../src/market/candle-store.js");
  assert.equal((await readCandles([out])).map((c) => [c.c, c.volume]), [[1.15, 7], [1.15, 8], [1.15, 9]]);
  assert.is((await readCandleMeta([out]))[0]!.price_side, "bid");
  const bad = await Promise.resolve().then(() => rule.run({ ...ctx, params: { ...ctx.params, files: { mapping: "close:BidClose" } } })).catch((x: unknown) => x);
  assert.instance(bad, RuleError);
  assert.match((bad as Error).message, /files\.mapping: expected field=Column pairs/);
});

test.run();
