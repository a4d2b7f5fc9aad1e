/**
 * The Stage 1 status report follows the pipeline's axes (issue 12): 4 instruments on the
 * instrument axis, 9 candle weeks of which 3 are empty, coverage read from each candle file's
 * metadata as the candles rule writes it.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import corpusPart from "../../rules/corpus-part.js";
import corpus from "../../rules/corpus.js";
import stage1Status from "../../rules/stage1-status.js";
import candlesRule from "../../rules/candles.js";
import { makeNestedGates, writeGates } from "../fixtures/corpus/make-gates.js";
import { runRule, tempRoot } from "./helpers.js";
import { mondays } from "../../src/corpus/status-report.js";
import { readCandleMeta, readCandles } from "../../src/market/candle-store.js";

const root = tempRoot("status-axes");
const INSTS = ["AUD_USD", "EUR_USD", "GBP_USD", "USD_JPY"];
const WEEKS = mondays("2025-06-02", "2025-07-28"); // 9 weeks
const EMPTY = new Set(["2025-06-16", "2025-07-07", "2025-07-21"]);
const CORPUS = "output/ml_corpus/gates_2025-06-02_2025-08-04.parquet";

test.after(() => rmSync(root, { recursive: true, force: true }));

test("4 instruments x 9 weeks with 3 empty weeks: 4 instruments, the true coverage", async () => {
  assert.is(WEEKS.length, 9);
  // Candles: synthetic for the full weeks; an empty broker file (allow_empty) for the others.
  mkdirSync(join(root, "broker"), { recursive: true });
  const candles: string[] = [];
  for (const inst of INSTS) {
    for (const week of WEEKS) {
      const rel = `data/candles/${inst}/${week}.parquet`;
      if (EMPTY.has(week)) {
        const file = `broker/${inst}.csv`;
        writeFileSyncRel(file, "time,open,high,low,close,volume\n");
        await runRule(candlesRule, root, { inputs: { files: [file] }, outputs: { candles: rel }, params: { source: "files", instrument: inst, week_start: week, allow_empty: "true" } });
      } else {
        await runRule(candlesRule, root, { inputs: {}, outputs: { candles: rel }, params: { source: "synthetic", seed: "7", instrument: inst, week_start: week } });
      }
      candles.push(rel);
    }
  }
  const metas = await readCandleMeta(candles.map((c) => join(root, c)));
  // Summer weeks (US DST): both calendars open Sunday 21:00 and close Friday 21:00 UTC, so
  // a Monday-to-Monday week has 4 x 1440 + 21 x 60 + 3 x 60 = 7200 trading minutes.
  const present = new Map<string, number>();
  for (const [k, rel] of candles.entries()) {
    const c = metas[k]!.coverage!;
    assert.is(c.expected, 7200, rel);
    const n = (await readCandles([join(root, rel)])).length;
    assert.is(c.present, n, `${rel}: present = the file's candles`);
    assert.is(c.missing, 7200 - n);
    if (n === 0) assert.is(c.longest_gap_min, 7200 - 180, "an empty week's gap runs Monday 00:00 to Friday 21:00 (the Sunday hours start a new run)");
    const inst = rel.split("/")[2]!;
    present.set(inst, (present.get(inst) ?? 0) + n);
  }

  // The corpus holds the replayed weeks that had candles.
  const parts: string[] = [];
  for (const [i, week] of WEEKS.entries()) {
    if (EMPTY.has(week)) continue;
    const gates = `g/${week}.jsonl`;
    mkdirSync(join(root, "g"), { recursive: true });
    writeGates(join(root, gates), makeNestedGates({ week, mode: "rolling", perInstrument: 5, seed: 90 + i, instruments: INSTS }));
    const part = `output/ml_corpus/parts/rolling/${week}.parquet`;
    await runRule(corpusPart, root, { inputs: { gates: [gates] }, outputs: { part }, params: { run_mode: "rolling", week, source: "synthetic" } });
    parts.push(part);
  }
  await runRule(corpus, root, { inputs: { parts }, outputs: { corpus: CORPUS } });
  await runRule(stage1Status, root, {
    inputs: { corpus: [CORPUS], candles },
    outputs: { status: "output/Stage1_status.md" },
    params: { span_end: "2025-08-04", week_first: WEEKS[0], week_last: WEEKS.at(-1), modes: ["rolling"] },
  });
  const md = readFileSync(join(root, "output/Stage1_status.md"), "utf8");
  assert.match(md, /\(9 weeks x 4 instruments x 1 modes\)/);
  assert.not.match(md, /7 instruments|NZD_USD|USD_CAD|USD_CHF/);
  assert.match(md, /Present: 24 of 36 week x instrument x mode cells \(66\.7%\)/);
  assert.match(md, /4 instruments x 9 candle weeks; price side mid/);
  // Per instrument: 9 weeks of 7200 expected minutes, 3 of them empty.
  for (const inst of INSTS) {
    const have = present.get(inst)!;
    assert.ok(have > 6 * 7000, `${inst}: six synthetic weeks, ${have} candles`);
    assert.ok(md.includes(`| ${inst} | ${9 * 7200} | ${have} | ${9 * 7200 - have} | ${((100 * have) / (9 * 7200)).toFixed(1)}% | 7020 | 3 |`), `${inst} row\n${md}`);
  }
  assert.match(md, /\| 2025-06-16 \| empty \| empty \| empty \| empty \|/);
  assert.match(md, /\| 2025-06-02 \| \d{4}\/7200( \(gap \d+\))? \|/);
  assert.match(md, /Candles USD_JPY 2025-07-21: no data \(0 of \d+ trading minutes\)/);
  assert.match(md, /Week 2025-07-07: missing entirely\./);
});

function writeFileSyncRel(rel: string, text: string): void {
  mkdirSync(join(root, rel, ".."), { recursive: true });
  writeFileSync(join(root, rel), text);
}

import { writeFileSync } from "node:fs";

test.run();
