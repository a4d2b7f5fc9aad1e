/**
 * The gate codec (spec sections 3-4): one byte per candle, 64 candles = 512 bits per window.
 * byte = dir<<7 | move<<4 | range<<2 | liquidity<<1 | volume. Because every input of a byte
 * (previous close in the series, ATR at the candle, the two medians) is a series-level value,
 * the replay encodes each candle once and a window is a 64-byte slice.
 */
import { roundHalfEvenInt } from "./round.js";
import type { CandleColumns, SeriesStats } from "./series-stats.js";
import type { CodecMeta } from "./types.js";

/** Candles per window. */
export const WINDOW = 64;
/** Candles between window starts. */
export const STRIDE = 16;

/** Window start indices: 0, 16, 32, ... while start + 64 <= n. */
export function windowStarts(n: number): number[] {
  const out: number[] = [];
  for (let s = 0; s + WINDOW <= n; s += STRIDE) out.push(s);
  return out;
}

/** The five fields of one candle's byte. */
export interface CandleCode {
  dir: number;
  move: number;
  range: number;
  liquidity: number;
  volume: number;
}

/** Packs the fields into the byte. */
export function packByte(f: CandleCode): number {
  return (f.dir << 7) | (f.move << 4) | (f.range << 2) | (f.liquidity << 1) | f.volume;
}

/** Unpacks a byte. */
export function unpackByte(b: number): CandleCode {
  return { dir: (b >> 7) & 1, move: (b >> 4) & 7, range: (b >> 2) & 3, liquidity: (b >> 1) & 1, volume: b & 1 };
}

/** Encodes one candle given the previous close `last` and the ATR at this candle. */
export function encodeCandle(
  o: { h: number; l: number; c: number; volume: number },
  last: number,
  atr: number,
  spreadSplit: number,
  volumeSplit: number,
): number {
  const delta = o.c - last;
  const dir = delta >= 0 ? 1 : 0;
  const move = Math.min(7, roundHalfEvenInt(Math.min(1, Math.abs(delta) / atr) * 7));
  const tr = Math.max(o.h - o.l, Math.abs(o.h - last), Math.abs(o.l - last));
  const range = Math.min(3, roundHalfEvenInt(Math.min(1, tr / atr) * 3));
  const liquidity = spreadSplit <= 0 || o.h - o.l <= spreadSplit ? 1 : 0;
  const volume = o.volume >= volumeSplit ? 1 : 0;
  return (dir << 7) | (move << 4) | (range << 2) | (liquidity << 1) | volume;
}

/** Encodes every candle of the series; `last` is the previous close, the first uses its open. */
export function encodeSeries(cols: CandleColumns, stats: SeriesStats): Uint8Array {
  const out = new Uint8Array(cols.n);
  const { h, l, c, v, o } = cols;
  const { atr, spreadSplit, volumeSplit } = stats;
  const k = { h: 0, l: 0, c: 0, volume: 0 };
  for (let i = 0; i < cols.n; i++) {
    k.h = h[i]!;
    k.l = l[i]!;
    k.c = c[i]!;
    k.volume = v[i]!;
    out[i] = encodeCandle(k, i === 0 ? o[0]! : c[i - 1]!, atr[i]!, spreadSplit, volumeSplit);
  }
  return out;
}

/** Mean ATR over the window starting at `start` (sequential sum, as the legacy engine). */
export function windowAtrMean(atr: Float64Array, start: number): number {
  let s = 0;
  for (let i = start; i < start + WINDOW; i++) s += atr[i]!;
  return s / WINDOW;
}

/** codec_meta of a window. */
export function codecMeta(atrMean: number, stats: SeriesStats): CodecMeta {
  return { delta_scale: atrMean, atr_scale: atrMean, volume_split: stats.volumeSplit, spread_split: stats.spreadSplit };
}

/** base64 of the window's 64 bytes. */
export function bitsB64(bytes: Uint8Array, start: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, WINDOW).toString("base64");
}

/** One decoded candle (spec section 4, "decoded bitplanes"). */
export interface DecodedCandle {
  direction: number;
  abs_delta_est: number;
  atr_ratio_est: number;
  liquidity: number;
  volume_est: number;
}

/** Per-candle estimates of a window as planes, one array per field (oldest candle first). */
export interface DecodedBitplanes {
  readonly dir: number[]; // 1 = close >= previous close
  readonly abs_delta_est: number[]; // (move + 0.5)/8 * delta_scale
  readonly atr_ratio_est: number[]; // (range + 0.5)/4 * atr_scale
  readonly liquidity: number[]; // 1 = narrow bar (h - l <= spread_split)
  readonly volume_est: number[]; // volume_split * (1.25 | 0.75)
}

/** Decodes a window's bytes to estimate planes (spec section 4): the one place the formulas live. */
export function decodePlanes(bytes: Uint8Array, meta: CodecMeta): DecodedBitplanes {
  const out: DecodedBitplanes = { dir: [], abs_delta_est: [], atr_ratio_est: [], liquidity: [], volume_est: [] };
  for (const b of bytes) {
    // The fields of unpackByte, without an object per candle (the corpus decodes every gate).
    out.dir.push((b >> 7) & 1);
    out.abs_delta_est.push(((((b >> 4) & 7) + 0.5) / 8) * meta.delta_scale);
    out.atr_ratio_est.push(((((b >> 2) & 3) + 0.5) / 4) * meta.atr_scale);
    out.liquidity.push((b >> 1) & 1);
    out.volume_est.push(meta.volume_split * (b & 1 ? 1.25 : 0.75));
  }
  return out;
}

/** Decodes a window's bytes back to estimates, one record per candle. */
export function decodeWindow(bytes: Uint8Array, meta: CodecMeta): DecodedCandle[] {
  const p = decodePlanes(bytes, meta);
  return p.dir.map((direction, i) => ({
    direction,
    abs_delta_est: p.abs_delta_est[i]!,
    atr_ratio_est: p.atr_ratio_est[i]!,
    liquidity: p.liquidity[i]!,
    volume_est: p.volume_est[i]!,
  }));
}
