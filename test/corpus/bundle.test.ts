import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import corpusPart from "../../rules/corpus-part.js";
import corpus from "../../rules/corpus.js";
import bundle from "../../rules/bundle.js";
import { appendTransfer, readTransfers } from "../../src/engine/transfer-log.js";
import { makeNestedGates, writeGates } from "../fixtures/corpus/make-gates.js";
import { runRule, tempRoot } from "./helpers.js";

const root = tempRoot("bundle");
const STEM = "ml_corpus_2025-05-12_2025-05-26";

async function buildAll(tag: string): Promise<Buffer[]> {
  const parts: string[] = [];
  for (const [i, week] of ["2025-05-12", "2025-05-19"].entries()) {
    const gates = `output/gates/rolling/gates_${week}.jsonl`;
    mkdirSync(join(root, "output/gates/rolling"), { recursive: true });
    writeGates(join(root, gates), makeNestedGates({ week, mode: "rolling", perInstrument: 10, seed: i }));
    writeFileSync(join(root, `output/gates/rolling/roc_summary_${week}.json`), JSON.stringify({ week, n: 70 }) + "\n");
    const part = `output/ml_corpus/parts/rolling/${week}.parquet`;
    await runRule(corpusPart, root, { inputs: { gates: [gates] }, outputs: { part }, params: { run_mode: "rolling", week, source: "synthetic" } });
    parts.push(part);
  }
  await runRule(corpus, root, { inputs: { parts }, outputs: { corpus: "output/ml_corpus/gates_2025-05-12_2025-05-26.parquet" } });
  mkdirSync(join(root, "output/ml_models/baseline_xgb"), { recursive: true });
  writeFileSync(join(root, "output/ml_models/baseline_xgb/features.json"), "[]\n");
  const out = `out-${tag}`;
  await runRule(bundle, root, {
    inputs: {
      corpus: ["output/ml_corpus/gates_2025-05-12_2025-05-26.parquet"],
      summaries: ["output/gates/rolling/roc_summary_2025-05-12.json", "output/gates/rolling/roc_summary_2025-05-19.json"],
      models: ["output/ml_models/baseline_xgb"],
    },
    outputs: { bundle: `${out}/${STEM}.tgz`, manifest: `${out}/${STEM}.sha256` },
  });
  return [readFileSync(join(root, out, `${STEM}.tgz`)), readFileSync(join(root, out, `${STEM}.sha256`))];
}

test("bundle twice (from a full rebuild) is byte-identical; manifest checks with sha256sum", async () => {
  const [a, am] = await buildAll("a");
  rmSync(join(root, "output"), { recursive: true });
  const [b, bm] = await buildAll("b");
  assert.ok(a!.equals(b!), "bundle bytes differ");
  assert.is(am!.toString(), bm!.toString());
  // gzip header: no file name flag, mtime 0.
  assert.is(a![3]! & 0x08, 0, "gzip header carries a file name");
  assert.is(a!.readUInt32LE(4), 0, "gzip header carries an mtime");
  const dir = join(root, "out-a");
  const archiveOnly = spawnSync("sha256sum", ["-c", `${STEM}.sha256`, "--ignore-missing"], { cwd: dir, encoding: "utf8" });
  assert.is(archiveOnly.status, 0, archiveOnly.stdout + archiveOnly.stderr);
  assert.match(archiveOnly.stdout, new RegExp(`${STEM}\\.tgz: OK`));
  execFileSync("tar", ["-xzf", `${STEM}.tgz`], { cwd: dir });
  const full = spawnSync("sha256sum", ["-c", `${STEM}.sha256`], { cwd: dir, encoding: "utf8" });
  assert.is(full.status, 0, full.stdout + full.stderr);
  const oks = full.stdout.trim().split("\n");
  assert.is(oks.length, 6, full.stdout); // archive + index + corpus + 2 summaries + features.json
  assert.ok(oks.every((l) => l.endsWith(": OK")));
  // Tamper with an unpacked file: the check must fail.
  writeFileSync(join(dir, STEM, "output/gates/rolling/roc_summary_2025-05-12.json"), "{}\n");
  const bad = spawnSync("sha256sum", ["-c", `${STEM}.sha256`], { cwd: dir, encoding: "utf8" });
  assert.is.not(bad.status, 0);
});

test("GNU tar lists the bundle sorted, mtime 1970, root/root, fixed modes", () => {
  const listing = execFileSync("tar", ["-tzvf", join(root, "out-a", `${STEM}.tgz`), "--utc"], { encoding: "utf8" }).trim().split("\n");
  const names = listing.map((l) => l.split(/\s+/).slice(5).join(" "));
  assert.equal(names, [...names].sort());
  assert.ok(names.includes(`${STEM}/output/ml_corpus/gates_2025-05-12_2025-05-26.parquet`));
  assert.ok(names.includes(`${STEM}/output/ml_models/baseline_xgb/features.json`));
  assert.ok(names.includes(`${STEM}/BUNDLE_INDEX.json`));
  for (const l of listing) {
    assert.match(l, /^(-rw-r--r--|drwxr-xr-x) root\/root\s+\d+ 1970-01-01 00:00 /, l);
  }
  const index = JSON.parse(readFileSync(join(root, "out-a", STEM, "BUNDLE_INDEX.json"), "utf8"));
  assert.is(index.version, 2);
  assert.is(index.backtest, null, "no backtest members asked for (param backtest_weeks)");
  assert.equal(
    index.files.map((f: { path: string; input: string }) => `${f.input}:${f.path}`),
    [
      "summaries:output/gates/rolling/roc_summary_2025-05-12.json",
      "summaries:output/gates/rolling/roc_summary_2025-05-19.json",
      "corpus:output/ml_corpus/gates_2025-05-12_2025-05-26.parquet",
      "models:output/ml_models/baseline_xgb/features.json",
    ],
  );
});

test("transfer log: header + version, one row per transfer, rejects table-breaking cells", () => {
  const log = join(root, "handoff/transfer_log.md");
  const digest = "a".repeat(64);
  appendTransfer(log, { what: `output/${STEM}.tgz`, digest, size: 10, from: "droplet", to: "gpu", direction: "put", when: "2025-11-17T00:00:00Z" });
  appendTransfer(log, { what: `output/${STEM}.sha256`, digest, size: 3, from: "droplet", to: "gpu", direction: "put", when: "2025-11-17T00:00:01Z" });
  const text = readFileSync(log, "utf8");
  assert.match(text.split("\n")[0]!, /format version 1/);
  const rows = readTransfers(log);
  assert.is(rows.length, 2);
  assert.is(rows[1]!.what, `output/${STEM}.sha256`);
  assert.throws(() => appendTransfer(log, { what: "a|b", digest, size: 1, from: "x", to: "y", direction: "get", when: "2025-11-17T00:00:00Z" }), /contains "\|"/);
  assert.is(readTransfers(log).length, 2);
});

test.after(() => {
  try {
    rmSync(root, { recursive: true, force: true });
  } catch {}
});

test.run();
