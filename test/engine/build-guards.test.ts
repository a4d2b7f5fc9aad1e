// Guards against caching the wrong thing: a rule whose compiled JavaScript is older than its
// TypeScript source is refused (the key hashes the source, the executor runs the JavaScript).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { utimesSync } from "node:fs";
import { join } from "node:path";
import { build, buildOk, makeWs, read, write } from "../helpers/rig.js";

const RULE = (v: string) =>
  `import { writeFileSync } from "node:fs";\nexport default { run(ctx) { writeFileSync(ctx.outputs["0"], ${JSON.stringify(v + "\n")}); } };\n`;

test("a rule edited but not compiled is refused, and runs once compiled", () => {
  const ws = makeWs(`version: 1\ntargets:\n  a: { outputs: [out/a.txt], rule: rules/r.ts }\n`, {
    fake: false,
    files: { "rules/r.ts": RULE("v1"), "rules/r.js": RULE("v1") },
  });
  buildOk(ws);
  assert.is(read(ws, "out/a.txt"), "v1\n");
  write(ws, "rules/r.ts", RULE("v2"));
  const past = new Date(Date.now() - 60_000);
  utimesSync(join(ws, "rules/r.js"), past, past); // the compiled file is older than the source
  const r = build(ws);
  assert.is(r.code, 1);
  assert.equal(r.failed, ["a"]);
  assert.match(r.stdout, "changed since it was compiled");
  assert.is(read(ws, "out/a.txt"), "v1\n", "the old output is untouched");
  write(ws, "rules/r.js", RULE("v2"));
  assert.equal(buildOk(ws).executed, ["a"]);
  assert.is(read(ws, "out/a.txt"), "v2\n");
});

test.run();
