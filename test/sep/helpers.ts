/**
 * Helpers for the SEP suite: fixture paths (copied from the shared golden set into
 * test/fixtures/gate-golden, so CI never reads /work/shared), a seeded candle generator, the
 * default profile, and a guard timeout (uvu has none).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Candle } from "../../src/market/candle.js";
import { DEFAULT_PROFILE } from "../../src/sep/profile.js";
import type { Profile } from "../../src/sep/types.js";
export { prng as rng } from "../helpers/prng.js";
import { prng as rng } from "../helpers/prng.js";

/** Project root (dist/test/sep -> root). */
export const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const GOLDEN_DIR = `${ROOT}test/fixtures/gate-golden`;

/** Golden candles of an instrument, as Candle objects. */
export function goldenCandles(inst: string): Candle[] {
  const raw = JSON.parse(readFileSync(`${GOLDEN_DIR}/${inst}.candles.json`, "utf8")) as {
    time: string; open: number; high: number; low: number; close: number; volume: number;
  }[];
  return raw.map((r) => ({ t: Date.parse(r.time), o: r.open, h: r.high, l: r.low, c: r.close, volume: r.volume }));
}

/** Golden gate lines of an instrument, parsed. */
export function goldenGates(inst: string): Record<string, any>[] {
  return readFileSync(`${GOLDEN_DIR}/${inst}.gates.jsonl`, "utf8").trim().split("\n").map((l) => JSON.parse(l));
}

/** A profile with overrides. */
export function profile(over: Partial<Profile> = {}): Profile {
  return { ...DEFAULT_PROFILE, ...over };
}


/** Random-walk M1 candles from `startMs`, one a minute, skipping Fri 21:00 - Sun 21:00 UTC. */
export function walk(seed: number, startMs: number, count: number, price = 1.1): Candle[] {
  const r = rng(seed);
  const out: Candle[] = [];
  let p = price;
  let t = startMs;
  while (out.length < count) {
    const d = new Date(t);
    const dow = d.getUTCDay();
    const h = d.getUTCHours();
    const closed = (dow === 5 && h >= 21) || dow === 6 || (dow === 0 && h < 21);
    if (!closed) {
      const o = p;
      const c = Math.round((o + (r() - 0.5) * price * 4e-4) * 1e5) / 1e5;
      const hi = Math.max(o, c) + Math.round(r() * 3) / 1e5;
      const lo = Math.min(o, c) - Math.round(r() * 3) / 1e5;
      out.push({ t, o, h: hi, l: lo, c, volume: 10 + Math.floor(r() * 100) });
      p = c;
    }
    t += 60_000;
  }
  return out;
}

/** Rejects after `ms` so a hung await fails the test instead of stalling the suite. */
export function guard<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
