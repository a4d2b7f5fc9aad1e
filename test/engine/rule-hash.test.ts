/**
 * What a rule's key covers: a relative import that leaves the workspace is hashed like any
 * other project module (an edit there reruns the rule's actions).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { buildOk, makeWs, read } from "../helpers/rig.js";
import { writeModule } from "../helpers/fake-rule.js";

test("editing a module imported from outside the workspace reruns the rule", () => {
  const outside = mkdtempSync(join(tmpdir(), "dagbuild-outside-"));
  try {
    const lib = (v: string) => `export const V = ${JSON.stringify(v)};\n`;
    writeFileSync(join(outside, "lib.ts"), lib("one"));
    writeFileSync(join(outside, "lib.js"), lib("one"));
    const ws = makeWs(`version: 1\ntargets:\n  a:\n    outputs: [out/a.txt]\n    rule: rules/uses.ts\n`, { fake: false });
    writeModule(ws, "rules/uses.ts", `import { writeFileSync } from "node:fs";
import { V } from "../../${basename(outside)}/lib.js";
export default { describe: "uses an outside lib", async run(ctx) { writeFileSync(ctx.outputs["0"], V + "\\n"); } };
`);
    buildOk(ws);
    assert.is(read(ws, "out/a.txt"), "one\n");
    writeFileSync(join(outside, "lib.ts"), lib("two"));
    writeFileSync(join(outside, "lib.js"), lib("two"));
    const r = buildOk(ws);
    assert.equal(r.executed, ["a"], "rule-changed");
    assert.is(read(ws, "out/a.txt"), "two\n");
  } finally {
    rmSync(outside, { recursive: true, force: true });
  }
});

test.run();
