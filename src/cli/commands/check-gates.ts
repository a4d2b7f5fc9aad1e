/**
 * `dagbuild check-gates --redis URL --threshold SECONDS [--instruments A,B] [--json] [--now-ms MS]`:
 * the live stack's gate freshness probe (gate-spec section 10), for cron and monitoring.
 *
 * Reads `gate:last:{INST}` (JSON of the newest gate; its time is `ts_ms`, or `end_ms` in older
 * writers) for every instrument and reports each one's age. A gate's ts_ms is the open time of
 * its last candle, so even a fresh gate is at least 60 s old: choose the threshold accordingly.
 *
 * Exit status (the legacy CLI contract): 0 healthy; 2 no gates (some instrument has no usable
 * `gate:last`); 3 stale (some age > threshold); 1 usage or connection error.
 * `--json` prints one object with sorted keys:
 *   {instruments: [{age_s, instrument, status: ok|stale|missing|invalid, ts_ms}], now_ms,
 *    status: ok|no_gates|stale, threshold_s}
 */
import { stableStringify } from "../../engine/hash.js";
import { INSTRUMENTS } from "../../market/instruments.js";
import { RespClient, RespError, redact } from "../../market/resp.js";

/** One instrument's freshness. */
export interface GateAge {
  readonly instrument: string;
  readonly status: "ok" | "stale" | "missing" | "invalid";
  /** Time of the newest gate; null when missing or invalid. */
  readonly ts_ms: number | null;
  /** now - ts_ms in seconds; null when missing or invalid. */
  readonly age_s: number | null;
  /** Why a gate is invalid. */
  readonly detail?: string;
}

/** The whole report, as `--json` prints it. */
export interface GateFreshness {
  readonly status: "ok" | "no_gates" | "stale";
  readonly now_ms: number;
  readonly threshold_s: number;
  readonly instruments: readonly GateAge[];
}

/** Exit status for each overall status. */
export const EXIT_CODES = { ok: 0, no_gates: 2, stale: 3 } as const;

const USAGE = "usage: dagbuild check-gates --redis URL --threshold SECONDS [--instruments A,B] [--json] [--now-ms MS]\n";

interface Options {
  redis: string;
  threshold: number;
  instruments: string[];
  json: boolean;
  nowMs: number;
}

class UsageError extends Error {}

function parse(argv: readonly string[]): Options {
  let redis: string | undefined;
  let threshold: number | undefined;
  let instruments: string[] = [...INSTRUMENTS];
  let json = false;
  let nowMs = Date.now();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.startsWith("--") ? a.indexOf("=") : -1;
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const value = (): string => {
      if (eq > 0) return a.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case "--redis":
        redis = value();
        break;
      case "--threshold": {
        const v = value();
        threshold = Number(v);
        if (!(threshold > 0) || !Number.isFinite(threshold)) throw new UsageError(`--threshold expects seconds > 0, got "${v}"`);
        break;
      }
      case "--instruments":
        instruments = value()
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean);
        if (instruments.length === 0) throw new UsageError("--instruments is empty");
        break;
      case "--json":
        json = true;
        break;
      case "--now-ms": {
        const v = value();
        nowMs = Number(v);
        if (!Number.isInteger(nowMs)) throw new UsageError(`--now-ms expects an integer, got "${v}"`);
        break;
      }
      default:
        throw new UsageError(`unknown argument "${a}"`);
    }
  }
  if (redis === undefined) throw new UsageError("--redis URL is required");
  if (threshold === undefined) throw new UsageError("--threshold SECONDS is required");
  return { redis, threshold, instruments, json, nowMs };
}

/** Freshness of one `gate:last` value (null = key absent). */
export function gateAge(instrument: string, raw: string | null, nowMs: number, thresholdS: number): GateAge {
  if (raw === null) return { instrument, status: "missing", ts_ms: null, age_s: null };
  let gate: unknown;
  try {
    gate = JSON.parse(raw);
  } catch {
    return { instrument, status: "invalid", ts_ms: null, age_s: null, detail: "not JSON" };
  }
  const g = (gate ?? {}) as Record<string, unknown>;
  const v = g.ts_ms ?? g.end_ms;
  const ts = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
  if (!Number.isFinite(ts)) return { instrument, status: "invalid", ts_ms: null, age_s: null, detail: "no numeric ts_ms or end_ms" };
  const age = (nowMs - ts) / 1000;
  return { instrument, status: age > thresholdS ? "stale" : "ok", ts_ms: ts, age_s: age };
}

/** Overall status: a missing or invalid gate outranks a stale one. */
export function overall(ages: readonly GateAge[]): GateFreshness["status"] {
  if (ages.some((a) => a.status === "missing" || a.status === "invalid")) return "no_gates";
  if (ages.some((a) => a.status === "stale")) return "stale";
  return "ok";
}

/** Reads `gate:last:*` for the instruments (one MGET round trip). */
export async function checkGates(url: string, instruments: readonly string[], nowMs: number, thresholdS: number): Promise<GateFreshness> {
  const client = await RespClient.connect(url);
  let values: (string | null)[];
  try {
    values = (await client.command("MGET", ...instruments.map((i) => `gate:last:${i}`))) as (string | null)[];
  } finally {
    client.close();
  }
  const ages = instruments.map((inst, i) => gateAge(inst, values[i] ?? null, nowMs, thresholdS));
  return { status: overall(ages), now_ms: nowMs, threshold_s: thresholdS, instruments: ages };
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(USAGE);
    return 0;
  }
  let o: Options;
  try {
    o = parse(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`check-gates: ${e.message}\n${USAGE}`);
    return 1;
  }
  let report: GateFreshness;
  try {
    report = await checkGates(o.redis, o.instruments, o.nowMs, o.threshold);
  } catch (e) {
    if (!(e instanceof RespError)) throw e;
    process.stderr.write(`check-gates: ${e.message} (${redact(o.redis)})\n`);
    return 1;
  }
  if (o.json) process.stdout.write(stableStringify(report));
  else {
    for (const a of report.instruments) {
      const age = a.age_s === null ? "" : ` age ${a.age_s.toFixed(1)} s (gate ${new Date(a.ts_ms!).toISOString()})`;
      process.stdout.write(`${a.instrument.padEnd(8)} ${a.status.padEnd(7)}${age}${a.detail ? ` ${a.detail}` : ""}\n`);
    }
    process.stdout.write(`${report.status} (threshold ${o.threshold} s)\n`);
  }
  return EXIT_CODES[report.status];
}
