/**
 * Secrets in params (a URL's password, credential-named keys) reach the rule but never an
 * action record, `explain`, or the key in clear; a changed secret still reruns (keyed hash).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { buildOk, cli, editPipeline, makeWs, read } from "../helpers/rig.js";
import { maskUrlSecrets } from "../../src/engine/secrets.js";

function cacheText(ws: string, dir: string): string {
  let all = "";
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else all += readFileSync(p, "utf8");
    }
  };
  walk(join(ws, dir));
  return all;
}

const PIPELINE = `version: 1
targets:
  fetch:
    outputs: [out/f.txt]
    deps: [src.txt]
    rule: rules/fake.ts
    params: { valkey: { url: "redis://app:hunter2-pw@db.internal:6379/0" }, api_token: tok-SECRET-1, mode: x }
`;

test("a URL password and a credential-named param are masked in records and explain; the rule sees them", () => {
  const ws = makeWs(PIPELINE, { files: { "src.txt": "s\n" } });
  buildOk(ws);
  assert.match(read(ws, "out/f.txt"), "hunter2-pw", "the rule got the real URL");
  const ac = cacheText(ws, "cache/ac");
  assert.not.match(ac, "hunter2-pw");
  assert.not.match(ac, "tok-SECRET-1");
  assert.match(ac, "db.internal:6379", "the non-secret part is kept");
  editPipeline(ws, "mode: x", "mode: y");
  buildOk(ws);
  const ex = cli(ws, ["explain", "fetch"]);
  assert.not.match(ex.stdout + ex.stderr, "hunter2-pw");
  assert.not.match(ex.stdout + ex.stderr, "tok-SECRET-1");
  assert.is((statSync(join(ws, "cache/secret.key")).mode & 0o777).toString(8), "600");
});

test("changing only a secret still reruns the action (keyed hash, not dropped)", () => {
  const ws = makeWs(PIPELINE, { files: { "src.txt": "s\n" } });
  buildOk(ws);
  editPipeline(ws, "hunter2-pw", "rotated-pw");
  const r = buildOk(ws);
  assert.equal(r.executed, ["fetch"]);
  assert.not.match(r.stdout, "rotated-pw");
  assert.not.match(r.stdout, "hunter2-pw");
});

test("maskUrlSecrets: userinfo passwords and credential query parameters only", () => {
  const m = () => (s: string) => `<${s.length}>`;
  assert.is(maskUrlSecrets("redis://:pw@h:1/0", m), "redis://:%3C2%3E@h:1/0");
  assert.is(maskUrlSecrets("https://h/x?token=abc&page=2", m), "https://h/x?token=%3C3%3E&page=2");
  assert.is(maskUrlSecrets("https://h/x?page=2", m), "https://h/x?page=2");
  assert.is(maskUrlSecrets("not a url: a@b", m), "not a url: a@b");
});

test("params without secrets create no key file and keep their keys", () => {
  const ws = makeWs(PIPELINE.replace(/params: .*/, "params: { mode: x, url: \"https://example.org/data\" }"), { files: { "src.txt": "s\n" } });
  buildOk(ws);
  assert.not.ok(readdirSync(join(ws, "cache")).includes("secret.key"));
});

test.run();
