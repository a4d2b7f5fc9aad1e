// The baseline's week split: every split gets a week, and labels never reach the next split.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { splitRows, splitWeeks, type TabularData } from "../../src/ml/features.js";

test("three weeks give one week to each split", () => {
  const s = splitWeeks(["2025-06-02", "2025-06-09", "2025-06-16"]);
  assert.equal([s.train.length, s.validation.length, s.test.length], [1, 1, 1]);
  const five = splitWeeks(["a", "b", "c", "d", "e"].map((_, i) => `2025-06-${String(2 + 7 * i).padStart(2, "0")}`));
  assert.equal([five.train.length, five.validation.length, five.test.length], [3, 1, 1]);
});

test("rows whose label horizon reaches the next split are purged", () => {
  const weeks = ["2025-06-02", "2025-06-09", "2025-06-16"];
  const at = (iso: string) => Date.parse(iso);
  const rowsAt = [
    ["2025-06-02", "2025-06-08T22:00:00Z"], // train, 2 h before validation: kept for 60 min
    ["2025-06-02", "2025-06-08T23:30:00Z"], // train, label reaches 00:30 Monday: purged
    ["2025-06-09", "2025-06-15T23:59:00Z"], // validation, reaches test: purged
    ["2025-06-09", "2025-06-10T12:00:00Z"], // validation: kept
    ["2025-06-16", "2025-06-22T23:59:00Z"], // test: never purged (nothing after it)
  ];
  const data: TabularData = {
    features: [],
    rows: rowsAt.length,
    X: new Float32Array(0),
    week: rowsAt.map((r) => r[0]!),
    ts_ms: Float64Array.from(rowsAt, (r) => at(r[1]!)),
    hazard: new Float64Array(rowsAt.length),
    forward: {},
  };
  const r = splitRows(data, splitWeeks(weeks), 60 * 60_000);
  assert.equal(r.train, [0]);
  assert.equal(r.validation, [3]);
  assert.equal(r.test, [4]);
  assert.equal(r.purged, { train: 1, validation: 1 });
  const none = splitRows(data, splitWeeks(weeks), 0);
  assert.equal(none.train, [0, 1]);
});

test.run();
