// Verified ingest of the Stage-1 bundle (src/bundle/ingest.ts, rules/ingest-bundle.ts): a good
// bundle unpacks to exactly its files with a checkable SHA256SUMS; every kind of bad bundle is
// refused with a message naming the member (and digests), and leaves no output behind.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { Header } from "tar";
import { parse as parseYaml } from "yaml";
import { writeDeterministicTgz } from "../../src/bundle/tarball.js";
import { renderManifest, type ManifestEntry } from "../../src/bundle/manifest.js";
import { findIngestedCorpus, ingestBundle, IngestError, type IngestFailure } from "../../src/bundle/ingest.js";
import ingestRule from "../../rules/ingest-bundle.js";
import { runRule, tempRoot } from "../corpus/helpers.js";
import { cli, parseEvents, REPO } from "../helpers/rig.js";
import { prng } from "../helpers/prng.js";

const root = tempRoot("ingest");
const STEM = "ml_corpus_2025-05-12_2025-05-26";
const TGZ = `${STEM}.tgz`;
const SUMS = `${STEM}.sha256`;
const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");
const hasSha256sum = spawnSync("sha256sum", ["--version"]).status === 0;

/** The bundle's files: relative path → content (one member big enough to span many chunks). */
function sourceFiles(): Record<string, Buffer> {
  const rnd = prng(11);
  const big = Buffer.alloc(300_000);
  for (let i = 0; i < big.length; i++) big[i] = Math.floor(rnd() * 256);
  return {
    "BUNDLE_INDEX.json": Buffer.from('{"format":"dagbuild.bundle_index","version":1}\n'),
    "docs/telemetry_schema.md": Buffer.from("# schema\n"),
    "output/gates/rolling/roc_summary_2025-05-12_2025-05-19.json": Buffer.from('{"n":70}\n'),
    "output/ml_corpus/gates_2025-05-12_2025-05-26.parquet": big,
    "output/ml_models/baseline_xgb/empty.json": Buffer.alloc(0),
  };
}
const FILES = sourceFiles();

let seq = 0;
/** A fresh case directory: `bundle/` holds the inputs, `out/` the (absent) output's parent. */
function caseDir(tag: string): { dir: string; bundle: string; manifest: string; outParent: string; outDir: string } {
  const dir = join(root, `${++seq}-${tag}`);
  mkdirSync(join(dir, "bundle"), { recursive: true });
  mkdirSync(join(dir, "out"), { recursive: true });
  return { dir, bundle: join(dir, "bundle", TGZ), manifest: join(dir, "bundle", SUMS), outParent: join(dir, "out"), outDir: join(dir, "out", "ml_corpus") };
}

function innerEntries(files: Record<string, Buffer>): ManifestEntry[] {
  return Object.entries(files).map(([p, b]) => ({ name: `${STEM}/${p}`, sha256: sha(b) }));
}

/** A good bundle written by the project's own writer; returns the case. */
async function goodBundle(tag: string) {
  const c = caseDir(tag);
  const src = join(c.dir, "src");
  const tarFiles = Object.entries(FILES).map(([p, b]) => {
    mkdirSync(join(src, p, ".."), { recursive: true });
    writeFileSync(join(src, p), b);
    return { name: `${STEM}/${p}`, source: join(src, p) };
  });
  await writeDeterministicTgz(c.bundle, tarFiles);
  writeFileSync(c.manifest, renderManifest({ name: TGZ, sha256: sha(readFileSync(c.bundle)) }, innerEntries(FILES)));
  return c;
}

/** One raw tar entry: any type, any path (the project's writer refuses the bad ones). */
interface RawEntry {
  readonly path: string;
  readonly type?: "File" | "Directory" | "SymbolicLink" | "Link" | "FIFO" | "CharacterDevice";
  readonly body?: Buffer;
  readonly linkpath?: string;
}

function rawTar(entries: readonly RawEntry[], opts: { eof?: boolean } = {}): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = e.body ?? Buffer.alloc(0);
    const block = Buffer.alloc(512);
    const type = e.type ?? "File";
    new Header({ path: e.path, type, size: type === "File" ? body.length : 0, mode: type === "Directory" ? 0o755 : 0o644, uid: 0, gid: 0, mtime: new Date(0), ...(e.linkpath ? { linkpath: e.linkpath } : {}) }).encode(block, 0);
    blocks.push(block);
    if (type === "File" && body.length) {
      blocks.push(body);
      if (body.length % 512) blocks.push(Buffer.alloc(512 - (body.length % 512)));
    }
  }
  if (opts.eof !== false) blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** The good files as raw entries (directories first, like the real writer), plus `extra`. */
function goodEntries(extra: readonly RawEntry[] = []): RawEntry[] {
  const dirs = new Set<string>();
  for (const p of Object.keys(FILES)) {
    const parts = `${STEM}/${p}`.split("/");
    for (let k = 1; k < parts.length; k++) dirs.add(parts.slice(0, k).join("/") + "/");
  }
  return [...[...dirs].map((d) => ({ path: d, type: "Directory" as const })), ...Object.entries(FILES).map(([p, b]) => ({ path: `${STEM}/${p}`, body: b })), ...extra];
}

/** Writes `archive` (exact bytes) and a manifest with its true digest and `inner` members. */
function bundleOf(tag: string, archive: Buffer, inner: ManifestEntry[] = innerEntries(FILES)) {
  const c = caseDir(tag);
  writeFileSync(c.bundle, archive);
  writeFileSync(c.manifest, renderManifest({ name: TGZ, sha256: sha(archive) }, inner));
  return c;
}

/** The ingest must fail with `kind` and a message matching every pattern, leaving `out/` empty. */
async function refused(c: ReturnType<typeof caseDir>, kind: IngestFailure, patterns: (string | RegExp)[]): Promise<IngestError> {
  let err: unknown;
  try {
    await ingestBundle({ bundle: c.bundle, manifest: c.manifest, outDir: c.outDir });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof IngestError, `expected an IngestError, got ${String((err as Error)?.stack ?? err)}`);
  const e = err as IngestError;
  if (process.env.INGEST_TEST_SHOW) console.log(`  ${kind}: ${e.message}`);
  assert.is(e.kind, kind, e.message);
  for (const p of patterns) {
    if (typeof p === "string") assert.ok(e.message.includes(p), `message lacks ${JSON.stringify(p)}: ${e.message}`);
    else assert.match(e.message, p);
  }
  assert.equal(readdirSync(c.outParent), [], `nothing left in the output's parent: ${readdirSync(c.outParent).join(", ")}`);
  return e;
}

// ---- the good bundle -------------------------------------------------------------------------

test("a backtest section of BUNDLE_INDEX.json naming a file that is no member is refused", async () => {
  const index = Buffer.from(JSON.stringify({ format: "dagbuild.bundle_index", version: 2, files: [], backtest: { mode: "rolling", weeks: ["2025-05-19"], validation_weeks: ["2025-05-12"], instruments: ["EUR_USD"], gates: { "2025-05-19": "backtest/gates/rolling/gates_2025-05-19_2025-05-26.jsonl" }, candles: [], requested: { backtest_weeks: 1, validation_weeks: 1 } } }) + "\n");
  const files = { ...FILES, "BUNDLE_INDEX.json": index };
  const entries = goodEntries().map((e) => (e.path === `${STEM}/BUNDLE_INDEX.json` ? { ...e, body: index } : e));
  const c = bundleOf("bt-not-member", gzipSync(rawTar(entries)), innerEntries(files));
  await refused(c, "missing-member", ["BUNDLE_INDEX.json field \"backtest\" names backtest/gates/rolling/gates_2025-05-19_2025-05-26.jsonl, which is no member"]);
});

test("a good bundle ingests: files equal the originals, SHA256SUMS checks, INGEST.json and the corpus locator agree", async () => {
  const c = await goodBundle("good");
  mkdirSync(c.outDir); // the engine pre-creates directory outputs: an empty one is fine
  const s = await ingestBundle({ bundle: c.bundle, manifest: c.manifest, outDir: c.outDir });
  assert.is(s.members, Object.keys(FILES).length);
  assert.is(s.bytes, Object.values(FILES).reduce((n, b) => n + b.length, 0));
  for (const [p, b] of Object.entries(FILES)) assert.ok(readFileSync(join(c.outDir, p)).equals(b), `${p} differs`);
  // Exactly the members (top directory stripped) plus the two files the ingest writes.
  assert.equal(readdirSync(c.outDir).sort(), ["BUNDLE_INDEX.json", "INGEST.json", "SHA256SUMS", "docs", "output"]);
  assert.equal(readdirSync(c.outParent), ["ml_corpus"], "no staging directory left beside the output");
  const rec = JSON.parse(readFileSync(join(c.outDir, "INGEST.json"), "utf8"));
  assert.is(rec.format, "dagbuild.ingest");
  assert.is(rec.version, 2);
  assert.is(rec.backtest, null, "an index without a backtest section carries none");
  assert.equal(rec.bundle, { bytes: readFileSync(c.bundle).length, name: TGZ, sha256: sha(readFileSync(c.bundle)) });
  assert.equal(rec.manifest, { name: SUMS, sha256: sha(readFileSync(c.manifest)) });
  assert.is(rec.members, s.members);
  const text = readFileSync(join(c.outDir, "INGEST.json"), "utf8");
  assert.equal(Object.keys(JSON.parse(text)), [...Object.keys(JSON.parse(text))].sort(), "sorted keys");
  const sums = readFileSync(join(c.outDir, "SHA256SUMS"), "utf8");
  assert.match(sums.split("\n")[0]!, /format version 1/);
  assert.not.ok(sums.includes(`${STEM}/`), "the prefix is stripped");
  assert.not.ok(sums.includes(TGZ + "\n"), "the archive line is dropped");
  const found = await findIngestedCorpus(c.outDir, { verify: true });
  assert.is(found.corpus, join(c.outDir, "output/ml_corpus/gates_2025-05-12_2025-05-26.parquet"));
  assert.is(found.ingest.corpus!.sha256, sha(FILES["output/ml_corpus/gates_2025-05-12_2025-05-26.parquet"]!));
  if (!hasSha256sum) {
    console.log("SKIP sha256sum -c: sha256sum not installed");
    return;
  }
  const check = spawnSync("sha256sum", ["-c", "SHA256SUMS"], { cwd: c.outDir, encoding: "utf8" });
  assert.is(check.status, 0, check.stdout + check.stderr);
  assert.is(check.stdout.trim().split("\n").filter((l) => l.endsWith(": OK")).length, Object.keys(FILES).length);
  // The check is real: a changed file fails it, and the corpus locator's verify notices too.
  writeFileSync(join(c.outDir, "output/ml_corpus/gates_2025-05-12_2025-05-26.parquet"), Buffer.alloc(300_000));
  assert.is.not(spawnSync("sha256sum", ["-c", "SHA256SUMS"], { cwd: c.outDir }).status, 0);
  await findIngestedCorpus(c.outDir, { verify: true }).then(
    () => assert.unreachable("verify should fail"),
    (e: IngestError) => assert.match(e.message, /digest mismatch/),
  );
});

test("a raw tar with the same files (as GNU tar would write them) ingests too", async () => {
  const c = bundleOf("raw-good", gzipSync(rawTar(goodEntries())));
  const s = await ingestBundle({ bundle: c.bundle, manifest: c.manifest, outDir: c.outDir });
  assert.is(s.members, Object.keys(FILES).length);
  assert.ok(readFileSync(join(c.outDir, "docs/telemetry_schema.md")).equals(FILES["docs/telemetry_schema.md"]!));
});

test("the corpus locator refuses a directory that no ingest wrote", async () => {
  const c = caseDir("no-ingest");
  await findIngestedCorpus(c.outParent).then(
    () => assert.unreachable("should refuse"),
    (e: IngestError) => {
      assert.is(e.kind, "bad-record");
      assert.match(e.message, "INGEST.json");
    },
  );
});

test("an output directory that is not empty is refused before anything is read", async () => {
  const c = await goodBundle("not-empty");
  mkdirSync(c.outDir);
  writeFileSync(join(c.outDir, "old.txt"), "old\n");
  await ingestBundle({ bundle: c.bundle, manifest: c.manifest, outDir: c.outDir }).then(
    () => assert.unreachable("should refuse"),
    (e: IngestError) => assert.is(e.kind, "output-not-empty"),
  );
  assert.equal(readdirSync(c.outDir), ["old.txt"]);
});

test("an aborted ingest throws and leaves nothing", async () => {
  const c = await goodBundle("abort");
  const ac = new AbortController();
  ac.abort();
  await ingestBundle({ bundle: c.bundle, manifest: c.manifest, outDir: c.outDir, signal: ac.signal }).then(
    () => assert.unreachable("should abort"),
    (e: IngestError) => assert.is(e.kind, "aborted"),
  );
  assert.equal(readdirSync(c.outParent), []);
});

// ---- digests and the manifest ------------------------------------------------------------------

test("refused: a member whose content does not match its manifest line (both digests named)", async () => {
  const member = `${STEM}/docs/telemetry_schema.md`;
  const wrong = sha("something else");
  const inner = innerEntries(FILES).map((e) => (e.name === member ? { ...e, sha256: wrong } : e));
  const c = bundleOf("member-mismatch", gzipSync(rawTar(goodEntries())), inner);
  const e = await refused(c, "member-mismatch", [member, wrong, sha(FILES["docs/telemetry_schema.md"]!), /line \d+/]);
  assert.is(e.expected, wrong);
});

test("refused: an archive whose digest does not match the manifest (both digests named)", async () => {
  const c = await goodBundle("archive-mismatch");
  const good = sha(readFileSync(c.bundle));
  const bad = sha("not the archive");
  writeFileSync(c.manifest, readFileSync(c.manifest, "utf8").replace(good, bad));
  await refused(c, "archive-mismatch", [TGZ, good, bad, "line 4"]);
});

test("refused: a manifest member missing from the archive (named, with its digest)", async () => {
  const ghost = { name: `${STEM}/output/ghost.json`, sha256: sha("ghost") };
  const c = bundleOf("missing", gzipSync(rawTar(goodEntries())), [...innerEntries(FILES), ghost]);
  await refused(c, "missing-member", [ghost.name, ghost.sha256, "missing from the archive"]);
});

test("refused: an archive member not in the manifest (named, with its digest)", async () => {
  const body = Buffer.from("surprise\n");
  const c = bundleOf("extra", gzipSync(rawTar(goodEntries([{ path: `${STEM}/output/extra.txt`, body }]))));
  await refused(c, "extra-member", [`${STEM}/output/extra.txt`, sha(body), "not in the manifest"]);
});

test("refused: an empty directory the manifest does not account for", async () => {
  const c = bundleOf("extra-dir", gzipSync(rawTar(goodEntries([{ path: `${STEM}/stray/`, type: "Directory" }]))));
  await refused(c, "extra-member", [`${STEM}/stray`]);
});

test("refused: malformed manifest lines, with the line number and the member", async () => {
  const c = await goodBundle("malformed");
  const lines = readFileSync(c.manifest, "utf8").split("\n");
  // Line 6 is the second member: cut its digest to 63 hex digits.
  const name6 = lines[5]!.slice(66);
  lines[5] = lines[5]!.slice(1);
  writeFileSync(c.manifest, lines.join("\n"));
  const e = await refused(c, "malformed-manifest", [SUMS, "line 6", name6]);
  assert.is(e.line, 6);
  for (const [bad, why] of [
    [`${"a".repeat(64)}  ${STEM}/../escape.txt`, '".." component'],
    [`${"a".repeat(64)}  /etc/passwd`, "absolute path"],
    [`${"a".repeat(64)}  other_top/file.txt`, "outside the top directory"],
    [`${"A".repeat(64)}  ${STEM}/upper.txt`, "malformed line"],
    [`${sha(FILES["BUNDLE_INDEX.json"]!)}  ${STEM}/BUNDLE_INDEX.json`, "duplicate member"],
    [`${"a".repeat(64)}  ${STEM}/SHA256SUMS`, "reserved name"],
  ] as const) {
    const good = renderManifest({ name: TGZ, sha256: sha(readFileSync(c.bundle)) }, innerEntries(FILES));
    writeFileSync(c.manifest, good + bad + "\n");
    const n = good.split("\n").length; // the appended line's number
    const err = await refused(c, "malformed-manifest", [`line ${n}`, why, bad.slice(66)]);
    assert.is(err.line, n, `${why}: ${err.message}`);
  }
});

// ---- unsafe entries ----------------------------------------------------------------------------

test("refused: an absolute path (and nothing written there)", async () => {
  const target = join(root, `abs-evil-${process.pid}.txt`);
  const c = bundleOf("absolute", gzipSync(rawTar(goodEntries([{ path: target, body: Buffer.from("evil\n") }]))));
  await refused(c, "unsafe-path", [target, "absolute path"]);
  assert.not.ok(existsSync(target));
});

test('refused: a ".." component (and nothing written outside)', async () => {
  const c = bundleOf("dotdot", gzipSync(rawTar([{ path: `${STEM}/../../escaped.txt`, body: Buffer.from("evil\n") }, ...goodEntries()])));
  await refused(c, "unsafe-path", [`${STEM}/../../escaped.txt`, '".." component']);
  assert.not.ok(existsSync(join(c.dir, "escaped.txt")));
  assert.not.ok(existsSync(join(c.outParent, "escaped.txt")));
});

test("refused: a symbolic link", async () => {
  const c = bundleOf("symlink", gzipSync(rawTar(goodEntries([{ path: `${STEM}/output/passwd`, type: "SymbolicLink", linkpath: "/etc/passwd" }]))));
  await refused(c, "link", [`${STEM}/output/passwd`, "symbolic link", "/etc/passwd"]);
});

test("refused: a hard link", async () => {
  const c = bundleOf("hardlink", gzipSync(rawTar(goodEntries([{ path: `${STEM}/docs/copy.md`, type: "Link", linkpath: `${STEM}/docs/telemetry_schema.md` }]))));
  await refused(c, "link", [`${STEM}/docs/copy.md`, "hard link"]);
});

test("refused: a FIFO and a character device", async () => {
  const fifo = bundleOf("fifo", gzipSync(rawTar(goodEntries([{ path: `${STEM}/output/pipe`, type: "FIFO" }]))));
  await refused(fifo, "special-file", [`${STEM}/output/pipe`, "FIFO"]);
  const dev = bundleOf("chardev", gzipSync(rawTar([{ path: `${STEM}/null`, type: "CharacterDevice" }, ...goodEntries()])));
  await refused(dev, "special-file", [`${STEM}/null`, "CharacterDevice"]);
});

test("refused: a duplicate member (even with identical content)", async () => {
  const dup = { path: `${STEM}/docs/telemetry_schema.md`, body: FILES["docs/telemetry_schema.md"]! };
  const c = bundleOf("duplicate", gzipSync(rawTar(goodEntries([dup]))));
  await refused(c, "duplicate-member", [`${STEM}/docs/telemetry_schema.md`, "twice"]);
});

// ---- damaged archives --------------------------------------------------------------------------

test("refused: a truncated gzip (the member being read is named)", async () => {
  const good = gzipSync(rawTar(goodEntries()));
  const c = bundleOf("truncated-gzip", good.subarray(0, Math.floor(good.length * 0.6)));
  await refused(c, "truncated", [TGZ, "truncated", `${STEM}/output/ml_corpus/gates_2025-05-12_2025-05-26.parquet`]);
});

test("refused: a complete gzip holding a truncated tar", async () => {
  const tar = rawTar(goodEntries());
  const big = `${STEM}/output/ml_corpus/gates_2025-05-12_2025-05-26.parquet`;
  const headerAt = tar.indexOf(Buffer.from(big));
  const c = bundleOf("truncated-tar", gzipSync(tar.subarray(0, headerAt + 512 + 100_000)));
  await refused(c, "truncated", [TGZ, "truncated", big]);
});

test("refused: a file that is not gzip (a plain tar with the right digest)", async () => {
  const c = bundleOf("not-gzip", rawTar(goodEntries()));
  await refused(c, "not-gzip", [TGZ, "not gzip"]);
  const empty = bundleOf("empty", Buffer.alloc(0));
  await refused(empty, "not-gzip", [TGZ, "empty file"]);
});

test("refused: gzip of something that is not a tar", async () => {
  const c = bundleOf("gzip-text", gzipSync(Buffer.from("hello, this is not a tarball\n".repeat(100))));
  const e = await refused(c, "bad-archive", [TGZ]);
  assert.match(e.message, /TAR_/);
});

// ---- the rule ----------------------------------------------------------------------------------

test("the rule: ingests through its context, logs members and bytes; converts refusals to RuleError", async () => {
  const c = await goodBundle("rule");
  const rel = (p: string) => p.slice(root.length + 1);
  const lines = await runRule(ingestRule, root, {
    inputs: { bundle: [rel(c.bundle)], manifest: [rel(c.manifest)] },
    outputs: { dir: `${rel(c.outParent)}/ml_corpus/` },
  });
  assert.match(lines.join("\n"), new RegExp(`${Object.keys(FILES).length} members, \\d+ bytes`));
  assert.ok(existsSync(join(c.outDir, "INGEST.json")));
  const bad = bundleOf("rule-bad", gzipSync(rawTar(goodEntries([{ path: `${STEM}/x`, type: "FIFO" }]))));
  await runRule(ingestRule, root, { inputs: { bundle: [rel(bad.bundle)], manifest: [rel(bad.manifest)] }, outputs: { dir: `${rel(bad.outParent)}/ml_corpus/` } }).then(
    () => assert.unreachable("should fail"),
    (e: Error) => {
      assert.is(e.name, "RuleError");
      assert.match(e.message, `${STEM}/x`);
    },
  );
  assert.equal(readdirSync(join(bad.outParent, "ml_corpus")), [], "the pre-created output stays empty");
});

/** A workspace that runs the real ml_ingest declaration (from targets/stage2.yaml) on its own. */
function engineWorkspace(tag: string): string {
  const ws = join(root, `ws-${tag}`);
  mkdirSync(ws);
  for (const f of ["rules", "src", "dist", "node_modules", "package.json"]) symlinkSync(join(REPO, f), join(ws, f));
  const stage2 = parseYaml(readFileSync(join(REPO, "targets/stage2.yaml"), "utf8")) as { targets: Record<string, unknown> };
  const target = stage2.targets.ml_ingest;
  assert.ok(target, "targets/stage2.yaml declares ml_ingest");
  const pipeline = {
    version: 1,
    axes: { week: { span: ["2025-05-12", "2025-05-19"], step: "week" } },
    hosts: { droplet: { transport: "local" }, gpu: { transport: "local", resources: { gpu: 1 } } },
    targets: { ml_ingest: target },
  };
  writeFileSync(join(ws, "pipeline.yaml"), JSON.stringify(pipeline, null, 2) + "\n");
  mkdirSync(join(ws, "output"));
  return ws;
}

test("through the engine: ml_ingest builds data/ml_corpus/, is then up to date, and a tampered bundle fails the build", async () => {
  const c = await goodBundle("engine-src");
  const ws = engineWorkspace("engine");
  writeFileSync(join(ws, "output", TGZ), readFileSync(c.bundle));
  writeFileSync(join(ws, "output", SUMS), readFileSync(c.manifest));
  const first = cli(ws, ["--json", "ml_ingest"], 60_000);
  assert.is(first.code, 0, first.stdout + first.stderr);
  assert.ok(readFileSync(join(ws, "data/ml_corpus/output/ml_corpus/gates_2025-05-12_2025-05-26.parquet")).equals(FILES["output/ml_corpus/gates_2025-05-12_2025-05-26.parquet"]!));
  const found = await findIngestedCorpus(join(ws, "data/ml_corpus"));
  assert.is(found.ingest.bundle.sha256, sha(readFileSync(c.bundle)));
  const again = cli(ws, ["--json", "ml_ingest"], 60_000);
  assert.is(again.code, 0, again.stderr);
  assert.equal(parseEvents(again.stdout).filter((e) => e.type === "action-start"), [], "second build runs nothing");
  // A bundle changed in transit (the manifest still names the original): the build fails.
  const tampered = readFileSync(c.bundle);
  tampered[tampered.length - 20] ^= 0xff;
  writeFileSync(join(ws, "output", TGZ), tampered);
  const bad = cli(ws, ["--json", "ml_ingest"], 60_000);
  assert.is.not(bad.code, 0);
  assert.match(bad.stdout + bad.stderr, `archive ${TGZ} digest mismatch`);
  assert.match(bad.stdout + bad.stderr, sha(tampered));
});

test.after(() => {
  try {
    rmSync(root, { recursive: true, force: true });
  } catch {}
});

test.run();
