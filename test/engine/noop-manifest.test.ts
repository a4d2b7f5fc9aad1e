/**
 * The no-op manifest (src/engine/cache/noop-manifest.ts): a clean build stamps what its full
 * check consulted; the next identical command line answers from the stamps alone. These tests
 * change every kind of thing the full check reads, one at a time, and require (1) the fast path
 * misses for the right reason, (2) it never claims "nothing to do" when the full check would
 * run something, and (3) the build then does exactly the work the change needs.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli, dryRun, makeWs, buildOk, ranIds, read, snapshot, write, type CliResult } from "../helpers/rig.js";
import { writeFakeLib } from "../helpers/fake-rule.js";
import { checkNoopManifest, noopManifestPath, requestKey } from "../../src/engine/cache/noop-manifest.js";
import { engineFiles, writeNoopManifest, RACY_MS } from "../../src/engine/cache/noop-writer.js";
import { ReadLog } from "../../src/engine/read-log.js";
import { workspaceMasker } from "../../src/engine/secrets.js";

process.env.DAGBUILD_TRACE_NOOP = "1"; // inherited by every CLI run: a miss or a hit is printed

const PIPELINE = `version: 1
axes:
  p: [a, b]
tools:
  gen: { command: "cat tool-version.txt" }
targets:
  leaf:
    partition: [p]
    outputs: ["out/leaf/{p}.txt"]
    deps: ["src/{p}.txt"]
    rule: rules/fake.ts
    params_file: { file: params.yaml, keys: [leaf] }
    tools: [gen]
  gather:
    outputs: [out/gather.txt]
    deps: { leaves: "out/leaf/{p}.txt", extra: "extra/*.txt" }
    rule: rules/fake.ts
  tree:
    outputs: ["out/tree/"]
    deps: [out/gather.txt]
    run: "mkdir -p {out} && cp out/gather.txt {out}/g.txt && echo tree >> runs.log"
`;

const FILES = {
  "src/a.txt": "a1\n",
  "src/b.txt": "b1\n",
  "params.yaml": "leaf: { x: 1 }\n",
  "tool-version.txt": "gen 1.0\n",
  "extra/one.txt": "one\n",
};

let tick = 0;
/**
 * Sets the mtime of workspace files a few seconds back (one time per call, a new one each call),
 * as if edited a while ago: a file modified within the last second refuses the manifest (racy).
 */
function age(ws: string, rels: readonly string[]): void {
  const t = (Date.now() - 5000) / 1000 + ++tick / 1000;
  for (const rel of rels) utimesSync(join(ws, rel), t, t);
}

function allFiles(ws: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(ws, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (r !== "cache" && r !== "out") walk(r);
      } else out.push(r);
    }
  };
  walk("");
  return out;
}

function fresh(): string {
  const ws = makeWs(PIPELINE, { files: FILES });
  age(ws, allFiles(ws));
  return ws;
}

/** Every file under out/, path → content, with the workspace root taken out. */
const snapshotOut = (ws: string) => Object.fromEntries(Object.entries(snapshot(ws, "out")).map(([p, c]) => [p, c.replaceAll(ws, "<ws>")]));

const trace = (r: CliResult) => /no-op manifest: (.*)/.exec(r.stderr)?.[1] ?? "(none)";

/** A plain `dagbuild` (no --json, so the fast path may answer); must exit 0. */
function run(ws: string, args: string[] = []): CliResult {
  const r = cli(ws, args);
  if (r.code !== 0) throw new Error(`dagbuild ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** The tree rule appends "tree" to runs.log like the fake rule appends ids. */
const ran = (ws: string) => ranIds(ws).map((id) => (id === "tree" ? "tree" : id));

/** Engine files compiled less than a second ago would refuse every manifest: wait them out. */
async function engineSettled(): Promise<void> {
  const newest = Math.max(...engineFiles().map((f) => statSync(f).mtimeMs));
  const wait = newest + RACY_MS + 50 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

test("a clean build leaves a manifest and the next identical build answers from it", async () => {
  await engineSettled();
  const ws = fresh();
  const first = run(ws);
  assert.match(first.stderr, "no-op manifest: no-manifest");
  assert.equal(ran(ws), ["gather", "leaf[p=a]", "leaf[p=b]", "tree"]);
  const second = run(ws);
  assert.is(trace(second), "hit");
  assert.match(second.stderr, "dagbuild: nothing to do (4 up to date)");
  assert.equal(ran(ws), []);
  // The dry run answers the same way, with the full check's exact output.
  const dry = run(ws, ["-n"]);
  assert.is(trace(dry), "hit");
  assert.is(dry.stdout, "0 to run, 4 up to date\n");
  process.env.DAGBUILD_FULL_CHECK = "1";
  try {
    const slow = run(ws, ["-n"]);
    assert.is(trace(slow), "(none)", "DAGBUILD_FULL_CHECK skips the manifest");
    assert.is(slow.stdout, dry.stdout, "fast and full dry runs print the same");
  } finally {
    delete process.env.DAGBUILD_FULL_CHECK;
  }
});

/**
 * Each change, what the fast path must report, and what must run. After each: the full check's
 * plan is compared with the fast verdict (a hit with a non-empty plan would be a wrong no-op),
 * the build runs, and the next build is a hit again.
 */
const CHANGES: { name: string; change(ws: string): string[]; miss: RegExp; runs: string[]; after?(ws: string): void }[] = [
  { name: "a source touched, same content", change: (ws) => (write(ws, "src/a.txt", "a1\n"), ["src/a.txt"]), miss: /output-changed src\/a\.txt/, runs: [] },
  { name: "a source edited", change: (ws) => (write(ws, "src/a.txt", "a2\n"), ["src/a.txt"]), miss: /output-changed src\/a\.txt/, runs: ["gather", "leaf[p=a]", "tree"] },
  { name: "the params file edited", change: (ws) => (write(ws, "params.yaml", "leaf: { x: 2 }\n"), ["params.yaml"]), miss: /file-changed .*params\.yaml/, runs: ["gather", "leaf[p=a]", "leaf[p=b]", "tree"] },
  { name: "a module the rule imports edited", change: (ws) => (writeFakeLib(ws, "lib-v2"), ["rules/fakelib.ts", "rules/fakelib.js"]), miss: /file-changed .*rules\/fakelib\.ts/, runs: ["gather", "leaf[p=a]", "leaf[p=b]", "tree"] },
  { name: "a file added under a glob", change: (ws) => (write(ws, "extra/two.txt", "two\n"), ["extra/two.txt"]), miss: /listing-changed .*extra/, runs: ["gather", "tree"] },
  { name: "a tool's version changed", change: (ws) => (write(ws, "tool-version.txt", "gen 1.1\n"), ["tool-version.txt"]), miss: /tool-changed `cat tool-version\.txt`/, runs: ["leaf[p=a]", "leaf[p=b]"] },
  {
    name: "an output deleted (restored from the cache)",
    change: (ws) => (rmSync(join(ws, "out/leaf/b.txt")), []),
    miss: /output-changed out\/leaf\/b\.txt/,
    runs: [],
    after: (ws) => assert.match(read(ws, "out/leaf/b.txt"), "b1"),
  },
  {
    name: "a file inside a directory output edited (restored from the cache)",
    change: (ws) => (write(ws, "out/tree/g.txt", "tampered\n"), []),
    miss: /output-changed out\/tree/,
    runs: [],
    after: (ws) => assert.is(read(ws, "out/tree/g.txt"), read(ws, "out/gather.txt")),
  },
  { name: "a comment added to pipeline.yaml", change: (ws) => (write(ws, "pipeline.yaml", `# note\n${PIPELINE}`), ["pipeline.yaml"]), miss: /file-changed .*pipeline\.yaml/, runs: [] },
  { name: "a source deleted from under a glob", change: (ws) => (rmSync(join(ws, "extra/one.txt")), []), miss: /(probe|listing)-changed .*extra/, runs: ["gather", "tree"] },
];

test("every kind of change misses for its reason, never hides work, and the build then does exactly it", async () => {
  await engineSettled();
  const ws = fresh();
  run(ws);
  ran(ws);
  assert.is(trace(run(ws)), "hit");
  for (const c of CHANGES) {
    const touched = c.change(ws);
    age(ws, touched);
    const plan = dryRun(ws); // --json: always the full check
    const key = requestKey({ root: ws, pipeline: "pipeline.yaml", hostOverrides: {}, targets: [] }, () => workspaceMasker(join(ws, "cache")));
    const fast = await checkNoopManifest(noopManifestPath(join(ws, "cache"), key), ws, key, join(ws, "cache", "state.v1.jsonl"));
    assert.ok(!fast.hit || plan.actions.length === 0, `${c.name}: the fast path says nothing to do but the plan runs ${plan.actions.map((a) => a.id)}`);
    const r = run(ws);
    assert.match(trace(r), c.miss, `${c.name}: ${trace(r)}`);
    assert.equal(ran(ws), c.runs, c.name);
    c.after?.(ws);
    const again = run(ws);
    assert.is(trace(again), "hit", `${c.name}: the build after it answers from the manifest`);
    assert.equal(ran(ws), [], c.name);
  }
});

test("a --set value with a password: the manifest holds its keyed hash, never the password; another password misses", async () => {
  await engineSettled();
  const ws = makeWs(`version: 1
vars: { url: "" }
targets:
  a: { outputs: [out/a.txt], run: "echo {url} > /dev/null; echo a > {out}" }
`);
  age(ws, allFiles(ws));
  const args = ["--set", "url=redis://:hunter2secret@127.0.0.1:1/0"];
  run(ws, args);
  assert.is(trace(run(ws, args)), "hit");
  for (const f of readdirSync(join(ws, "cache", "noop"))) assert.not.match(read(ws, `cache/noop/${f}`), /hunter2secret/, f);
  assert.is.not(trace(run(ws, ["--set", "url=redis://:other@127.0.0.1:1/0"])), "hit", "another password is another request");
});

/** Runs `dagbuild args` with extra environment variables. */
function runEnv(ws: string, env: Record<string, string>, args: string[] = []): CliResult {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return run(ws, args);
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

test("when only outputs and sources moved, the build decides just their dependants: same work, same outputs as the full check", async () => {
  await engineSettled();
  const fast = fresh();
  const full = fresh();
  const both = (f: (ws: string) => string[]) => {
    for (const ws of [fast, full]) age(ws, f(ws));
  };
  run(fast);
  runEnv(full, { DAGBUILD_FULL_CHECK: "1" });
  ran(fast), ran(full);
  const steps: [string, (ws: string) => string[]][] = [
    ["one source edited", (ws) => (write(ws, "src/a.txt", "a2\n"), ["src/a.txt"])],
    ["two sources edited at once", (ws) => (write(ws, "src/a.txt", "a3\n"), write(ws, "src/b.txt", "b3\n"), ["src/a.txt", "src/b.txt"])],
    ["a source rewritten with the same bytes", (ws) => (write(ws, "src/b.txt", "b3\n"), ["src/b.txt"])],
    ["an output deleted and a source edited", (ws) => (rmSync(join(ws, "out/leaf/a.txt")), write(ws, "src/b.txt", "b4\n"), ["src/b.txt"])],
    ["an output tampered with", (ws) => (write(ws, "out/gather.txt", "tampered\n"), [])],
    ["a file in a directory output removed", (ws) => (rmSync(join(ws, "out/tree/g.txt")), [])],
    // The build before decided only the shell rule's action: the module rule must still be stamped.
    ["then a module the rule imports edited", (ws) => (writeFakeLib(ws, "lib-v3"), ["rules/fakelib.ts", "rules/fakelib.js"])],
    ["a source reverted", (ws) => (write(ws, "src/a.txt", "a1\n"), ["src/a.txt"])],
  ];
  for (const [name, change] of steps) {
    both(change);
    const r = run(fast);
    if (!name.includes("module")) assert.match(trace(r), /output-changed .* \(\d+ moved\)/, `${name}: ${trace(r)}`);
    else assert.match(trace(r), /file-changed .*fakelib/, `${name}: ${trace(r)}`);
    runEnv(full, { DAGBUILD_FULL_CHECK: "1" });
    assert.equal(ran(fast), ran(full), `${name}: the same actions ran`);
    assert.equal(snapshotOut(fast), snapshotOut(full), `${name}: the same outputs`);
    assert.is(trace(run(fast)), "hit", `${name}: then a no-op`);
  }
});

test("another command line's build invalidates this one's manifest (the state index changed)", async () => {
  await engineSettled();
  const ws = fresh();
  run(ws);
  ran(ws);
  run(ws, ["leaf"]); // writes its own manifest; records nothing new
  assert.is(trace(run(ws)), "hit", "a build that recorded nothing leaves other manifests valid");
  write(ws, "src/b.txt", "b2\n");
  age(ws, ["src/b.txt"]);
  run(ws, ["leaf"]);
  assert.equal(ran(ws), ["leaf[p=b]"]);
  const r = run(ws);
  assert.match(trace(r), /state-changed|output-changed/);
  assert.equal(ran(ws), ["gather", "tree"]);
});

test("--force and --json always take the full path; a held lock is reported as by a full build", async () => {
  await engineSettled();
  const ws = fresh();
  run(ws);
  ran(ws);
  const forced = run(ws, ["--force", "gather"]);
  assert.is(trace(forced), "(none)");
  assert.equal(ran(ws), ["gather"]);
  run(ws);
  const json = buildOk(ws);
  assert.ok(json.done, "--json prints the event stream of a full check");
  assert.is(json.done!.fresh, 4);
  writeFileSync(join(ws, "cache", "lock"), `${process.pid}\n`); // a live PID holds the workspace
  const locked = cli(ws, []);
  assert.is(locked.code, 75);
  assert.match(locked.stderr, `another build (pid ${process.pid})`);
  rmSync(join(ws, "cache", "lock"));
  assert.is(trace(run(ws)), "hit");
});

test("a torn or foreign manifest is a miss, and the full build replaces it", async () => {
  await engineSettled();
  const ws = fresh();
  run(ws);
  const dir = join(ws, "cache", "noop");
  const [name] = readdirSync(dir);
  writeFileSync(join(dir, name!), '{"format":"dagbuild-noop","vers');
  assert.is(trace(run(ws)), "format");
  assert.is(trace(run(ws)), "hit");
  writeFileSync(join(dir, name!), JSON.stringify({ format: "dagbuild-noop", version: 99 }));
  assert.is(trace(run(ws)), "format");
});

// ---- the writer's refusals (in process, with a fake clock) ---------------------------------------

function facts(ws: string, log: ReadLog, extra: Partial<Parameters<typeof writeNoopManifest>[1]> = {}) {
  return {
    request: "r",
    stateFile: join(ws, "cache", "state.v1.jsonl"),
    fresh: 0,
    log,
    outputs: [],
    sources: [],
    engineFiles: [],
    processStart: Date.now(),
    ...extra,
  };
}

test("the writer refuses racy, changed and unstampable inputs, and the check then misses", () => {
  const ws = makeWs("version: 1\ntargets: {}\n", { fake: false, files: { "p.yaml": "x: 1\n" } });
  const abs = join(ws, "p.yaml");
  const file = join(ws, "cache", "noop", "m.json");
  let log = new ReadLog();
  log.read(abs); // written just now: an edit in the same mtime tick would go unseen
  let w = writeNoopManifest(file, facts(ws, log));
  assert.is(w.written, false);
  assert.match(w.written ? "" : w.why, "modified less than");
  age(ws, ["p.yaml"]);
  log = new ReadLog();
  log.read(abs);
  w = writeNoopManifest(file, facts(ws, log));
  assert.is(w.written, true, "old enough: stamped");
  writeFileSync(abs, "x: 2\n");
  w = writeNoopManifest(file, facts(ws, log));
  assert.match(w.written ? "" : w.why, "changed during the build", "content differs from what the load read");
  assert.is(readdirSync(join(ws, "cache", "noop")).length, 0, "a refusal removes the old manifest");
  w = writeNoopManifest(file, facts(ws, new ReadLog(), { sources: [["data/dir", undefined]] }));
  assert.match(w.written ? "" : w.why, "directory");
  w = writeNoopManifest(file, facts(ws, new ReadLog(), { engineFiles: [abs], processStart: statSync(abs).mtimeMs }));
  assert.match(w.written ? "" : w.why, "newer than this process");
});

test("the check compares every stamp kind: probes, absent files, the state index", async () => {
  const ws = makeWs("version: 1\ntargets: {}\n", { fake: false, files: { "p.yaml": "x: 1\n", "d/f.txt": "f\n" } });
  age(ws, ["p.yaml", "d/f.txt"]);
  const file = join(ws, "cache", "noop", "m.json");
  const state = join(ws, "cache", "state.v1.jsonl");
  const log = new ReadLog();
  log.read(join(ws, "p.yaml"));
  log.read(join(ws, "missing.yaml"));
  log.probe(join(ws, "d"), "dir");
  log.probe(join(ws, "d/f.txt"), "file");
  log.probe(join(ws, "rules/x.ts"), null);
  const check = () => checkNoopManifest(file, ws, "r", state, () => undefined);
  assert.is(writeNoopManifest(file, facts(ws, log)).written, true);
  assert.equal(await check(), { hit: true, fresh: 0 });
  write(ws, "missing.yaml", "now here\n");
  assert.equal(await check(), { hit: false, miss: { kind: "file-changed", path: join(ws, "missing.yaml") } });
  rmSync(join(ws, "missing.yaml"));
  write(ws, "rules/x.ts", "//\n");
  assert.equal(await check(), { hit: false, miss: { kind: "probe-changed", path: join(ws, "rules/x.ts") } });
  rmSync(join(ws, "rules/x.ts"));
  assert.equal((await check()).hit, true);
  write(ws, "cache/state.v1.jsonl", "{}\n");
  assert.equal(await check(), { hit: false, miss: { kind: "state-changed" } });
  assert.equal(await checkNoopManifest(file, ws, "another request", state), { hit: false, miss: { kind: "request" } });
});

test.run();
