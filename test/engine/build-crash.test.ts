/**
 * Crash safety and the workspace lock, through the CLI run as a background process group:
 * kill -9 in the middle of a build, then a rebuild that must take over the stale lock and end
 * identical to a clean build; a second build while one runs exits 75 naming the holder.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { build, buildOk, cli, dryRun, exists, listFiles, makeWs, parseEvents, peekRuns, ranIds, read, snapshot, spawnCli, waitFor, type Background } from "../helpers/rig.js";

/** slow and other wait while <ws>/hold exists (PARTIAL already staged). */
const PIPELINE = `version: 1
targets:
  first:
    outputs: { main: out/first.txt }
    deps: { src: src/in.txt }
    rule: rules/fake.ts
  slow:
    outputs: { main: out/slow.txt, extra: out/deep/slow-extra.txt }
    deps: { first: out/first.txt }
    rule: rules/fake.ts
    params: { wait_while: hold }
  other:
    outputs: { main: out/other.txt }
    deps: { src: src/in.txt }
    rule: rules/fake.ts
    params: { wait_while: hold }
  after:
    outputs: { main: out/after.txt }
    deps: { slow: out/slow.txt, other: out/other.txt }
    rule: rules/fake.ts
`;
const FILES = { "src/in.txt": "input\n" };
const OUTPUTS = ["out/after.txt", "out/deep/slow-extra.txt", "out/first.txt", "out/other.txt", "out/slow.txt"];

const running: Background[] = [];
test.after.each(() => {
  try {
    for (const b of running.splice(0)) b.killGroup();
  } catch (e) {
    process.stderr.write(`after.each: ${(e as Error).stack}\n`);
  }
});

/** Starts a background build and waits until `first` is done and `slow` has started. */
async function startAndWaitForSlow(ws: string, args: string[]): Promise<Background> {
  const bg = spawnCli(ws, ["--json", ...args]);
  running.push(bg);
  let exitedEarly = false;
  void bg.exited.then(() => (exitedEarly = true), () => (exitedEarly = true));
  await waitFor(
    () => {
      if (exitedEarly) throw new Error(`the build ended before the slow action started:\n${bg.stdout()}\n${bg.stderr()}`);
      const done = parseEvents(bg.stdout()).some((e) => e.type === "action-done" && e.id === "first");
      return done && peekRuns(ws).includes("slow");
    },
    "first to finish and slow to start",
  );
  return bg;
}

test("8. kill -9 mid-build: the rebuild takes over the stale lock and ends identical to a clean build", async () => {
  const ws = makeWs(PIPELINE, { files: { ...FILES, hold: "" } });
  const bg = await startAndWaitForSlow(ws, ["-j", "2"]);
  bg.killGroup("SIGKILL");
  const ex = await bg.exited;
  assert.equal(ex.signal, "SIGKILL");

  // The dead build left its lock behind, and nothing half-written under the outputs.
  assert.equal(read(ws, "cache/lock").trim(), String(bg.pid), "stale lock of the dead PID");
  assert.equal(listFiles(ws, "out"), ["out/first.txt"], "only the finished action's output exists");
  assert.ok(!Object.values(snapshot(ws)).some((t) => t.includes("PARTIAL")));
  // What the dead build staged is under cache/tmp, never under the outputs.
  const staged = readdirSync(join(ws, "cache/tmp"));
  assert.ok(staged.length > 0 && staged.every((n) => n.includes(`.${bg.pid}.`)), `the dead build's staging: ${staged}`);

  // Rebuild (no more waiting): takes the lock over.
  rmSync(join(ws, "hold"));
  ranIds(ws);
  const r = build(ws, ["-j", "2"]);
  assert.equal(r.code, 0, `rebuild exit code (stderr: ${r.stderr})`);
  assert.not.ok(r.stderr.includes("another build"), "the stale lock was not reported as held");
  assert.equal(ranIds(ws), ["after", "other", "slow"], "first was recorded before the kill and is not rerun");
  assert.not.ok(existsSync(join(ws, "cache/lock")), "the lock is released after the rebuild");

  // Identical to a clean build of the same workspace, and no stray files under the outputs.
  const ref = makeWs(PIPELINE, { files: FILES });
  buildOk(ref);
  assert.equal(listFiles(ws, "out"), OUTPUTS, "exactly the declared outputs");
  assert.equal(snapshot(ws), snapshot(ref));
  assert.equal(build(ws).executed, [], "and the next build is a no-op");
  // The rebuild, holding the lock, cleared the dead build's staging.
  assert.equal(existsSync(join(ws, "cache/tmp")) ? readdirSync(join(ws, "cache/tmp")) : [], []);
});

test("9. a second build while one runs exits 75 naming the holder's PID", async () => {
  const ws = makeWs(PIPELINE, { files: { ...FILES, hold: "" } });
  const bg = await startAndWaitForSlow(ws, ["-j", "2"]);
  const second = cli(ws, ["--json"]);
  assert.equal(second.code, 75, `exit code of the second build (stderr: ${second.stderr})`);
  assert.ok(second.stderr.includes(`pid ${bg.pid}`), `names the holder: ${second.stderr}`);
  assert.equal(cli(ws, ["clean"]).code, 75, "clean waits for the build too");
  assert.equal(cli(ws, ["gc", "--max-size", "0"]).code, 75, "so does gc");
  assert.ok(dryRun(ws).actions.length > 0, "a dry run needs no lock");
  assert.ok(exists(ws, "cache/lock"));
  rmSync(join(ws, "hold"));
  const ex = await bg.exited;
  assert.equal(ex.code, 0, `the first build finishes normally: ${bg.stderr()}`);
  assert.equal(peekRuns(ws).sort(), ["after", "first", "other", "slow"], "the refused builds ran nothing");
  assert.not.ok(exists(ws, "cache/lock"), "released");
  const third = buildOk(ws);
  assert.equal(third.executed, []);
});

test.run();
