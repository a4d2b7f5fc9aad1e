/**
 * Randomized soundness fuzz on a small diamond pipeline (a directory output, a glob, module and
 * shell rules): random source edits, deletions of outputs, touches, `cp -p` style rewrites
 * (same size, mtime and inode), rule-module edits, sources appearing for the glob, target
 * choices and `kill -9` of builds at random points. After every step:
 *   - the fast path never does less work than the full check would (every action the full
 *     check's dry run calls definite is built or restored by the plain `dagbuild`, and nothing
 *     outside its plan is);
 *   - every few steps and at the end, the outputs equal a from-scratch build of the same files.
 * DAGBUILD_FUZZ_STEPS (default 300), DAGBUILD_FUZZ_SEED (default: time-based, printed), and
 * DAGBUILD_FUZZ_BUDGET_S (default 300: the run stops early, saying so, when the box is slow).
 * A failure names the seed and the step, so `DAGBUILD_FUZZ_SEED=<seed>` replays it.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli, CLI_TIMEOUT_MS, exists, makeWs, prng, read, snapshot, spawnCli, write, type PlanJson } from "../helpers/rig.js";
import { writeFakeLib, writeFakeRule } from "../helpers/fake-rule.js";
import { engineFiles, RACY_MS } from "../../src/engine/cache/noop-writer.js";

const PIPELINE = `version: 1
targets:
  gen:
    outputs: ["gen/"]
    deps: [src/a.txt, src/b.txt]
    run: "mkdir -p {out}/sub && cat src/a.txt > {out}/one.txt && cat src/b.txt src/a.txt > {out}/sub/two.txt"
  left:
    outputs: [out/left.txt]
    deps: { a: src/a.txt, gen: gen/sub/two.txt }
    rule: rules/fake.ts
  right:
    outputs: [out/right.txt]
    deps: ["src/*.txt"]
    run: "cat {deps} > {out}"
  join:
    outputs: [out/join.txt]
    deps: { l: out/left.txt, r: out/right.txt }
    rule: rules/fake.ts
`;
const SOURCES = ["src/a.txt", "src/b.txt", "src/c.txt"];
const CONTENTS = ["alpha\n", "bravo\n", "charl\n", "delta\n", "echo1\n"]; // same size: cp -p collisions
const TARGETS: string[][] = [[], [], ["join"], ["left"], ["right"], ["gen"], ["out/join.txt"]];

const steps = Number(process.env.DAGBUILD_FUZZ_STEPS ?? 300);
const seed = Number(process.env.DAGBUILD_FUZZ_SEED ?? Date.now() % 1_000_000);
const budgetMs = Number(process.env.DAGBUILD_FUZZ_BUDGET_S ?? 300) * 1000;
process.env.DAGBUILD_TRACE_NOOP = "1"; // to count how often the fast path answered (coverage)

async function engineSettled(): Promise<void> {
  const newest = Math.max(...engineFiles().map((f) => statSync(f).mtimeMs));
  const wait = newest + RACY_MS + 50 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

/** Actions a plain (fast-path) build reported as built or restored. */
function workOf(stderr: string): string[] {
  return [...stderr.matchAll(/\] (?:built|restored) (\S+) in /g)].map((m) => m[1]!).sort();
}

test(`fuzz: ${steps} steps of edits, touches, collisions, rule edits and kill -9 (seed ${seed})`, async () => {
  process.stdout.write(`fuzz seed ${seed} (replay: DAGBUILD_FUZZ_SEED=${seed})\n`);
  await engineSettled();
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const files: Record<string, string> = { "src/a.txt": "alpha\n", "src/b.txt": "bravo\n", "src/c.txt": "charl\n" };
  const ws = makeWs(PIPELINE, { files });
  let tick = 0;
  // Edited files get distinct mtimes a few seconds in the past: never racy, so the fast path stays in play.
  const age = (rel: string) => {
    const t = (Date.now() - 10_000) / 1000 + ++tick / 1000;
    utimesSync(join(ws, rel), t, t);
  };
  for (const f of ["pipeline.yaml", "rules/fake.ts", "rules/fake.js", "rules/fakelib.ts", "rules/fakelib.js", ...SOURCES]) age(f);
  let lib = 1;
  let salt = 0;
  const where = (step: number, what: string) => `seed ${seed}, step ${step} (${what})`;
  const t0 = Date.now();
  let done = 0;
  const seen = { hit: 0, incremental: 0, kills: 0 };
  let prevTargets: string[] = [];
  for (let step = 0; step < steps; step++) {
    if (Date.now() - t0 > budgetMs) {
      process.stdout.write(`fuzz: time budget spent after ${done} steps (seed ${seed})\n`);
      break;
    }
    const r = rnd();
    let what: string;
    if (r < 0.3) {
      const f = pick(SOURCES);
      const text = pick(CONTENTS);
      write(ws, f, text);
      age(f);
      what = `edit ${f}`;
    } else if (r < 0.4) {
      const f = pick(SOURCES);
      if (exists(ws, f)) {
        // cp -p: same size content, mtime put back; the inode is kept (written in place).
        const st = statSync(join(ws, f));
        writeFileSync(join(ws, f), pick(CONTENTS));
        utimesSync(join(ws, f), st.atime, st.mtime);
      }
      what = `cp -p over ${f}`;
    } else if (r < 0.5) {
      const o = pick(["out/left.txt", "out/right.txt", "out/join.txt", "gen/one.txt", "gen/sub/two.txt"]);
      rmSync(join(ws, o), { force: true });
      what = `delete ${o}`;
    } else if (r < 0.58) {
      const f = pick([...SOURCES, "out/left.txt", "out/join.txt"]);
      if (exists(ws, f)) age(f);
      what = `touch ${f}`;
    } else if (r < 0.66) {
      if (rnd() < 0.5) writeFakeLib(ws, `lib-v${(lib = (lib % 3) + 1)}`);
      else writeFakeRule(ws, "rules/fake.ts", { lib: "rules/fakelib.ts", salt: `salt ${(salt = (salt + 1) % 3)}` });
      for (const f of ["rules/fake.ts", "rules/fake.js", "rules/fakelib.ts", "rules/fakelib.js"]) age(f);
      what = "rule edit";
    } else if (r < 0.72) {
      if (exists(ws, "src/c.txt")) rmSync(join(ws, "src/c.txt"));
      else {
        write(ws, "src/c.txt", pick(CONTENTS));
        age("src/c.txt");
      }
      what = "glob source appears/disappears";
    } else what = "no edit";
    // Sticky target choice: a manifest answers only its own command line, so repeats matter.
    const targets = (prevTargets = rnd() < 0.7 ? prevTargets : pick(TARGETS));
    if (rnd() < 0.12) {
      // kill -9 at a random point of a build.
      const bg = spawnCli(ws, targets);
      await new Promise((res) => setTimeout(res, Math.floor(rnd() * 400)));
      bg.killGroup("SIGKILL");
      await bg.exited.catch(() => undefined);
      what += ", kill -9";
    }
    // The full check's verdict (a dry run decides without writing), then the fast path's work.
    const planRun = cli(ws, ["-n", "--json", ...targets]);
    assert.ok(planRun.code === 0, `${where(step, what)}: dry run exited ${planRun.code}: ${planRun.stderr}`);
    const plan = JSON.parse(planRun.stdout) as PlanJson;
    const b = cli(ws, targets, CLI_TIMEOUT_MS);
    assert.ok(b.code === 0, `${where(step, what)}: build exited ${b.code}: ${b.stderr}`);
    const work = workOf(b.stderr);
    if (b.stderr.includes("no-op manifest: hit")) seen.hit++;
    else if (/no-op manifest: .*\(\d+ moved\)/.test(b.stderr)) seen.incremental++;
    if (what.endsWith("kill -9")) seen.kills++;
    const definite = plan.actions.filter((a) => !a.pending).map((a) => a.id).sort();
    const possible = new Set(plan.actions.map((a) => a.id));
    for (const id of definite) assert.ok(work.includes(id), `${where(step, what)}: the full check would run ${id}, the fast path did not (did: ${work.join(", ") || "nothing"})\n${b.stderr}`);
    for (const id of work) assert.ok(possible.has(id), `${where(step, what)}: ${id} ran though the full check found it fresh`);
    if (step % 25 === 24 || step === steps - 1) {
      const all = cli(ws, []);
      assert.ok(all.code === 0, `${where(step, what)}: full build exited ${all.code}`);
      compareWithScratch(ws, where(step, what));
    }
    done++;
  }
  compareWithScratch(ws, `seed ${seed}, end`);
  process.stdout.write(`fuzz: ${done} steps passed (seed ${seed}): fast path hits ${seen.hit}, incremental ${seen.incremental}, kill -9 ${seen.kills}\n`);
});

/** Builds the same pipeline, rules and sources from scratch and compares every output. */
function compareWithScratch(ws: string, where: string): void {
  const cur = cli(ws, []);
  assert.ok(cur.code === 0, `${where}: build exited ${cur.code}`);
  const files: Record<string, string> = {};
  for (const f of ["pipeline.yaml", "rules/fake.ts", "rules/fake.js", "rules/fakelib.ts", "rules/fakelib.js", ...SOURCES]) if (exists(ws, f)) files[f] = readFileSync(join(ws, f), "utf8");
  const fresh = makeWs(read(ws, "pipeline.yaml"), { fake: false, files });
  const r = cli(fresh, ["--json"]);
  assert.ok(r.code === 0, `${where}: scratch build exited ${r.code}: ${r.stderr}`);
  const norm = (s: Record<string, string>) => JSON.stringify(s);
  assert.is(norm(snapshot(ws, "out")), norm(snapshot(fresh, "out")), `${where}: out/ differs from a from-scratch build`);
  assert.is(norm(snapshot(ws, "gen")), norm(snapshot(fresh, "gen")), `${where}: gen/ differs from a from-scratch build`);
}

test.run();
