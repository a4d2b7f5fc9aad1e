/**
 * Contract of the bulk stamp comparison (src/engine/cache/stat-stamps.ts): the native helper
 * and the JavaScript loop give the same answer on every kind of change, and a recorded stamp
 * (Node's mtimeMs, to the last bit) compares equal in both.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { chmodSync, mkdtempSync, renameSync, rmSync, statSync, utimesSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { firstChangedJs, nativeStatStamps, stampOf } from "../../src/engine/cache/stat-stamps.js";

type Impl = (root: string, paths: readonly string[], stamps: ArrayLike<number>) => number;
const impls: [string, Impl][] = [["javascript", firstChangedJs]];
const native = nativeStatStamps();
if (native) impls.push(["native", (root, paths, stamps) => native.firstChanged(root, paths, Float64Array.from(stamps))]);
else process.stdout.write("SKIP native stat helper not built (scripts/build-native.mjs): JavaScript only\n");

const created: string[] = [];
process.on("exit", () => {
  for (const d of created) rmSync(d, { recursive: true, force: true });
});

function workspace(n: number): { root: string; paths: string[]; stamps: number[] } {
  const root = mkdtempSync(join(tmpdir(), "dagbuild-stamps-"));
  created.push(root);
  const paths: string[] = [];
  for (let k = 0; k < n; k++) {
    const p = `d${k % 3}/sub/f${k}.txt`;
    mkdirSync(join(root, `d${k % 3}/sub`), { recursive: true });
    writeFileSync(join(root, p), `file ${k}\n`);
    // Sub-millisecond mtimes: the recorded double must match to the last bit.
    const t = 1_700_000_000.123456789 + k * 0.000_001_003;
    utimesSync(join(root, p), t, t);
    paths.push(p);
  }
  const stamps = paths.flatMap((p) => {
    return stampOf(statSync(join(root, p)));
  });
  return { root, paths, stamps };
}

const CHANGES: [string, (root: string, p: string) => void][] = [
  ["content with a new size", (root, p) => writeFileSync(join(root, p), "longer content\n")],
  [
    "same size, new mtime",
    (root, p) => {
      const st = statSync(join(root, p));
      utimesSync(join(root, p), st.atime, new Date(st.mtimeMs + 1));
    },
  ],
  [
    "replaced by a file with the same size and mtime (new inode)",
    (root, p) => {
      const st = statSync(join(root, p));
      const tmp = join(root, "replacement");
      writeFileSync(tmp, "x".repeat(st.size));
      utimesSync(tmp, st.atimeMs / 1000, st.mtimeMs / 1000);
      renameSync(tmp, join(root, p));
    },
  ],
  [
    "rewritten in place with the same size, mtime put back (cp -p, git checkout): only the ctime moved",
    (root, p) => {
      const st = statSync(join(root, p));
      writeFileSync(join(root, p), "X".repeat(st.size));
      utimesSync(join(root, p), st.atime, st.mtime);
    },
  ],
  ["chmod (only the ctime moved)", (root, p) => chmodSync(join(root, p), 0o755)],
  ["deleted", (root, p) => rmSync(join(root, p))],
];

for (const [name, impl] of impls) {
  test(`${name}: unchanged files match, including sub-millisecond mtimes`, () => {
    const w = workspace(50);
    assert.is(impl(w.root, w.paths, w.stamps), -1);
    assert.is(impl(w.root, [], []), -1);
  });

  for (const [what, change] of CHANGES) {
    test(`${name}: ${what} is found at its index`, () => {
      const w = workspace(30);
      change(w.root, w.paths[17]!);
      assert.is(impl(w.root, w.paths, w.stamps), 17);
    });
  }

  test(`${name}: a missing root reports its first path`, () => {
    const w = workspace(3);
    rmSync(w.root, { recursive: true });
    assert.is(impl(w.root, w.paths, w.stamps), 0);
  });
}

// With one implementation (no native helper) this checks only that the first change stays first.
test(`${impls.map(([n]) => n).join(" and ")}: the first change stays the first mismatch as changes pile up`, () => {
  const w = workspace(200);
  for (let round = 0; round < 5; round++) {
    const k = 3 + round * 37;
    CHANGES[round % CHANGES.length]![1](w.root, w.paths[k]!);
    const answers = impls.map(([, impl]) => impl(w.root, w.paths, w.stamps));
    if (impls.length > 1) assert.ok(answers.every((a) => a === answers[0]), `round ${round}: the implementations disagree: ${answers}`);
    assert.is(answers[0], 3, "the first change stays the first mismatch");
  }
});

test.run();
