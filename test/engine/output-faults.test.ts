/**
 * Outputs never land outside the workspace through a symbolic link on their way, and a log
 * that cannot be written (disk full) is reported, not an uncaught exception.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build, buildOk, makeWs, read, write } from "../helpers/rig.js";

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

test("an output directory on another file system (a tmpfs mount) is written by copy, then rename", () => {
  const ws = makeWs(`version: 1
targets:
  x:
    outputs: [output/x.txt]
    deps: [src.txt]
    run: "cp src.txt {out} && chmod 755 {out}"
  d:
    outputs: ["output/dir/"]
    deps: [src.txt]
    run: "mkdir -p {out}/sub && cp src.txt {out}/sub/y.txt"
`, { fake: false, files: { "src.txt": "v1\n" } });
  mkdirSync(join(ws, "output"));
  const m = spawnSync("mount", ["-t", "tmpfs", "tmpfs", join(ws, "output")], { encoding: "utf8" });
  if (m.status !== 0) {
    process.stdout.write(`SKIP cannot mount a tmpfs here (${(m.stderr || "").trim()}): EXDEV not exercised\n`);
    return;
  }
  try {
    buildOk(ws);
    assert.is(read(ws, "output/x.txt"), "v1\n");
    assert.ok((statSync(join(ws, "output/x.txt")).mode & 0o111) !== 0, "mode kept by the copy");
    assert.is(read(ws, "output/dir/sub/y.txt"), "v1\n");
    write(ws, "src.txt", "v2\n");
    buildOk(ws); // replaces both across the mount
    assert.is(read(ws, "output/x.txt"), "v2\n");
    assert.is(read(ws, "output/dir/sub/y.txt"), "v2\n");
    assert.equal(readdirSync(join(ws, "output")).sort(), ["dir", "x.txt"], "no temporary names left beside the outputs");
    rmSync(join(ws, "output/x.txt"));
    const r = buildOk(ws);
    assert.equal(r.restored, ["x"]);
  } finally {
    spawnSync("umount", [join(ws, "output")]);
  }
});

test.run();
