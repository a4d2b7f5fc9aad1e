/**
 * File modes and empty directories survive the cache: an executable output (a file, or a file
 * inside a directory output) is restored executable, an empty directory inside a directory
 * output is restored, and a chmod of an output is noticed like any other change.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { chmodSync, existsSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { buildOk, makeWs } from "../helpers/rig.js";

const PIPELINE = `version: 1
targets:
  tool:
    outputs: [out/tool.sh]
    deps: [src.txt]
    run: "cp src.txt {out} && chmod 755 {out}"
  kit:
    outputs: ["kit/"]
    deps: [src.txt]
    run: "mkdir -p {out}/bin {out}/empty && cp src.txt {out}/bin/run.sh && chmod 755 {out}/bin/run.sh && cp src.txt {out}/readme"
`;
const isExec = (ws: string, rel: string) => (statSync(join(ws, rel)).mode & 0o111) !== 0;

test("restored outputs keep their executable bit and empty directories", () => {
  const ws = makeWs(PIPELINE, { fake: false, files: { "src.txt": "#!/bin/sh\necho hi\n" } });
  buildOk(ws);
  assert.ok(isExec(ws, "out/tool.sh") && isExec(ws, "kit/bin/run.sh"));
  rmSync(join(ws, "out"), { recursive: true });
  rmSync(join(ws, "kit"), { recursive: true });
  const r = buildOk(ws);
  assert.equal(r.restored, ["kit", "tool"]);
  assert.ok(isExec(ws, "out/tool.sh"), "file output restored executable");
  assert.ok(isExec(ws, "kit/bin/run.sh"), "file in a directory output restored executable");
  assert.not.ok(isExec(ws, "kit/readme"));
  assert.ok(existsSync(join(ws, "kit/empty")) && statSync(join(ws, "kit/empty")).isDirectory(), "empty directory restored");
});

test("a chmod of an output, or a removed empty directory, is a change", () => {
  const ws = makeWs(PIPELINE, { fake: false, files: { "src.txt": "#!/bin/sh\necho hi\n" } });
  buildOk(ws);
  chmodSync(join(ws, "out/tool.sh"), 0o644);
  chmodSync(join(ws, "kit/bin/run.sh"), 0o644);
  const r = buildOk(ws);
  assert.equal(r.restored, ["kit", "tool"]);
  assert.ok(isExec(ws, "out/tool.sh") && isExec(ws, "kit/bin/run.sh"), "modes put back");
  rmSync(join(ws, "kit/empty"), { recursive: true });
  const again = buildOk(ws);
  assert.equal(again.restored, ["kit"]);
  assert.ok(existsSync(join(ws, "kit/empty")));
  assert.equal(buildOk(ws).restored, [], "then fresh");
});

test.run();
