/**
 * Decimal rounding exactly as Python does it: `round(x, d)` and `format(x, '.{d}f')` both round
 * the *exact binary value* of the double half-to-even. JavaScript's `toFixed` rounds exact ties
 * away from zero (0.0078125.toFixed(6) = "0.007813", Python gives "0.007812"), so the gate
 * metrics and signatures use these helpers instead.
 *
 * Fast path: x * 10^d in floating point is within a few ulps of the exact product, so when its
 * fractional part is clearly away from 0.5 the rounding direction is certain. Only near-ties
 * fall back to exact BigInt arithmetic on the double's mantissa and exponent.
 */

const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/** Round-half-even to an integer of a double (Python's `round(y)` for floats). */
export function roundHalfEvenInt(y: number): number {
  const fl = Math.floor(y);
  const diff = y - fl; // exact for |y| < 2^52
  if (diff < 0.5) return fl;
  if (diff > 0.5) return fl + 1;
  return fl % 2 === 0 ? fl : fl + 1;
}

/**
 * The integer q (as a bigint-free number when it fits) such that q / 10^d is x rounded
 * half-even to d decimals, for finite non-negative x. Returns null when q exceeds 2^53.
 */
function scaledAbs(ax: number, d: number): number | null {
  const p = POW10[d]!;
  const y = ax * p;
  if (!(y < 9007199254740991)) return null;
  const fl = Math.floor(y);
  const frac = y - fl;
  // ax*p carries at most half an ulp of error; below 1e9 an ulp is <= 2^-23 (~1.2e-7), so a
  // fraction more than 1e-6 away from 0.5 rounds the same way as the exact product would.
  if (y < 1e9 && Math.abs(frac - 0.5) > 1e-6) return frac < 0.5 ? fl : fl + 1;
  return exactScaled(ax, d);
}

const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);

/** Exact half-even rounding of ax * 10^d using the double's exact value (BigInt). */
function exactScaled(ax: number, d: number): number | null {
  F64[0] = ax;
  const lo = U32[0]!;
  const hi = U32[1]!;
  const expBits = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let exp: number;
  if (expBits === 0) exp = -1074;
  else {
    mant |= 1n << 52n;
    exp = expBits - 1075;
  }
  const num = mant * 10n ** BigInt(d);
  let q: bigint;
  if (exp >= 0) q = num << BigInt(exp);
  else {
    const den = 1n << BigInt(-exp);
    q = num / den;
    const r2 = (num % den) * 2n;
    if (r2 > den || (r2 === den && q % 2n === 1n)) q += 1n;
  }
  if (q > 9007199254740991n) return null;
  return Number(q);
}

/** Python's `round(x, d)` for a double (d in 0..15). Non-finite values pass through. */
export function roundHalfEven(x: number, d: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const ax = Math.abs(x);
  const q = scaledAbs(ax, d);
  if (q === null) return x; // too large to have d decimals in a double anyway
  // q and 10^d are exact doubles, so the IEEE quotient is the double nearest the decimal q/10^d,
  // which is what Python's round returns.
  const r = q / POW10[d]!;
  return x < 0 ? -r : r;
}

/** Python's `format(x, '.{d}f')` for a double (d in 0..15). */
export function formatFixed(x: number, d: number): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  const neg = x < 0 || Object.is(x, -0);
  const q = scaledAbs(Math.abs(x), d);
  if (q === null) return x.toFixed(d);
  let digits = String(q);
  if (d > 0) {
    digits = digits.padStart(d + 1, "0");
    digits = `${digits.slice(0, digits.length - d)}.${digits.slice(digits.length - d)}`;
  }
  return neg ? `-${digits}` : digits;
}
