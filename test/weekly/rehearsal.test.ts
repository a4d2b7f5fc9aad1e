/**
 * The weekly-loop rehearsal on two real OpenSSH sshd servers on 127.0.0.1 (`droplet`, `gpu`;
 * test/helpers/sshd.ts): the project's own Stage 1 and Stage 2 rules and targets on a small
 * synthetic market (two instruments, five replay weeks, a tiny LSTM in a test-local copy of
 * targets/stage2.yaml, as test/pipeline/stage2-pipeline.test.ts does).
 *
 * Round 1: Stage 1 runs on droplet, the bundle and its manifest cross to gpu, ml_ingest +
 * ml_training + model_lstm run on gpu, the model comes back. Intermediates that only their own
 * host reads stay there (resident, docs/hosts.md): only goals and what another host reads come
 * back here. Step 4 (`dagbuild deploy`): the model's scores, the backtests (heuristic, no-trade,
 * lstm), their comparison and the ml_guardrail profile are made on gpu; only the profile goes
 * gpu -> droplet, where `deploy` installs it and pushes it to a real Valkey (redis-server on
 * 127.0.0.1, when installed). The backtests read the rolling gates and candles of their weeks
 * from the ingested bundle (targets/stage1.yaml carries them, targets/backtest.yaml reads
 * data/ml_corpus/), so in every round only the bundle and its manifest go up to gpu (step 4
 * adds the checkout's own simulator profile, config/open_fxday.yaml, a source file no host
 * makes) and only the guardrail profile goes to droplet. Round 2: `refresh` adds one week;
 * `refresh -n` names exactly the actions that then run, through `deploy`: the new week's
 * partitions and the aggregates over the span, and on gpu the Stage 2 chain downstream of the
 * bundle but the model, which its `retrain_every: 4w` holds (the scores, backtests and profile
 * rebuild with the existing model; `refresh -n` lists it under `held`). Both rounds count
 * actions per host and bytes moved per direction and assert them; verify and lineage are
 * checked on the result (a byte changed in a corpus file is caught and classified; the bundle
 * rebuilt on gpu matches the droplet's).
 *
 * About 90 s on 2 cores (86 s measured on a fresh clone, 2026-12-02) (each remote action pays an SSH round and a node start):
 *   node dist/test/weekly/rehearsal.test.js        (DAGBUILD_REHEARSAL=0 skips it)
 * The timings, action counts and bytes per direction are printed.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { PROJECT_ROOT, sshdMissing, startSshd, stopAll, type Sshd } from "../helpers/sshd.js";
import { readTransfers, type TransferRecord } from "../../src/engine/transfer-log.js";
import { LIBXGBOOST_PATH } from "../../src/ml/xgboost.js";
import { startRedis, type RedisHandle } from "../market/redis-server.js";
import { RespClient } from "../../src/market/resp.js";
import { createHash } from "node:crypto";

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const skip = process.env.DAGBUILD_REHEARSAL === "0" ? "SKIP rehearsal: DAGBUILD_REHEARSAL=0" : sshdMissing() ?? (!existsSync(LIBXGBOOST_PATH) ? `SKIP rehearsal: ${LIBXGBOOST_PATH} missing` : undefined);
const servers: Sshd[] = [];
let base = "";
let redis: RedisHandle | null = null;

/** Stage 2 reduced to the chain the rehearsal needs, with a tiny LSTM. */
function stage2Targets(): string {
  const doc = parse(readFileSync(join(PROJECT_ROOT, "targets/stage2.yaml"), "utf8")) as { targets: Record<string, Json> };
  const t = doc.targets;
  for (const k of Object.keys(t)) if (!["ml_ingest", "ml_training", "model_lstm", "ml_scores"].includes(k)) delete t[k];
  t.ml_training.params.seq_lengths = [32];
  Object.assign(t.model_lstm.params, { units: 8, seq_len: 32, epochs: 1, patience: 1, bootstrap: 50 });
  // The lead's Stage 2 model targets carry the same block (wall-clock fields differ between runs).
  t.model_lstm.verify = { ignore: ["training.seconds", "training.samples_per_s", "seconds", "samples_per_s"] };
  return stringify(doc);
}

function hostYaml(s: Sshd, extra = ""): string {
  return `{ transport: ssh, host: "127.0.0.1", port: ${s.port}, user: ${s.user}, identity_file: "${s.userKey}", known_hosts: "${s.knownHosts}", workdir: "${s.workdir}", node: "${process.execPath}"${extra} }`;
}

function workspace(droplet: Sshd, gpu: Sshd): string {
  const ws = join(base, "ws");
  mkdirSync(join(ws, "targets"), { recursive: true });
  mkdirSync(join(ws, "docs"));
  for (const f of ["rules", "src", "dist", "config", "node_modules", "package.json", "schema", "native"]) symlinkSync(join(PROJECT_ROOT, f), join(ws, f));
  for (const f of ["market", "replay", "corpus", "backtest", "promotion"]) copyFileSync(join(PROJECT_ROOT, `targets/${f}.yaml`), join(ws, `targets/${f}.yaml`));
  // Five (then six) weeks: one backtest week and one validation week before it (the split 3/1/1).
  writeFileSync(join(ws, "targets/stage1.yaml"), readFileSync(join(PROJECT_ROOT, "targets/stage1.yaml"), "utf8").replace(/backtest_weeks: "\d+"/, 'backtest_weeks: "1"').replace(/validation_weeks: "\d+"/, 'validation_weeks: "1"'));
  writeFileSync(join(ws, "targets/stage2.yaml"), stage2Targets());
  writeFileSync(
    join(ws, "pipeline.yaml"),
    `version: 1
default: [stage1_status, model_lstm]
include: [targets/*.yaml]
vars: { source: synthetic, seed: "20250512", signal: "0.0" }
axes:
  instrument: [EUR_USD, USD_JPY]
  mode: [rolling, isolation]
  week: { span: [2025-05-12, 2025-06-09], step: week }
  candle_week: { span: [2025-05-12, 2025-06-16], step: week }
  model: [lstm]
hosts:
  droplet: ${hostYaml(droplet)}
  gpu: ${hostYaml(gpu, ", resources: { gpu: 1 }")}
tools:
  xgboost: { version: "1.7.4" }
`,
  );
  // The remote checkouts also need the kernels (native/) the model rule loads.
  for (const s of [droplet, gpu]) if (!existsSync(join(s.workdir, "native"))) symlinkSync(join(PROJECT_ROOT, "native"), join(s.workdir, "native"));
  return ws;
}

function dagbuild(ws: string, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(PROJECT_ROOT, "bin/dagbuild"), ...args], {
    cwd: ws,
    encoding: "utf8",
    timeout: 600_000,
    maxBuffer: 64 << 20,
    env: { ...process.env, NO_COLOR: "1", SSH_AUTH_SOCK: "", DAGBUILD_JOBS: "" },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** action-start events of a --json build: id → host. */
function started(stdout: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    const e = JSON.parse(line) as Json;
    if (e.type === "action-start") m.set(e.id, e.host);
  }
  return m;
}

const perHost = (m: Map<string, string>) => {
  const out: Record<string, string[]> = {};
  for (const [id, h] of m) (out[h] ??= []).push(id);
  for (const k of Object.keys(out)) out[k]!.sort();
  return out;
};

/** Transfers of the log from row `from` on: rows and bytes per `direction from -> to`. */
function moved(ws: string, from: number): { rows: TransferRecord[]; bytes: Record<string, number>; paths: Record<string, string[]> } {
  const rows = readTransfers(join(ws, "handoff/transfer_log.md")).slice(from);
  const bytes: Record<string, number> = {};
  const paths: Record<string, string[]> = {};
  for (const r of rows) {
    const k = `${r.direction} ${r.from}->${r.to}`;
    bytes[k] = (bytes[k] ?? 0) + r.size;
    (paths[k] ??= []).push(r.what);
  }
  for (const k of Object.keys(paths)) paths[k] = [...new Set(paths[k])].sort();
  return { rows, bytes, paths };
}

const stage1Targets = new Set(["candles", "gates_rolling", "gates_isolation", "corpus_part", "corpus", "telemetry_doc", "lead_lag", "baseline_gbm", "bundle", "stage1_status"]);
const targetOf = (id: string) => id.replace(/\[.*$/, "");

test.before(async () => {
  if (skip) return;
  base = mkdtempSync(join(tmpdir(), "dagbuild-rehearsal-"));
  servers.push(await startSshd(), await startSshd());
  redis = await startRedis();
});
test.after(async () => {
  await redis?.stop();
  await stopAll(servers);
  if (base && !process.env.DAGBUILD_TEST_KEEP) rmSync(base, { recursive: true, force: true });
});

if (skip) {
  console.log(skip);
  test.skip("rehearsal: droplet -> gpu -> back, then one more week", () => undefined);
} else {
  test("rehearsal: droplet -> gpu -> back, then one more week", async () => {
    const [droplet, gpu] = servers as [Sshd, Sshd];
    const ws = workspace(droplet, gpu);

    // Round 1: the whole loop.
    let t0 = Date.now();
    const r1 = dagbuild(ws, "--json", "-j", "2");
    const round1Ms = Date.now() - t0;
    assert.is(r1.code, 0, `${r1.stdout.slice(-3000)}\n${r1.stderr.slice(-3000)}`);
    const ran1 = perHost(started(r1.stdout));
    assert.equal(Object.keys(ran1).sort(), ["droplet", "gpu"]);
    assert.ok(ran1.droplet!.every((id) => stage1Targets.has(targetOf(id))), ran1.droplet!.join(" "));
    // 2 instruments x 6 candle weeks, 5 weeks x 2 modes of replays and parts, 6 aggregates.
    assert.is(ran1.droplet!.length, 12 + 10 + 10 + 6);
    assert.equal(ran1.gpu, ["ml_ingest", "ml_training", "model_lstm"]);
    const m1 = moved(ws, 0);
    // What goes up to gpu: only the bundle and its manifest (ml_training and the model read
    // what gpu made itself, already in its CAS).
    assert.equal(m1.paths["put local->gpu"], ["output/ml_corpus_2025-05-12_2025-06-16.sha256", "output/ml_corpus_2025-05-12_2025-06-16.tgz"]);
    const bundleSize = readFileSync(join(ws, "output/ml_corpus_2025-05-12_2025-06-16.tgz")).length;
    assert.ok(m1.bytes["put local->gpu"]! >= bundleSize);
    // The result comes back.
    assert.ok(m1.paths["get gpu->local"]!.some((p) => p.startsWith("output/ml_models/lstm/")), JSON.stringify(m1.paths["get gpu->local"]));
    const metrics = JSON.parse(readFileSync(join(ws, "output/ml_models/lstm/metrics.json"), "utf8"));
    assert.ok(metrics.test.model.auc > 0 && metrics.test.model.auc < 1);
    // Back here: only goals (stage1_status, the model) and what another host reads (the bundle
    // for gpu: the backtests' gates and candles are inside it). Every other intermediate stayed
    // on the host that made it, and is not in the workspace.
    const back1 = [...(m1.paths["get droplet->local"] ?? []), ...(m1.paths["get gpu->local"] ?? [])];
    const goalOrCrossing = (p: string) => /^output\/(ml_corpus_|Stage1_status_|ml_models\/lstm\/)/.test(p);
    assert.equal(back1.filter((p) => !goalOrCrossing(p)), [], "nothing else came back");
    for (const p of ["output/ml_corpus/parts", "output/gates/isolation", "output/ml_corpus/lead_lag_model.json", "data/ml_corpus", "output/ml_training"]) assert.not.ok(existsSync(join(ws, p)), `${p} stayed on its host`);
    const bytesBack1 = m1.rows.filter((r) => r.direction === "get").reduce((s, r) => s + r.size, 0);
    // `status` says where they are: resident on the host that made them.
    const stayed = (JSON.parse(dagbuild(ws, "status", "--json").stdout) as Json).resident as { path: string; host: string; size: number }[];
    assert.ok(stayed.some((r) => r.path === "data/ml_corpus" && r.host === "gpu") && stayed.some((r) => r.path.startsWith("output/ml_corpus/parts/") && r.host === "droplet"), JSON.stringify(stayed.map((r) => r.path)));
    const stayedBytes = (h: string) => stayed.filter((r) => r.host === h).reduce((s, r) => s + r.size, 0);
    console.log(`round 1: ${round1Ms} ms; actions droplet ${ran1.droplet!.length}, gpu ${ran1.gpu!.length}; bytes ${JSON.stringify(m1.bytes)}; back here ${bytesBack1} B in ${back1.length} files; stayed on droplet ${stayedBytes("droplet")} B, on gpu ${stayedBytes("gpu")} B (${stayed.length} outputs)`);

    // Nothing changed: nothing runs, nothing moves.
    const again = dagbuild(ws, "--json");
    assert.is(again.code, 0, again.stderr);
    assert.is(started(again.stdout).size, 0);
    assert.is(moved(ws, m1.rows.length).rows.length, 0);

    // Step 4: the guardrail profile, made on gpu (scores, backtests, comparison, ml_guardrail),
    // goes to droplet, where `deploy` installs it and pushes it to Valkey.
    const n4 = moved(ws, 0).rows.length;
    t0 = Date.now();
    const r4 = dagbuild(ws, "--json", "-j", "2", ...(redis ? ["--set", `deploy_valkey_url=${redis.url}`] : []), "deploy");
    const step4Ms = Date.now() - t0;
    assert.is(r4.code, 0, `${r4.stdout.slice(-3000)}\n${r4.stderr.slice(-3000)}`);
    const ran4 = perHost(started(r4.stdout));
    assert.equal(ran4, { gpu: ["backtest[model=lstm]", "backtest_comparison", "backtest_heuristic", "backtest_no_trade", "ml_guardrail", "ml_scores[model=lstm]"], droplet: ["deploy"] });
    const m4 = moved(ws, n4);
    // gpu -> droplet: the profile only (through this machine, the hub); the scores, backtests and
    // comparison stay on gpu.
    assert.equal(m4.paths["get gpu->local"], ["output/profiles/ml_guardrail.yaml"]);
    assert.equal(m4.paths["put local->droplet"], ["output/profiles/ml_guardrail.yaml"]);
    for (const p of ["output/ml_scores", "output/ml_backtests"]) assert.not.ok(existsSync(join(ws, p)), `${p} stayed on gpu`);
    // Up to gpu: nothing any host made (the backtests read their gates and candles from round
    // 1's ingested bundle, already there); only the checkout's simulator profile, a source file.
    assert.equal(m4.paths["put local->gpu"] ?? [], ["config/open_fxday.yaml"]);
    assert.ok(existsSync(join(PROJECT_ROOT, "config/open_fxday.yaml")), "a file of the checkout");
    for (const p of ["output/gates/rolling", "data/candles"]) assert.not.ok(existsSync(join(ws, p)), `${p}: never came back from droplet`);
    // What they read instead: the bundle's backtest members, the last week (backtest) and the
    // one before it (validation), every instrument, and no earlier week.
    const carried = readFileSync(join(ws, "output/ml_corpus_2025-05-12_2025-06-16.sha256"), "utf8").split("\n").map((l) => l.split("  ")[1] ?? "").filter((p) => p.includes("/backtest/")).map((p) => p.replace(/^[^/]+\//, "")).sort();
    assert.equal(carried, [
      "backtest/candles/EUR_USD/2025-06-02.parquet", "backtest/candles/EUR_USD/2025-06-09.parquet", "backtest/candles/USD_JPY/2025-06-02.parquet", "backtest/candles/USD_JPY/2025-06-09.parquet",
      "backtest/gates/rolling/gates_2025-06-02_2025-06-09.jsonl", "backtest/gates/rolling/gates_2025-06-09_2025-06-16.jsonl",
    ]);
    // deploy is the goal: its outputs come back; its copy of the profile is byte for byte the
    // profile, already in the local CAS, so only the record is downloaded.
    assert.equal(m4.paths["get droplet->local"], ["output/deploy/ml_guardrail.deploy.json"], "deploy is the goal");
    const profile = readFileSync(join(ws, "output/profiles/ml_guardrail.yaml"), "utf8");
    assert.is(readFileSync(join(ws, "output/deploy/ml_guardrail.yaml"), "utf8"), profile, "droplet's copy is the profile");
    const rec = JSON.parse(readFileSync(join(ws, "output/deploy/ml_guardrail.deploy.json"), "utf8")) as Json;
    assert.is(rec.sha256, createHash("sha256").update(profile).digest("hex"));
    if (redis) {
      const c = await RespClient.connect(redis.url, { timeoutMs: 2000 });
      const live = await c.command("GET", "profile:ml_guardrail");
      const byDigest = await c.command("GET", `profile:ml_guardrail:${rec.sha256}`);
      c.close();
      assert.ok(typeof live === "string" && live === byDigest, "Valkey holds the profile under its key and its digest");
      assert.is((JSON.parse(live as string) as Json).enabled, rec.enabled);
      assert.ok(rec.valkey.keys.includes("profile:ml_guardrail"));
    } else console.log("step 4: redis-server not installed: the Valkey push is not rehearsed");
    console.log(`step 4 (deploy): ${step4Ms} ms; actions gpu ${ran4.gpu!.length}, droplet ${ran4.droplet!.length}; bytes ${JSON.stringify(m4.bytes)}; valkey ${redis ? "pushed" : "skipped"}`);

    // Lineage of the model joins gpu's chain to droplet's.
    const lin = JSON.parse(dagbuild(ws, "lineage", "output/ml_models/lstm/metrics.json", "--json").stdout) as Json;
    const hostOf = (id: string) => lin.actions.find((a: Json) => a.id === id)?.host;
    assert.equal([hostOf("model_lstm"), hostOf("ml_training"), hostOf("ml_ingest"), hostOf("bundle"), hostOf("corpus")], ["gpu", "gpu", "gpu", "droplet", "droplet"]);
    assert.ok(lin.actions.some((a: Json) => a.id === "candles[instrument=USD_JPY,candle_week=2025-06-16]"));

    // verify: the model reproduces with its wall-clock fields ignored (rebuilt on gpu, over SSH);
    // the droplet's bundle rebuilt on gpu matches; a changed byte in a corpus file is classified.
    t0 = Date.now();
    const v = dagbuild(ws, "verify", "--rebuild", "--no-deps", "--json", "model_lstm");
    assert.ok(v.code === 0, `${v.stdout.slice(-3000)}\n${v.stderr.slice(-2000)}`);
    const vOn = dagbuild(ws, "verify", "--rebuild", "--no-deps", "--on", "gpu", "--json", "bundle");
    assert.is(vOn.code, 0, vOn.stdout.slice(-3000));
    console.log(`verify --rebuild model_lstm + bundle --on gpu: ${Date.now() - t0} ms; model: ${JSON.stringify((JSON.parse(v.stdout) as Json).findings.map((f: Json) => f.kind))}`);
    // The ingested corpus stayed on gpu: naming it fetches it (checked), without running ml_ingest.
    const nf = moved(ws, 0).rows.length;
    const fetched = dagbuild(ws, "--json", "data/ml_corpus");
    assert.is(fetched.code, 0, fetched.stderr.slice(-2000));
    assert.is(started(fetched.stdout).size, 0, "fetched, not rebuilt");
    const mf = moved(ws, nf);
    assert.equal(Object.keys(mf.bytes), ["get gpu->local"]);
    assert.ok(mf.paths["get gpu->local"]!.every((p) => p.startsWith("data/ml_corpus/")));
    console.log(`fetch data/ml_corpus: ${mf.bytes["get gpu->local"]} B in ${mf.rows.length} files`);
    const part = readdirSync(join(ws, "data/ml_corpus"), { recursive: true, encoding: "utf8" }).map((p) => `data/ml_corpus/${p}`).filter((p) => p.endsWith(".parquet")).sort()[0]!;
    assert.ok(part, "the ingested corpus has parquet files");
    const file = join(ws, part);
    const good = readFileSync(file);
    {
      const bad = Buffer.from(good);
      bad[Math.floor(bad.length / 2)] ^= 0x01;
      rmSync(file);
      writeFileSync(file, bad);
      const vb = dagbuild(ws, "verify", "--json", "ml_ingest");
      assert.is(vb.code, 1);
      const f = (JSON.parse(vb.stdout) as Json).findings[0];
      assert.is(f.kind, "MISMATCH");
      assert.is(f.files[0].path, part);
      assert.ok(f.files[0].format === "parquet" || Number.isInteger(f.files[0].firstDifferingByte), JSON.stringify(f.files[0]));
      rmSync(file);
      writeFileSync(file, good);
    }

    // Round 2: one more week.
    const loop = ["stage1_status", "model_lstm", "deploy", ...(redis ? ["--set", `deploy_valkey_url=${redis.url}`] : [])];
    const dry = dagbuild(ws, "refresh", "-n", "--json", ...loop);
    assert.is(dry.code, 0, dry.stderr);
    const planned = JSON.parse(dry.stdout) as Json;
    const plannedIds = Object.values(planned.hosts).flatMap((h: Json) => h.actions.map((a: Json) => a.id)).sort();
    // The model's cadence (targets/stage2.yaml: retrain_every 4w) holds it: one week added since it was built.
    assert.equal(planned.hosts.gpu.held.map((h: Json) => [h.id, h.reason_text, h.retrain_due_in_weeks]), [["model_lstm", "input-changed output/ml_training", 3]]);
    const modelBefore = readFileSync(join(ws, "output/ml_models/lstm/weights.safetensors"));
    const before = moved(ws, 0).rows.length;
    t0 = Date.now();
    const r2 = dagbuild(ws, "refresh", "--json", "-j", "2", ...loop);
    const round2Ms = Date.now() - t0;
    assert.is(r2.code, 0, `${r2.stdout.slice(-3000)}\n${r2.stderr.slice(-3000)}`);
    const s2 = started(r2.stdout);
    assert.equal([...s2.keys()].sort(), plannedIds, "refresh -n named exactly what ran");
    const ran2 = perHost(s2);
    // The new week: 2 candle partitions, one replay per mode, one part per mode; then the
    // six aggregates over the span (and deploy, when the new profile differs).
    const droplet2 = [
      "baseline_gbm",
      "bundle",
      "candles[instrument=EUR_USD,candle_week=2025-06-23]",
      "candles[instrument=USD_JPY,candle_week=2025-06-23]",
      "corpus",
      "corpus_part[mode=isolation,week=2025-06-16]",
      "corpus_part[mode=rolling,week=2025-06-16]",
      "gates_isolation[week=2025-06-16]",
      "gates_rolling[week=2025-06-16]",
      "lead_lag",
      "stage1_status",
      "telemetry_doc",
    ];
    assert.equal(ran2.droplet!.filter((id) => id !== "deploy"), droplet2);
    // On gpu: the new ingest and training data, then the scores, backtests and profile, with
    // the existing model (held: not retrained).
    const gpu2 = ["backtest[model=lstm]", "backtest_comparison", "backtest_heuristic", "backtest_no_trade", "ml_guardrail", "ml_ingest", "ml_scores[model=lstm]", "ml_training"];
    assert.equal(ran2.gpu!.filter((id) => gpu2.includes(id)), ran2.gpu, `only the chain below the bundle: ${ran2.gpu!.join(" ")}`);
    for (const id of ["ml_ingest", "ml_training", "ml_scores[model=lstm]"]) assert.ok(ran2.gpu!.includes(id), id);
    const held2 = r2.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Json).filter((e) => e.type === "action-held").map((e) => e.id);
    assert.equal(held2, ["model_lstm"]);
    assert.ok(readFileSync(join(ws, "output/ml_models/lstm/weights.safetensors")).equals(modelBefore), "the model was not retrained");
    const m2 = moved(ws, before);
    // Up to gpu: the new bundle and its manifest, nothing else (the new backtest week's gates
    // and candles are inside the bundle).
    assert.equal(m2.paths["put local->gpu"], ["output/ml_corpus_2025-05-12_2025-06-23.sha256", "output/ml_corpus_2025-05-12_2025-06-23.tgz"]);
    // Up to droplet: at most the new profile (the new candles are made there, and every other
    // input of the new week's actions is in its CAS from round 1).
    assert.ok((m2.paths["put local->droplet"] ?? []).every((p) => p === "output/profiles/ml_guardrail.yaml"), JSON.stringify(m2.paths["put local->droplet"]));
    // Over every round: up to gpu only bundles, manifests and the checkout's simulator profile;
    // up to droplet only the guardrail profile (and, in round 1, the checkout's replay profile,
    // config/echo_strategy.yaml: source files, which no host makes, cross once into each CAS).
    const all = moved(ws, 0);
    assert.equal(all.paths["put local->gpu"], ["config/open_fxday.yaml", ...["06-16", "06-23"].flatMap((d) => [`output/ml_corpus_2025-05-12_2025-${d}.sha256`, `output/ml_corpus_2025-05-12_2025-${d}.tgz`])]);
    assert.equal(all.paths["put local->droplet"], ["config/echo_strategy.yaml", "output/profiles/ml_guardrail.yaml"]);
    assert.equal(m1.paths["put local->droplet"], ["config/echo_strategy.yaml"], "round 1: only the checkout's replay profile");
    console.log(`all rounds: bytes per direction ${JSON.stringify(all.bytes)}; bundles ${bundleSize} B (5 weeks), ${readFileSync(join(ws, "output/ml_corpus_2025-05-12_2025-06-23.tgz")).length} B (6 weeks)`);
    // Back from droplet: the new week's candles, gates, parts and the aggregates; none of the
    // earlier weeks' partitions.
    assert.ok(!m2.paths["get droplet->local"]!.some((p) => /2025-05-(12|19|26)|2025-06-0[29]/.test(p.replace(/_2025-05-12_2025-06-23/, "")) && !p.includes("ml_corpus_")), JSON.stringify(m2.paths["get droplet->local"]));
    // ml_ingest reran with the new bundle and its output is resident again: the copy fetched
    // above (the old version, recorded as ours) is gone from the workspace.
    assert.not.ok(existsSync(join(ws, "data/ml_corpus")), "no stale copy of the old corpus");
    const bytesBack2 = m2.rows.filter((r) => r.direction === "get").reduce((s, r) => s + r.size, 0);
    console.log(`round 2 (refresh +1 week, through deploy): ${round2Ms} ms; actions droplet ${ran2.droplet!.length} (${ran2.droplet!.includes("deploy") ? "deploy ran" : "deploy cut off: same profile"}), gpu ${ran2.gpu!.length} (${ran2.gpu!.join(", ")}), held ${held2.join(", ")}; bytes ${JSON.stringify(m2.bytes)}; back here ${bytesBack2} B`);
    // A held model is not a false mismatch: verify skips its rebuild, lineage says why its input moved.
    const vh = dagbuild(ws, "verify", "--rebuild", "--no-deps", "--json", "model_lstm");
    assert.is(vh.code, 0, vh.stdout.slice(-2000));
    assert.equal((JSON.parse(vh.stdout) as Json).findings.map((f: Json) => f.kind), ["HELD"]);
    assert.match(dagbuild(ws, "lineage", "model_lstm", "--depth", "0").stdout, "<- ml_training (SUPERSEDED: rebuilt since; this action is held by its retrain_every cadence)");
    assert.ok(readFileSync(join(ws, "pipeline.yaml"), "utf8").includes("week: { span: [2025-05-12, 2025-06-16], step: week }"));
  });
}

test.run();
