/**
 * Replay throughput: synthetic random-walk M1 candles for 26 weeks x 7 instruments (generated
 * in-process, ~7200 candles a week, seeded), replayed week by week in both modes through the
 * same path as the week rule (replayWeek + JSONL formatting; parquet I/O excluded). Prints
 * candles/second per mode and the projection for 5 years x 7 pairs (goal: < 3 minutes on 2
 * cores; the two modes are independent chains, so they run on one core each).
 *
 *   npx tsc -p . && node dist/bench/replay.js [--weeks 26]
 */
import type { Candle } from "../src/market/candle.js";
import { DEFAULT_PROFILE } from "../src/sep/profile.js";
import { formatGateLine } from "../src/sep/records.js";
import type { ReplayState, RunMode } from "../src/sep/types.js";
import { replayWeek } from "../src/sep/week.js";

const INSTRUMENTS: Record<string, number> = {
  AUD_USD: 0.66, EUR_USD: 1.08, GBP_USD: 1.27, NZD_USD: 0.6, USD_CAD: 1.36, USD_CHF: 0.89, USD_JPY: 150,
};
const WEEK_MS = 7 * 86_400_000;
const START = Date.UTC(2025, 4, 12); // a Monday

/** xorshift128+ in doubles: fast, seeded, deterministic. */
function rng(seed: number): () => number {
  let a = seed >>> 0 || 1;
  let b = (seed * 2654435761) >>> 0 || 2;
  return () => {
    let t = a ^ (a << 11);
    a = b;
    b = (b ^ (b >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    t >>>= 0;
    return (b + t) / 4294967296 % 1;
  };
}

function gauss(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** 5 sessions of 1440 minutes (Mon-Fri), a weekend gap; prices rounded to 5 significant digits. */
function weekCandles(price0: number, w: number, r: () => number, state: { p: number }): Candle[] {
  const out: Candle[] = [];
  const tick = price0 > 20 ? 0.001 : 0.00001;
  const sd = price0 * 0.00012;
  for (let m = 0; m < 5 * 1440; m++) {
    if (r() < 0.01) continue; // missing minutes
    const o = state.p;
    const c = Math.max(tick, Math.round((o + sd * gauss(r)) / tick) * tick);
    const h = Math.max(o, c) + Math.round((Math.abs(gauss(r)) * sd * 0.5) / tick) * tick;
    const l = Math.min(o, c) - Math.round((Math.abs(gauss(r)) * sd * 0.5) / tick) * tick;
    out.push({ t: START + w * WEEK_MS + m * 60_000, o, h, l, c, volume: 20 + Math.floor(r() * 200) });
    state.p = c;
  }
  return out;
}

function main(): void {
  const wi = process.argv.indexOf("--weeks");
  const weeks = wi > 0 ? Number(process.argv[wi + 1]) : 26;
  const t0 = performance.now();
  const data = new Map<string, Candle[][]>();
  for (const [inst, p0] of Object.entries(INSTRUMENTS)) {
    const r = rng(inst.charCodeAt(0) * 131 + inst.charCodeAt(4));
    const st = { p: p0 };
    data.set(inst, Array.from({ length: weeks + 1 }, (_, w) => weekCandles(p0, w, r, st)));
  }
  let candles = 0;
  for (const ws of data.values()) for (let w = 0; w < weeks; w++) candles += ws[w]!.length;
  console.log(`generated ${candles} candles (${weeks} weeks x 7) in ${((performance.now() - t0) / 1000).toFixed(2)} s`);

  const results: Record<string, number> = {};
  for (const mode of ["rolling", "isolation"] as RunMode[]) {
    let state: ReplayState | undefined;
    let gates = 0;
    let bytes = 0;
    const t1 = performance.now();
    for (let w = 0; w < weeks; w++) {
      const m = new Map<string, Candle[]>();
      for (const [inst, ws] of data) m.set(inst, ws[w]!.concat(ws[w + 1]!));
      const out = replayWeek({
        candles: m,
        startMs: START + w * WEEK_MS,
        endMs: START + (w + 1) * WEEK_MS,
        weekStart: "", weekEnd: "",
        mode,
        profile: DEFAULT_PROFILE,
        state,
      });
      state = out.state;
      gates += out.gates.length;
      for (const g of out.gates) bytes += formatGateLine(g).length + 1;
    }
    const s = (performance.now() - t1) / 1000;
    const rate = candles / s;
    results[mode] = rate;
    console.log(
      `${mode.padEnd(9)}: ${gates} gates, ${(bytes / 1e6).toFixed(1)} MB JSONL, ${s.toFixed(2)} s, ` +
        `${Math.round(rate).toLocaleString("en-US")} candles/s`,
    );
  }
  // 5 years x 52 weeks x 7 pairs x ~7200 candles, both modes; on 2 cores the modes run in parallel.
  const total = 5 * 52 * 7 * 7200;
  const serial = total / results["rolling"]! + total / results["isolation"]!;
  const twoCores = Math.max(total / results["rolling"]!, total / results["isolation"]!);
  console.log(
    `projection 5y x 7 pairs (${(total / 1e6).toFixed(1)} M candles per mode): both modes ` +
      `${serial.toFixed(1)} s on 1 core, ${twoCores.toFixed(1)} s on 2 cores (goal < 180 s)`,
  );
}

main();
