/**
 * The OANDA v20 client against a local node:http server speaking the same protocol: paging,
 * overlapping pages, incomplete candles, 429/5xx retries, 401, and the token kept secret.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Candle } from "../../src/market/candle.js";
import { fetchOandaCandles, loadOandaToken, OandaError } from "../../src/market/oanda.js";
import { generateCandles } from "../../src/market/synthetic.js";
import { formatRfc3339Nanos, parseIsoDate, parseTimestamp } from "../../src/market/weeks.js";

const TOKEN = "s3cret-token-0123456789abcdef";
const W0 = parseIsoDate("2025-05-12")!;
const HISTORY = generateCandles("EUR_USD", W0, W0 + 3 * 86_400_000, { seed: 4 });

/** What the fake server does with a request; default: serve HISTORY like OANDA. */
type Behaviour = (req: IncomingMessage, res: ServerResponse, url: URL) => boolean;
let behaviour: Behaviour | null = null;
const seen: URL[] = [];
let auth: (string | undefined)[] = [];
let server: Server;
let base = "";

function v20(k: Candle, complete = true) {
  return { complete, volume: k.volume, time: formatRfc3339Nanos(k.t), mid: { o: k.o.toFixed(5), h: k.h.toFixed(5), l: k.l.toFixed(5), c: k.c.toFixed(5) } };
}

/** OANDA-like: from/to inclusive (so consecutive pages overlap by one candle). */
function serve(res: ServerResponse, url: URL, incompleteAfter = Number.POSITIVE_INFINITY): void {
  const from = parseTimestamp(url.searchParams.get("from")!)!;
  const to = parseTimestamp(url.searchParams.get("to")!)!;
  const rows = HISTORY.filter((k) => k.t >= from && k.t <= to).map((k) => v20(k, k.t < incompleteAfter));
  if (rows.length > 5000) {
    res.writeHead(400, { "content-type": "application/json" });
    res.end(JSON.stringify({ errorMessage: "Maximum value for 'count' exceeded" }));
    return;
  }
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify({ instrument: "EUR_USD", granularity: "M1", candles: rows }));
}

test.before(async () => {
  try {
    server = createServer((req, res) => {
      const url = new URL(req.url!, "http://127.0.0.1");
      seen.push(url);
      auth.push(req.headers.authorization);
      if (behaviour && behaviour(req, res, url)) return;
      serve(res, url);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const addr = server.address();
    base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  } catch (e) {
    console.error("before hook failed:", e);
    throw e;
  }
});

test.after(() => {
  try {
    server?.closeAllConnections();
    server?.close();
  } catch (e) {
    console.error("after hook failed:", e);
  }
});

function reset(b: Behaviour | null = null): void {
  behaviour = b;
  seen.length = 0;
  auth = [];
}

/** Guard: a hung request fails the test instead of hanging the suite. */
function guard<T>(p: Promise<T>, ms = 15_000): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, rej) => (timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms`)), ms))),
  ]);
}

test("pages by from/to windows of at most pageSize minutes; overlaps de-duplicated; complete only", async () => {
  const cut = W0 + 2 * 86_400_000 + 3600_000;
  reset((_req, res, url) => {
    serve(res, url, cut); // candles at or after `cut` are still "forming"
    return true;
  });
  const from = W0 + 3600_000;
  const to = W0 + 2 * 86_400_000 + 7200_000;
  const { candles, report } = await guard(fetchOandaCandles("EUR_USD", from, to, { token: TOKEN, baseUrl: base, pageSize: 1000 }));
  const expected = HISTORY.filter((k) => k.t >= from && k.t < cut);
  assert.equal(candles, expected);
  const windows = Math.ceil((to - from) / (1000 * 60_000));
  assert.is(report.requests, windows);
  assert.is(seen.length, windows);
  for (const u of seen) {
    assert.is(u.pathname, "/v3/instruments/EUR_USD/candles");
    assert.is(u.searchParams.get("price"), "M");
    assert.is(u.searchParams.get("granularity"), "M1");
    const span = parseTimestamp(u.searchParams.get("to")!)! - parseTimestamp(u.searchParams.get("from")!)!;
    assert.ok(span <= 1000 * 60_000, "at most pageSize minutes per request");
  }
  assert.ok(auth.every((a) => a === `Bearer ${TOKEN}`));
  assert.ok(report.dropped.duplicate > 0, "inclusive page ends overlap");
  assert.ok(report.dropped.incomplete > 0);
});

test("the default page is 5000 minutes, so no request can exceed OANDA's 5000-candle limit", async () => {
  reset();
  const { candles } = await guard(fetchOandaCandles("EUR_USD", W0, W0 + 3 * 86_400_000, { token: TOKEN, baseUrl: base }));
  assert.equal(candles, HISTORY);
  assert.is(seen.length, Math.ceil((3 * 1440) / 5000));
});

test("429 with Retry-After and 503 are retried with backoff, then succeed", async () => {
  let n = 0;
  reset((_req, res) => {
    n++;
    if (n === 1) {
      res.writeHead(429, { "retry-after": "0" });
      res.end("{}");
      return true;
    }
    if (n === 2) {
      res.writeHead(503);
      res.end("busy");
      return true;
    }
    return false;
  });
  const retries: (number | string)[] = [];
  const t0 = Date.now();
  const { candles, report } = await guard(
    fetchOandaCandles("EUR_USD", W0, W0 + 3600_000, {
      token: TOKEN,
      baseUrl: base,
      backoffMs: 20,
      onRetry: (r) => retries.push(r.status),
    }),
  );
  assert.is(candles.length, HISTORY.filter((k) => k.t < W0 + 3600_000).length);
  assert.equal(retries, [429, 503]);
  assert.is(report.retries, 2);
  assert.is(report.requests, 3);
  assert.ok(Date.now() - t0 >= 40, "the 503 waited the exponential backoff (20 ms x 2)");
});

test("401 fails at once with a clear message and without the token", async () => {
  reset((_req, res) => {
    res.writeHead(401, { "content-type": "application/json" });
    res.end(JSON.stringify({ errorMessage: `Insufficient authorization to perform request with ${TOKEN}` }));
    return true;
  });
  try {
    await guard(fetchOandaCandles("EUR_USD", W0, W0 + 3600_000, { token: TOKEN, baseUrl: base, backoffMs: 1 }));
    assert.unreachable("should throw");
  } catch (e) {
    assert.instance(e, OandaError);
    assert.is((e as OandaError).status, 401);
    assert.match((e as Error).message, /authentication failed \(HTTP 401\).*OANDA_API_TOKEN/);
    assert.not.match((e as Error).message, TOKEN);
    assert.is(seen.length, 1, "no retry on 401");
  }
});

test("other 4xx names the server's message with the token redacted; 5xx gives up after maxRetries", async () => {
  reset((_req, res) => {
    res.writeHead(400, { "content-type": "application/json" });
    res.end(JSON.stringify({ errorMessage: `Invalid value specified for 'from' (token ${TOKEN})` }));
    return true;
  });
  let err = await fetchOandaCandles("EUR_USD", W0, W0 + 60_000, { token: TOKEN, baseUrl: base }).catch((e: Error) => e);
  assert.instance(err, OandaError);
  assert.match((err as Error).message, /HTTP 400: Invalid value specified for 'from' \(token \*\*\*\)/);
  assert.not.match((err as Error).message, TOKEN);

  reset((_req, res) => {
    res.writeHead(500);
    res.end();
    return true;
  });
  err = await guard(fetchOandaCandles("EUR_USD", W0, W0 + 60_000, { token: TOKEN, baseUrl: base, maxRetries: 2, backoffMs: 1 }).catch((e: Error) => e));
  assert.match((err as Error).message, /HTTP 500 after 3 attempts/);
  assert.is(seen.length, 3);
});

test("a malformed candle in a response is a located error", async () => {
  reset((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ candles: [v20(HISTORY[0]!), { time: "2025-05-12T00:01:00Z", volume: 3, complete: true, mid: { o: "1", h: "oops", l: "1", c: "1" } }] }));
    return true;
  });
  const err = await guard(fetchOandaCandles("EUR_USD", W0, W0 + 60_000, { token: TOKEN, baseUrl: base }).catch((e: Error) => e));
  assert.match((err as Error).message, /\/v3\/instruments\/EUR_USD\/candles \(page from 2025-05-12T00:00:00\.000000000Z\):2: mid\.h: not a number/);
});

test("unknown instruments never become a URL", async () => {
  reset();
  const err = await fetchOandaCandles("EUR_USD/../../x", W0, W0 + 60_000, { token: TOKEN, baseUrl: base }).catch((e: Error) => e);
  assert.match((err as Error).message, /unknown instrument/);
  assert.is(seen.length, 0);
});

test("token from the environment, else from an OANDA.env file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "oanda-token-"));
  try {
    assert.is(await loadOandaToken(undefined, { OANDA_API_TOKEN: " abc " }), "abc");
    const file = join(dir, "OANDA.env");
    writeFileSync(file, `# comment\nOANDA_ACCOUNT_ID=1\nexport OANDA_API_TOKEN="${TOKEN}"\n`);
    assert.is(await loadOandaToken(file, {}), TOKEN);
    const err = await loadOandaToken(join(dir, "missing.env"), {}).catch((e: Error) => e);
    assert.instance(err, OandaError);
    assert.match((err as Error).message, /no OANDA API token: set OANDA_API_TOKEN or put OANDA_API_TOKEN=\.\.\. in .*missing\.env/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
