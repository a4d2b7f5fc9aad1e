/** Candle file importers: formats, cleaning with counted drops, located structural errors. */
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { cleanCandles, emptyDropCounts, formatImportReport, ImportError, importCandleFiles, parseCandleText } from "../../src/market/files.js";
import { parseTimestamp } from "../../src/market/weeks.js";

const FIX = fileURLToPath(new URL("../../../test/fixtures/market/", import.meta.url));
const T = (s: string) => parseTimestamp(s)!;

/** Runs fn, expecting an ImportError; returns it. */
async function importError(fn: () => unknown): Promise<ImportError> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof ImportError) return e;
    throw e;
  }
  throw new Error("expected an ImportError");
}

test("OANDA JSON: nanosecond times, sorting, dedupe (first kept), every drop reason counted", async () => {
  const { candles, report } = await importCandleFiles([`${FIX}oanda-candles.json`]);
  assert.equal(
    candles.map((k) => k.t),
    [T("2025-07-24T06:01:00Z"), T("2025-07-24T06:02:00Z"), T("2025-07-24T06:03:00Z"), T("2025-07-24T06:07:00.123Z")],
  );
  assert.is(candles[1]!.o, 1.1725, "the first 06:02 row wins over its duplicate");
  assert.is(candles[1]!.volume, 107);
  assert.is(report.rows, 8);
  assert.is(report.kept, 4);
  assert.equal(report.dropped, {
    ...emptyDropCounts(),
    duplicate: 1,
    high_below_body: 1,
    low_above_body: 1,
    non_positive: 1,
  });
  assert.match(formatImportReport(report), /8 rows, kept 4; dropped duplicate 1, high_below_body 1, low_above_body 1, non_positive 1/);
});

test("OANDA v20 response: string prices, incomplete candles dropped and counted", async () => {
  const { candles, report } = await importCandleFiles([`${FIX}oanda-v20.json`]);
  assert.equal(candles, [
    { t: T("2025-07-24T06:01:00Z"), o: 147.315, h: 147.317, l: 147.314, c: 147.315, volume: 166 },
    { t: T("2025-07-24T06:02:00Z"), o: 147.315, h: 147.318, l: 147.314, c: 147.317, volume: 86 },
  ]);
  assert.is(report.dropped.incomplete, 1);
});

test("OANDA CSV export (gzipped, `,volume,time,Open,...,Pair`): instrument and range filters", async () => {
  const from = T("2020-08-24T00:00:00Z");
  const { candles, report } = await importCandleFiles([`${FIX}export.csv.gz`], { instrument: "EUR_USD", fromMs: from, toMs: from + 7 * 86_400_000 - 3 * 86_400_000 });
  assert.equal(candles.map((k) => k.volume), [138, 252, 148, 134]);
  assert.equal(candles[0], { t: T("2020-08-25T07:03:00Z"), o: 1.18006, h: 1.18022, l: 1.17996, c: 1.18018, volume: 138 });
  assert.is(report.dropped.other_instrument, 1);
  assert.is(report.dropped.outside_range, 1);
  // "EUR/USD" spelling of the wanted instrument matches too.
  const jpy = await importCandleFiles([`${FIX}export.csv.gz`], { instrument: "usd/jpy" });
  assert.is(jpy.candles.length, 1);
});

test("generic CSV: column mapping, delimiter, quotes, CRLF, zone-less times at a UTC offset", async () => {
  const { candles } = await importCandleFiles([`${FIX}custom.csv`], {
    format: "csv",
    delimiter: ";",
    tzOffset: "+02:00",
    mapping: { time: "Datum", open: "Eröffnung", high: "Hoch", low: "Tief", close: "Schluss", volume: "Ticks" },
  });
  assert.equal(candles.map((k) => [k.t, k.volume]), [
    [T("2025-07-24T06:01:00Z"), 80],
    [T("2025-07-24T06:02:00Z"), 107],
  ]);
  const minutes = await importCandleFiles([`${FIX}custom.csv`], {
    delimiter: ";",
    tzOffset: -300,
    mapping: { time: "Datum", open: "Eröffnung", high: "Hoch", low: "Tief", close: "Schluss", volume: "Ticks" },
  });
  assert.is(minutes.candles[0]!.t, T("2025-07-24T13:01:00Z"), "-300 minutes = UTC-05:00");
});

test("earlier files win on duplicate times across files", async () => {
  const a = parseCandleText('time,open,high,low,close,volume\n2025-07-24T06:01:00Z,1,1,1,1,5\n', "a.csv");
  const b = parseCandleText('time,open,high,low,close,volume\n2025-07-24T06:01:00Z,2,2,2,2,6\n2025-07-24T06:00:00Z,3,3,3,3,7\n', "b.csv");
  const counts = emptyDropCounts();
  const out = cleanCandles([...a, ...b], counts);
  assert.equal(out.map((k) => k.o), [3, 1]);
  assert.is(counts.duplicate, 1);
});

test("located errors: missing column, non-numeric field, unparseable time, malformed JSON", async () => {
  let e = await importError(() => importCandleFiles([`${FIX}missing-column.csv`]));
  assert.is(e.file, `${FIX}missing-column.csv`);
  assert.is(e.line, 1);
  assert.is(e.field, "low");
  assert.match(e.message, /missing-column\.csv:1: low: no column for low/);

  e = await importError(() => importCandleFiles([`${FIX}non-numeric.csv`]));
  assert.equal([e.line, e.field], [3, "low"]);
  assert.match(e.message, /non-numeric\.csv:3: low: not a number: "n\/a"/);

  e = await importError(() => importCandleFiles([`${FIX}bad-time.json`]));
  assert.equal([e.line, e.field], [4, "time"]);
  assert.match(e.message, /unparseable time "24\/07\/2025 06:03"/);

  e = await importError(() => importCandleFiles([`${FIX}custom.csv`], { delimiter: ";", mapping: { time: "Zeit" } }));
  assert.equal([e.line, e.field], [1, "Zeit"]);

  e = await importError(() => parseCandleText('[\n{"time":"2025-07-24T06:01:00Z","open":1,"high":1,"low":1,"close":1,"volume":1},\n{"time":"2025-07-24T06:02:00Z","open":1,,"high":1}\n]', "broken.json"));
  assert.equal([e.file, e.line, e.field], ["broken.json", 3, "json"]);

  e = await importError(() => parseCandleText('[{"time":"2025-07-24T06:01:00Z","open":1,"high":1,"low":1,"close":1}]', "novol.json"));
  assert.equal([e.line, e.field], [1, "volume"]);
  assert.match(e.message, /volume: missing/);

  e = await importError(() => parseCandleText('{"candles":[\n{"time":"2025-07-24T06:01:00Z","volume":1,"mid":{"o":"1","h":"x","l":"1","c":"1"}}]}', "v20.json"));
  assert.equal([e.line, e.field], [2, "mid.h"]);

  e = await importError(() => parseCandleText("time,open,high,low,close,volume\n2025-07-24T06:01:00Z,1,1,1\n", "short.csv"));
  assert.equal([e.line, e.field], [2, "close"]);
  assert.match(e.message, /row has 4 fields, the header has 6/);

  e = await importError(() => parseCandleText("time,open,high,low,close,volume\n2025-02-30T06:01:00Z,1,1,1,1,1\n", "date.csv"));
  assert.equal([e.line, e.field], [2, "time"]);
});

test("times: RFC 3339 with nanoseconds and offsets; epoch seconds and milliseconds", () => {
  const rows = parseCandleText(
    "time,open,high,low,close,volume\n" +
      "2025-07-24T08:01:00.999999999+02:00,1,1,1,1,1\n" +
      "1753336920,1,1,1,1,1\n" +
      "1753336980000,1,1,1,1,1\n",
    "t.csv",
  );
  assert.equal(rows.map((r) => r.t), [T("2025-07-24T06:01:00.999Z"), T("2025-07-24T06:02:00Z"), T("2025-07-24T06:03:00Z")]);
  // A compact date is not an epoch time: refused, not read as 1970.
  assert.throws(() => parseCandleText("time,open,high,low,close,volume\n20250724,1,1,1,1,1\n", "d.csv"), /d\.csv:2: time: unparseable time "20250724"/);
});

test.run();
