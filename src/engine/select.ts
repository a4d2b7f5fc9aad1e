/**
 * Target selection: what `dagbuild <arg>...` means. An argument is a target name (all its
 * partitions), an action id, an output path, or a directory prefix of outputs
 * (`dagbuild output/ml_models/lstm`). The selection is closed over its dependencies and
 * returned in the graph's topological order.
 */
import type { Graph } from "./graph-types.js";

export type Selection = { ok: true; ids: string[]; roots: string[] } | { ok: false; unknown: string[]; hints: Record<string, string[]> };

function norm(arg: string): string {
  let a = arg.trim();
  while (a.startsWith("./")) a = a.slice(2);
  while (a.length > 1 && a.endsWith("/")) a = a.slice(0, -1);
  return a;
}

/** Resolves arguments to root action ids (without closure). */
export function resolveArgs(graph: Pick<Graph, "targets" | "actions" | "producers">, args: readonly string[]): { roots: string[]; unknown: string[]; hints: Record<string, string[]> } {
  const roots = new Set<string>();
  const unknown: string[] = [];
  const hints: Record<string, string[]> = {};
  let outputsSorted: string[] | undefined;
  for (const raw of args) {
    const a = norm(raw);
    const byTarget = graph.targets.get(a);
    if (byTarget) {
      byTarget.forEach((id) => roots.add(id));
      continue;
    }
    if (graph.actions.has(a)) {
      roots.add(a);
      continue;
    }
    const producer = graph.producers.get(a);
    if (producer) {
      roots.add(producer);
      continue;
    }
    outputsSorted ??= [...graph.producers.keys()].sort();
    const prefix = `${a}/`;
    let found = false;
    for (const p of outputsSorted) {
      if (p.startsWith(prefix)) {
        roots.add(graph.producers.get(p)!);
        found = true;
      }
    }
    // A path inside a directory output selects that output's producer.
    for (let i = a.lastIndexOf("/"); !found && i > 0; i = a.lastIndexOf("/", i - 1)) {
      const pr = graph.producers.get(a.slice(0, i));
      if (pr) {
        roots.add(pr);
        found = true;
      }
    }
    if (!found) {
      unknown.push(raw);
      const needle = a.split("/").pop()!.slice(0, 6);
      hints[raw] = [...graph.targets.keys(), ...outputsSorted].filter((x) => needle && x.includes(needle)).slice(0, 5);
    }
  }
  return { roots: [...roots], unknown, hints };
}

/** The roots plus everything upstream, in topological order. */
export function closure(graph: Graph, roots: readonly string[]): string[] {
  const need = new Set<string>();
  const stack = [...roots];
  while (stack.length) {
    const id = stack.pop()!;
    if (need.has(id)) continue;
    need.add(id);
    const node = graph.actions.get(id)!;
    for (const deps of Object.values(node.deps)) for (const d of deps) if (d.kind === "output" && !need.has(d.producer)) stack.push(d.producer);
  }
  return graph.order.filter((id) => need.has(id));
}

export function select(graph: Graph, args: readonly string[]): Selection {
  const wanted = args.length ? args : graph.defaults.length ? graph.defaults : [...graph.targets.keys()];
  const r = resolveArgs(graph, wanted);
  if (r.unknown.length) return { ok: false, unknown: r.unknown, hints: r.hints };
  return { ok: true, ids: closure(graph, r.roots), roots: r.roots };
}
