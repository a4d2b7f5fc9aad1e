/**
 * CAS integrity: a blob is verified while it is copied out (restore), a corrupt blob is moved
 * to cache/quarantine/ and the action runs instead, and `verify` re-checks the blobs the
 * current records use, repairing them from the workspace where the output still matches.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildOk, cli, makeWs, read, write } from "../helpers/rig.js";
import { hashFile } from "../../src/engine/hash.js";

const PIPELINE = `version: 1
targets:
  a:
    outputs: [out/a.txt]
    deps: [src.txt]
    run: "cat {deps} > {out}"
  b:
    outputs: [out/b.txt]
    deps: [src.txt]
    run: "cat {deps} > {out}"
`;

function blobOf(ws: string, digest: string): string {
  return join(ws, "cache/cas", digest.slice(0, 2), digest);
}

/** The digest recorded for output `path` in the state index. */
function recordedDigest(ws: string, path: string): string {
  let d = "";
  for (const line of read(ws, "cache/state.v1.jsonl").split("\n").slice(1)) {
    if (!line) continue;
    const rec = JSON.parse(line);
    for (const o of Object.values((rec.o ?? {}) as Record<string, { p: string; d: string }>)) if (o.p === path) d = o.d;
  }
  if (!d) throw new Error(`no record of ${path}`);
  return d;
}

/** Flips the first byte of a file, keeping its size and mtime. */
function flipByte(file: string): void {
  const st = statSync(file);
  const buf = readFileSync(file);
  buf[0] = buf[0]! ^ 0xff;
  writeFileSync(file, buf);
  utimesSync(file, st.atime, st.mtime);
}

test("a corrupt blob is not restored: it is quarantined, the action reruns, the CAS is repaired", () => {
  // a and b produce the same bytes: one blob shared by two outputs.
  const ws = makeWs(PIPELINE, { fake: false, files: { "src.txt": "good content\n" } });
  buildOk(ws);
  const d = recordedDigest(ws, "out/a.txt");
  assert.is(recordedDigest(ws, "out/b.txt"), d, "one shared blob");
  flipByte(blobOf(ws, d));
  rmSync(join(ws, "out/a.txt"));
  rmSync(join(ws, "out/b.txt"));
  const r = buildOk(ws);
  assert.equal(r.restored, [], "nothing restored from a corrupt blob");
  assert.equal(r.executed, ["a", "b"], "both actions ran instead");
  assert.is(read(ws, "out/a.txt"), "good content\n");
  assert.is(read(ws, "out/b.txt"), "good content\n");
  assert.is(hashFile(blobOf(ws, d)).digest, d, "the CAS holds a good blob again");
  const q = join(ws, "cache/quarantine");
  assert.ok(existsSync(q) && readdirSync(q).some((f) => f.startsWith(d)), "the bad blob was moved aside, not deleted");
  assert.match(r.stdout, "corrupt");
});

test("a truncated blob is never restored, and the next put replaces it", () => {
  const ws = makeWs(PIPELINE, { fake: false, files: { "src.txt": "v1\n" } });
  buildOk(ws);
  const d = recordedDigest(ws, "out/a.txt");
  // Truncated blob (a torn write): size differs from the digest's content.
  writeFileSync(blobOf(ws, d), "");
  write(ws, "src.txt", "v2\n");
  buildOk(ws);
  write(ws, "src.txt", "v1\n");
  const r = buildOk(ws);
  assert.is(read(ws, "out/a.txt"), "v1\n", "never the truncated blob");
  assert.ok(r.executed.length + r.restored.length === 2);
  assert.is(hashFile(blobOf(ws, d)).digest, d);
});

test("verify finds a corrupt blob, repairs it from the matching output, reports what it cannot repair", () => {
  const ws = makeWs(PIPELINE.replace("cat {deps} > {out}\"\n  b:", "cat {deps} > {out} && echo a >> {out}\"\n  b:"), { fake: false, files: { "src.txt": "x\n" } });
  buildOk(ws);
  const da = recordedDigest(ws, "out/a.txt");
  const db = recordedDigest(ws, "out/b.txt");
  assert.is.not(da, db);
  flipByte(blobOf(ws, da));
  flipByte(blobOf(ws, db));
  write(ws, "out/b.txt", "hand edit\n"); // b's output no longer matches: its blob cannot be repaired from it
  const v = cli(ws, ["verify"]);
  assert.is(v.code, 1, v.stdout + v.stderr);
  assert.match(v.stdout, /REPAIRED .*out\/a\.txt/);
  assert.match(v.stdout, /CORRUPT .*out\/b\.txt/);
  assert.is(hashFile(blobOf(ws, da)).digest, da, "a's blob repaired from out/a.txt");
  assert.not.ok(existsSync(blobOf(ws, db)), "b's bad blob is no longer in the CAS");
  assert.ok(readdirSync(join(ws, "cache/quarantine")).some((f) => f.startsWith(db)), "but kept in quarantine");
  // The next build reruns b (its output was modified and its blob is gone) and all is well.
  const r = buildOk(ws);
  assert.equal(r.executed, ["b"]);
  const again = cli(ws, ["verify"]);
  assert.is(again.code, 0, again.stdout);
});

test.run();
