/**
 * Outputs never land outside the workspace through a symbolic link on their way, and a log
 * that cannot be written (disk full) is reported, not an uncaught exception.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build, makeWs, read } from "../helpers/rig.js";

test("an output under a symlinked directory that points outside the workspace is refused", () => {
  const elsewhere = mkdtempSync(join(tmpdir(), "dagbuild-elsewhere-"));
  try {
    const ws = makeWs(`version: 1
targets:
  x:
    outputs: [link/x.txt]
    deps: [src.txt]
    run: "cp src.txt {out}"
`, { fake: false, files: { "src.txt": "v1\n" } });
    symlinkSync(elsewhere, join(ws, "link"));
    const r = build(ws);
    assert.is(r.code, 1, r.stdout + r.stderr);
    const failed = r.events.find((e) => e.type === "action-failed") as { message: string } | undefined;
    assert.match(failed?.message ?? "", "resolves outside the workspace");
    assert.equal(readdirSync(elsewhere), [], "nothing written outside");
    // A symlink that stays inside the workspace is fine.
    rmSync(join(ws, "link"));
    mkdirSync(join(ws, "real"));
    symlinkSync(join(ws, "real"), join(ws, "link"));
    const ok = build(ws);
    assert.is(ok.code, 0, ok.stdout + ok.stderr);
    assert.is(read(ws, "real/x.txt"), "v1\n");
  } finally {
    rmSync(elsewhere, { recursive: true, force: true });
  }
});

test("an action log that cannot be written (ENOSPC) is reported once; the build still succeeds", () => {
  if (!existsSync("/dev/full")) {
    process.stdout.write("SKIP no /dev/full to simulate a full disk\n");
    return;
  }
  const ws = makeWs(`version: 1
targets:
  chatty:
    outputs: [out/c.txt]
    deps: [src.txt]
    run: "echo line one; echo line two; cp src.txt {out}"
`, { fake: false, files: { "src.txt": "v1\n" } });
  mkdirSync(join(ws, "cache/logs"), { recursive: true });
  symlinkSync("/dev/full", join(ws, "cache/logs/chatty.log")); // every write: ENOSPC
  const r = build(ws);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.not.match(r.stderr, "Uncaught");
  const notes = r.events.filter((e) => e.type === "note").map((e) => (e as { message: string }).message);
  assert.equal(notes.filter((m) => m.includes("cannot write the log of chatty")).length, 1, notes.join("\n"));
  assert.is(read(ws, "out/c.txt"), "v1\n");
});

test.run();
