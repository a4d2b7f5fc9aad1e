// Epoch times in any unit common in exports (s, ms, µs, pandas ns) read as the same instant.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseFlexibleTime } from "../../src/market/weeks.js";

test("seconds, milliseconds, microseconds and nanoseconds", () => {
  const ms = 1753340760000; // 2025-07-24T07:06:00Z
  assert.is(parseFlexibleTime(ms / 1000), ms);
  assert.is(parseFlexibleTime(ms), ms);
  assert.is(parseFlexibleTime(ms * 1000), ms);
  assert.is(parseFlexibleTime("1753340760000000000"), ms);
  assert.is(parseFlexibleTime(20250724), null, "a compact date is refused, not read as 1970");
});

test.run();
