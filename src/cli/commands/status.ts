/** `dagbuild status [targets]`: fresh / stale / missing counts per target. */
import { parseArgs } from "../args.js";
import { openSession, selectOrReport } from "../session.js";
import { plan } from "../../engine/plan.js";
import { formatSet, readVarsRecord, varsOf } from "../vars-record.js";

export async function run(argv: string[]): Promise<number> {
  const o = parseArgs(argv);
  const s = await openSession(o);
  if (typeof s === "number") return s;
  const sel = selectOrReport(s.graph, o.positional.length ? o.positional : [...s.graph.targets.keys()]);
  if (typeof sel === "number") return sel;
  const p = plan(s.checker, sel.ids);
  const byId = new Map(p.items.map((i) => [i.id, i]));
  const rows: { target: string; fresh: number; stale: number; missing: number }[] = [];
  const selected = new Set(sel.ids);
  for (const [target, ids] of s.graph.targets) {
    const row = { target, fresh: 0, stale: 0, missing: 0 };
    let any = false;
    for (const id of ids) {
      if (!selected.has(id)) continue;
      any = true;
      const it = byId.get(id);
      if (!it) row.fresh++;
      else if (it.reason.kind === "new" || it.reason.kind === "output-missing") row.missing++;
      else row.stale++;
    }
    if (any) rows.push(row);
  }
  const now = varsOf(s.graph);
  const last = readVarsRecord(s.paths.cache);
  if (o.json) {
    process.stdout.write(JSON.stringify({ version: 1, targets: rows, vars: now.vars, set: now.set, ...(last ? { last_build: last } : {}) }, null, 2) + "\n");
    return 0;
  }
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
    const state = r.missing ? "missing" : r.stale ? "stale" : "fresh";
    process.stdout.write(`${r.target.padEnd(w)}  ${String(r.fresh).padStart(5)}  ${String(r.stale).padStart(5)}  ${String(r.missing).padStart(7)}  ${state}\n`);
  }
  return 0;
}
