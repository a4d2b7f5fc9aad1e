/**
 * Rounding (Python semantics), series statistics and the codec on hand-computed cases.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { formatFixed, roundHalfEven, roundHalfEvenInt } from "../../src/sep/round.js";
import { atrSeries, computeSeriesStats, median, toColumns } from "../../src/sep/series-stats.js";
import { bitsB64, decodeWindow, encodeCandle, encodeSeries, packByte, unpackByte, windowStarts } from "../../src/sep/codec.js";
import type { Candle } from "../../src/market/candle.js";

// [x, Python round(x, 6), format(x, '.3f'), format(x, '.6f')], produced by CPython 3.
const PY: [number, number, string, string][] = [
  [0.0078125, 0.007812, "0.008", "0.007812"],
  [0.0625, 0.0625, "0.062", "0.062500"],
  [0.1875, 0.1875, "0.188", "0.187500"],
  [2.675, 2.675, "2.675", "2.675000"],
  [0.0390625, 0.039062, "0.039", "0.039062"],
  [1e-7, 0.0, "0.000", "0.000000"],
  [0.9999995, 1.0, "1.000", "1.000000"],
  [123.4567895, 123.456789, "123.457", "123.456789"],
  [0.4598825831702544, 0.459883, "0.460", "0.459883"],
  [622.901694889702, 622.901695, "622.902", "622.901695"],
  [0.6489745531369242, 0.648975, "0.649", "0.648975"],
  [1.1320596465314436, 1.13206, "1.132", "1.132060"],
  [8.684454578650953, 8.684455, "8.684", "8.684455"],
  [249.33071444268663, 249.330714, "249.331", "249.330714"],
];

test("roundHalfEven and formatFixed agree with Python on ties and ordinary values", () => {
  for (const [x, r6, f3, f6] of PY) {
    assert.is(roundHalfEven(x, 6), r6, `round(${x}, 6)`);
    assert.is(formatFixed(x, 3), f3, `format(${x}, '.3f')`);
    assert.is(formatFixed(x, 6), f6, `format(${x}, '.6f')`);
    assert.is(roundHalfEven(-x, 6), -r6, `round(-${x}, 6)`);
  }
  // The tie JavaScript gets wrong: toFixed rounds 0.0625 up.
  assert.is((0.0625).toFixed(3), "0.063");
  assert.is(formatFixed(0.0625, 3), "0.062");
});

test("roundHalfEvenInt: exact ties go to even, everything else to nearest", () => {
  assert.is(roundHalfEvenInt(0.5), 0);
  assert.is(roundHalfEvenInt(1.5), 2);
  assert.is(roundHalfEvenInt(2.5), 2);
  assert.is(roundHalfEvenInt(3.5), 4);
  assert.is(roundHalfEvenInt(2.5000000001), 3);
  assert.is(roundHalfEvenInt(2.4999999999), 2);
  assert.is(roundHalfEvenInt(7), 7);
});

test("median: odd count is the middle, even count the mean of the two middle values", () => {
  assert.is(median(Float64Array.from([3, 1, 2])), 2);
  assert.is(median(Float64Array.from([4, 1, 3, 2])), 2.5);
  assert.is(median(new Float64Array(0)), 0);
});

const K = (t: number, o: number, h: number, l: number, c: number, volume: number): Candle => ({ t, o, h, l, c, volume });

test("ATR: seed h0-l0, own true range included, EMA alpha 2/15, floor 1e-8", () => {
  const cs = [K(0, 10, 12, 9, 11, 1), K(60_000, 11, 11.5, 10, 10.5, 1), K(120_000, 10.5, 14, 10.5, 13, 1)];
  const atr = atrSeries(toColumns(cs));
  const a = 2 / 15;
  let ema = 3;
  ema = a * 3 + (1 - a) * ema; // t0: TR = h0 - l0 = 3
  assert.is(atr[0], ema);
  ema = a * Math.max(1.5, 0.5, 1) + (1 - a) * ema; // prev close 11
  assert.is(atr[1], ema);
  ema = a * Math.max(3.5, 3.5, 0) + (1 - a) * ema; // prev close 10.5
  assert.is(atr[2], ema);
  const flat = atrSeries(toColumns([K(0, 1, 1, 1, 1, 0), K(60_000, 1, 1, 1, 1, 0)]));
  assert.is(flat[1], 1e-8);
});

test("encodeCandle: direction, half-even move and range, liquidity and volume flags", () => {
  // last 8, close 8.5, ATR 1: |delta|/ATR = 0.5 -> 3.5 -> 4 (tie to even); tr = 0.875 -> 2.625 -> 3.
  let b = encodeCandle({ h: 8.75, l: 7.875, c: 8.5, volume: 50 }, 8, 1, 1, 50);
  assert.equal(unpackByte(b), { dir: 1, move: 4, range: 3, liquidity: 1, volume: 1 });
  // Falling close; tr/ATR = 0.5 -> 1.5 -> 2 (tie to even); h - l above the spread split; low volume.
  b = encodeCandle({ h: 8, l: 7.5, c: 7.75, volume: 49 }, 8, 1, 0.25, 50);
  assert.equal(unpackByte(b), { dir: 0, move: 2, range: 2, liquidity: 0, volume: 0 }); // 0.25*7 = 1.75 -> 2
  // Unchanged close counts as up; spread split <= 0 always sets liquidity; moves cap at 7/3.
  b = encodeCandle({ h: 20, l: 1, c: 8, volume: 0 }, 8, 1, 0, 50);
  assert.equal(unpackByte(b), { dir: 1, move: 0, range: 3, liquidity: 1, volume: 0 });
  b = encodeCandle({ h: 30, l: 20, c: 30, volume: 0 }, 8, 1, 5, 50);
  assert.equal(unpackByte(b), { dir: 1, move: 7, range: 3, liquidity: 0, volume: 0 });
  assert.is(packByte(unpackByte(0xa7)), 0xa7);
});

test("encodeSeries: the first candle uses its own open, later ones the previous close in the series", () => {
  const cs: Candle[] = [];
  for (let i = 0; i < 96; i++) {
    const c = 10 + ((i * 3) % 7) * 0.125;
    // Candle 16 opens far above candle 15's close, so the two choices of `last` differ.
    const o = i === 16 ? c + 2 : 10 + ((i + 1) % 5) * 0.25;
    cs.push(K(i * 60_000, o, Math.max(o, c) + 0.5, Math.min(o, c) - 0.25, c, (i * 37) % 11));
  }
  const cols = toColumns(cs);
  const st = computeSeriesStats(cols);
  const bytes = encodeSeries(cols, st);
  assert.is(bytes[0], encodeCandle(cs[0]!, cs[0]!.o, st.atr[0]!, st.spreadSplit, st.volumeSplit));
  assert.is.not(cs[0]!.o, cs[0]!.c);
  // Window 2 starts at 16: its first byte's `last` is candle 15's close, not candle 16's open.
  assert.is(bytes[16], encodeCandle(cs[16]!, cs[15]!.c, st.atr[16]!, st.spreadSplit, st.volumeSplit));
  assert.is.not(cs[15]!.c, cs[16]!.o);
  assert.is(bytes[16] === encodeCandle(cs[16]!, cs[16]!.o, st.atr[16]!, st.spreadSplit, st.volumeSplit), false);
  assert.is(Buffer.from(bitsB64(bytes, 16), "base64").length, 64);
  assert.equal([...Buffer.from(bitsB64(bytes, 16), "base64")], [...bytes.subarray(16, 80)]);
  const dec = decodeWindow(bytes.subarray(0, 64), { delta_scale: 2, atr_scale: 4, volume_split: 10, spread_split: 1 });
  const f = unpackByte(bytes[0]!);
  assert.is(dec[0]!.abs_delta_est, ((f.move + 0.5) / 8) * 2);
  assert.is(dec[0]!.atr_ratio_est, ((f.range + 0.5) / 4) * 4);
  assert.is(dec[0]!.volume_est, f.volume ? 12.5 : 7.5);
});

test("windows: start = 0, 16, ... while start + 64 <= n", () => {
  assert.equal(windowStarts(63), []);
  assert.equal(windowStarts(64), [0]);
  assert.equal(windowStarts(79), [0]);
  assert.equal(windowStarts(80), [0, 16]);
  assert.is(windowStarts(3000).length, 184);
});

test.run();
