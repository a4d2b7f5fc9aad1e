// Week-level label edge cases: a holiday gap after the week, and data that really ends.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { generateCandles } from "../../src/market/synthetic.js";
import { replayWeek } from "../../src/sep/week.js";
import { DEFAULT_PROFILE } from "../../src/sep/profile.js";

const DAY = 86_400_000;
const W = Date.UTC(2025, 4, 12); // a Monday
const E = W + 7 * DAY;
const all = generateCandles("EUR_USD", W, W + 14 * DAY, { seed: 1 });
const week = all.filter((k) => k.t < W + 4 * DAY + 21 * 3_600_000); // ends Friday 21:00

function lastGate(tail: typeof all) {
  const out = replayWeek({
    candles: new Map([["EUR_USD", [...week, ...tail]]]),
    startMs: W,
    endMs: E,
    weekStart: "2025-05-12",
    weekEnd: "2025-05-19",
    mode: "rolling",
    profile: DEFAULT_PROFILE,
    state: undefined,
  });
  return out.gates.at(-1)!;
}

test("a holiday gap after the week: late-Friday labels are Friday's close, complete", () => {
  const tail = all.filter((k) => k.t >= E + DAY); // next data only on Tuesday
  const g = lastGate(tail);
  assert.is(g.label_complete, true);
  const fridayClose = week.at(-1)!.c;
  for (const h of [5, 60, 360]) {
    const target = g.ts_ms + h * 60_000;
    const asof = [...week, ...tail].filter((k) => k.t <= target).at(-1)!;
    assert.is(asof.c, fridayClose, `horizon ${h} falls in the gap`);
    assert.ok(Math.abs(g.roc_forward_pct[String(h)]! - 100 * (fridayClose / g.price_close - 1)) < 1e-12, `horizon ${h}: Friday's close`);
  }
});

test("no data after the week: labels past the data are incomplete, not invented", () => {
  const g = lastGate([]);
  assert.is(g.label_complete, false);
  assert.is(g.roc_forward_pct["360"], null);
});

test.run();
