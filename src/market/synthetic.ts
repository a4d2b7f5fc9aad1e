/**
 * The synthetic FX market: seeded M1 mid candles for the seven majors, so the whole pipeline
 * runs (and its tests pass) without OANDA access.
 *
 * Model (per instrument; all randomness from a keyed xoshiro128** stream, so a given
 * (seed, instrument, session) always yields the same bytes on every machine):
 * - Trading sessions run Sunday 21:00 UTC to Friday 21:00 UTC (7200 minutes); nothing is
 *   generated over the weekend closure. Session k is the one that contains Monday k 00:00.
 * - A coarse random walk over session indices, anchored at the instrument's 2025 level in the
 *   first week of 2025 and walked forwards or backwards from there, gives each session's
 *   opening log price a_k, its variance budget V_k (a lognormal "weekly volatility"), its net
 *   move xi_k ~ N(0, V_k) and the weekend gap g_k, so that a_{k+1} = a_k + xi_k + g_k.
 * - Inside the session the log mid price is a Brownian motion in business time: minute i gets
 *   variance b_i = intraday seasonality (Asia quiet, London/NY busy) x a GARCH(1,1)-type
 *   variance recursion (volatility clustering), scaled so the session's total is V_k; the path
 *   is drawn as a Brownian bridge from a_k to a_k + xi_k (Levy's construction). Together with
 *   the coarse walk this is exactly a Gaussian martingale in business time, so with
 *   `signal: 0` log mid returns are unpredictable from the past, while sessions still join
 *   with only a small weekend gap and every session is computable on its own (partitionable:
 *   a week's candles do not depend on which other weeks are generated).
 * - Highs and lows are drawn from the exact distribution of a Brownian bridge's maximum and
 *   minimum over the minute; prices are rounded to the quote precision (5 or 3 decimals),
 *   a rounding that is monotone and so keeps l <= o, c <= h.
 * - Tick volume follows the minute's volatility (and its absolute move) with noise; quiet
 *   minutes sometimes have no ticks at all (missing minutes, as in real data).
 * - `signal` > 0 plants a weak predictable component: a latent AR(1) state m (half-life 45
 *   min) adds a drift `0.1 * signal * sqrt(b_i) * m_i` to each minute (at signal 1 the past
 *   15-minute return and the next 30-minute return correlate at about 0.13; at 0.3 about
 *   0.04, a realistic edge), so moves persist in one
 *   direction while |m| is large (visible in the direction/move bits, autocorr, trend and
 *   roc_prev) and returns over the next 15-60 minutes lean the same way. The drift's
 *   cumulative effect is taken back linearly in business time so the session still ends at
 *   its anchor (the planted component is then exactly the only predictable part).
 *
 * Determinism across machines: only IEEE arithmetic, Math.imul, and V8's fdlibm-based
 * Math.log/exp/cos (bit-identical on every platform for a given Node major).
 */
import type { Candle } from "./candle.js";
import { instrumentSpec, roundPrice, type InstrumentSpec } from "./instruments.js";
import { HOUR_MS, MINUTE_MS, parseIsoDate, weekIndex, weekStartMs, DAY_MS } from "./weeks.js";

/** Version of the generator's algorithm; bump when its output changes for a given seed. */
export const SYNTHETIC_VERSION = 1;

/** Settings of the synthetic source. */
export interface SyntheticOptions {
  /** Any integer or string; the same seed gives the same candles. */
  readonly seed: number | string;
  /** Strength of the planted predictable component, in [0, 1]; 0 = martingale. Default 0. */
  readonly signal?: number;
}

/** Minutes in a session: Sunday 21:00 to Friday 21:00. */
const SESSION_MINUTES = 7200;
/** A session opens this long before its Monday 00:00. */
const SESSION_LEAD_MS = 3 * HOUR_MS;
/** The coarse walk is anchored (a = log level) at the session of Monday 2025-01-06. */
const ANCHOR_SESSION = weekIndex(parseIsoDate("2025-01-06")!);
/** Lognormal spread of a session's volatility budget (log sd). */
const SESSION_VOL_SPREAD = 0.3;
/** Weekend gap, log sd (about 4 pips on EUR_USD). */
const WEEKEND_GAP_SD = 0.0004;
/** GARCH(1,1)-type recursion h' = OMEGA + (ALPHA u^2 + BETA) h, E[h] = 1, half-life ~70 min. */
const GARCH_ALPHA = 0.04;
const GARCH_BETA = 0.95;
const GARCH_OMEGA = 1 - GARCH_ALPHA - GARCH_BETA;
/** Drift per minute at signal 1 and |m| = 1, in units of that minute's volatility. */
const SIGNAL_SCALE = 0.1;
/** Latent signal state persistence (half-life 45 minutes). */
const LATENT_PHI = 2 ** (-1 / 45);

/**
 * Intraday volatility profile: sd multiplier at each UTC hour (interpolated per minute).
 * Tokyo modest, rollover (21:00) thinnest, London open and the London/NY overlap busiest.
 */
const HOURLY_SD = [
  0.75, 0.8, 0.75, 0.65, 0.55, 0.55, 0.7, 1.0, 1.3, 1.2, 1.05, 1.0, //
  1.2, 1.5, 1.6, 1.45, 1.15, 0.9, 0.8, 0.75, 0.65, 0.4, 0.5, 0.65,
];
/** Hours (UTC) when Sydney/Tokyo dominate: AUD, NZD and JPY are busier then. */
const ASIA_HOURS = new Set([23, 0, 1, 2, 3, 4, 5, 6]);

/**
 * Candles of `instrument` with open times in [fromMs, toMs), sorted. A pure function of its
 * arguments: any sub-range equals the same range cut from a larger call.
 */
export function generateCandles(
  instrument: string,
  fromMs: number,
  toMs: number,
  opts: SyntheticOptions,
): Candle[] {
  const spec = instrumentSpec(instrument);
  const signal = opts.signal ?? 0;
  if (!Number.isFinite(signal) || signal < 0 || signal > 1) {
    throw new RangeError(`synthetic signal must be in [0, 1], got ${String(opts.signal)}`);
  }
  if (!Number.isFinite(fromMs) || !Number.isFinite(toMs) || toMs < fromMs) {
    throw new RangeError(`bad synthetic range [${fromMs}, ${toMs})`);
  }
  const out: Candle[] = [];
  if (toMs === fromMs) return out;
  const first = weekIndex(fromMs + SESSION_LEAD_MS);
  const last = weekIndex(toMs - 1 + SESSION_LEAD_MS);
  const walk = new CoarseWalk(String(opts.seed), spec);
  for (let k = first; k <= last; k++) generateSession(spec, String(opts.seed), signal, k, walk, fromMs, toMs, out);
  return out;
}

/** The candles of the week that starts on Monday `weekStart` (ms) 00:00 UTC. */
export function generateWeek(instrument: string, weekStart: number, opts: SyntheticOptions): Candle[] {
  return generateCandles(instrument, weekStart, weekStart + 7 * DAY_MS, opts);
}

/** Variance multipliers per minute of the UTC day, mean 1 over the day (one per instrument). */
const seasonCache = new Map<string, Float64Array>();
function seasonalVariance(spec: InstrumentSpec): Float64Array {
  let v = seasonCache.get(spec.name);
  if (v) return v;
  v = new Float64Array(1440);
  let sum = 0;
  for (let m = 0; m < 1440; m++) {
    const h = Math.floor(m / 60);
    const f = (m % 60) / 60;
    const boost = (hh: number) => (ASIA_HOURS.has(hh) ? spec.asiaBoost : 1);
    const a = HOURLY_SD[h]! * boost(h);
    const b = HOURLY_SD[(h + 1) % 24]! * boost((h + 1) % 24);
    const sd = a + (b - a) * f;
    v[m] = sd * sd;
    sum += sd * sd;
  }
  for (let m = 0; m < 1440; m++) v[m]! /= sum / 1440;
  seasonCache.set(spec.name, v);
  return v;
}

/** Per-minute variance of log returns at average activity. */
function minuteVariance(spec: InstrumentSpec): number {
  return (spec.annualVol * spec.annualVol) / (252 * 1440);
}

/** One step of the coarse walk: session k's variance budget, net move and weekend gap. */
interface SessionPlan {
  readonly budget: number;
  readonly move: number;
  readonly gap: number;
}

/** The coarse random walk over sessions (see the module comment), memoized per call. */
class CoarseWalk {
  private readonly plans = new Map<number, SessionPlan>();
  constructor(
    private readonly seed: string,
    private readonly spec: InstrumentSpec,
  ) {}

  plan(k: number): SessionPlan {
    let p = this.plans.get(k);
    if (!p) {
      const rng = new Rng(`${this.seed}|${this.spec.name}|coarse|${k}`);
      const s = SESSION_VOL_SPREAD;
      const budget = SESSION_MINUTES * minuteVariance(this.spec) * Math.exp(s * rng.normal() - (s * s) / 2);
      p = { budget, move: Math.sqrt(budget) * rng.normal(), gap: WEEKEND_GAP_SD * rng.normal() };
      this.plans.set(k, p);
    }
    return p;
  }

  /** Opening log price of session k. */
  open(k: number): number {
    let a = Math.log(this.spec.level);
    if (k >= ANCHOR_SESSION) {
      for (let j = ANCHOR_SESSION; j < k; j++) a += this.step(j);
    } else {
      for (let j = ANCHOR_SESSION - 1; j >= k; j--) a -= this.step(j);
    }
    return a;
  }

  private step(j: number): number {
    const p = this.plan(j);
    return p.move + p.gap;
  }
}

/** Appends session k's candles with open times in [fromMs, toMs) to `out`. */
function generateSession(
  spec: InstrumentSpec,
  seed: string,
  signal: number,
  k: number,
  walk: CoarseWalk,
  fromMs: number,
  toMs: number,
  out: Candle[],
): void {
  const n = SESSION_MINUTES;
  const open = weekStartMs(k) - SESSION_LEAD_MS;
  const plan = walk.plan(k);
  const anchor = walk.open(k);
  const season = seasonalVariance(spec);
  const sigma2 = minuteVariance(spec);
  const minuteOfDay0 = Math.floor((open % DAY_MS) / MINUTE_MS); // 21:00 = 1260

  // Pass 1: business time (seasonality x clustering), missing minutes, volume noise.
  const vol = new Rng(`${seed}|${spec.name}|vol|${k}`);
  const b = new Float64Array(n);
  const missing = new Uint8Array(n);
  const volNoise = new Float64Array(n);
  let h = 1;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const s = season[(minuteOfDay0 + i) % 1440]!;
    b[i] = s * h;
    total += b[i]!;
    const u = vol.normal();
    h = GARCH_OMEGA + (GARCH_ALPHA * u * u + GARCH_BETA) * h;
    // Quiet minutes go without a tick more often (about 0.3% of minutes overall).
    missing[i] = vol.uniform() < Math.min(0.03, 0.0012 / s) ? 1 : 0;
    volNoise[i] = 0.75 + 0.5 * vol.uniform();
  }
  const scale = plan.budget / total;
  // rem[i] = business time left from minute i on; the bridge's last step lands exactly.
  const rem = new Float64Array(n + 1);
  for (let i = n - 1; i >= 0; i--) {
    b[i]! *= scale;
    rem[i] = rem[i + 1]! + b[i]!;
  }

  // Planted signal: drift per minute, its cumulative effect removed linearly in business time.
  let drift: Float64Array | null = null;
  let driftTotal = 0;
  if (signal > 0) {
    drift = new Float64Array(n);
    const lat = new Rng(`${seed}|${spec.name}|latent|${k}`);
    let m = lat.normal();
    const innov = Math.sqrt(1 - LATENT_PHI * LATENT_PHI);
    for (let i = 0; i < n; i++) {
      drift[i] = SIGNAL_SCALE * signal * Math.sqrt(b[i]!) * m;
      driftTotal += drift[i]!;
      m = LATENT_PHI * m + innov * lat.normal();
    }
  }

  // Pass 2: the Brownian bridge from 0 to plan.move, highs, lows, candles.
  const path = new Rng(`${seed}|${spec.name}|path|${k}`);
  const dec = spec.decimals;
  let w = 0; // bridge value
  let sig = 0; // cumulative planted drift
  let x = anchor; // log mid at the start of minute i
  for (let i = 0; i < n; i++) {
    const t = open + i * MINUTE_MS;
    if (t >= toMs) break;
    const bi = b[i]!;
    const r = rem[i]!;
    const z = path.normal();
    const u1 = path.uniform();
    const u2 = path.uniform();
    const frac = bi / r;
    w += (plan.move - w) * frac + Math.sqrt(Math.max(0, bi * (1 - frac))) * z;
    if (drift) sig += drift[i]! - driftTotal * (bi / plan.budget);
    const xNext = i === n - 1 ? anchor + plan.move : anchor + w + sig;
    if (t >= fromMs && missing[i] === 0) {
      const d = xNext - x;
      // Max and min of a Brownian bridge from 0 to d with variance bi (exact inverse CDF).
      const hi = (d + Math.sqrt(d * d - 2 * bi * Math.log(u1))) / 2;
      const lo = (d - Math.sqrt(d * d - 2 * bi * Math.log(u2))) / 2;
      const ticks = spec.ticksPerMinute * Math.sqrt(bi / sigma2) * (0.55 + 0.45 * Math.abs(z)) * volNoise[i]!;
      out.push({
        t,
        o: roundPrice(Math.exp(x), dec),
        h: roundPrice(Math.exp(x + hi), dec),
        l: roundPrice(Math.exp(x + lo), dec),
        c: roundPrice(Math.exp(xNext), dec),
        volume: Math.max(1, Math.round(ticks)),
      });
    }
    x = xNext;
  }
}

/**
 * xoshiro128** (Blackman & Vigna) keyed by a string through cyrb128: a small, fast, portable
 * 32-bit generator; keys give independent streams per (seed, instrument, session, purpose).
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare = NaN;

  constructor(key: string) {
    let h1 = 1779033703, h2 = 3144134277, h3 = 1013904242, h4 = 2773480762;
    for (let i = 0; i < key.length; i++) {
      const ch = key.charCodeAt(i);
      h1 = h2 ^ Math.imul(h1 ^ ch, 597399067);
      h2 = h3 ^ Math.imul(h2 ^ ch, 2869860233);
      h3 = h4 ^ Math.imul(h3 ^ ch, 951274213);
      h4 = h1 ^ Math.imul(h4 ^ ch, 2716044179);
    }
    h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
    h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
    h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
    h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
    h1 ^= h2 ^ h3 ^ h4;
    h2 ^= h1;
    h3 ^= h1;
    h4 ^= h1;
    this.a = h1 >>> 0;
    this.b = h2 >>> 0;
    this.c = h3 >>> 0;
    this.d = h4 >>> 0;
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1; // the all-zero state is a fixed point
    for (let i = 0; i < 8; i++) this.nextU32(); // mix the seed in
  }

  /** Next 32-bit output as an unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform in the open interval (0, 1). */
  uniform(): number {
    return (this.nextU32() + 0.5) / 4294967296;
  }

  /** Standard normal (Box-Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (!Number.isNaN(this.spare)) {
      const s = this.spare;
      this.spare = NaN;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniform()));
    const th = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(th);
    return r * Math.cos(th);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
