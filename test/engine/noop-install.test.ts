/**
 * A no-op manifest answers only for the engine install that wrote it: a second install of
 * dagbuild (a side-by-side checkout, possibly another key schema) run in the same workspace
 * misses and takes the full check.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, statSync, symlinkSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildOk, cli, makeWs, REPO } from "../helpers/rig.js";
import { engineFiles, RACY_MS } from "../../src/engine/cache/noop-writer.js";

async function engineSettled(): Promise<void> {
  const newest = Math.max(...engineFiles().map((f) => statSync(f).mtimeMs));
  const wait = newest + RACY_MS + 50 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

test("a manifest written by one install is a miss for another", async () => {
  await engineSettled();
  const other = mkdtempSync(join(tmpdir(), "dagbuild-install-"));
  try {
    for (const p of ["dist/src", "bin", "package.json", "schema"]) cpSync(join(REPO, p), join(other, p), { recursive: true });
    symlinkSync(join(REPO, "node_modules"), join(other, "node_modules"));
    const ws = makeWs(`version: 1\ntargets:\n  a:\n    outputs: [out/a]\n    deps: [src.txt]\n    run: "cp src.txt {out}"\n`, { fake: false, files: { "src.txt": "x\n" } });
    const old = Date.now() / 1000 - 60;
    for (const f of ["src.txt", "pipeline.yaml"]) utimesSync(join(ws, f), old, old);
    buildOk(ws);
    const env = { ...process.env, DAGBUILD_TRACE_NOOP: "1", CI: "1", FORCE_COLOR: "0" };
    const mine = cli(ws, []);
    assert.match(mine.stderr, "nothing to do");
    const r = spawnSync(process.execPath, [join(other, "bin", "dagbuild")], { cwd: ws, env, encoding: "utf8", timeout: 30_000 });
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stderr, "no-op manifest: engine", "the other install does not take this one's manifest");
  } finally {
    rmSync(other, { recursive: true, force: true });
  }
});

test.run();
