/**
 * rules/candles.ts run directly with a hand-made RuleContext: every source writes the candle
 * parquet format; outputs are byte-deterministic; bad settings are RuleErrors naming the param.
 */
import { createServer, type Server } from "node:http";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import rule from "../../rules/candles.js";
import { RuleError, type RuleContext } from "../../src/engine/rule.js";
import { readCandles } from "../../src/market/candle-store.js";
import { generateCandles, generateWeek } from "../../src/market/synthetic.js";
import { formatRfc3339Nanos, parseIsoDate, parseTimestamp } from "../../src/market/weeks.js";

const FIX = fileURLToPath(new URL("../../../test/fixtures/market/", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "candles-rule-"));
let n = 0;

test.after(() => {
  try {
    rmSync(root, { recursive: true, force: true });
  } catch (e) {
    console.error("after hook failed:", e);
  }
});

/** Runs the rule; returns the output path and the log lines. */
async function runRule(params: Record<string, unknown>, partition: Record<string, string> = {}, inputs: Record<string, string[]> = {}) {
  const out = join(root, "staging", `out-${n++}.parquet`);
  mkdirSync(join(root, "staging"), { recursive: true });
  const log: string[] = [];
  const ctx: RuleContext = {
    root,
    target: "candles",
    partition,
    params,
    inputs,
    outputs: { candles: out },
    log: (l) => log.push(l),
    signal: new AbortController().signal,
  };
  await rule.run(ctx);
  return { out, log };
}

async function ruleError(p: Promise<unknown>): Promise<RuleError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  assert.instance(e, RuleError, `expected a RuleError, got ${String(e)}`);
  return e as RuleError;
}

const W0 = parseIsoDate("2025-05-12")!;

test("synthetic: the partition's week, byte-identical parquet on a rerun", async () => {
  const params = { source: "synthetic", seed: "20250512", signal: "0.0", instrument: "USD_JPY", week_start: "2025-05-12", week_end: "2025-05-19" };
  const a = await runRule(params);
  const b = await runRule(params);
  assert.ok(readFileSync(a.out).equals(readFileSync(b.out)), "same bytes");
  assert.equal(await readCandles([a.out]), generateWeek("USD_JPY", W0, { seed: "20250512" }));
  assert.match(a.log.join("\n"), /USD_JPY 2025-05-12\.\.2025-05-19: \d{4} candles from synthetic/);
  // Defaults from the partition (week or candle_week axis; ISO week ids too).
  const c = await runRule({ source: "synthetic", seed: "20250512" }, { instrument: "USD_JPY", candle_week: "2025-W20" });
  assert.ok(readFileSync(a.out).equals(readFileSync(c.out)), "2025-W20 is the week of 2025-05-12");
});

test("files: declared inputs imported, filtered to the instrument-week, report logged", async () => {
  mkdirSync(join(root, "raw"), { recursive: true });
  const file = join(root, "raw", "export.csv.gz");
  copyFileSync(`${FIX}export.csv.gz`, file);
  const { out, log } = await runRule(
    { source: "files", instrument: "EUR_USD", week_start: "2020-08-24", week_end: "2020-08-31" },
    {},
    { files: [file] },
  );
  const candles = await readCandles([out]);
  // The Sunday 07:06 row is outside the FX week: dropped by default and counted.
  assert.equal(candles.map((k) => k.volume), [138, 252, 148, 134]);
  assert.is(candles[0]!.t, parseTimestamp("2020-08-25T07:03:00Z"));
  assert.match(log.join("\n"), /read 1 source\(s\): 6 rows, kept 5; dropped other_instrument 1/);
  assert.match(log.join("\n"), /quality: outside market hours dropped 1/);
  const kept = await runRule(
    { source: "files", instrument: "EUR_USD", week_start: "2020-08-24", week_end: "2020-08-31", market_hours: "keep" },
    {},
    { files: [file] },
  );
  assert.equal((await readCandles([kept.out])).map((k) => k.volume), [138, 252, 148, 134, 10], "keep replays the feed as it came");
  const e = await ruleError(runRule({ source: "files", instrument: "EUR_USD", week_start: "2020-08-24", market_hours: "error" }, {}, { files: [file] }));
  assert.match(e.message, /2020-08-30T07:06:00\.000Z \(Sunday\) is outside the FX market hours/);
  assert.match(e.message, /export\.csv\.gz/);
});

test("files: structural errors become RuleErrors naming file, line and field", async () => {
  const e = await ruleError(runRule({ source: "files", instrument: "EUR_USD", week_start: "2025-07-21" }, {}, { files: [`${FIX}non-numeric.csv`] }));
  assert.match(e.message, /non-numeric\.csv:3: low: not a number/);
  const e2 = await ruleError(runRule({ source: "files", instrument: "EUR_USD", week_start: "2025-07-21" }));
  assert.match(e2.message, /declared as deps under the name "files"/);
});

test("oanda: token from OANDA.env in the workspace, base_url from params", async () => {
  const history = generateCandles("EUR_USD", W0, W0 + 7 * 86_400_000, { seed: 1 });
  let authHeader: string | undefined;
  const server: Server = createServer((req, res) => {
    authHeader = req.headers.authorization;
    const u = new URL(req.url!, "http://127.0.0.1");
    const from = parseTimestamp(u.searchParams.get("from")!)!;
    const to = parseTimestamp(u.searchParams.get("to")!)!;
    const candles = history
      .filter((k) => k.t >= from && k.t < to)
      .map((k) => ({ complete: true, volume: k.volume, time: formatRfc3339Nanos(k.t), mid: { o: `${k.o}`, h: `${k.h}`, l: `${k.l}`, c: `${k.c}` } }));
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ candles }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const guard = setTimeout(() => server.closeAllConnections(), 20_000);
  try {
    const port = (server.address() as { port: number }).port;
    const saved = process.env.OANDA_API_TOKEN;
    delete process.env.OANDA_API_TOKEN;
    writeFileSync(join(root, "OANDA.env"), "OANDA_API_TOKEN=tok-from-file\n");
    try {
      const { out, log } = await runRule({ source: "oanda", instrument: "EUR_USD", week_start: "2025-05-12", oanda: { base_url: `http://127.0.0.1:${port}` } });
      assert.equal(await readCandles([out]), history);
      assert.is(authHeader, "Bearer tok-from-file");
      assert.match(log.join("\n"), /oanda: 3 request\(s\), 0 retries/);
      assert.not.match(log.join("\n"), "tok-from-file");
    } finally {
      if (saved !== undefined) process.env.OANDA_API_TOKEN = saved;
      rmSync(join(root, "OANDA.env"), { force: true });
    }
  } finally {
    clearTimeout(guard);
    server.closeAllConnections();
    server.close();
  }
});

test("bad params are RuleErrors that name the param", async () => {
  const base = { source: "synthetic", seed: 1, instrument: "EUR_USD", week_start: "2025-05-12" };
  assert.match((await ruleError(runRule({ ...base, source: "csv" }))).message, /unknown source "csv"/);
  assert.match((await ruleError(runRule({ ...base, instrument: "EURUSD" }))).message, /unknown instrument "EURUSD"/);
  assert.match((await ruleError(runRule({ ...base, week_start: "2025-13-01" }))).message, /week_start "2025-13-01" is not an ISO date/);
  assert.match((await ruleError(runRule({ ...base, week_end: "2025-05-12" }))).message, /week_end 2025-05-12 is not after week_start/);
  assert.match((await ruleError(runRule({ ...base, signal: "lots" }))).message, /signal must be a number in \[0, 1\]/);
  assert.match((await ruleError(runRule({ source: "synthetic", seed: 1, instrument: "EUR_USD" }))).message, /no week/);
  assert.match((await ruleError(runRule({ ...base, source: "valkey" }))).message, /needs param "valkey\.url"/);
  assert.match((await ruleError(runRule({ ...base, source: "oanda", oanda: { environment: "demo" } }))).message, /practice or live/);
  // A weekend-only range has no candles: an error unless allowed.
  const weekend = { ...base, week_start: "2025-05-17", week_end: "2025-05-18" };
  assert.match((await ruleError(runRule(weekend))).message, /no EUR_USD candles in \[2025-05-17, 2025-05-18\)/);
  const ok = await runRule({ ...weekend, allow_empty: true });
  assert.equal(await readCandles([ok.out]), []);
});

test.run();
