/**
 * The common option table in src/cli/args.ts is the one source of truth for which options
 * take a value: `parseArgs` consumes the next word exactly for those, and the dispatcher in
 * main.ts (which skips option values to find the command word) asks the same table.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, takesValue } from "../../src/cli/args.js";
import { buildOk, cli, makeWs } from "../helpers/rig.js";

/** A valid value for each value option (some are validated). */
const VALUES: Record<string, string> = {
  "-C": "/tmp",
  "--dir": "/tmp",
  "-f": "p.yaml",
  "--pipeline": "p.yaml",
  "--host": "gpu=local",
  "--set": "v=1",
  "-j": "2",
  "--jobs": "2",
  "--force": "t",
  "--progress": "plain",
};
const BOOLS = ["-k", "--keep-going", "--json", "-n", "--dry-run"];

test("takesValue agrees with what parseArgs consumes", () => {
  for (const [flag, v] of Object.entries(VALUES)) {
    assert.ok(takesValue(flag), flag);
    assert.equal(parseArgs([flag, v, "word"]).positional, ["word"], `${flag} consumes its value`);
    assert.throws(() => parseArgs([flag]), /needs a value/, `${flag} without a value`);
  }
  for (const flag of BOOLS) {
    assert.not.ok(takesValue(flag), flag);
    assert.equal(parseArgs([flag, "word"]).positional, ["word"], `${flag} takes no value`);
  }
  assert.not.ok(takesValue("--dir=/tmp"), "an inline value is one word");
  assert.not.ok(takesValue("word"));
});

test("the dispatcher skips every value option to find the command word", () => {
  const ws = makeWs(`version: 1\ntargets:\n  a:\n    outputs: [out/a]\n    run: "echo a > {out}"\n`, { fake: false });
  buildOk(ws);
  const elsewhere = mkdtempSync(join(tmpdir(), "dagbuild-cwd-"));
  try {
    // `plain` and `1` would be taken for a target (a build) if their options were not skipped.
    const r = cli(elsewhere, ["--progress", "plain", "-j", "1", "-C", ws, "explain", "a"]);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /^a: up to date/m);
  } finally {
    rmSync(elsewhere, { recursive: true, force: true });
  }
});

test.run();
