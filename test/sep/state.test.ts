/**
 * Calibrator, repetitions and admission: the stateful part of a gate (spec section 7).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { CALIBRATOR_CAPACITY, HazardCalibrator, clampPercentile } from "../../src/sep/calibrator.js";
import { RepetitionTracker } from "../../src/sep/repetitions.js";
import { admissionReasons } from "../../src/sep/admission.js";
import { REGIME_LABELS } from "../../src/sep/types.js";
import { rng } from "./helpers.js";

test("calibrator keeps a sorted list and the floor(p*(len-1)) quantile", () => {
  const c = new HazardCalibrator();
  assert.is(c.update(0.5, 0.95, undefined), 0.5); // one value: index 0
  c.insert(0.1);
  c.insert(0.9);
  c.insert(0.3);
  assert.equal(c.values, [0.1, 0.3, 0.5, 0.9]);
  assert.is(c.threshold(0.95, undefined), 0.5); // floor(0.95*3) = 2
  assert.is(c.threshold(0.99, undefined), 0.5); // floor(2.97) = 2
  assert.is(c.threshold(1, undefined), 0.5); // p clamped to 0.99
  assert.is(c.threshold(0, undefined), 0.1); // clamped to 0.05 -> floor(0.15) = 0
  assert.is(c.threshold(0.95, 0.2), 0.2); // hazard_max caps it
  assert.is(clampPercentile(0.5), 0.5);
});

test("calibrator drops the smallest at 2049 values", () => {
  const r = rng(9);
  const c = new HazardCalibrator();
  const all: number[] = [];
  for (let i = 0; i < CALIBRATOR_CAPACITY; i++) {
    const h = Math.round(r() * 511) / 511;
    all.push(h);
    c.insert(h);
  }
  assert.is(c.values.length, 2048);
  c.insert(2); // the 2049th
  all.push(2);
  all.sort((a, b) => a - b);
  assert.is(c.values.length, 2048);
  assert.equal(c.values, all.slice(1));
  for (let i = 1; i < c.values.length; i++) assert.ok(c.values[i - 1]! <= c.values[i]!);
  assert.is(c.threshold(0.95, undefined), c.values[Math.floor(0.95 * 2047)]);
  // Carried state round-trips and is checked.
  assert.equal(new HazardCalibrator(c.values).values, c.values);
  assert.throws(() => new HazardCalibrator([0.5, 0.1]), /not sorted/);
});

test("repetitions: strict retention (exactly 60 min old still counts), per signature", () => {
  const t = new RepetitionTracker();
  const R = 60 * 60_000;
  const m = (x: number): number => x * 60_000;
  assert.is(t.push("a", m(0), R), 1);
  assert.is(t.push("b", m(1), R), 1);
  assert.is(t.push("a", m(16), R), 2);
  assert.is(t.push("a", m(60), R), 3); // 60 - 0 = 60, not > 60: kept
  assert.is(t.push("a", m(61), R), 3); // 61 - 0 > 60: popped
  assert.is(t.push("a", m(200), R), 1);
  assert.is(t.push("b", m(61), R), 2); // b's own queue: 61 - 1 = 60 kept
  const st = t.toJSON(m(200), R);
  assert.equal(st, { a: [m(200)] }); // b's entries are stale at 200 and pruned from the state
  const t2 = new RepetitionTracker(st);
  assert.is(t2.push("a", m(230), R), 2);
});

test("admission: reasons in order, admit only without reasons", () => {
  const all = { admit_regimes: [...REGIME_LABELS], min_confidence: 0 };
  assert.equal(admissionReasons({ hazard: 0.4, threshold: 0.4, label: "neutral", confidence: 0.5 }, all), []);
  assert.equal(admissionReasons({ hazard: 0.41, threshold: 0.4, label: "neutral", confidence: 0.5 }, all), [
    "hazard_exceeds_adaptive_threshold",
  ]);
  assert.equal(
    admissionReasons(
      { hazard: 0.61, threshold: 0.4, label: "chaotic", confidence: 0.2 },
      { admit_regimes: ["mean_revert"], min_confidence: 0.3 },
    ),
    ["hazard_exceeds_adaptive_threshold", "hazard_fallback_requested", "regime_filtered", "regime_confidence_low"],
  );
  assert.equal(
    admissionReasons({ hazard: 0.1, threshold: 0.4, label: "neutral", confidence: 0.5 }, { admit_regimes: [], min_confidence: 0.6 }),
    ["regime_filtered", "regime_confidence_low"],
  );
});

test.run();
