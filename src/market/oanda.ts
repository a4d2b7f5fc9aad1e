/**
 * OANDA v20 REST client for M1 mid candles:
 *   GET {base}/v3/instruments/{instrument}/candles?price=M&granularity=M1&from=..&to=..
 *   Authorization: Bearer <token>
 * OANDA refuses more than 5000 candles per request, so the range is paged by `from` in
 * windows of 5000 minutes (at most 5000 M1 candles each). Only `complete: true` candles are
 * kept; pages may overlap at their edges, so candles are de-duplicated by time.
 * 429 and 5xx answers (and dropped connections) are retried with exponential backoff,
 * honouring Retry-After; 401/403 fail at once. The token never appears in an error or a log.
 */
import { readFile } from "node:fs/promises";
import type { Candle } from "./candle.js";
import { cleanCandles, emptyDropCounts, ImportError, v20Candle, type ImportReport, type RawCandle } from "./files.js";
import { instrumentSpec } from "./instruments.js";
import { formatRfc3339Nanos, MINUTE_MS } from "./weeks.js";

/** Hosts of the two OANDA environments. */
export const OANDA_HOSTS = {
  practice: "https://api-fxpractice.oanda.com",
  live: "https://api-fxtrade.oanda.com",
} as const;

/** Client settings. */
export interface OandaOptions {
  readonly token: string;
  /** practice (default) or live; ignored when baseUrl is set. */
  readonly environment?: keyof typeof OANDA_HOSTS;
  /** Explicit base URL (tests: `http://127.0.0.1:PORT`). */
  readonly baseUrl?: string;
  /** Retries after the first attempt of a request (default 5). */
  readonly maxRetries?: number;
  /** First backoff in ms, doubled per retry (default 500). */
  readonly backoffMs?: number;
  /** Cap on one wait, Retry-After included, so a build never sleeps for hours (default 60 s). */
  readonly maxBackoffMs?: number;
  /** Per-request timeout in ms (default 30 s). */
  readonly timeoutMs?: number;
  /** Candles per request, at most 5000 (default 5000). */
  readonly pageSize?: number;
  readonly signal?: AbortSignal;
  /** Called before each retry wait (for logs). */
  readonly onRetry?: (info: { status: number | string; waitMs: number; attempt: number }) => void;
}

/** An OANDA request failed for good. `status` is the HTTP status (0 for a network error). */
export class OandaError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = "OandaError";
  }
}

/** What a download did. */
export interface OandaReport extends ImportReport {
  /** HTTP requests made, retries included. */
  requests: number;
  retries: number;
}

/**
 * The API token: `OANDA_API_TOKEN` from the environment, else from an env file
 * (`OANDA_API_TOKEN=...`, `export` and quotes allowed). Throws OandaError when neither has it.
 */
export async function loadOandaToken(envFile?: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const fromEnv = env.OANDA_API_TOKEN?.trim();
  if (fromEnv) return fromEnv;
  if (envFile !== undefined) {
    let text: string | null = null;
    try {
      text = await readFile(envFile, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    if (text !== null) {
      for (const line of text.split("\n")) {
        const m = /^\s*(?:export\s+)?OANDA_API_TOKEN\s*=\s*(.*?)\s*$/.exec(line);
        if (m) {
          const v = m[1]!.replace(/^(['"])(.*)\1$/, "$2");
          if (v) return v;
        }
      }
    }
  }
  throw new OandaError(
    `no OANDA API token: set OANDA_API_TOKEN${envFile ? ` or put OANDA_API_TOKEN=... in ${envFile}` : ""}`,
    0,
  );
}

/** M1 mid candles of `instrument` with open times in [fromMs, toMs), complete ones only. */
export async function fetchOandaCandles(
  instrument: string,
  fromMs: number,
  toMs: number,
  opts: OandaOptions,
): Promise<{ candles: Candle[]; report: OandaReport }> {
  instrumentSpec(instrument); // a typo must not become a URL
  const base = (opts.baseUrl ?? OANDA_HOSTS[opts.environment ?? "practice"]).replace(/\/+$/, "");
  const pageSize = Math.min(5000, opts.pageSize ?? 5000);
  const stats = { requests: 0, retries: 0 };
  const rows: RawCandle[] = [];
  // OANDA rejects a `to` in the future (HTTP 400): the week in progress is read up to now.
  const until = Math.min(toMs, Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS);
  for (let from = fromMs; from < until; from += pageSize * MINUTE_MS) {
    const to = Math.min(until, from + pageSize * MINUTE_MS);
    const url =
      `${base}/v3/instruments/${instrument}/candles?price=M&granularity=M1` +
      `&from=${encodeURIComponent(formatRfc3339Nanos(from))}&to=${encodeURIComponent(formatRfc3339Nanos(to))}`;
    const body = await getJson(url, opts, stats);
    const list = (body as { candles?: unknown }).candles;
    // Errors name the page and the candle's 1-based index in it (a response has no lines).
    const where = `${redactUrl(url)} (page from ${formatRfc3339Nanos(from)})`;
    if (!Array.isArray(list)) throw new ImportError(where, 1, "candles", "missing or not an array in the response");
    list.forEach((el, i) => rows.push(v20Candle(el, where, i + 1, `candles[${i}]`)));
  }
  const dropped = emptyDropCounts();
  const candles = cleanCandles(rows, dropped, { fromMs, toMs });
  return {
    candles,
    report: { files: [base], rows: rows.length, kept: candles.length, dropped, requests: stats.requests, retries: stats.retries },
  };
}

/** The URL without its query string (errors stay short; the token is never in a URL anyway). */
function redactUrl(url: string): string {
  return url.replace(/\?.*$/, "");
}

const RETRYABLE = new Set([429, 500, 502, 503, 504]);

async function getJson(url: string, opts: OandaOptions, stats: { requests: number; retries: number }): Promise<unknown> {
  const maxRetries = opts.maxRetries ?? 5;
  const backoff = opts.backoffMs ?? 500;
  const cap = opts.maxBackoffMs ?? 60_000;
  const path = redactUrl(url);
  for (let attempt = 0; ; attempt++) {
    stats.requests++;
    let status: number | string;
    let retryAfter: string | null = null;
    try {
      const timeout = AbortSignal.timeout(opts.timeoutMs ?? 30_000);
      const res = await fetch(url, {
        headers: { Authorization: `Bearer ${opts.token}`, Accept: "application/json", "Accept-Datetime-Format": "RFC3339" },
        signal: opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout,
      });
      const text = await res.text();
      if (res.ok) {
        try {
          return JSON.parse(text);
        } catch {
          throw new OandaError(`OANDA ${path}: response is not JSON`, res.status);
        }
      }
      if (res.status === 401 || res.status === 403) {
        throw new OandaError(
          `OANDA ${path}: authentication failed (HTTP ${res.status}); check OANDA_API_TOKEN and the environment (practice/live)`,
          res.status,
        );
      }
      if (!RETRYABLE.has(res.status)) {
        throw new OandaError(`OANDA ${path}: HTTP ${res.status}: ${serverMessage(text, opts.token)}`, res.status);
      }
      status = res.status;
      retryAfter = res.headers.get("retry-after");
    } catch (e) {
      if (e instanceof OandaError) throw e;
      if (opts.signal?.aborted) throw new OandaError(`OANDA ${path}: cancelled`, 0);
      status = (e as Error).name === "TimeoutError" ? "timeout" : "network error";
    }
    if (attempt >= maxRetries) {
      throw new OandaError(`OANDA ${path}: ${typeof status === "number" ? `HTTP ${status}` : status} after ${attempt + 1} attempts`, typeof status === "number" ? status : 0);
    }
    const waitMs = Math.min(cap, retryAfterMs(retryAfter) ?? backoff * 2 ** attempt);
    opts.onRetry?.({ status, waitMs, attempt: attempt + 1 });
    stats.retries++;
    await new Promise((r) => setTimeout(r, waitMs));
  }
}

/** Retry-After as delta-seconds or an HTTP date → ms; null when absent or unreadable. */
function retryAfterMs(v: string | null): number | null {
  if (v === null) return null;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}

/** OANDA's `errorMessage`, shortened, with the token removed should a server echo it. */
function serverMessage(text: string, token: string): string {
  let msg = text;
  try {
    const j = JSON.parse(text) as { errorMessage?: unknown };
    if (typeof j.errorMessage === "string") msg = j.errorMessage;
  } catch {
    /* not JSON: keep the text */
  }
  if (token) msg = msg.split(token).join("***");
  return msg.slice(0, 200);
}
