/**
 * Stat stamps include the ctime: a content change that keeps size, mtime and inode (`cp -p`
 * of a same-size file, `git checkout` of files with equal mtimes) is still seen. And a re-hash
 * that finds an output unchanged refreshes its stamp, so the no-op fast path hits again.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildOk, cli, makeWs, read } from "../helpers/rig.js";
import { engineFiles, RACY_MS } from "../../src/engine/cache/noop-writer.js";

process.env.DAGBUILD_TRACE_NOOP = "1";

const PIPELINE = `version: 1
targets:
  a:
    outputs: [out/a.txt]
    deps: [src.txt]
    run: "cat {deps} > {out}"
`;

/** Rewrites a file in place with same-size content and puts its mtime back (what cp -p does). */
function sameStampRewrite(file: string, text: string): void {
  const st = statSync(file);
  assert.is(Buffer.byteLength(text), st.size);
  writeFileSync(file, text);
  utimesSync(file, st.atime, st.mtime);
  const now = statSync(file);
  assert.equal([now.size, now.mtimeMs, now.ino], [st.size, st.mtimeMs, st.ino], "size, mtime and inode kept");
}

async function engineSettled(): Promise<void> {
  const newest = Math.max(...engineFiles().map((f) => statSync(f).mtimeMs));
  const wait = newest + RACY_MS + 50 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

const trace = (stderr: string) => /no-op manifest: (.*)/.exec(stderr)?.[1] ?? "(none)";

test("a source rewritten with the same size, mtime and inode is rebuilt (full check and fast path)", async () => {
  await engineSettled();
  const ws = makeWs(PIPELINE, { fake: false, files: { "src.txt": "aaaa\n" } });
  const old = Date.now() / 1000 - 60;
  utimesSync(join(ws, "src.txt"), old, old);
  utimesSync(join(ws, "pipeline.yaml"), old, old);
  buildOk(ws);
  sameStampRewrite(join(ws, "src.txt"), "bbbb\n");
  const plain = cli(ws, []);
  assert.is(plain.code, 0, plain.stderr);
  assert.is.not(trace(plain.stderr), "hit", "the fast path must not answer");
  assert.is(read(ws, "out/a.txt"), "bbbb\n");
});

test("an output re-hashed and found unchanged gets a fresh stamp: the fast path hits again", async () => {
  await engineSettled();
  const ws = makeWs(PIPELINE, { fake: false, files: { "src.txt": "aaaa\n" } });
  const old = Date.now() / 1000 - 60;
  utimesSync(join(ws, "src.txt"), old, old);
  utimesSync(join(ws, "pipeline.yaml"), old, old);
  buildOk(ws);
  assert.is(trace(cli(ws, []).stderr), "hit");
  const t = Date.now() / 1000 - 30;
  utimesSync(join(ws, "out/a.txt"), t, t); // touched: same content
  const second = cli(ws, []);
  assert.match(trace(second.stderr), "output-changed out/a.txt");
  assert.match(second.stderr, "nothing to do");
  const third = cli(ws, []);
  assert.is(trace(third.stderr), "hit", "the refreshed stamp matches");
});

test.run();
