/**
 * The behaviours every Host implementation must have, as one shared uvu suite.
 *
 *   hostContract("ssh host", async (workspace) => ({ host, cleanup }));
 *
 * The suite makes a temp workspace holding the input files, asks `makeHost(workspace)` for a
 * host whose `env.root` is that workspace (once per suite: a host runs many actions), and runs
 * hand-written ActionSpecs with shell rules through it. Shell commands use the documented
 * placeholders `{deps}` (inputs) and `{out.NAME}` (the output's staging path).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { ActionIO, ActionSpec, Host, HostResult, InputFile } from "../../src/engine/hosts/host.js";

/** What `makeHost` returns. */
export interface ContractHost {
  readonly host: Host;
  cleanup(): Promise<void>;
}

const RUN_TIMEOUT_MS = 60_000;

function sha(text: string | Buffer): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Files under `dir`, relative, sorted (empty when the dir is missing). */
export function listFiles(dir: string): string[] {
  let out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  for (const name of names) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(listFiles(p).map((f) => join(name, f)));
    else out.push(name);
  }
  return out;
}

/** Builds a version-1 ActionSpec for a shell rule. */
export function shellSpec(
  id: string,
  command: string,
  outputs: Record<string, string | { path: string; dir: boolean }>,
  inputs: Record<string, readonly InputFile[]> = {},
): ActionSpec {
  const outs: Record<string, { path: string; dir: boolean }> = {};
  for (const [k, v] of Object.entries(outputs)) outs[k] = typeof v === "string" ? { path: v, dir: false } : v;
  return { version: 1, id, target: id, partition: {}, rule: { kind: "shell", command }, params: {}, inputs, outputs: outs };
}

/** Writes a workspace file and returns its InputFile. */
export function writeInput(root: string, path: string, content: string | Buffer): InputFile {
  mkdirSync(join(root, path, ".."), { recursive: true });
  writeFileSync(join(root, path), content);
  const buf = typeof content === "string" ? Buffer.from(content) : content;
  return { path, digest: sha(buf), size: buf.length };
}

/** Runs `spec` with a collecting log and a guard timeout. */
export async function runWithLog(
  host: Host,
  spec: ActionSpec,
  staging: string,
  signal: AbortSignal = new AbortController().signal,
): Promise<{ result: HostResult; log: string }> {
  let log = "";
  const io: ActionIO = { log: (s) => (log += s), signal };
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`host.run(${spec.id}) did not finish in ${RUN_TIMEOUT_MS} ms`)), RUN_TIMEOUT_MS);
  });
  try {
    const result = await Promise.race([host.run(spec, staging, io), guard]);
    return { result, log };
  } finally {
    clearTimeout(timer);
  }
}

/** Registers and runs the shared Host suite. */
export function hostContract(suiteName: string, makeHost: (workspace: string) => Promise<ContractHost>): void {
  const t = suite(`host contract: ${suiteName}`);
  const ctx: { workspace?: string; made?: ContractHost; n: number } = { n: 0 };
  const staging = (): string => {
    const dir = join(ctx.workspace!, "staging", String(++ctx.n));
    mkdirSync(dir, { recursive: true });
    return dir;
  };
  const host = (): Host => {
    if (!ctx.made) throw new Error("makeHost failed in before(); see the log above");
    return ctx.made.host;
  };

  t.before(async () => {
    try {
      ctx.workspace = mkdtempSync(join(tmpdir(), "dagbuild-contract-"));
      ctx.made = await makeHost(ctx.workspace);
      await ctx.made.host.prepare(new AbortController().signal);
    } catch (err) {
      console.error(`host contract (${suiteName}) setup failed:`, err);
    }
  });
  t.after(async () => {
    try {
      await ctx.made?.cleanup();
      if (ctx.workspace) rmSync(ctx.workspace, { recursive: true, force: true });
    } catch (err) {
      console.error(`host contract (${suiteName}) cleanup failed:`, err);
    }
  });

  t("runs a shell rule on its inputs and leaves the output in staging", async () => {
    const input = writeInput(ctx.workspace!, "data/in.txt", "hello contract\n");
    const dir = staging();
    const spec = shellSpec("upper", "tr a-z A-Z < {deps} > {out.upper}", { upper: "out/upper.txt" }, { src: [input] });
    const { result } = await runWithLog(host(), spec, dir);
    assert.equal(result, { ok: true });
    assert.is(readFileSync(join(dir, "out/upper.txt"), "utf8"), "HELLO CONTRACT\n");
  });

  t("brings back a directory output with every file", async () => {
    const dir = staging();
    const spec = shellSpec(
      "tree",
      "mkdir -p {out.tree}/sub && echo a > {out.tree}/a.txt && echo b > {out.tree}/sub/b.txt",
      { tree: { path: "out/tree", dir: true } },
    );
    const { result } = await runWithLog(host(), spec, dir);
    assert.equal(result, { ok: true });
    assert.equal(listFiles(join(dir, "out/tree")), ["a.txt", "sub/b.txt"]);
    assert.is(readFileSync(join(dir, "out/tree/sub/b.txt"), "utf8"), "b\n");
  });

  t("a failing rule is rule-failed with the log tail in the message", async () => {
    const dir = staging();
    const spec = shellSpec("fails", "echo 'first line'; echo 'boom-marker-4711' >&2; exit 3", { o: "out/never.txt" });
    const { result, log } = await runWithLog(host(), spec, dir);
    assert.is(result.ok, false);
    if (result.ok) return;
    assert.is(result.kind, "rule-failed");
    assert.match(result.message, "boom-marker-4711");
    assert.match(log, "boom-marker-4711");
    assert.equal(listFiles(dir), [], "no output of a failed rule in staging");
  });

  t("a rule that does not write a declared output is not ok", async () => {
    const dir = staging();
    const { result } = await runWithLog(host(), shellSpec("lazy", "true", { o: "out/missing.txt" }), dir);
    assert.is(result.ok, false);
    assert.equal(listFiles(dir), []);
  });

  t("aborting the signal cancels a running rule promptly", async () => {
    const dir = staging();
    const ac = new AbortController();
    const spec = shellSpec("slow", "sleep 30; echo late > {out.o}", { o: "out/slow.txt" });
    const started = Date.now();
    setTimeout(() => ac.abort(), 1000);
    const { result } = await runWithLog(host(), spec, dir, ac.signal);
    const took = Date.now() - started;
    assert.is(result.ok, false);
    if (!result.ok) assert.is(result.kind, "cancelled");
    assert.ok(took < 15_000, `cancel took ${took} ms`);
    assert.equal(listFiles(dir), []);
  });

  for (const delay of [0, 50, 300]) {
    t(`an abort ${delay} ms after the start (before the rule may be running) still cancels promptly`, async () => {
      const dir = staging();
      const ac = new AbortController();
      const spec = shellSpec(`early${delay}`, "sleep 30; echo late > {out.o}", { o: "out/early.txt" });
      const started = Date.now();
      setTimeout(() => ac.abort(), delay);
      const { result } = await runWithLog(host(), spec, dir, ac.signal);
      const took = Date.now() - started;
      assert.is(result.ok, false);
      if (!result.ok) assert.is(result.kind, "cancelled");
      assert.ok(took < 15_000, `cancel took ${took} ms`);
      assert.equal(listFiles(dir), []);
    });
  }

  t("only declared outputs come back", async () => {
    const dir = staging();
    const spec = shellSpec(
      "extra",
      "echo kept > {out.o}; echo stray > \"$(dirname {out.o})/stray.txt\"; echo stray2 > \"$(dirname {out.o})/../stray2.txt\"",
      { o: "out/kept.txt" },
    );
    const { result } = await runWithLog(host(), spec, dir);
    assert.equal(result, { ok: true });
    assert.equal(listFiles(dir), ["out/kept.txt"]);
    assert.is(readFileSync(join(dir, "out/kept.txt"), "utf8"), "kept\n");
  });

  t("runs several actions at once", async () => {
    const dirs = [staging(), staging(), staging()];
    const runs = dirs.map((d, i) => runWithLog(host(), shellSpec(`par${i}`, `echo ${i} > {out.o}`, { o: `out/p${i}.txt` }), d));
    const results = await Promise.all(runs);
    for (const [i, r] of results.entries()) {
      assert.equal(r.result, { ok: true });
      assert.is(readFileSync(join(dirs[i]!, `out/p${i}.txt`), "utf8"), `${i}\n`);
      assert.equal(listFiles(dirs[i]!).map((f) => relative(".", f)), [`out/p${i}.txt`]);
    }
  });

  t.run();
}
