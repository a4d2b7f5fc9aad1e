// The modelling report from real (tiny) models: Markdown with the verdict and every model, and
// an HTML page that headless Chromium loads and renders with its table and inline plots.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { RuleError } from "../../src/engine/rule.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import trainingRule from "../../rules/ml-training.js";
import modelRule from "../../rules/ml-model.js";
import reportRule from "../../rules/ml-report.js";
import { runRule, tempRoot } from "../corpus/helpers.js";
import { makeRows, writeCorpus } from "../stage2/make-corpus.js";

const root = tempRoot("ml-report");
const WEEKS = ["2025-05-12", "2025-05-19", "2025-05-26", "2025-06-02", "2025-06-09"];
const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));

test.before(async () => {
  await writeCorpus(join(root, "in/c.parquet"), makeRows({ weeks: WEEKS }));
  await runRule(trainingRule, root, { inputs: { corpus: ["in/c.parquet"] }, outputs: { data: "output/ml_training/" }, params: { seq_lengths: [8] } });
  for (const [name, p] of [
    ["lstm", { model: "lstm", units: 4 }],
    ["transformer", { model: "transformer", d_model: 8, heads: 2, layers: 1, ff: 8 }],
  ] as const)
    await runRule(modelRule, root, { inputs: { training: ["output/ml_training"] }, outputs: { model: `output/ml_models/${name}/` }, params: { ...p, seq_len: 8, epochs: 1, bootstrap: 20, threads: 1 } });
  await runRule(reportRule, root, {
    inputs: { training: ["output/ml_training"], models: ["output/ml_models/lstm", "output/ml_models/transformer"] },
    outputs: { markdown: "output/ML_Modeling_Report.md", html: "output/report/" },
  });
});
test.after(() => rmSync(root, { recursive: true, force: true }));

test("the Markdown report states the verdict, the splits and every model", () => {
  const md = readFileSync(join(root, "output/ML_Modeling_Report.md"), "utf8");
  assert.match(md, /format version 1/);
  assert.match(md, /\*\*(No model beats the hazard heuristic|.* beats? the hazard heuristic)/);
  assert.match(md, /Train 2025-05-12 \.\. 2025-05-26 \(3 weeks\); validation 2025-06-02 \.\. 2025-06-02 \(1 week\)/);
  for (const m of ["lstm", "transformer"]) assert.match(md, new RegExp(`^\\| ${m} \\|`, "m"));
  assert.match(md, /fitted on training rows; early stopping, the decision threshold and the heuristic's calibrator on validation weeks/);
});

test("a features.json of another format version is a located error naming the file and the version", async () => {
  const fj = JSON.parse(readFileSync(join(root, "output/ml_training/features.json"), "utf8"));
  for (const [dir, body, found] of [
    ["output/ml_training_v2", { ...fj, version: 2 }, "version 2"],
    ["output/ml_training_nover", { splits: fj.splits }, "format undefined version undefined"],
  ] as const) {
    mkdirSync(join(root, dir), { recursive: true });
    writeFileSync(join(root, dir, "features.json"), JSON.stringify(body));
    const err = await runRule(reportRule, root, {
      inputs: { training: [dir], models: ["output/ml_models/lstm"] },
      outputs: { markdown: "output/bad.md", html: "output/bad_report/" },
    }).then(() => null, (e: Error) => e);
    assert.ok(err instanceof RuleError, `${dir}: ${String(err)}`);
    assert.match(err.message, `${dir}/features.json: `);
    assert.match(err.message, found);
    assert.match(err.message, "expected dagbuild.ml_training version 1");
    assert.not.ok(existsSync(join(root, "output/bad.md")), "no report from an unreadable summary");
  }
});

(CHROMIUM ? test : test.skip)("headless Chromium renders the HTML page: the table, one section and two plots per model", () => {
  const page = join(root, "output/report/index.html");
  const profile = mkdtempSync(join(tmpdir(), "dagbuild-chromium-"));
  const flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", `--user-data-dir=${profile}`];
  try {
    const dom = spawnSync(CHROMIUM!, [...flags, "--dump-dom", `file://${page}`], { encoding: "utf8", timeout: 60_000 });
    assert.is(dom.status, 0, dom.stderr);
    const html = dom.stdout;
    assert.is((html.match(/<tr data-model=/g) ?? []).length, 2, "one table row per model");
    assert.is((html.match(/<section class="model"/g) ?? []).length, 2);
    assert.is((html.match(/<svg/g) ?? []).length, 4, "calibration + learning curve per model");
    assert.match(html, /<p id="headline"><strong>/);
    const png = join(profile, "shot.png");
    const shot = spawnSync(CHROMIUM!, [...flags, "--window-size=1200,1600", `--screenshot=${png}`, `file://${page}`], { encoding: "utf8", timeout: 60_000 });
    assert.is(shot.status, 0, shot.stderr);
    assert.ok(statSync(png).size > 20_000, "a rendered page, not a blank one");
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
});
if (!CHROMIUM) console.log("SKIP report in Chromium: /usr/bin/chromium not installed (apt-get install chromium)");

test.run();
