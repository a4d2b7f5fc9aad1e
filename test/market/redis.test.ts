/**
 * Against a real redis-server: the RESP client, the Valkey candle reader (RFC 3339 / epoch
 * seconds / epoch ms members) and `dagbuild check-gates` (exit codes 0/2/3/1 and --json).
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { run as checkGates } from "../../src/cli/commands/check-gates.js";
import type { Candle } from "../../src/market/candle.js";
import { ImportError } from "../../src/market/files.js";
import { INSTRUMENTS } from "../../src/market/instruments.js";
import { parseRedisUrl, RespClient, RespError } from "../../src/market/resp.js";
import { generateCandles } from "../../src/market/synthetic.js";
import { readValkeyCandles } from "../../src/market/valkey.js";
import candlesRule from "../../rules/candles.js";
import { readCandles } from "../../src/market/candle-store.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatRfc3339Nanos, parseIsoDate } from "../../src/market/weeks.js";
import { startRedis, type RedisHandle } from "./redis-server.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
let redis: RedisHandle | null = null;
let client: RespClient | null = null;
let setupFailed = false;

// Whole-file guard: a hung server or socket must not hang CI.
const guardTimer = setTimeout(() => {
  console.error("redis.test: guard timeout (60 s)");
  void redis?.stop();
  process.exit(1);
}, 60_000);
guardTimer.unref();

test.before(async () => {
  try {
    redis = await startRedis();
    if (redis) client = await RespClient.connect(redis.url);
    else console.log("SKIP redis tests: redis-server not found on PATH");
  } catch (e) {
    setupFailed = true;
    console.error("before hook failed:", e);
  }
});

test.after(async () => {
  try {
    client?.close();
    await redis?.stop();
  } catch (e) {
    console.error("after hook failed:", e);
  }
});

/** Runs body only with a server; fails the test if setup failed (uvu ignores hook errors). */
function withRedis(name: string, body: (c: RespClient, url: string) => Promise<void>): void {
  test(name, async () => {
    assert.not.ok(setupFailed, "redis setup failed (see log)");
    if (!redis || !client) {
      console.log(`SKIP ${name}: no redis-server`);
      return;
    }
    await body(client, redis.url);
  });
}

/** Captures what a CLI command writes to stdout and stderr. */
async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  let out = "";
  let err = "";
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  try {
    return { code: await fn(), out, err };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

const W0 = parseIsoDate("2025-05-12")!;

test("Redis URLs parse; the password never shows in errors", () => {
  assert.equal(parseRedisUrl("redis://127.0.0.1:6380/2"), { host: "127.0.0.1", port: 6380, db: 2 });
  assert.equal(parseRedisUrl("127.0.0.1:7000"), { host: "127.0.0.1", port: 7000, db: 0 });
  assert.equal(parseRedisUrl("redis://:pw@localhost/0").password, "pw");
  try {
    parseRedisUrl("rediss://:hunter2@127.0.0.1:6380");
    assert.unreachable();
  } catch (e) {
    assert.instance(e, RespError);
    assert.not.match((e as Error).message, "hunter2");
  }
});

withRedis("RESP client: strings, integers, nulls, arrays, error replies, pipelining, binary-safe bulk", async (c) => {
  assert.is(await c.command("SET", "k", "naïve ✓\r\nline"), "OK");
  assert.is(await c.command("GET", "k"), "naïve ✓\r\nline");
  assert.is(await c.command("GET", "nope"), null);
  assert.is(await c.command("DEL", "k"), 1);
  const many = await Promise.all(Array.from({ length: 200 }, (_, i) => c.command("ECHO", `v${i}`)));
  assert.equal(many, Array.from({ length: 200 }, (_, i) => `v${i}`));
  const err = await c.command("NOSUCHCOMMAND").catch((e: Error) => e);
  assert.instance(err, RespError);
  assert.match((err as Error).message, /unknown command/i);
  assert.is(await c.command("PING"), "PONG", "connection still usable after an error reply");
});

/** Writes candles as the live stack does; `t` and score in the given unit. */
async function writeCandleSet(c: RespClient, inst: string, candles: readonly Candle[], unit: "rfc3339" | "s" | "ms", extra: [number, string][] = []) {
  const key = `md:candles:${inst}:M1`;
  await c.command("DEL", key);
  const args: (string | number)[] = [];
  for (const k of candles) {
    const t = unit === "rfc3339" ? formatRfc3339Nanos(k.t) : unit === "s" ? k.t / 1000 : k.t;
    const score = unit === "s" ? k.t / 1000 : k.t;
    args.push(score, JSON.stringify({ t, mid: { o: String(k.o), h: String(k.h), l: String(k.l), c: String(k.c) }, v: k.volume, complete: true }));
  }
  for (const [score, member] of extra) args.push(score, member);
  for (let i = 0; i < args.length; i += 2000) await c.command("ZADD", key, ...args.slice(i, i + 2000));
}

withRedis("Valkey candle reader: RFC 3339, epoch seconds and epoch ms members; [from, to) range", async (c, url) => {
  const week = generateCandles("GBP_USD", W0, W0 + 2 * 86_400_000, { seed: 2 });
  const from = W0 + 3600_000;
  const to = W0 + 86_400_000 + 1800_000;
  const want = week.filter((k) => k.t >= from && k.t < to);
  for (const unit of ["rfc3339", "s", "ms"] as const) {
    await writeCandleSet(c, "GBP_USD", week, unit);
    const { candles, report } = await readValkeyCandles({ url, instrument: "GBP_USD", fromMs: from, toMs: to });
    assert.equal(candles, want, `unit ${unit}`);
    assert.is(report.kept, want.length);
  }
  // A missing key is no candles, not an error.
  const none = await readValkeyCandles({ url, instrument: "NZD_USD", fromMs: from, toMs: to });
  assert.is(none.candles.length, 0);
});

withRedis("Valkey candle reader: incomplete and invalid members dropped and counted; garbage located", async (c, url) => {
  const few = generateCandles("AUD_USD", W0, W0 + 10 * 60_000, { seed: 2 });
  const t = W0 + 20 * 60_000;
  await writeCandleSet(c, "AUD_USD", few, "ms", [
    [t, JSON.stringify({ t, mid: { o: 1, h: 1, l: 1, c: 1 }, v: 3, complete: false })],
    [t + 60_000, JSON.stringify({ t: t + 60_000, mid: { o: 1, h: 0.9, l: 1, c: 1 }, v: 3, complete: true })],
  ]);
  const { candles, report } = await readValkeyCandles({ url, instrument: "AUD_USD", fromMs: W0, toMs: W0 + 3600_000 });
  assert.equal(candles, few);
  assert.is(report.dropped.incomplete, 1);
  assert.is(report.dropped.high_below_body, 1);

  await c.command("ZADD", "md:candles:AUD_USD:M1", t + 120_000, "{not json");
  const err = await readValkeyCandles({ url, instrument: "AUD_USD", fromMs: W0, toMs: W0 + 3600_000 }).catch((e: Error) => e);
  assert.instance(err, ImportError);
  assert.equal([(err as ImportError).file, (err as ImportError).line, (err as ImportError).field], ["md:candles:AUD_USD:M1", few.length + 3, "member"]);
});

withRedis("candles rule with source valkey writes the week's parquet", async (c, url) => {
  const week = generateCandles("USD_CHF", W0, W0 + 7 * 86_400_000, { seed: 6 });
  await writeCandleSet(c, "USD_CHF", generateCandles("USD_CHF", W0 - 86_400_000, W0 + 8 * 86_400_000, { seed: 6 }), "rfc3339");
  const dir = mkdtempSync(join(tmpdir(), "valkey-rule-"));
  try {
    const log: string[] = [];
    await candlesRule.run({
      root: dir,
      target: "candles",
      partition: { instrument: "USD_CHF", week: "2025-05-12" },
      params: { source: "valkey", valkey: { url } },
      inputs: {},
      outputs: { candles: join(dir, "out.parquet") },
      log: (l) => log.push(l),
      signal: new AbortController().signal,
    });
    assert.equal(await readCandles([join(dir, "out.parquet")]), week);
    assert.match(log.join("\n"), new RegExp(`valkey: read 1 source\\(s\\): ${week.length} rows, kept ${week.length}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const NOW = Date.UTC(2025, 10, 14, 12, 0, 0);

async function setGates(c: RespClient, ageS: Record<string, number | null>, key: "ts_ms" | "end_ms" = "ts_ms") {
  for (const inst of INSTRUMENTS) {
    const age = ageS[inst] ?? 90;
    if (ageS[inst] === null) await c.command("DEL", `gate:last:${inst}`);
    else await c.command("SET", `gate:last:${inst}`, JSON.stringify({ instrument: inst, [key]: NOW - age * 1000, structure: { hazard: 0.4 } }));
  }
}

withRedis("check-gates: 0 healthy, 3 stale, 2 missing (outranks stale), --json, --instruments", async (c, url) => {
  const args = ["--redis", url, "--threshold", "300", "--now-ms", String(NOW)];
  await setGates(c, {});
  let r = await capture(() => checkGates(args));
  assert.is(r.code, 0, r.out + r.err);
  assert.match(r.out, /EUR_USD\s+ok\s+age 90\.0 s/);
  assert.match(r.out, /^ok \(threshold 300 s\)$/m);

  await setGates(c, { USD_JPY: 301 });
  r = await capture(() => checkGates([...args, "--json"]));
  assert.is(r.code, 3);
  const j = JSON.parse(r.out);
  assert.is(j.status, "stale");
  assert.is(j.threshold_s, 300);
  assert.is(j.now_ms, NOW);
  assert.equal(j.instruments.find((x: { instrument: string }) => x.instrument === "USD_JPY"), { age_s: 301, instrument: "USD_JPY", status: "stale", ts_ms: NOW - 301_000 });
  assert.equal(Object.keys(j), ["instruments", "now_ms", "status", "threshold_s"], "sorted keys");

  r = await capture(() => checkGates([...args, "--instruments", "EUR_USD,GBP_USD"]));
  assert.is(r.code, 0, "only the named instruments count");

  await setGates(c, { USD_JPY: 301, NZD_USD: null });
  r = await capture(() => checkGates([...args, "--json"]));
  assert.is(r.code, 2);
  assert.is(JSON.parse(r.out).status, "no_gates");
  assert.match(r.out, /"status": "missing"/);

  await setGates(c, {}, "end_ms");
  r = await capture(() => checkGates(args));
  assert.is(r.code, 0, "legacy end_ms accepted");

  await c.command("SET", "gate:last:EUR_USD", "{garbage");
  r = await capture(() => checkGates(args));
  assert.is(r.code, 2);
  assert.match(r.out, /EUR_USD\s+invalid\s+not JSON/);
});

withRedis("check-gates: usage and connection errors exit 1 and never print a password", async (_c, url) => {
  let r = await capture(() => checkGates(["--redis", url]));
  assert.is(r.code, 1);
  assert.match(r.err, /--threshold SECONDS is required/);
  r = await capture(() => checkGates(["--redis", url, "--threshold", "-5"]));
  assert.is(r.code, 1);
  const port = new URL(url).port;
  await redis!.stop();
  r = await capture(() => checkGates(["--redis", `redis://:hunter2@127.0.0.1:${port}/0`, "--threshold", "60"]));
  assert.is(r.code, 1);
  assert.match(r.err, /cannot connect to Redis at 127\.0\.0\.1:\d+/);
  assert.not.match(r.err, "hunter2");
  redis = await startRedis(); // later tests (if any) get a server again
  client?.close();
  client = redis ? await RespClient.connect(redis.url) : null;
});

withRedis("bin/dagbuild check-gates exits with the contract's codes", async (c, url) => {
  await setGates(c, { GBP_USD: 1000 });
  const code = await new Promise<number | null>((resolve, reject) => {
    const p = spawn(process.execPath, [`${ROOT}bin/dagbuild`, "check-gates", "--redis", url, "--threshold", "300", "--now-ms", String(NOW)], { stdio: "ignore" });
    const timer = setTimeout(() => p.kill("SIGKILL"), 20_000);
    p.on("error", reject);
    p.on("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  assert.is(code, 3);
});

test.run();
