/**
 * Report plots: each renders an SVG with its title and one mark per data item, and the bytes
 * are a pure function of the data (the same in a second render, a second process and another
 * time zone).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { calibration } from "../../src/ml/eval.js";
import { calibrationSvg, learningCurveSvg, lineSvg, renderSvg, PLOT_FORMAT_VERSION } from "../../src/report/plots.js";

function count(svg: string, re: RegExp): number {
  return (svg.match(re) ?? []).length;
}

function sha(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

/** Probabilities skewed low with labels drawn from them; only some of the 15 bins are filled. */
function calibData() {
  let s = 3;
  const r = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const p = Float64Array.from({ length: 800 }, () => 0.6 * r() ** 2);
  const y = Uint8Array.from(p, (v) => (r() < v ? 1 : 0));
  return calibration(p, y).bins;
}

const EPOCHS = Array.from({ length: 9 }, (_, i) => ({
  epoch: i + 1,
  train_loss: 0.7 - 0.03 * i,
  val_loss: 0.69 - 0.01 * i + (i > 5 ? 0.015 * (i - 5) : 0),
  val_auc: i === 4 ? null : 0.5 + 0.01 * Math.min(i, 5),
}));

const NAV = {
  series: [
    { name: "model", points: [{ x: "2024-01-05", y: 1 }, { x: "2024-01-12", y: 1.02 }, { x: "2024-01-19", y: 1.01 }] },
    { name: "buy and hold", points: [{ x: "2024-01-05", y: 1 }, { x: "2024-01-12", y: 0.99 }, { x: "2024-01-19", y: 1.005 }] },
  ],
  xTitle: "week",
  yTitle: "NAV",
  xType: "temporal" as const,
};

test("calibration: an SVG with the title, one bar and one point per filled bin, the diagonal", async () => {
  const bins = calibData();
  const filled = bins.filter((b) => b.count > 0).length;
  assert.ok(filled > 3 && filled < 15, `filled bins ${filled}`);
  const svg = await calibrationSvg(bins, "LSTM <test> & calibration");
  assert.ok(svg.startsWith("<svg "), svg.slice(0, 40));
  assert.ok(svg.trimEnd().endsWith("</svg>"));
  assert.ok(svg.includes("LSTM &lt;test&gt; &amp; calibration"), "escaped title");
  assert.ok(svg.includes(`Format version ${PLOT_FORMAT_VERSION}`), "header comment");
  assert.is(count(svg, /aria-roledescription="bar"/g), filled);
  assert.is(count(svg, /aria-roledescription="point"/g), filled);
  assert.is(count(svg, /aria-roledescription="line mark"/g), 2); // diagonal + reliability curve
  for (const b of bins.filter((b) => b.count > 0)) assert.ok(svg.includes(`>${b.count}</text>`), `count label ${b.count}`);
  assert.is(count(svg, /<svg/g), 1);
  assert.is(count(svg, /<g/g), count(svg, /<\/g>/g), "balanced groups");
});

test("learning curve: three series of points, the best epoch marked in both panels, a null leaves a gap", async () => {
  const svg = await learningCurveSvg(EPOCHS, 6, "GRU learning curve");
  assert.ok(svg.startsWith("<svg "));
  assert.ok(svg.includes("GRU learning curve"));
  assert.is(count(svg, /aria-roledescription="point"/g), 9 + 9 + 8);
  assert.is(count(svg, />best epoch 6<\/text>/g), 2);
  assert.ok(svg.includes("validation AUC") && svg.includes("train loss") && svg.includes("validation loss"));
});

test("renders are byte-identical: twice in one process, with clipping counters reset", async () => {
  const bins = calibData();
  const a = await calibrationSvg(bins, "c");
  const b = await calibrationSvg(bins, "c");
  assert.is(a, b);
  assert.is(await learningCurveSvg(EPOCHS, 6, "l"), await learningCurveSvg(EPOCHS, 6, "l"));
  // A clipped mark gets a clip id from a process-wide counter; renderSvg resets it each time.
  const clipped = { data: { values: [{ x: 0, y: 1 }, { x: 2, y: 3 }] }, mark: { type: "line", clip: true }, encoding: { x: { field: "x", type: "quantitative" }, y: { field: "y", type: "quantitative" } } };
  const c1 = await renderSvg(clipped);
  const c2 = await renderSvg(clipped);
  assert.ok(c1.includes('clip-path="url(#clip1)"'), "a clip id is emitted");
  assert.is(c1, c2);
  // A different input does change the bytes (the comparison can fail).
  assert.is.not(await calibrationSvg(bins.map((b, i) => (i === 0 ? { ...b, count: b.count + 1 } : b)), "c"), a);
});

test("renders are byte-identical in another process and another time zone (temporal axis included)", async () => {
  const here = sha(await lineSvg("NAV", NAV)) + " " + sha(await calibrationSvg(calibData(), "c"));
  const plotsUrl = new URL("../../src/report/plots.js", import.meta.url).href;
  const evalUrl = new URL("../../src/ml/eval.js", import.meta.url).href;
  const script = `
    import { createHash } from "node:crypto";
    import { lineSvg, calibrationSvg } from ${JSON.stringify(plotsUrl)};
    import { calibration } from ${JSON.stringify(evalUrl)};
    const sha = (s) => createHash("sha256").update(s).digest("hex");
    let s = 3;
    const r = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
    const p = Float64Array.from({ length: 800 }, () => 0.6 * r() ** 2);
    const y = Uint8Array.from(p, (v) => (r() < v ? 1 : 0));
    const nav = ${JSON.stringify(NAV)};
    process.stdout.write(sha(await lineSvg("NAV", nav)) + " " + sha(await calibrationSvg(calibration(p, y).bins, "c")));
  `;
  for (const tz of ["UTC", "America/Los_Angeles", "Asia/Kolkata"]) {
    const there = execFileSync(process.execPath, ["--input-type=module", "-e", script], { env: { ...process.env, TZ: tz }, encoding: "utf8" });
    assert.is(there, here, `TZ=${tz}`);
  }
});

test("temporal lines: one point per row, series in the order given, dates on a UTC axis", async () => {
  const svg = await lineSvg("NAV", NAV);
  assert.is(count(svg, /aria-roledescription="point"/g), 6);
  assert.ok(svg.indexOf(">model</text>") < svg.indexOf(">buy and hold</text>"), "legend order");
  assert.ok(svg.includes("2024-01-"), "date-formatted ticks");
});

test.run();
