/**
 * `dagbuild explain <target>`: why each action of the target (and what it depends on) would
 * run: the reason, old vs new digest, and the upstream action that produced a changed input.
 */
import { parseArgs } from "../args.js";
import { openSession, selectOrReport } from "../session.js";
import { plan } from "../../engine/plan.js";
import { formatReason, type Reason } from "../../engine/fingerprint.js";
import { dueInWeeks, formatHold } from "../../engine/retrain-hold.js";
import { heldJson } from "./build.js";

const short = (d?: string) => (d ? d.slice(0, 12) : "(none)");

function details(r: Reason): string[] {
  switch (r.kind) {
    case "input-changed":
      return [`input ${r.path}: ${short(r.old)} -> ${r.new ? short(r.new) : r.producer ? "(rebuilt upstream)" : "(gone)"}` + (r.producer ? `, produced by ${r.producer}` : "")];
    case "param-changed":
      return [`param ${r.key}: ${JSON.stringify(r.old)} -> ${JSON.stringify(r.new)}`];
    case "tool-changed":
      return [`tool ${r.tool}: ${r.old ?? "(none)"} -> ${r.new ?? "(none)"}`];
    case "output-modified":
      return [`output ${r.path} was modified after the build: ${short(r.old)} -> ${short(r.new)}`];
    case "output-missing":
      return [r.on ? `output ${r.path} was left on ${r.on} (resident), and ${r.on} no longer has it` : `output ${r.path} is missing`];
    case "rule-changed":
      return [`the rule changed${r.detail ? ` (${r.detail})` : ""}`];
    case "new":
      return ["never built in this workspace"];
    case "forced":
      return ["--force"];
    case "not-final":
      if (r.said !== undefined) return [`its last run said its outcome is provisional (${r.said}): it depends on more than its key, so it runs on every build until a run says otherwise`];
      return [
        `${r.builtAt ? `last run started ${r.builtAt}` : "no run recorded"}, before final_after ${r.finalAfter}: ` +
          "its outputs are provisional and it runs on every build until a run starts after that time",
      ];
  }
}

export async function run(argv: string[]): Promise<number> {
  const o = parseArgs(argv);
  const s = await openSession(o);
  if (typeof s === "number") return s;
  if (o.positional.length === 0) {
    process.stderr.write("usage: dagbuild explain <target|output|action>\n");
    return 2;
  }
  const sel = selectOrReport(s.graph, o.positional);
  if (typeof sel === "number") return sel;
  const p = plan(s.checker, sel.ids);
  if (o.json) {
    process.stdout.write(JSON.stringify({ version: 1, actions: p.items.map((i) => ({ ...i, reason_text: formatReason(i.reason) })), held: p.held.map(heldJson) }, null, 2) + "\n");
    return 0;
  }
  const stale = new Map(p.items.map((i) => [i.id, i]));
  const held = new Set(p.held.map((h) => h.id));
  for (const id of sel.roots) {
    const item = stale.get(id);
    if (!item && !held.has(id)) {
      const k = s.checker.state.actions.get(id)?.k;
      process.stdout.write(`${id}: up to date (key ${short(k)})\n`);
    }
  }
  for (const item of p.items) {
    const mode = item.restore ? " — will be restored from the cache" : item.pending ? " — runs only if that upstream output changes" : "";
    process.stdout.write(`${item.id}: ${formatReason(item.reason)}${mode}\n`);
    for (const d of details(item.reason)) process.stdout.write(`    ${d}\n`);
  }
  for (const h of p.held) {
    const n = dueInWeeks(h.hold);
    process.stdout.write(`${h.id}: held (${formatHold(h.reason, h.hold)})\n`);
    for (const d of details(h.reason)) process.stdout.write(`    ${d}\n`);
    process.stdout.write(
      `    retrain_every ${h.hold.every}w: its record (built ${h.hold.builtAt}) is kept and its consumers read its outputs; ` +
        `${h.hold.weeksAdded} week${h.hold.weeksAdded === 1 ? "" : "s"} added since (${h.hold.refreshes} refresh${h.hold.refreshes === 1 ? "" : "es"}), ` +
        `it retrains after ${n} more (or now: --force ${h.target})\n`,
    );
  }
  return 0;
}
