/**
 * Candle file importers: OANDA JSON candle arrays, OANDA v20 API responses saved to disk, and
 * OHLCV CSV (any column names through a mapping, a fixed UTC offset for zone-less times;
 * gzipped or not, detected by the gzip magic bytes).
 *
 * Two kinds of problems, handled differently:
 * - Structural problems (a missing column or field, a non-numeric price, an unparseable time,
 *   malformed JSON) throw an `ImportError` naming the file, the line and the field: a file we
 *   cannot read as candles must stop the build, never turn into silently wrong candles.
 * - Bad *data* in well-formed rows (what real feeds contain: duplicates across pages, h below
 *   the body, non-positive prices, incomplete candles) is dropped, and every drop is counted
 *   by reason in the `ImportReport`.
 *
 * Cleaning order (`cleanCandles`): rows outside the requested range and of another instrument
 * are set aside first, then invalid rows are dropped, then duplicates by open time are removed
 * keeping the first in input order (so a valid later copy beats an invalid first one), then
 * the result is sorted by time.
 */
import type { Candle } from "./candle.js";
import { InputFileError, readTextFile } from "./read-text.js";
import { parseFlexibleTime, parseUtcOffset } from "./weeks.js";

/** The file shapes the importer reads. `auto` looks at the first character: `[`, `{` or CSV. */
export type CandleFileFormat = "auto" | "oanda-json" | "oanda-v20" | "csv";

/**
 * CSV column names for each candle field (header names, case-insensitive). Unset fields are
 * found by common names: time|timestamp|datetime|date, open|o, high|h, low|l, close|c,
 * volume|vol|v|ticks|tick_volume, and optionally instrument|pair|symbol.
 */
export interface CsvMapping {
  readonly time?: string;
  readonly open?: string;
  readonly high?: string;
  readonly low?: string;
  readonly close?: string;
  readonly volume?: string;
  readonly instrument?: string;
}

/** Import settings. */
export interface ImportOptions {
  readonly format?: CandleFileFormat;
  readonly mapping?: CsvMapping;
  /** UTC offset of zone-less CSV times: minutes east of UTC or `+02:00`. Default UTC. */
  readonly tzOffset?: number | string;
  /** CSV field separator (default `,`). */
  readonly delimiter?: string;
  /** Keep only rows of this instrument when the file has an instrument column. */
  readonly instrument?: string;
  /** Keep only open times in [fromMs, toMs). */
  readonly fromMs?: number;
  readonly toMs?: number;
}

/** Counts of rows set aside, by reason. */
export interface DropCounts {
  /** Same open time as an earlier kept row. */
  duplicate: number;
  /** h < max(o, c). */
  high_below_body: number;
  /** l > min(o, c). */
  low_above_body: number;
  /** Some price <= 0. */
  non_positive: number;
  /** volume < 0. */
  negative_volume: number;
  /** `complete: false` (v20 responses and Valkey). */
  incomplete: number;
  /** Instrument column names another instrument. */
  other_instrument: number;
  /** Open time outside [fromMs, toMs). */
  outside_range: number;
}

/** What an import read, kept and dropped. */
export interface ImportReport {
  readonly files: readonly string[];
  /** Data rows read (all files). */
  rows: number;
  /** Candles returned. */
  kept: number;
  readonly dropped: DropCounts;
}

/** A structural problem in an input file, located by file, 1-based line and field. */
export class ImportError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly field: string,
    readonly reason: string,
  ) {
    super(line > 0 ? `${file}:${line}: ${field}: ${reason}` : `${file}: ${reason}`);
    this.name = "ImportError";
  }
}

/** A parsed row before cleaning; `complete` false marks an unfinished candle. */
export interface RawCandle extends Candle {
  readonly complete?: boolean;
  readonly instrument?: string;
}

/** A zeroed drop counter. */
export function emptyDropCounts(): DropCounts {
  return {
    duplicate: 0,
    high_below_body: 0,
    low_above_body: 0,
    non_positive: 0,
    negative_volume: 0,
    incomplete: 0,
    other_instrument: 0,
    outside_range: 0,
  };
}

/**
 * Cleans parsed rows (see the module comment for the order) and adds what it drops to
 * `counts`. Returns candles sorted by time with unique times.
 */
export function cleanCandles(
  rows: readonly RawCandle[],
  counts: DropCounts,
  opts: { instrument?: string; fromMs?: number; toMs?: number } = {},
): Candle[] {
  const want = opts.instrument === undefined ? undefined : instrumentKey(opts.instrument);
  const from = opts.fromMs ?? Number.NEGATIVE_INFINITY;
  const to = opts.toMs ?? Number.POSITIVE_INFINITY;
  const seen = new Set<number>();
  const out: Candle[] = [];
  for (const r of rows) {
    if (want !== undefined && r.instrument !== undefined && instrumentKey(r.instrument) !== want) {
      counts.other_instrument++;
    } else if (r.t < from || r.t >= to) counts.outside_range++;
    else if (r.complete === false) counts.incomplete++;
    else if (!(r.o > 0 && r.h > 0 && r.l > 0 && r.c > 0)) counts.non_positive++;
    else if (r.h < Math.max(r.o, r.c)) counts.high_below_body++;
    else if (r.l > Math.min(r.o, r.c)) counts.low_above_body++;
    else if (r.volume < 0) counts.negative_volume++;
    else if (seen.has(r.t)) counts.duplicate++;
    else {
      seen.add(r.t);
      out.push({ t: r.t, o: r.o, h: r.h, l: r.l, c: r.c, volume: Math.round(r.volume) });
    }
  }
  return out.sort((a, b) => a.t - b.t);
}

/** `EUR_USD`, `EUR/USD` and `eurusd` name the same instrument. */
function instrumentKey(s: string): string {
  return s.replace(/[^A-Za-z]/g, "").toUpperCase();
}

/**
 * Imports and merges candle files (earlier files win on duplicate times), cleaned and sorted.
 * Throws ImportError on structural problems; never returns partially parsed files.
 */
export async function importCandleFiles(
  paths: readonly string[],
  opts: ImportOptions = {},
): Promise<{ candles: Candle[]; report: ImportReport }> {
  const rows: RawCandle[] = [];
  for (const path of paths) {
    let text: string;
    try {
      text = await readTextFile(path);
    } catch (e) {
      if (e instanceof InputFileError) throw new ImportError(path, 0, "file", e.message.slice(path.length + 2));
      throw e;
    }
    for (const r of parseCandleText(text, path, opts)) rows.push(r);
  }
  const dropped = emptyDropCounts();
  const candles = cleanCandles(rows, dropped, opts);
  return { candles, report: { files: [...paths], rows: rows.length, kept: candles.length, dropped } };
}

/** Parses the text of one file (already decompressed) into raw rows, in file order. */
export function parseCandleText(text: string, file: string, opts: ImportOptions = {}): RawCandle[] {
  let format = opts.format ?? "auto";
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // BOM
  if (format === "auto") {
    const first = /\S/.exec(text)?.[0];
    format = first === "[" ? "oanda-json" : first === "{" ? "oanda-v20" : "csv";
  }
  switch (format) {
    case "oanda-json":
      return parseOandaJson(text, file);
    case "oanda-v20":
      return parseOandaV20(text, file);
    case "csv":
      return parseCsv(text, file, opts);
    default:
      throw new ImportError(file, 1, "format", `unknown format "${String(format)}" (auto, oanda-json, oanda-v20, csv)`);
  }
}

/** Start offset, end offset (exclusive) and line of each object that is an array element. */
interface Located {
  readonly start: number;
  readonly end: number;
  readonly line: number;
}

/**
 * Finds every JSON object that is a direct array element, with its line, in one pass; used to
 * put a line number on each candle (JSON.parse keeps no positions).
 */
export function locateArrayObjects(text: string): Located[] {
  const out: Located[] = [];
  const stack: { kind: number; start: number; line: number }[] = [];
  let line = 1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 10) line++;
    if (inString) {
      if (ch === 92) i++;
      else if (ch === 34) inString = false;
      continue;
    }
    if (ch === 34) inString = true;
    else if (ch === 91 || ch === 123) stack.push({ kind: ch, start: i, line });
    else if (ch === 93 || ch === 125) {
      const open = stack.pop();
      if (open && open.kind === 123 && stack.length > 0 && stack[stack.length - 1]!.kind === 91) {
        out.push({ start: open.start, end: i + 1, line: open.line });
      }
    }
  }
  return out;
}

/** 1-based line of a character offset. */
export function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** JSON.parse with a located error: the failing element's line, or the parser's position. */
function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const pos = /position (\d+)/.exec(msg);
    let line = pos ? lineAt(text, Number(pos[1])) : 0;
    if (!line) {
      for (const el of locateArrayObjects(text)) {
        try {
          JSON.parse(text.slice(el.start, el.end));
        } catch {
          line = el.line;
          break;
        }
      }
    }
    throw new ImportError(file, line || 1, "json", `malformed JSON (${msg.split("\n")[0]})`);
  }
}

/** A JSON array of `{time, open, high, low, close, volume}` (the legacy OANDA export shape). */
function parseOandaJson(text: string, file: string): RawCandle[] {
  const data = parseJson(text, file);
  if (!Array.isArray(data)) throw new ImportError(file, 1, "json", "expected an array of candles");
  const lines = linesOf(text, data.length);
  return data.map((el, i) => {
    const line = lines[i]!;
    const obj = asObject(el, file, line, `[${i}]`);
    return {
      t: timeField(obj, "time", file, line),
      o: numField(obj, "open", file, line),
      h: numField(obj, "high", file, line),
      l: numField(obj, "low", file, line),
      c: numField(obj, "close", file, line),
      volume: numField(obj, "volume", file, line),
      ...(typeof obj.complete === "boolean" ? { complete: obj.complete } : {}),
    };
  });
}

/** An OANDA v20 `GET .../candles?price=M` response body: `{candles: [{time, volume, complete, mid}]}`. */
function parseOandaV20(text: string, file: string): RawCandle[] {
  const data = parseJson(text, file);
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new ImportError(file, 1, "json", "expected an object with a candles array");
  }
  const list = (data as Record<string, unknown>).candles;
  if (!Array.isArray(list)) throw new ImportError(file, 1, "candles", "missing or not an array");
  const lines = linesOf(text, list.length);
  return list.map((el, i) => v20Candle(el, file, lines[i]!, `candles[${i}]`));
}

/**
 * One v20-style candle object `{time, volume, complete, mid: {o, h, l, c}}` (prices may be
 * strings); also used by the REST client and, with keys `t`/`v`, for Valkey members.
 */
export function v20Candle(
  el: unknown,
  file: string,
  line: number,
  where: string,
  keys: { time: string; volume: string } = { time: "time", volume: "volume" },
): RawCandle {
  const obj = asObject(el, file, line, where);
  const mid = asObject(obj.mid, file, line, "mid");
  return {
    t: timeField(obj, keys.time, file, line),
    o: numField(mid, "o", file, line, "mid.o"),
    h: numField(mid, "h", file, line, "mid.h"),
    l: numField(mid, "l", file, line, "mid.l"),
    c: numField(mid, "c", file, line, "mid.c"),
    volume: numField(obj, keys.volume, file, line),
    complete: obj.complete !== false,
  };
}

/** Lines of the first `n` array-element objects (0 when the text has another layout). */
function linesOf(text: string, n: number): number[] {
  const loc = locateArrayObjects(text);
  return Array.from({ length: n }, (_, i) => (loc.length === n ? loc[i]!.line : 0));
}

function asObject(v: unknown, file: string, line: number, field: string): Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new ImportError(file, line, field, v === undefined ? "missing" : "expected an object");
  }
  return v as Record<string, unknown>;
}

function numField(obj: Record<string, unknown>, key: string, file: string, line: number, name = key): number {
  const v = obj[key];
  if (v === undefined || v === null) throw new ImportError(file, line, name, "missing");
  if (typeof v !== "number" && typeof v !== "string") throw new ImportError(file, line, name, `not a number: ${JSON.stringify(v)}`);
  return checkedNumber(v, file, line, name, /volume|^v$/.test(key) ? "volume" : "price");
}

/** Decimal numbers only: `0x1`, `0b1`, `Infinity` and empty strings are not prices. */
export const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
/** Above this a "price" is a unit or parsing mistake (the largest FX quote is ~1e5). */
export const MAX_PRICE = 1e9;

/** True when a finite `n` is a possible price (|n| <= MAX_PRICE) or volume (rounds to an integer below 2^53). */
export function inCandleRange(n: number, kind: "price" | "volume"): boolean {
  return kind === "volume" ? Number.isSafeInteger(Math.round(Math.abs(n))) : Math.abs(n) <= MAX_PRICE;
}

/**
 * A price or volume cell → number, or an ImportError naming the file, line and column:
 * non-decimal text, a price outside (0, 1e9] by magnitude, a volume that is no integer
 * below 2^53 (the candle parquet stores int64; a non-integer volume is rounded).
 */
function checkedNumber(v: number | string, file: string, line: number, name: string, kind: "price" | "volume"): number {
  const s = typeof v === "string" ? v.trim() : "";
  if (typeof v === "string" && !DECIMAL.test(s)) throw new ImportError(file, line, name, `not a number: ${JSON.stringify(v)}`);
  const n = typeof v === "number" ? v : Number(s);
  if (!Number.isFinite(n)) throw new ImportError(file, line, name, `not a number: ${JSON.stringify(v)}`);
  if (!inCandleRange(n, kind)) {
    throw new ImportError(file, line, name, kind === "price" ? `price ${typeof v === "string" ? s : n} is out of range (|price| <= ${MAX_PRICE})` : `volume ${typeof v === "string" ? s : n} is out of range (an integer below 2^53)`);
  }
  return n;
}

function timeField(obj: Record<string, unknown>, key: string, file: string, line: number): number {
  const v = obj[key];
  if (v === undefined || v === null) throw new ImportError(file, line, key, "missing");
  const t = parseFlexibleTime(v);
  if (t === null) throw new ImportError(file, line, key, `unparseable time ${JSON.stringify(v)}`);
  return t;
}

const DEFAULT_COLUMNS: Readonly<Record<keyof CsvMapping, readonly string[]>> = {
  time: ["time", "timestamp", "datetime", "date"],
  open: ["open", "o"],
  high: ["high", "h"],
  low: ["low", "l"],
  close: ["close", "c"],
  volume: ["volume", "vol", "v", "ticks", "tick_volume"],
  instrument: ["instrument", "pair", "symbol"],
};
const REQUIRED: readonly (keyof CsvMapping)[] = ["time", "open", "high", "low", "close", "volume"];

/** OHLCV CSV with a header row (e.g. OANDA exports: `,volume,time,Open,High,Low,Close,Pair`). */
function parseCsv(text: string, file: string, opts: ImportOptions): RawCandle[] {
  const delim = opts.delimiter ?? ",";
  const offset = parseUtcOffset(opts.tzOffset);
  if (offset === null) throw new ImportError(file, 1, "tz_offset", `bad UTC offset ${JSON.stringify(opts.tzOffset)}`);
  const lines = text.split("\n");
  let lineNo = 0;
  let header: string[] | null = null;
  while (lineNo < lines.length && header === null) {
    const raw = lines[lineNo++]!.replace(/\r$/, "");
    if (raw.trim() !== "") header = splitCsvLine(raw, delim, file, lineNo).map((h) => h.trim());
  }
  if (header === null) throw new ImportError(file, 1, "header", "empty file: no header row");
  const headerLine = lineNo;
  const lower = header.map((h) => h.toLowerCase());
  const col: Partial<Record<keyof CsvMapping, number>> = {};
  for (const field of Object.keys(DEFAULT_COLUMNS) as (keyof CsvMapping)[]) {
    const named = opts.mapping?.[field];
    if (named !== undefined) {
      const i = lower.indexOf(named.toLowerCase());
      if (i < 0) {
        throw new ImportError(file, headerLine, named, `column "${named}" (mapping.${field}) is not in the header [${header.join(", ")}]`);
      }
      col[field] = i;
    } else {
      const i = lower.findIndex((h) => DEFAULT_COLUMNS[field].includes(h));
      if (i >= 0) col[field] = i;
      else if (REQUIRED.includes(field)) {
        throw new ImportError(file, headerLine, field, `no column for ${field} in the header [${header.join(", ")}] (set mapping.${field})`);
      }
    }
  }
  const out: RawCandle[] = [];
  const num = (cells: string[], field: keyof CsvMapping, line: number): number =>
    checkedNumber(cells[col[field]!]!.trim(), file, line, header![col[field]!]!, field === "volume" ? "volume" : "price");
  for (; lineNo < lines.length; lineNo++) {
    const line = lineNo + 1;
    const raw = lines[lineNo]!.replace(/\r$/, "");
    if (raw.trim() === "") continue;
    const cells = splitCsvLine(raw, delim, file, line);
    if (cells.length < header.length) {
      throw new ImportError(file, line, header[cells.length] ?? "?", `row has ${cells.length} fields, the header has ${header.length}`);
    }
    const timeText = cells[col.time!]!.trim();
    const t = parseFlexibleTime(timeText, offset);
    if (t === null) throw new ImportError(file, line, header[col.time!]!, `unparseable time ${JSON.stringify(timeText)}`);
    out.push({
      t,
      o: num(cells, "open", line),
      h: num(cells, "high", line),
      l: num(cells, "low", line),
      c: num(cells, "close", line),
      volume: num(cells, "volume", line),
      ...(col.instrument !== undefined ? { instrument: cells[col.instrument]!.trim() } : {}),
    });
  }
  return out;
}

/** Splits one CSV line (RFC 4180 quotes: `"a,b"` and `""` inside quotes). */
function splitCsvLine(line: string, delim: string, file: string, lineNo: number): string[] {
  if (!line.includes('"')) return line.split(delim);
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (line.startsWith(delim, i)) {
      out.push(cur);
      cur = "";
      i += delim.length - 1;
    } else cur += ch;
  }
  if (quoted) throw new ImportError(file, lineNo, "quote", "unterminated quoted field");
  out.push(cur);
  return out;
}

/** One-line summary of an import report, for rule logs. */
export function formatImportReport(r: ImportReport): string {
  const drops = Object.entries(r.dropped)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`);
  return `read ${r.files.length} source(s): ${r.rows} rows, kept ${r.kept}` + (drops.length ? `; dropped ${drops.join(", ")}` : "; dropped none");
}
