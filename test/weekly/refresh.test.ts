/**
 * `dagbuild refresh`: one more week moves the span in the pipeline file (only the span ends,
 * atomically, diff shown), `refresh -n` lists exactly the actions the refresh then runs, per
 * host, and the build after it runs only the new partitions and the aggregates over the span
 * (with `retrain_every` on the model: not the model, which is held, but the scores).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cli, makeWs, parseEvents } from "../helpers/rig.js";

const PIPELINE = `version: 1
default: [scores]
axes:
  instrument: [EUR_USD, USD_JPY]
  # the research span (moved by dagbuild refresh)
  week: { span: [2025-05-12, 2025-05-26], step: week }
  candle_week: { span: ["2025-05-12", "2025-06-02"], step: week }   # one week longer (labels)
hosts:
  droplet: { transport: local }
  gpu: { transport: local }
targets:
  candles:
    partition: [instrument, candle_week]
    outputs: { c: "data/candles/{instrument}/{candle_week}.txt" }
    run: "echo {instrument} {candle_week} > {out}"
    host: droplet
  gates:
    partition: [week]
    outputs: { g: "out/gates/{week}.txt", state: "out/state/{week}.txt" }
    deps:
      candles: "data/candles/{instrument}/{week}.txt"
      tail: "data/candles/{instrument}/{week.end}.txt"
      state: "out/state/{week-1}.txt"
    run: "cat {deps} > {out.g}; (cat {deps.state} 2>/dev/null; echo {week}) > {out.state}"
    host: droplet
  corpus:
    outputs: { c: "out/corpus_{week.span}.txt" }
    deps: { g: "out/gates/{week}.txt" }
    run: "cat {deps} > {out}"
    host: droplet
  model:
    outputs: { m: out/model.txt }
    deps: { c: "out/corpus_{week.span}.txt" }
    run: "wc -l < {deps} > {out}"
    host: gpu
  scores:
    outputs: { s: out/scores.txt }
    deps: { m: out/model.txt, c: "out/corpus_{week.span}.txt" }
    run: "cat {deps} > {out}"
    host: gpu
`;

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

test("refresh -n lists exactly what refresh then runs, per host; the pipeline file changes only in the span ends", () => {
  const ws = makeWs(PIPELINE, { fake: false });
  assert.is(cli(ws, []).code, 0);
  const dry = cli(ws, ["refresh", "-n", "--json"]);
  assert.is(dry.code, 0, dry.stderr);
  assert.is(readFileSync(join(ws, "pipeline.yaml"), "utf8"), PIPELINE, "-n writes nothing");
  const planned = JSON.parse(dry.stdout) as Json;
  assert.equal(planned.edits.map((e: Json) => `${e.axis} ${e.from} ${e.to} ${e.line}`), ["week 2025-05-26 2025-06-02 6", "candle_week 2025-06-02 2025-06-09 7"]);
  const ids = (h: string) => planned.hosts[h].actions.map((a: Json) => a.id).sort();
  assert.equal(ids("droplet"), [
    "candles[instrument=EUR_USD,candle_week=2025-06-09]",
    "candles[instrument=USD_JPY,candle_week=2025-06-09]",
    "corpus",
    "gates[week=2025-06-02]",
  ]);
  assert.equal(ids("gpu"), ["model", "scores"]);
  assert.is(planned.total, 6);
  const text = cli(ws, ["refresh", "-n"]);
  assert.match(text.stdout, "-  week: { span: [2025-05-12, 2025-05-26], step: week }\n+  week: { span: [2025-05-12, 2025-06-02], step: week }");
  assert.match(text.stdout, "host droplet: 4 actions (4 run, 0 restored)");
  assert.match(text.stdout, "host gpu: 2 actions");

  const r = cli(ws, ["refresh", "--json"]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, "axes.week.span end 2025-05-26 -> 2025-06-02, axes.candle_week.span end 2025-06-02 -> 2025-06-09");
  const ran = parseEvents(r.stdout).filter((e) => e.type === "action-start").map((e) => (e as { id: string }).id).sort();
  assert.equal(ran, [...ids("droplet"), ...ids("gpu")].sort(), "the refresh runs exactly the planned set");
  // Only the two span ends changed, quoting and comments kept.
  const after = readFileSync(join(ws, "pipeline.yaml"), "utf8");
  assert.is(after, PIPELINE.replace("2025-05-26], step", "2025-06-02], step").replace('"2025-06-02"], step', '"2025-06-09"], step'));
  // The rolling chain continued from the recorded state of the week before.
  assert.is(readFileSync(join(ws, "out/state/2025-06-02.txt"), "utf8"), "2025-05-12\n2025-05-19\n2025-05-26\n2025-06-02\n");
  assert.is(cli(ws, []).code, 0);
  assert.equal(parseEvents(cli(ws, ["--json"]).stdout).filter((e) => e.type === "action-start"), [], "nothing left to do");
});

test("with retrain_every on the model, the refresh runs the new week, the aggregate and the scores; the model is held", () => {
  const ws = makeWs(PIPELINE.replace("    host: gpu\n  scores:", "    host: gpu\n    retrain_every: 4w\n  scores:"), { fake: false });
  assert.is(cli(ws, []).code, 0);
  const model = readFileSync(join(ws, "out/model.txt"), "utf8");
  const planned = JSON.parse(cli(ws, ["refresh", "-n", "--json"]).stdout) as Json;
  assert.equal(planned.hosts.gpu.actions.map((a: Json) => a.id), ["scores"]);
  assert.equal(planned.hosts.gpu.held.map((h: Json) => [h.id, h.retrain_due_in_weeks]), [["model", 3]]);
  const r = cli(ws, ["refresh", "--json"]);
  assert.is(r.code, 0, r.stderr);
  const events = parseEvents(r.stdout);
  const ran: Record<string, string[]> = {};
  for (const e of events) if (e.type === "action-start") (ran[e.host] ??= []).push(e.id);
  const held = events.filter((e) => e.type === "action-held").map((e) => (e as { id: string }).id);
  console.log(`refresh with retrain_every 4w: droplet ${ran.droplet!.length} run, gpu ${ran.gpu!.length} run (${ran.gpu!.join(", ")}), held ${held.join(", ")}`);
  assert.equal([ran.droplet!.length, ran.gpu, held], [4, ["scores"], ["model"]], "models held, scores rebuilt");
  assert.is(readFileSync(join(ws, "out/model.txt"), "utf8"), model);
  assert.match(readFileSync(join(ws, "out/scores.txt"), "utf8"), model, "the new scores read the existing model");
});

test("status shows the span and the last refresh; refresh --weeks 2; errors name the file and field", () => {
  const ws = makeWs(PIPELINE, { fake: false });
  assert.is(cli(ws, []).code, 0);
  assert.match(cli(ws, ["status"]).stdout, "span: candle_week 2025-05-12 .. 2025-06-02 (4), week 2025-05-12 .. 2025-05-26 (3)");
  const r = cli(ws, ["refresh", "--weeks", "2"]);
  assert.is(r.code, 0, r.stderr);
  const st = cli(ws, ["status", "--json"]);
  const j = JSON.parse(st.stdout) as Json;
  assert.equal(j.spans.week, { first: "2025-05-12", last: "2025-06-09", weeks: 5 });
  assert.equal(j.last_refresh.axes, { week: ["2025-05-26", "2025-06-09"], candle_week: ["2025-06-02", "2025-06-16"] });
  assert.match(cli(ws, ["status"]).stdout, /last refresh: \+2 weeks at \S+ \(week end 2025-05-26 -> 2025-06-09, candle_week end 2025-06-02 -> 2025-06-16; see git diff pipeline.yaml\)/);
  const bad = makeWs(PIPELINE.replace("2025-05-26]", "2025-05-27]"), { fake: false });
  const e = cli(bad, ["refresh"]);
  assert.is(e.code, 2);
  assert.match(e.stderr, 'pipeline.yaml:6: axes.week.span[1] "2025-05-27" is not a Monday');
  assert.is(cli(bad, ["refresh", "--weeks", "0"]).code, 2);
});

test.run();
