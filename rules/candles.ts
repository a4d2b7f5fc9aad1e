/**
 * candles: the M1 mid candles of one instrument-week, from the configured source.
 *
 * Partition: [instrument, week] (any week-like axis: `week` or `candle_week`); the output holds
 * the candles with open time in [week_start, week_end).
 * Params:
 *   source       synthetic | oanda | files | valkey
 *   instrument   OANDA name (default: the partition's `instrument`)
 *   week_start   ISO date (default: the partition's week); week_end ISO date (default +7 days)
 *   seed, signal synthetic only: any seed; signal in [0, 1] (default 0 = martingale)
 *   files        { format: auto|oanda-json|oanda-v20|csv, mapping: {time, open, high, low,
 *                  close, volume, instrument} or "time=DateTime,open=BidOpen,...",
 *                  tz_offset: minutes or "+02:00", delimiter ("" = ",") }
 *   oanda        { environment: practice|live, base_url } (token: env OANDA_API_TOKEN or
 *                  OANDA.env in the workspace root; never in params, never logged)
 *   valkey       { url: redis://host:port/db }
 *   allow_empty  write an empty file instead of failing when the source has no candles (false;
 *                "true"/"false" from a var)
 *   price_side   bid | ask | mid: the side the source quotes (default mid; synthetic and OANDA
 *                `price=M` are mid, a files or Valkey source says what its feed is), recorded
 *                in the candle parquet's metadata and carried into the corpus
 *   market_hours drop | keep | error: rows outside the FX week (src/market/calendar.ts,
 *                Sunday 17:00 to Friday 17:00 New York) of a real source (default drop)
 *   off_minute   align | drop | error: rows not on a whole minute (default align: floored,
 *                the row on the minute wins)
 * The synthetic market is generated inside the spec's fixed calendar (Sunday 21:00 to Friday
 * 21:00 UTC) and is not filtered; its coverage is counted against that calendar.
 * Inputs:
 *   files        source: files only: the files to import (declare them as deps so a change
 *                to them rebuilds); rows of other instruments (a Pair column) and outside the
 *                week are ignored; earlier files win on duplicate times.
 * Outputs:
 *   candles      parquet, format of src/market/candle.ts (sorted, unique t), with the price side,
 *                the import counts and the week's coverage (expected trading minutes, present,
 *                missing, longest gap) in its metadata.
 * Logs the import report (rows kept and dropped by reason, what the quality pass changed) and
 * the coverage.
 *
 * oanda and valkey read the network: their inputs are invisible to the fingerprint. The week in
 * progress is refetched on every build (`final_after: "{candle_week.end}"` in targets/market.yaml)
 * until a run starts after the week ends; a revised history of a closed week needs
 * `--force candles`. Synthetic candles are a pure function of (seed, signal, instrument, week),
 * independent of the other partitions.
 */
import { join, relative } from "node:path";
import { defineRule, RuleError, type RuleContext } from "../src/engine/rule.js";
import type { Candle } from "../src/market/candle.js";
import { PRICE_SIDES, type PriceSide } from "../src/market/candle.js";
import { writeCandles } from "../src/market/candle-store.js";
import { weekCoverage } from "../src/market/calendar.js";
import { formatImportReport, ImportError, importCandleFiles, type CandleFileFormat, type CsvMapping, type ImportReport } from "../src/market/files.js";
import { isInstrument, INSTRUMENTS } from "../src/market/instruments.js";
import { applyQuality, formatQualityCounts, MARKET_HOURS_MODES, OFF_MINUTE_MODES, QualityError, type MarketHoursMode, type OffMinuteMode } from "../src/market/quality.js";
import { fetchOandaCandles, loadOandaToken, OandaError, OANDA_HOSTS } from "../src/market/oanda.js";
import { RespError } from "../src/market/resp.js";
import { generateCandles } from "../src/market/synthetic.js";
import { readValkeyCandles } from "../src/market/valkey.js";
import { DAY_MS, parseIsoDate, parseWeekId, formatIsoDate } from "../src/market/weeks.js";

const SOURCES = ["synthetic", "oanda", "files", "valkey"] as const;
type Source = (typeof SOURCES)[number];

function fail(msg: string): never {
  throw new RuleError(`candles: ${msg}`);
}

function str(v: unknown, name: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string" && typeof v !== "number") fail(`param "${name}" must be a string, got ${JSON.stringify(v)}`);
  return String(v);
}

function obj(v: unknown, name: string): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) fail(`param "${name}" must be a map, got ${JSON.stringify(v)}`);
  return v as Record<string, unknown>;
}

const MAPPING_FIELDS = ["time", "open", "high", "low", "close", "volume", "instrument"];

/**
 * `files.mapping`: a map {field: column}, or the string form a var gives,
 * `time=DateTime,open=BidOpen,...` ("" = none: columns found by their common names).
 */
function mappingParam(v: unknown): CsvMapping {
  if (typeof v !== "string") {
    const m = obj(v, "files.mapping");
    for (const k of Object.keys(m)) if (!MAPPING_FIELDS.includes(k)) fail(`param files.mapping: unknown field "${k}" (${MAPPING_FIELDS.join(", ")})`);
    return m as CsvMapping;
  }
  const out: Record<string, string> = {};
  for (const part of v.split(",").map((x) => x.trim()).filter(Boolean)) {
    const m = /^([a-z]+)=(.+)$/.exec(part);
    if (!m || !MAPPING_FIELDS.includes(m[1]!)) fail(`param files.mapping: expected field=Column pairs (fields ${MAPPING_FIELDS.join(", ")}), got "${part}"`);
    out[m[1]!] = m[2]!.trim();
  }
  return out as CsvMapping;
}

/** A param that is one of `allowed` (default `dflt`). */
function choice(v: unknown, name: string, allowed: readonly string[], dflt: string): string {
  const s = str(v, name) ?? dflt;
  if (!allowed.includes(s)) fail(`param "${name}" must be one of ${allowed.join(", ")}, got "${s}"`);
  return s;
}

/** A boolean param: true/false, or the strings "true"/"false" a var gives. */
function flag(v: unknown, name: string): boolean {
  if (v === undefined || v === null || v === false || v === "false" || v === "") return false;
  if (v === true || v === "true") return true;
  fail(`param "${name}" must be true or false, got ${JSON.stringify(v)}`);
}

/** The week range from params, else from the partition's week-like axis. */
function weekRange(ctx: RuleContext): [number, number] {
  const startText = str(ctx.params.week_start, "week_start");
  let start: number | null;
  if (startText !== undefined) {
    start = parseIsoDate(startText);
    if (start === null) fail(`param week_start "${startText}" is not an ISO date (YYYY-MM-DD)`);
  } else {
    const id = ctx.partition.week ?? ctx.partition.candle_week;
    if (id === undefined) fail("no week: set params.week_start or partition over week/candle_week");
    start = parseWeekId(id);
    if (start === null) fail(`partition week "${id}" is neither a Monday (YYYY-MM-DD) nor an ISO week (YYYY-Www)`);
  }
  const endText = str(ctx.params.week_end, "week_end");
  const end = endText === undefined ? start + 7 * DAY_MS : parseIsoDate(endText);
  if (end === null) fail(`param week_end "${endText}" is not an ISO date (YYYY-MM-DD)`);
  if (end <= start) fail(`week_end ${formatIsoDate(end)} is not after week_start ${formatIsoDate(start)}`);
  return [start, end];
}

async function load(ctx: RuleContext, source: Source, instrument: string, from: number, to: number): Promise<{ candles: Candle[]; report?: ImportReport }> {
  switch (source) {
    case "synthetic": {
      const seed = str(ctx.params.seed, "seed") ?? fail('source synthetic needs param "seed"');
      const signalText = str(ctx.params.signal, "signal") ?? "0";
      const signal = Number(signalText);
      if (!(signal >= 0 && signal <= 1)) fail(`param signal must be a number in [0, 1], got "${signalText}"`);
      return { candles: generateCandles(instrument, from, to, { seed, signal }) };
    }
    case "files": {
      const files = ctx.inputs.files ?? [];
      if (files.length === 0) {
        fail('source files needs the files declared as deps under the name "files": set the var, e.g. --set files=\'broker/{instrument}_M1.csv.gz\' (docs/real-data.md)');
      }
      const s = obj(ctx.params.files, "files");
      const { candles, report } = await importCandleFiles(files, {
        format: (str(s.format, "files.format") ?? "auto") as CandleFileFormat,
        mapping: mappingParam(s.mapping),
        tzOffset: s.tz_offset as number | string | undefined,
        ...(s.delimiter !== undefined && s.delimiter !== "" ? { delimiter: str(s.delimiter, "files.delimiter")! } : {}),
        instrument,
        fromMs: from,
        toMs: to,
      });
      ctx.log(`files: ${formatImportReport(report)}`);
      return { candles, report };
    }
    case "oanda": {
      const s = obj(ctx.params.oanda, "oanda");
      const environment = str(s.environment, "oanda.environment") || "practice";
      if (!Object.hasOwn(OANDA_HOSTS, environment)) fail(`param oanda.environment must be practice or live, got "${environment}"`);
      const baseUrl = str(s.base_url, "oanda.base_url");
      const token = await loadOandaToken(join(ctx.root, "OANDA.env"));
      const { candles, report } = await fetchOandaCandles(instrument, from, to, {
        token,
        environment: environment as keyof typeof OANDA_HOSTS,
        ...(baseUrl ? { baseUrl } : {}),
        signal: ctx.signal,
        onRetry: (r) => ctx.log(`oanda: ${r.status}, retry ${r.attempt} in ${r.waitMs} ms`),
      });
      ctx.log(`oanda: ${report.requests} request(s), ${report.retries} retries; ${formatImportReport(report)}`);
      return { candles, report };
    }
    case "valkey": {
      const s = obj(ctx.params.valkey, "valkey");
      const url = str(s.url, "valkey.url") || fail('source valkey needs param "valkey.url" (--set valkey_url=redis://host:6379/0)');
      const { candles, report } = await readValkeyCandles({ url, instrument, fromMs: from, toMs: to });
      ctx.log(`valkey: ${formatImportReport(report)}`);
      return { candles, report };
    }
  }
}

export default defineRule({
  describe: "M1 mid candles of one instrument-week (synthetic, OANDA, files or Valkey)",
  async run(ctx) {
    const out = ctx.outputs.candles ?? fail('declare an output named "candles"');
    const source = str(ctx.params.source, "source") ?? fail('param "source" is required');
    if (!(SOURCES as readonly string[]).includes(source)) fail(`unknown source "${source}" (expected ${SOURCES.join(", ")})`);
    const instrument = str(ctx.params.instrument, "instrument") ?? ctx.partition.instrument ?? fail("no instrument: set params.instrument or partition over instrument");
    // Synthetic and OANDA need the instrument's facts; a broker file or stream may carry others.
    if ((source === "synthetic" || source === "oanda") && !isInstrument(instrument)) {
      fail(`unknown instrument "${instrument}" for source ${source} (expected one of ${INSTRUMENTS.join(", ")})`);
    }
    if (!/^[A-Z0-9]{2,}_[A-Z0-9]{2,}$/.test(instrument)) fail(`unknown instrument "${instrument}" (expected an OANDA name like EUR_USD)`);
    const side = choice(ctx.params.price_side, "price_side", PRICE_SIDES, "mid") as PriceSide;
    if (source === "synthetic" && side !== "mid") fail(`source synthetic quotes mid prices; price_side is "${side}"`);
    const marketHours = choice(ctx.params.market_hours, "market_hours", MARKET_HOURS_MODES, "drop") as MarketHoursMode;
    const offMinute = choice(ctx.params.off_minute, "off_minute", OFF_MINUTE_MODES, "align") as OffMinuteMode;
    const [from, to] = weekRange(ctx);
    let candles: Candle[];
    let report: ImportReport | undefined;
    let quality: ReturnType<typeof applyQuality>["counts"] | undefined;
    try {
      ({ candles, report } = await load(ctx, source as Source, instrument, from, to));
      if (source !== "synthetic") {
        const where = `${instrument} ${source} (${(report?.files ?? []).map((f) => relative(ctx.root, f) || f).join(", ")})`;
        ({ candles, counts: quality } = applyQuality(candles, { marketHours, offMinute, where }));
        ctx.log(`quality: ${formatQualityCounts(quality)}`);
      }
    } catch (e) {
      // Expected failures of the sources are shown as is, without a stack.
      if (e instanceof ImportError || e instanceof OandaError || e instanceof RespError || e instanceof QualityError) throw new RuleError(`candles: ${e.message}`);
      throw e;
    }
    if (candles.length === 0 && !flag(ctx.params.allow_empty, "allow_empty")) {
      fail(`source ${source} has no ${instrument} candles in [${formatIsoDate(from)}, ${formatIsoDate(to)}) (--set allow_empty=true to accept weeks without data)`);
    }
    const coverage = weekCoverage(candles, from, to, source === "synthetic" ? "fixed" : "fx");
    ctx.log(`${instrument} ${formatIsoDate(from)}..${formatIsoDate(to)}: ${candles.length} candles from ${source} (${side})`);
    ctx.log(`coverage: ${coverage.present} of ${coverage.expected} trading minutes, ${coverage.missing} missing, longest gap ${coverage.longest_gap_min} min${coverage.longest_gap_start ? ` from ${coverage.longest_gap_start}` : ""}`);
    const imported = report ? { rows: report.rows, kept: candles.length, dropped: report.dropped, ...(quality ? { quality } : {}) } : undefined;
    await writeCandles(out, candles, {
      price_side: side,
      instrument,
      week_start: formatIsoDate(from),
      coverage,
      ...(imported ? { import: imported } : {}),
    });
  },
});
