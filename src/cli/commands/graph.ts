/** `dagbuild graph [--format dot|mermaid|json] [--actions]`: the target graph. */
import { parseArgs } from "../args.js";
import { openSession } from "../session.js";

export async function run(argv: string[]): Promise<number> {
  const o = parseArgs(argv, { format: "value", actions: "bool" });
  const s = await openSession(o);
  if (typeof s === "number") return s;
  const g = s.graph;
  const fmt = o.extra.format ?? "dot";
  const actionLevel = o.extra.actions === "true";
  const nodes = actionLevel ? [...g.actions.keys()] : [...g.targets.keys()];
  const edges = new Set<string>();
  for (const a of g.actions.values()) {
    for (const deps of Object.values(a.deps))
      for (const d of deps)
        if (d.kind === "output") {
          const from = actionLevel ? d.producer : g.actions.get(d.producer)!.target;
          const to = actionLevel ? a.id : a.target;
          if (from !== to || actionLevel) edges.add(`${from}\0${to}`);
        }
  }
  const pairs = [...edges].sort().map((e) => e.split("\0") as [string, string]);
  if (fmt === "json") {
    const hostOf = (n: string) => (actionLevel ? g.actions.get(n)!.host : g.actions.get(g.targets.get(n)![0]!)!.host);
    process.stdout.write(JSON.stringify({ version: 1, nodes: nodes.map((n) => ({ id: n, host: hostOf(n) })), edges: pairs.map(([from, to]) => ({ from, to })) }, null, 2) + "\n");
  } else if (fmt === "mermaid") {
    const id = new Map(nodes.map((n, i) => [n, `n${i}`]));
    process.stdout.write("graph LR\n");
    for (const n of nodes) process.stdout.write(`  ${id.get(n)}["${n.replaceAll('"', "'")}"]\n`);
    for (const [a, b] of pairs) process.stdout.write(`  ${id.get(a)} --> ${id.get(b)}\n`);
  } else if (fmt === "dot") {
    process.stdout.write("digraph dagbuild {\n  rankdir=LR;\n  node [shape=box];\n");
    for (const n of nodes) process.stdout.write(`  ${JSON.stringify(n)};\n`);
    for (const [a, b] of pairs) process.stdout.write(`  ${JSON.stringify(a)} -> ${JSON.stringify(b)};\n`);
    process.stdout.write("}\n");
  } else {
    process.stderr.write(`dagbuild graph: unknown --format "${fmt}" (dot, mermaid, json)\n`);
    return 2;
  }
  return 0;
}
