/** `dagbuild status [targets]`: fresh / stale / missing counts per target (and held, by a `retrain_every` cadence). */
import { parseArgs } from "../args.js";
import { openSession, selectOrReport } from "../session.js";
import { plan } from "../../engine/plan.js";
import { formatSet, readVarsRecord, varsOf } from "../vars-record.js";
import { readRefreshLog } from "../../refresh/span.js";
import type { Graph } from "../../engine/graph-types.js";
import { formatHold } from "../../engine/retrain-hold.js";
import { heldJson } from "./build.js";
import { describeResident, goalsOf, residencyPolicy, residentOutputs } from "../../engine/residency.js";

/** The week axes' spans as the graph expanded them: axis → first, last, count (date-valued axes only). */
export function spansOf(graph: Graph): Record<string, { first: string; last: string; weeks: number }> {
  const values = new Map<string, Set<string>>();
  for (const node of graph.actions.values())
    for (const [axis, v] of Object.entries(node.partition)) {
      if (!/^\d{4}-(\d{2}-\d{2}|W\d{2})$/.test(v)) continue;
      let set = values.get(axis);
      if (!set) values.set(axis, (set = new Set()));
      set.add(v);
    }
  const out: Record<string, { first: string; last: string; weeks: number }> = {};
  for (const axis of [...values.keys()].sort()) {
    const vs = [...values.get(axis)!].sort();
    out[axis] = { first: vs[0]!, last: vs[vs.length - 1]!, weeks: vs.length };
  }
  return out;
}

export async function run(argv: string[]): Promise<number> {
  const o = parseArgs(argv);
  const s = await openSession(o);
  if (typeof s === "number") return s;
  const sel = selectOrReport(s.graph, o.positional.length ? o.positional : [...s.graph.targets.keys()]);
  if (typeof sel === "number") return sel;
  const p = plan(s.checker, sel.ids);
  const byId = new Map(p.items.map((i) => [i.id, i]));
  const heldIds = new Set(p.held.map((h) => h.id));
  const rows: { target: string; fresh: number; stale: number; missing: number; held?: number }[] = [];
  const selected = new Set(sel.ids);
  for (const [target, ids] of s.graph.targets) {
    const row: (typeof rows)[number] = { target, fresh: 0, stale: 0, missing: 0 };
    let any = false;
    for (const id of ids) {
      if (!selected.has(id)) continue;
      any = true;
      const it = byId.get(id);
      if (heldIds.has(id)) row.held = (row.held ?? 0) + 1; // present only when something is held
      else if (!it) row.fresh++;
      else if (it.reason.kind === "new" || it.reason.kind === "output-missing") row.missing++;
      else row.stale++;
    }
    if (any) rows.push(row);
  }
  const now = varsOf(s.graph);
  const last = readVarsRecord(s.paths.cache);
  const spans = spansOf(s.graph);
  const refreshed = readRefreshLog(s.paths.cache).at(-1);
  // Outputs left on the ssh host that made them (docs/hosts.md): where they live, and whether a
  // build of these targets (the defaults when none are named) would fetch them.
  const resident = residentOutputs(s.checker, sel.ids, residencyPolicy(s.graph, goalsOf(s.graph, o.positional.length ? sel.roots : [])));
  if (o.json) {
    const res = resident.map((r) => ({ path: r.state.p, host: r.state.h, digest: r.state.d, size: r.state.z, fetch: r.needed }));
    process.stdout.write(JSON.stringify({ version: 1, targets: rows, ...(p.held.length ? { held: p.held.map(heldJson) } : {}), vars: now.vars, set: now.set, spans, resident: res, ...(refreshed ? { last_refresh: refreshed } : {}), ...(last ? { last_build: last } : {}) }, null, 2) + "\n");
    return 0;
  }
  // The span (moved by `dagbuild refresh`), and the last refresh of this workspace.
  const spanText = Object.entries(spans).map(([a, x]) => `${a} ${x.first} .. ${x.last} (${x.weeks})`);
  if (spanText.length) process.stdout.write(`span: ${spanText.join(", ")}\n`);
  if (refreshed)
    process.stdout.write(`last refresh: +${refreshed.weeks} week${refreshed.weeks === 1 ? "" : "s"} at ${refreshed.at} (${Object.entries(refreshed.axes).map(([a, [f, t]]) => `${a} end ${f} -> ${t}`).join(", ")}; see git diff ${refreshed.file})\n`);
  // Which vars this status is computed under, and what the last build ran with.
  const setNow = Object.keys(now.set);
  process.stdout.write(`vars: ${Object.entries(now.vars).map(([k, v]) => `${k}=${v}${setNow.includes(k) ? " (--set)" : ""}`).join(", ") || "none"}\n`);
  if (last) {
    const same = formatSet(last.set) === formatSet(now.set);
    process.stdout.write(`last build: ${formatSet(last.set)}${same ? "" : " (differs from this command line: its outputs show stale here)"}\n`);
  }
  const w = Math.max(6, ...rows.map((r) => r.target.length));
  process.stdout.write(`${"target".padEnd(w)}  fresh  stale  missing\n`);
  for (const r of rows) {
    const state = r.missing ? "missing" : r.stale ? "stale" : r.held ? "held" : "fresh";
    process.stdout.write(`${r.target.padEnd(w)}  ${String(r.fresh).padStart(5)}  ${String(r.stale).padStart(5)}  ${String(r.missing).padStart(7)}  ${state}${r.held ? ` (${r.held} held by retrain_every)` : ""}\n`);
  }
  for (const h of p.held) process.stdout.write(`held    ${h.id}  (${formatHold(h.reason, h.hold)})\n`);
  if (resident.length) process.stdout.write(`resident (left on the host that made them; not in the workspace):\n${describeResident(resident).map((l) => `  ${l}\n`).join("")}`);
  return 0;
}
