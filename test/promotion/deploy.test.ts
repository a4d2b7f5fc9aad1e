/**
 * deploy (rules/deploy.ts, src/promotion/deploy.ts) against a real redis-server on 127.0.0.1
 * with a password: the droplet copy, the Valkey keys (read back), the transfer-log rows; a
 * rerun adds nothing; a no-promotion profile deletes the thresholds; no URL skips Valkey with a
 * log line; an invalid profile moves nothing; the password never shows in logs, errors or
 * outputs. Then the pipeline: `dagbuild` (default) never deploys, `dagbuild deploy` does, once.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import rule from "../../rules/deploy.js";
import { readTransfers } from "../../src/engine/transfer-log.js";
import { RespClient } from "../../src/market/resp.js";
import { buildGuardrailProfile, formatGuardrailYaml } from "../../src/promotion/guardrail-profile.js";
import { runRule, tempRoot } from "../corpus/helpers.js";
import { REPO, cli, parseEvents } from "../helpers/rig.js";
import { startRedis, type RedisHandle } from "../market/redis-server.js";
import { comparisonDoc, INSTS } from "./fixtures.js";

const PW = "s3cr3t-Pw-4711";
let redis: RedisHandle | null = null;
let url = "";
let c: RespClient;

const promoted = formatGuardrailYaml(buildGuardrailProfile(comparisonDoc(0.0006), "output/ml_backtests/comparison.json"));
const noEdge = formatGuardrailYaml(buildGuardrailProfile(comparisonDoc(-0.0001), "output/ml_backtests/comparison.json"));
const sha = (t: string) => createHash("sha256").update(t).digest("hex");
const OUT = { profile: "output/deploy/ml_guardrail.yaml", record: "output/deploy/ml_guardrail.deploy.json" };

async function run(root: string, text: string, valkey: string): Promise<string[]> {
  mkdirSync(join(root, "output/profiles"), { recursive: true });
  writeFileSync(join(root, "output/profiles/ml_guardrail.yaml"), text);
  return runRule(rule, root, { inputs: { profile: ["output/profiles/ml_guardrail.yaml"] }, outputs: OUT, params: { valkey_url: valkey, from: "gpu", to: "droplet" } });
}

/** Every file under `dir` as text (for "the password is nowhere"). */
function allText(dir: string): string {
  if (!existsSync(dir)) return "";
  let s = "";
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    s += statSync(p).isDirectory() ? allText(p) : `${p}\n${readFileSync(p, "latin1")}\n`;
  }
  return s;
}

test.before(async () => {
  redis = await startRedis();
  if (!redis) return;
  const admin = await RespClient.connect(redis.url);
  await admin.command("CONFIG", "SET", "requirepass", PW);
  admin.close();
  url = `redis://:${PW}@127.0.0.1:${redis.port}/0`;
  c = await RespClient.connect(url);
});

test.after(async () => {
  c?.close();
  await redis?.stop();
});

test("promoted: droplet copy, Valkey keys read back, two hand-off rows; a rerun adds none", async () => {
  if (!redis) return console.log("SKIP deploy: no redis-server");
  const root = tempRoot("deploy");
  const log = await run(root, promoted, url);
  assert.is(readFileSync(join(root, OUT.profile), "utf8"), promoted, "byte for byte");
  const rec = JSON.parse(readFileSync(join(root, OUT.record), "utf8"));
  assert.is(rec.sha256, sha(promoted));
  assert.is(rec.valkey.endpoint, `127.0.0.1:${redis.port}/0`);
  const prof = JSON.parse((await c.command("GET", "profile:ml_guardrail")) as string);
  assert.is(prof.sha256, sha(promoted));
  assert.is(prof.enabled, true);
  assert.is(prof.model.name, "lstm");
  assert.is(await c.command("GET", `profile:ml_guardrail:${sha(promoted)}`), await c.command("GET", "profile:ml_guardrail"), "kept by digest");
  for (const i of INSTS) assert.is(await c.command("GET", `ml:threshold:${i}`), "0.62");
  const rows = readTransfers(join(root, "handoff/transfer_log.md"));
  assert.equal(rows.map((r) => [r.what, r.to, r.digest, r.from]), [
    ["output/deploy/ml_guardrail.yaml", "droplet", sha(promoted), "gpu"],
    ["valkey:profile:ml_guardrail", `valkey@127.0.0.1:${redis.port}/0`, sha(promoted), "gpu"],
  ]);
  assert.match(log.join("\n"), /set profile:ml_guardrail/);
  // Idempotent: the same profile again sets the same keys and appends nothing.
  const again = await run(root, promoted, url);
  assert.is(readTransfers(join(root, "handoff/transfer_log.md")).length, 2);
  assert.match(again.join("\n"), /no row appended/);
  // Then no promotion: the thresholds go (no key = guardrail off), two new rows.
  await run(root, noEdge, url);
  assert.is(JSON.parse((await c.command("GET", "profile:ml_guardrail")) as string).enabled, false);
  assert.is(await c.command("EXISTS", ...INSTS.map((i) => `ml:threshold:${i}`)), 0);
  assert.is(readTransfers(join(root, "handoff/transfer_log.md")).length, 4);
  const everything = `${log.join("\n")}${again.join("\n")}${allText(join(root, "output"))}${allText(join(root, "handoff"))}`;
  assert.not.ok(everything.includes(PW), "no password in logs or outputs");
});

test("no URL: the Valkey push is skipped with a log line, the droplet copy is recorded", async () => {
  const root = tempRoot("deploy-nourl");
  const log = await run(root, noEdge, "");
  assert.match(log.join("\n"), /no Valkey URL \(deploy_valkey_url is empty\): the Valkey push is skipped/);
  assert.is(JSON.parse(readFileSync(join(root, OUT.record), "utf8")).valkey, null);
  assert.equal(readTransfers(join(root, "handoff/transfer_log.md")).map((r) => r.what), ["output/deploy/ml_guardrail.yaml"]);
});

test("failures move nothing and name no password: a wrong password, an invalid profile", async () => {
  if (!redis) return console.log("SKIP deploy: no redis-server");
  const root = tempRoot("deploy-fail");
  const wrong = `redis://:not-${PW}@127.0.0.1:${redis.port}/0`;
  try {
    await run(root, promoted, wrong);
    assert.unreachable();
  } catch (e) {
    const m = (e as Error).message;
    assert.match(m, new RegExp(`deploy: Valkey 127\\.0\\.0\\.1:${redis.port}/0: `));
    assert.not.ok(m.includes(PW), m);
  }
  try {
    await run(root, promoted.replace(/^version: 1$/m, "version: 9"), url);
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /refusing to deploy: output\/profiles\/ml_guardrail\.yaml:\d+:\d+: field "version": must be 1/);
  }
  assert.not.ok(existsSync(join(root, "handoff/transfer_log.md")), "no record of a failed deploy");
  assert.not.ok(existsSync(join(root, OUT.record)));
});

test("pipeline: the default build never deploys; `dagbuild deploy` does, once; the password stays out", async () => {
  if (!redis) return console.log("SKIP deploy pipeline: no redis-server");
  assert.not.ok((parse(readFileSync(join(REPO, "pipeline.yaml"), "utf8")).default as string[]).includes("deploy"), "deploy is not in the real pipeline's default");
  const ws = tempRoot("deploy-pipeline");
  for (const f of ["rules", "src", "dist", "config", "node_modules", "package.json", "schema"]) symlinkSync(join(REPO, f), join(ws, f));
  mkdirSync(join(ws, "targets"));
  copyFileSync(join(REPO, "targets/promotion.yaml"), join(ws, "targets/promotion.yaml"));
  writeFileSync(join(ws, "pipeline.yaml"), "version: 1\ndefault: [ml_guardrail]\ninclude: [targets/*.yaml]\nhosts:\n  gpu: { transport: local }\n  droplet: { transport: local }\n");
  mkdirSync(join(ws, "output/ml_backtests"), { recursive: true });
  writeFileSync(join(ws, "output/ml_backtests/comparison.json"), JSON.stringify(comparisonDoc(0.0006)));
  await c.command("DEL", "profile:ml_guardrail", ...INSTS.map((i) => `ml:threshold:${i}`));

  const ids = (r: { stdout: string }) => parseEvents(r.stdout).filter((e) => e.type === "action-start").map((e) => (e as { id: string }).id).sort();
  const b = cli(ws, ["--json"], 120_000);
  assert.is(b.code, 0, b.stderr.slice(-2000));
  assert.equal(ids(b), ["ml_guardrail"]);
  assert.not.ok(existsSync(join(ws, "output/deploy")), "the default build deployed nothing");

  // The URL from the environment: the password is nowhere in the workspace afterwards.
  process.env["DAGBUILD_TEST_VALKEY_URL"] = url;
  const d = cli(ws, ["--json", "deploy", "--set", "deploy_valkey_url=env:DAGBUILD_TEST_VALKEY_URL"], 120_000);
  assert.is(d.code, 0, `${d.stdout.slice(-2000)}\n${d.stderr.slice(-2000)}`);
  assert.equal(ids(d), ["deploy"]);
  assert.is(await c.command("GET", "ml:threshold:EUR_USD"), "0.62");
  assert.is(readTransfers(join(ws, "handoff/transfer_log.md")).length, 2);
  assert.not.ok(`${d.stdout}${d.stderr}${allText(ws + "/output")}${allText(ws + "/handoff")}${allText(ws + "/cache")}`.includes(PW), "no password anywhere in the workspace");
  const again = cli(ws, ["--json", "deploy", "--set", "deploy_valkey_url=env:DAGBUILD_TEST_VALKEY_URL"], 120_000);
  assert.equal(ids(again), [], "nothing to redo");
  assert.is(readTransfers(join(ws, "handoff/transfer_log.md")).length, 2);

  // The URL itself as a var: the logs, outputs and hand-off log still never show the password.
  await c.command("DEL", "ml:threshold:EUR_USD");
  const e = cli(ws, ["--json", "deploy", "--set", `deploy_valkey_url=${url}`], 120_000);
  assert.is(e.code, 0, e.stderr.slice(-2000));
  assert.equal(ids(e), ["deploy"], "a changed URL redeploys");
  assert.is(await c.command("GET", "ml:threshold:EUR_USD"), "0.62");
  assert.not.ok(`${e.stdout}${e.stderr}${allText(ws + "/output")}${allText(ws + "/handoff")}${allText(ws + "/cache/logs")}`.includes(PW), "no password in logs or outputs");
  assert.is(readTransfers(join(ws, "handoff/transfer_log.md")).length, 2, "same digest to the same places: no new row");
  if (process.env["DAGBUILD_TEST_KEEP"]) console.log(`kept ${ws}`);
});

test.run();
