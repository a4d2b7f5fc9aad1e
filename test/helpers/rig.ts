/**
 * Temp-workspace rig for engine/build tests: a workspace with a pipeline.yaml, the fake rule
 * (test/helpers/fake-rule.ts) that counts its runs, and helpers to build through the CLI
 * (`bin/dagbuild --json`, one child process per call, with a guard timeout) or in-process
 * (`runBuild` with a MemorySink).
 *
 * Workspaces are removed when the process exits (set DAGBUILD_TEST_KEEP=1 to keep them).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { writeFakeLib, writeFakeRule } from "./fake-rule.js";
import { loadGraph } from "../../src/engine/graph.js";
import { Checker, plan as planOf, type Plan } from "../../src/engine/plan.js";
import { StateIndex } from "../../src/engine/cache/state-index.js";
import { ActionCache } from "../../src/engine/cache/action-cache.js";
import { Cas } from "../../src/engine/cache/cas.js";
import { workspacePaths } from "../../src/engine/workspace.js";
import { select } from "../../src/engine/select.js";
import { runBuild, type BuildSummary } from "../../src/engine/scheduler.js";
import { MemorySink, type BuildEvent } from "../../src/engine/events.js";
export { prng } from "./prng.js";
import { prng } from "./prng.js";

/** The repository root (this file runs from dist/test/helpers/). */
export const REPO = (() => {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, "package.json")) || !existsSync(join(d, "bin", "dagbuild"))) {
    const up = dirname(d);
    if (up === d) throw new Error("rig: cannot find the repository root");
    d = up;
  }
  return d;
})();
export const CLI = join(REPO, "bin", "dagbuild");

/** Guard timeout of one CLI call. */
export const CLI_TIMEOUT_MS = 30_000;

const created: string[] = [];
process.on("exit", () => {
  if (process.env.DAGBUILD_TEST_KEEP) return;
  for (const d of created) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
});

export interface WorkspaceOptions {
  /** Extra files (workspace-relative path → content). */
  readonly files?: Readonly<Record<string, string>>;
  /** Write rules/fake.ts (+ .js), importing rules/fakelib.ts (+ .js). Default true. */
  readonly fake?: boolean;
}

/** Creates a temp workspace with `pipeline` as pipeline.yaml; returns its absolute root. */
export function makeWs(pipeline: string, opts: WorkspaceOptions = {}): string {
  const root = mkdtempSync(join(tmpdir(), "dagbuild-build-"));
  created.push(root);
  write(root, "package.json", `{"type":"module","private":true}\n`);
  write(root, "pipeline.yaml", pipeline);
  if (opts.fake !== false) {
    writeFakeLib(root, "lib-v1");
    writeFakeRule(root, "rules/fake.ts", { lib: "rules/fakelib.ts" });
  }
  for (const [rel, text] of Object.entries(opts.files ?? {})) write(root, rel, text);
  return root;
}

export function write(ws: string, rel: string, text: string): void {
  const abs = join(ws, rel);
  mkdirSync(dirname(abs), { recursive: true });
  writeFileSync(abs, text);
}

export function read(ws: string, rel: string): string {
  return readFileSync(join(ws, rel), "utf8");
}

export function exists(ws: string, rel: string): boolean {
  return existsSync(join(ws, rel));
}

/** Rewrites pipeline.yaml with `from` replaced by `to` (throws if `from` is absent). */
export function editPipeline(ws: string, from: string, to: string): void {
  const text = read(ws, "pipeline.yaml");
  if (!text.includes(from)) throw new Error(`editPipeline: "${from}" not in pipeline.yaml`);
  write(ws, "pipeline.yaml", text.replace(from, to));
}

/** Every file under `dir` (workspace-relative), path → content. */
export function snapshot(ws: string, dir = "out"): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (abs: string) => {
    if (!existsSync(abs)) return;
    for (const name of readdirSync(abs).sort()) {
      const p = join(abs, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(ws, p)] = readFileSync(p, "utf8");
    }
  };
  walk(join(ws, dir));
  return out;
}

/** Every file path under `dir` (workspace-relative, sorted), directories excluded. */
export function listFiles(ws: string, dir: string): string[] {
  return Object.keys(snapshot(ws, dir)).sort();
}

// ---- run counting ------------------------------------------------------------------------------

/** Runs of the fake rule since the last call, counted per action id; resets the counter. */
export function runsOf(ws: string): Map<string, number> {
  const file = join(ws, "runs.log");
  const counts = new Map<string, number>();
  if (!existsSync(file)) return counts;
  for (const line of readFileSync(file, "utf8").split("\n")) if (line) counts.set(line, (counts.get(line) ?? 0) + 1);
  writeFileSync(file, "");
  return counts;
}

/** The sorted ids that ran since the last reset (each once; throws if one ran twice). */
export function ranIds(ws: string): string[] {
  const counts = runsOf(ws);
  for (const [id, n] of counts) if (n !== 1) throw new Error(`${id} ran ${n} times`);
  return [...counts.keys()].sort();
}

/** Start/end times of every run recorded in trace.log (all of them, never reset). */
export function traceOf(ws: string): { id: string; start: number; end: number }[] {
  const file = join(ws, "trace.log");
  if (!existsSync(file)) return [];
  const open = new Map<string, number>();
  const spans: { id: string; start: number; end: number }[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const [kind, id, t] = line.split("\t");
    if (!id || !t) continue;
    if (kind === "start") open.set(id, Number(t));
    else if (kind === "end" && open.has(id)) {
      spans.push({ id, start: open.get(id)!, end: Number(t) });
      open.delete(id);
    }
  }
  return spans;
}

// ---- the CLI -----------------------------------------------------------------------------------

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `dagbuild args...` in `ws` synchronously (killed after the guard timeout). */
export function cli(ws: string, args: readonly string[], timeoutMs = CLI_TIMEOUT_MS): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: ws,
    encoding: "utf8",
    timeout: timeoutMs,
    killSignal: "SIGKILL",
    env: { ...process.env, FORCE_COLOR: "0", CI: "1", DAGBUILD_JOBS: "" },
  });
  if (r.error) throw new Error(`dagbuild ${args.join(" ")}: ${r.error.message}\n${r.stderr ?? ""}`);
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** JSON-lines events of a `--json` build (non-JSON lines are ignored). */
export function parseEvents(stdout: string): (BuildEvent & { reason_text?: string })[] {
  const out: (BuildEvent & { reason_text?: string })[] = [];
  for (const line of stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      /* not an event */
    }
  }
  return out;
}

export interface BuildResult extends CliResult {
  readonly events: (BuildEvent & { reason_text?: string })[];
  /** Ids of action-start events that ran the rule (not restores), sorted. */
  readonly executed: string[];
  /** Ids of action-done events with outcome "restored", sorted. */
  readonly restored: string[];
  /** action-start events by id. */
  readonly starts: Map<string, Extract<BuildEvent, { type: "action-start" }> & { reason_text?: string }>;
  /** Ids of action-skipped events, sorted. */
  readonly skipped: string[];
  /** Ids of action-failed events, sorted. */
  readonly failed: string[];
  readonly done: Extract<BuildEvent, { type: "build-done" }> | undefined;
}

function summarize(r: CliResult): BuildResult {
  const events = parseEvents(r.stdout);
  const of = <T extends BuildEvent["type"]>(t: T) => events.filter((e) => e.type === t) as (Extract<BuildEvent, { type: T }> & { reason_text?: string })[];
  const starts = new Map(of("action-start").map((e) => [e.id, e]));
  return {
    ...r,
    events,
    starts,
    executed: of("action-start").filter((e) => !e.restore).map((e) => e.id).sort(),
    restored: of("action-done").filter((e) => e.outcome === "restored").map((e) => e.id).sort(),
    skipped: of("action-skipped").map((e) => e.id).sort(),
    failed: of("action-failed").map((e) => e.id).sort(),
    done: of("build-done")[0],
  };
}

/** `dagbuild --json args...` in `ws`. */
export function build(ws: string, args: readonly string[] = []): BuildResult {
  return summarize(cli(ws, ["--json", ...args]));
}

/** `build` that must exit 0 (throws with the output otherwise). */
export function buildOk(ws: string, args: readonly string[] = []): BuildResult {
  const r = build(ws, args);
  if (r.code !== 0) throw new Error(`dagbuild ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

export interface PlanJson {
  readonly version: number;
  readonly total: number;
  readonly fresh: number;
  readonly actions: { id: string; target: string; host: string; reason: { kind: string; [k: string]: unknown }; reason_text: string; restore: boolean; pending: boolean }[];
}

/** `dagbuild -n --json args...`: the plan. */
export function dryRun(ws: string, args: readonly string[] = []): PlanJson {
  const r = cli(ws, ["-n", "--json", ...args]);
  if (r.code !== 0) throw new Error(`dagbuild -n exited ${r.code}\n${r.stderr}`);
  return JSON.parse(r.stdout) as PlanJson;
}

/** A CLI build running in the background, in its own process group. */
export interface Background {
  readonly child: ChildProcess;
  readonly pid: number;
  /** stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code/signal (rejects after the guard timeout, killing the group). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILLs the whole process group. */
  killGroup(sig?: NodeJS.Signals): void;
}

export function spawnCli(ws: string, args: readonly string[], timeoutMs = CLI_TIMEOUT_MS): Background {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ws,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, FORCE_COLOR: "0", CI: "1", DAGBUILD_JOBS: "" },
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (err += b.toString()));
  const killGroup = (sig: NodeJS.Signals = "SIGKILL") => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      /* gone */
    }
  };
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    const guard = setTimeout(() => {
      killGroup();
      reject(new Error(`dagbuild ${args.join(" ")} still running after ${timeoutMs} ms (killed)\n${out}\n${err}`));
    }, timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal });
    });
  });
  exited.catch(() => undefined);
  return { child, pid: child.pid!, stdout: () => out, stderr: () => err, exited, killGroup };
}

/** Polls `pred` every 20 ms until true; throws after `timeoutMs`. */
export async function waitFor(pred: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Lines of runs.log without resetting it. */
export function peekRuns(ws: string): string[] {
  const file = join(ws, "runs.log");
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : [];
}

// ---- in-process --------------------------------------------------------------------------------

export interface InProcessOptions {
  readonly jobs?: number;
  readonly keepGoing?: boolean;
  readonly shuffle?: (ready: string[]) => void;
  readonly targets?: readonly string[];
}

/** Loads `ws` and runs `runBuild` in this process with a MemorySink. */
export async function buildInProcess(ws: string, o: InProcessOptions = {}): Promise<{ summary: BuildSummary; sink: MemorySink }> {
  const loaded = await loadGraph(ws);
  if (!loaded.ok) throw new Error(`load failed: ${loaded.diagnostics.map((d) => d.message).join("; ")}`);
  const graph = loaded.graph;
  const paths = workspacePaths(graph.root);
  const checker = new Checker(graph, StateIndex.load(paths.state), new ActionCache(paths.ac), new Cas(paths.cas));
  const sel = select(graph, o.targets ?? []);
  if (!sel.ok) throw new Error(`unknown targets ${sel.unknown.join(", ")}`);
  const sink = new MemorySink();
  const summary = await runBuild(checker, sel.ids, paths, sink, {
    jobs: o.jobs ?? 2,
    keepGoing: o.keepGoing ?? false,
    signal: new AbortController().signal,
    ...(o.shuffle ? { shuffle: o.shuffle } : {}),
  });
  return { summary, sink };
}

/** The in-process plan of `ws` (a dry run). */
export async function planInProcess(ws: string, targets: readonly string[] = []): Promise<Plan> {
  const loaded = await loadGraph(ws);
  if (!loaded.ok) throw new Error(`load failed: ${loaded.diagnostics.map((d) => d.message).join("; ")}`);
  const paths = workspacePaths(loaded.graph.root);
  const checker = new Checker(loaded.graph, StateIndex.load(paths.state), new ActionCache(paths.ac), new Cas(paths.cas));
  const sel = select(loaded.graph, targets);
  if (!sel.ok) throw new Error(`unknown targets ${sel.unknown.join(", ")}`);
  return planOf(checker, sel.ids);
}


/** A `shuffle` hook: Fisher–Yates permutation of the ready queue from a seeded PRNG. */
export function seededShuffle(seed: number): (ready: unknown[]) => void {
  const rnd = prng(seed);
  return (ready) => {
    for (let i = ready.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [ready[i], ready[j]] = [ready[j], ready[i]];
    }
  };
}

/** Wraps an async hook body so uvu (which ignores hook errors) reports them. */
export function guarded(fn: () => unknown | Promise<unknown>): () => Promise<void> {
  return async () => {
    try {
      await fn();
    } catch (e) {
      process.stderr.write(`hook failed: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exitCode = 1;
    }
  };
}
