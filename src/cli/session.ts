/**
 * Opens a workspace for a command: load + validate the pipeline (diagnostics rendered here,
 * exit 2), then the caches. The one place CLI commands turn options into engine objects.
 */
import { resolve } from "node:path";
import { loadGraph } from "../engine/graph.js";
import { renderDiagnostics } from "../engine/diagnostics.js";
import type { Graph } from "../engine/graph-types.js";
import { Checker } from "../engine/plan.js";
import { StateIndex } from "../engine/cache/state-index.js";
import { ActionCache } from "../engine/cache/action-cache.js";
import { Cas } from "../engine/cache/cas.js";
import { workspacePaths, type WorkspacePaths } from "../engine/workspace.js";
import { select } from "../engine/select.js";
import type { CommonOptions } from "./args.js";

export interface Session {
  readonly graph: Graph;
  readonly paths: WorkspacePaths;
  readonly checker: Checker;
}

/** Loads the pipeline; on errors prints every diagnostic and returns the exit code 2. */
export async function openSession(o: CommonOptions, forced: ReadonlySet<string> = new Set()): Promise<Session | number> {
  const root = resolve(o.dir);
  const loaded = await loadGraph(root, { file: o.pipeline, hostOverrides: o.hostOverrides });
  if (!loaded.ok) {
    process.stderr.write(renderDiagnostics(loaded.diagnostics, { color: process.stderr.isTTY }));
    return 2;
  }
  const graph = loaded.graph;
  const paths = workspacePaths(graph.root);
  const checker = new Checker(graph, StateIndex.load(paths.state), new ActionCache(paths.ac), new Cas(paths.cas), forced);
  return { graph, paths, checker };
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
