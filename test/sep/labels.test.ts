/**
 * Forward-return labels by time (close_asof), across the weekend gap and at the data's end.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { closeAsof, forwardLabels, labelSeries, rocPrevPct } from "../../src/sep/labels.js";
import { replayInstrument } from "../../src/sep/replay.js";
import { profile, walk } from "./helpers.js";

const MIN = 60_000;
const FRI_2059 = Date.UTC(2025, 6, 25, 20, 59); // Friday
const SUN_2100 = Date.UTC(2025, 6, 27, 21, 0);

function series(points: [number, number][]) {
  return labelSeries(Float64Array.from(points.map((p) => p[0])), Float64Array.from(points.map((p) => p[1])), []);
}

test("close_asof looks up by time, not by count (gaps take the last close before)", () => {
  const s = series([[0, 1], [MIN, 2], [10 * MIN, 3], [20 * MIN, 4]]);
  assert.is(closeAsof(s, 0), 1);
  assert.is(closeAsof(s, 5 * MIN), 2); // minutes 2..9 missing
  assert.is(closeAsof(s, 10 * MIN), 3);
  assert.is(closeAsof(s, 21 * MIN), null); // past the data
});

test("labels across the weekend gap use Friday's close; with the next week present they are complete", () => {
  const week = labelSeries(
    Float64Array.from([FRI_2059 - 2 * MIN, FRI_2059 - MIN, FRI_2059]),
    Float64Array.from([1.0, 1.1, 1.2]),
    [{ t: SUN_2100, c: 1.5 }, { t: SUN_2100 + MIN, c: 1.6 }],
  );
  const lab = forwardLabels(week, FRI_2059 - MIN, 1.1);
  assert.is(lab.label_complete, true);
  for (const h of ["5", "15", "30", "60", "90", "240", "360"]) {
    assert.ok(Math.abs(lab.roc_forward_pct[h]! - 100 * (1.2 / 1.1 - 1)) < 1e-12, `h=${h}`);
    assert.is(lab.label_complete_h[h], true);
  }
  // Without the next week the data ends at Friday 20:59: only horizons that land on data count.
  const noTail = series([[FRI_2059 - 10 * MIN, 1.0], [FRI_2059, 1.2]]);
  const l2 = forwardLabels(noTail, FRI_2059 - 10 * MIN, 1.0);
  assert.is(l2.label_complete, false);
  assert.is(l2.label_complete_h["5"], true);
  assert.is(l2.roc_forward_pct["5"], 0);
  assert.is(l2.label_complete_h["15"], false);
  assert.is(l2.roc_forward_pct["15"], null);
  assert.is(l2.roc_forward_pct["360"], null);
});

test("roc_prev_pct is percent against the previous close", () => {
  assert.ok(Math.abs(rocPrevPct(1.01, 1)! - 1) < 1e-12);
  assert.is(rocPrevPct(1, undefined), null);
});

test("replay: last gates of a series are incomplete without a tail, complete with one", () => {
  const start = Date.UTC(2025, 6, 21);
  const all = walk(5, start, 7200 + 500);
  const week = all.filter((k) => k.t < start + 7 * 86_400_000);
  const tail = all.filter((k) => k.t >= start + 7 * 86_400_000);
  const opts = { instrument: "EUR_USD", runMode: "isolation" as const };
  const a = replayInstrument(week, [], profile(), undefined, opts).gates;
  const b = replayInstrument(week, tail, profile(), undefined, opts).gates;
  assert.is(a.length, b.length);
  const lastA = a[a.length - 1]!;
  const lastB = b[b.length - 1]!;
  assert.is(lastA.label_complete, false);
  assert.is(lastA.roc_forward_pct["360"], null);
  assert.is(lastB.label_complete, true);
  assert.type(lastB.roc_forward_pct["360"], "number");
  // Early gates do not depend on the tail.
  assert.equal(a[0]!.roc_forward_pct, b[0]!.roc_forward_pct);
  assert.is(a[0]!.label_complete, true);
  // price_close is the window's last close; ROC matches a direct lookup.
  const g = b[10]!;
  const idx = week.findIndex((k) => k.t === g.ts_ms);
  assert.is(g.price_close, week[idx]!.c);
  assert.ok(Math.abs(g.roc_prev_pct! - 100 * (week[idx]!.c / week[idx - 1]!.c - 1)) < 1e-12);
  const target = g.ts_ms + 60 * MIN;
  const asof = [...week].reverse().find((k) => k.t <= target)!;
  assert.ok(Math.abs(g.roc_forward_pct["60"]! - 100 * (asof.c / g.price_close - 1)) < 1e-12);
});

test.run();
