/**
 * Small CLI and load edges: a target with no outputs, a negative gc age, a directory without a
 * pipeline, `-C DIR <command>`, SIGHUP, and the advice about a lock held by a foreign PID.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildOk, cli, exists, makeWs, spawnCli, waitFor } from "../helpers/rig.js";
import { loadErr, short } from "../fixtures/pipelines/rig.js";

test("outputs: [] is a located error", async () => {
  const d = await loadErr({ "pipeline.yaml": ["version: 1", "targets:", "  a:", "    outputs: []", "    run: echo hi"] });
  assert.equal(d.map(short), ["pipeline.yaml:4:14 schema"]);
  assert.match(d[0]!.message, "no outputs");
});

test("gc --max-age must be a non-negative number of days", () => {
  const ws = makeWs(`version: 1\ntargets:\n  a:\n    outputs: [out/a]\n    run: "echo a > {out}"\n`, { fake: false });
  for (const bad of ["-1", "abc", ""]) {
    const r = cli(ws, ["gc", `--max-age=${bad}`]);
    assert.is(r.code, 2, `--max-age=${bad}: ${r.stderr}`);
    assert.match(r.stderr, "--max-age");
  }
  assert.is(cli(ws, ["gc", "--max-age", "0"]).code, 0);
});

test("a directory without a pipeline: exit 2, and no cache/ is created there", () => {
  const dir = mkdtempSync(join(tmpdir(), "dagbuild-empty-"));
  try {
    const r = cli(dir, []);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, "not found");
    assert.equal(readdirSync(dir), [], "nothing written");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("dagbuild -C DIR explain X runs the explain command in DIR", () => {
  const ws = makeWs(`version: 1\ntargets:\n  a:\n    outputs: [out/a]\n    run: "echo a > {out}"\n`, { fake: false });
  buildOk(ws);
  const elsewhere = mkdtempSync(join(tmpdir(), "dagbuild-cwd-"));
  try {
    const r = cli(elsewhere, ["-C", ws, "explain", "a"]);
    assert.is(r.code, 0, r.stderr);
    assert.not.match(r.stderr, "unknown target");
    assert.match(r.stdout, /^a: up to date/m, "explain spoke of DIR's target a");
    assert.is(cli(elsewhere, ["-C", ws, "status"]).code, 0);
  } finally {
    rmSync(elsewhere, { recursive: true, force: true });
  }
});

test("SIGHUP cancels running actions: no orphaned child, no staging left", async () => {
  const ws = makeWs(`version: 1
targets:
  slow:
    outputs: [out/slow]
    run: "echo $$ > child.pid; while true; do sleep 0.05; done"
`, { fake: false });
  const bg = spawnCli(ws, ["-j", "1"]);
  await waitFor(() => exists(ws, "child.pid") && readFileSync(join(ws, "child.pid"), "utf8").trim() !== "", "the child started");
  const child = Number(readFileSync(join(ws, "child.pid"), "utf8").trim());
  process.kill(bg.pid, "SIGHUP");
  const r = await bg.exited;
  assert.is(r.code, 130, `exit ${r.code} ${r.signal}: ${bg.stderr()}`);
  await waitFor(() => {
    try {
      process.kill(child, 0);
      return false;
    } catch {
      return true;
    }
  }, "the child to be gone");
  const tmp = join(ws, "cache/tmp");
  assert.equal(existsSync(tmp) ? readdirSync(tmp) : [], [], "staging removed");
});

test("a lock held by PID 1 (not a dagbuild) is never answered with 'kill 1'", () => {
  const ws = makeWs(`version: 1\ntargets:\n  a:\n    outputs: [out/a]\n    run: "echo a > {out}"\n`, { fake: false });
  buildOk(ws);
  writeFileSync(join(ws, "cache/lock"), "1\n");
  const r = cli(ws, ["--json"]);
  assert.is(r.code, 75);
  assert.not.match(r.stderr, "kill 1");
  assert.match(r.stderr, "does not look like a dagbuild build");
});

test.run();
