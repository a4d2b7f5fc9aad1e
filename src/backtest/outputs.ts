/**
 * On-disk formats of a backtest (format `dagbuild.backtest`, version BACKTEST_FORMAT_VERSION):
 *   summary.json  {format, version, ...}: keys sorted, floats unrounded (see metrics.ts)
 *   trades.csv    header `# dagbuild.backtest trades v1`, then the column line and one row per
 *                 trade record: [week,] instrument, entry_time, exit_time (ISO UTC), side,
 *                 units, entry_price, exit_price, commission, pnl, mae, mfe
 *   nav.csv       header `# dagbuild.backtest nav v1`, then `ts,ts_ms,nav,exposure`, one row per
 *                 minute of the combined curve (portfolio.ts)
 *   nav.svg       the NAV curve, hourly (src/report/plots.ts)
 */
import { HOUR_MS } from "../market/weeks.js";
import { stableStringify } from "../sep/records.js";
import { lineSvg } from "../report/plots.js";
import type { Trade } from "./book.js";
import { BacktestInputError } from "./gates.js";
import type { Curve } from "./portfolio.js";

/** Version of the backtest output files. */
export const BACKTEST_FORMAT_VERSION = 1;

const iso = (ms: number): string => new Date(ms).toISOString();
const f = (x: number): string => (Number.isFinite(x) ? String(x) : "");

/** The trade CSV; `weekOf` adds a leading week column. */
export function formatTradesCsv<T extends Trade>(trades: readonly T[], weekOf?: (t: T) => string): string {
  const cols = ["instrument", "entry_time", "exit_time", "side", "units", "entry_price", "exit_price", "commission", "pnl", "mae", "mfe"];
  let s = `# dagbuild.backtest trades v${BACKTEST_FORMAT_VERSION}\n${weekOf ? "week," : ""}${cols.join(",")}\n`;
  for (const t of trades) {
    const row = [t.instrument, iso(t.entry_time), iso(t.exit_time), t.side, f(t.units), f(t.entry_price), f(t.exit_price), f(t.commission), f(t.pnl), f(t.mae), f(t.mfe)];
    s += `${weekOf ? `${weekOf(t)},` : ""}${row.join(",")}\n`;
  }
  return s;
}

/** The NAV CSV of a curve. */
export function formatNavCsv(c: Curve): string {
  let s = `# dagbuild.backtest nav v${BACKTEST_FORMAT_VERSION}\nts,ts_ms,nav,exposure\n`;
  for (let i = 0; i < c.times.length; i++) s += `${iso(c.times[i]!)},${c.times[i]},${f(c.equity[i]!)},${f(c.exposure[i]!)}\n`;
  return s;
}

/** Reads nav.csv back (the comparison plot); `shown` labels errors. */
export function parseNavCsv(text: string, shown: string): Curve {
  const lines = text.split("\n").filter((l) => l !== "");
  if (lines[0] !== `# dagbuild.backtest nav v${BACKTEST_FORMAT_VERSION}` || lines[1] !== "ts,ts_ms,nav,exposure") {
    throw new BacktestInputError(`${shown}:1: not a dagbuild.backtest nav v${BACKTEST_FORMAT_VERSION} file`);
  }
  const n = lines.length - 2;
  const times = new Float64Array(n), equity = new Float64Array(n), exposure = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const f = lines[i + 2]!.split(",");
    times[i] = Number(f[1]);
    equity[i] = Number(f[2]);
    exposure[i] = Number(f[3]);
    if (!Number.isFinite(times[i]!) || !Number.isFinite(equity[i]!)) throw new BacktestInputError(`${shown}:${i + 3}: expected ts,ts_ms,nav,exposure numbers`);
  }
  return { times, equity, exposure };
}

/** A JSON document with the format header, keys sorted. */
export function formatSummary(body: Record<string, unknown>): string {
  return `${stableStringify({ format: "dagbuild.backtest", version: BACKTEST_FORMAT_VERSION, ...body })}\n`;
}

/** The last NAV of each UTC hour (the plot's points). */
export function hourly(c: Curve): { x: number; y: number }[] {
  const out: { x: number; y: number }[] = [];
  for (let i = 0; i < c.times.length; i++) {
    const h = Math.floor(c.times[i]! / HOUR_MS);
    const next = i + 1 < c.times.length ? Math.floor(c.times[i + 1]! / HOUR_MS) : null;
    if (next !== h) out.push({ x: h * HOUR_MS, y: c.equity[i]! });
  }
  return out;
}

/** The NAV plot of one or more named curves. */
export function navSvg(title: string, curves: readonly { name: string; curve: Curve }[]): Promise<string> {
  return lineSvg(title, {
    series: curves.map((c) => ({ name: c.name, points: hourly(c.curve) })),
    xTitle: "time (UTC)",
    yTitle: "NAV",
    xType: "temporal",
    width: 640,
    height: 240,
  });
}
