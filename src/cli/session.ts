/**
 * Opens a workspace for a command: load + validate the pipeline (diagnostics rendered here,
 * exit 2), then the caches. The one place CLI commands turn options into engine objects.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { loadGraph } from "../engine/graph.js";
import { renderDiagnostics } from "../engine/diagnostics.js";
import type { Graph } from "../engine/graph-types.js";
import { Checker } from "../engine/plan.js";
import { StateIndex, StateIndexError } from "../engine/cache/state-index.js";
import { ActionCache } from "../engine/cache/action-cache.js";
import { Cas } from "../engine/cache/cas.js";
import { workspacePaths, type WorkspacePaths } from "../engine/workspace.js";
import { resolveArgs, select } from "../engine/select.js";
import { acquireLock } from "../engine/lock.js";
import type { CommonOptions } from "./args.js";
import { nodeLoadIO, type LoadIO } from "../engine/load-io.js";
import { shellRunner } from "../engine/tool-versions.js";
import { loggingLoadIO, loggingRunner, type ReadLog } from "../engine/read-log.js";
import { readRefreshLog } from "../refresh/span.js";
import type { RefreshMark } from "../engine/retrain-hold.js";

export interface Session {
  readonly graph: Graph;
  readonly paths: WorkspacePaths;
  readonly checker: Checker;
  /** Releases the workspace lock (a no-op when the session did not take it). */
  release(): void;
}

/**
 * Loads the pipeline; on errors prints every diagnostic and returns the exit code 2. With
 * `lock`, the workspace lock is taken *before* the state index is read, so what the command
 * decides from is not a copy another build changes underneath (exit code 75 if it is held).
 * With `log`, what the load and the checker read is logged (for the no-op manifest). `held`:
 * the lock was taken already (by the fast path); this is its release. `io`: the load reads
 * through it (refresh -n plans a pipeline text that is not written yet). `pendingRefresh`: a
 * refresh not yet in `cache/refresh.json` that the decisions count (refresh -n plans after it).
 */
export async function openSession(
  o: CommonOptions,
  opts: { lock?: string; held?: () => void; force?: readonly string[]; log?: ReadLog; io?: LoadIO; pendingRefresh?: RefreshMark } = {},
): Promise<Session | number> {
  const root = resolve(o.dir);
  const log = opts.log;
  const loaded = await loadGraph(root, {
    file: o.pipeline,
    hostOverrides: o.hostOverrides,
    varOverrides: o.varOverrides,
    ...(log ? { io: loggingLoadIO(opts.io ?? nodeLoadIO, log), runner: loggingRunner(shellRunner, log) } : opts.io ? { io: opts.io } : {}),
  });
  if (!loaded.ok) {
    process.stderr.write(renderDiagnostics(loaded.diagnostics, { color: process.stderr.isTTY }));
    return 2;
  }
  const graph = loaded.graph;
  const paths = workspacePaths(graph.root);
  // --force names targets like positional arguments do; resolve them to action ids.
  let forced = new Set<string>();
  if (opts.force?.length) {
    const r = resolveArgs(graph, opts.force);
    if (r.unknown.length) {
      process.stderr.write(`dagbuild: --force: unknown target ${r.unknown.map((u) => `"${u}"`).join(", ")}\n`);
      return 2;
    }
    forced = new Set(r.roots);
  }
  let release = () => {};
  if (opts.lock && opts.held) release = opts.held; // taken by the fast path, handed over
  else if (opts.lock) {
    const lock = acquireLock(paths.lock);
    if (!lock.ok) {
      const how = holderAdvice(lock.holder);
      process.stderr.write(`dagbuild ${opts.lock}: another build (pid ${lock.holder}) holds ${paths.lock}; wait for it to finish${how}\n`);
      return 75;
    }
    release = lock.release;
  }
  let state: StateIndex;
  try {
    state = StateIndex.load(paths.state);
  } catch (e) {
    if (!(e instanceof StateIndexError)) throw e;
    release();
    process.stderr.write(`dagbuild: ${e.message}\n`);
    return 2;
  }
  if (state.notice) process.stderr.write(state.notice + "\n");
  const checker = new Checker(graph, state, new ActionCache(paths.ac), new Cas(paths.cas), forced, log);
  // Read on first need (only a `retrain_every` action that may be held asks).
  let history: readonly RefreshMark[] | undefined;
  checker.refreshHistory = () => (history ??= [...readRefreshLog(paths.cache), ...(opts.pendingRefresh ? [opts.pendingRefresh] : [])]);
  return { graph, paths, checker, release };
}

/**
 * What to suggest about a live lock holder: stopping it only when it looks like a dagbuild
 * build (its command line, where /proc shows it); never for PID 1 or an unrelated process
 * (a lock copied from another machine or container, a reused PID), whose lock may be stale.
 */
function holderAdvice(pid: number): string {
  if (Number.isNaN(pid)) return "";
  let cmdline: string | undefined;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    cmdline = undefined; // no /proc (macOS) or not ours to read
  }
  if (pid > 1 && (cmdline === undefined || cmdline.includes("dagbuild"))) return ` or stop it (kill ${pid})`;
  return `; pid ${pid} does not look like a dagbuild build${cmdline ? ` (${cmdline.trim().slice(0, 80)})` : ""}: if no build runs in this workspace, the lock is stale: remove it`;
}

/** Resolves target arguments, printing unknown ones with suggestions (exit code 2). */
export function selectOrReport(graph: Graph, args: readonly string[]): { ids: string[]; roots: string[] } | number {
  const sel = select(graph, args);
  if (sel.ok) return sel;
  for (const u of sel.unknown) {
    const hint = sel.hints[u]?.length ? ` (did you mean: ${sel.hints[u]!.join(", ")}?)` : "";
    process.stderr.write(`dagbuild: unknown target "${u}": not a target name, action id or output path in ${graph.pipelineFile}${hint}\n`);
  }
  return 2;
}
