/**
 * Rule modules are checked before anything runs: one that throws at import, does not parse or
 * exports no rule fails the build with exit 2, located at its target, and no action runs.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { build, exists, makeWs } from "../helpers/rig.js";
import { writeModule } from "../helpers/fake-rule.js";

const PIPELINE = `version: 1
targets:
  first:
    outputs: [out/first.txt]
    run: "echo ran > {out}"
  bad:
    outputs: [out/bad.txt]
    deps: [out/first.txt]
    rule: rules/bad.ts
`;

for (const [what, source, expect] of [
  ["throws at import", `throw new Error("boom at import");\nexport default { run() {} };\n`, "boom at import"],
  ["has a syntax error", `export default { run() { return ( };\n`, "fails to load"],
  ["exports no rule", `export const x = 1;\n`, "no default export"],
] as const) {
  test(`a rule module that ${what} is exit 2 before anything runs`, () => {
    const ws = makeWs(PIPELINE, { fake: false });
    writeModule(ws, "rules/bad.ts", source);
    const r = build(ws);
    assert.is(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, expect);
    assert.match(r.stderr, /pipeline\.yaml:\d+:\d+/);
    assert.match(r.stderr, "nothing was run");
    assert.not.ok(exists(ws, "out/first.txt"), "the independent upstream did not run either");
  });
}

test("a good module rule passes the check and runs", () => {
  const ws = makeWs(PIPELINE.replace("rules/bad.ts", "rules/fake.ts"));
  const r = build(ws);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.ok(exists(ws, "out/bad.txt"));
});

test("an SSH host whose identity_file is missing is exit 2 before anything runs", () => {
  const ws = makeWs(`version: 1
hosts:
  gpu: { transport: ssh, host: 127.0.0.1, user: nobody, workdir: /tmp/nowhere, known_hosts: config/known_hosts, identity_file: config/missing_key }
targets:
  first:
    outputs: [out/first.txt]
    run: "echo ran > {out}"
  remote:
    outputs: [out/remote.txt]
    deps: [out/first.txt]
    run: "cp {deps} {out}"
    host: gpu
`, { fake: false, files: { "config/known_hosts": "" } });
  const r = build(ws);
  assert.is(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, "identity_file");
  assert.match(r.stderr, "missing_key");
  assert.not.ok(exists(ws, "out/first.txt"));
  // Run locally instead (--host gpu=local): the key is not needed.
  const local = build(ws, ["--host", "gpu=local"]);
  assert.is(local.code, 0, local.stderr);
});

test.run();
