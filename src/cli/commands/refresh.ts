/**
 * `dagbuild refresh [--weeks N] [-n] [--json] [build options] [targets...]`: extends the span by
 * N weeks (default 1) and builds. The last Monday of every week-span axis in the pipeline file
 * moves by N weeks (src/refresh/span.ts): the file is rewritten atomically with the diff shown,
 * the refresh is appended to `cache/refresh.json`, and the build that follows fetches the new
 * week's candles from the configured source, replays it (rolling weeks continue from the
 * recorded state of the week before) and rebuilds only the new partitions and what depends on
 * them: everything else is fresh by its key.
 *
 * `-n` writes nothing: it plans the refreshed pipeline (read through a LoadIO that serves the
 * new text) and prints exactly the actions that would run or restore, per host, with the bytes
 * an SSH host would move (estimated from recorded sizes, as `dagbuild -n` does), and the
 * actions their `retrain_every` cadence holds (counting the refresh it plans). `--json` (with
 * -n): format version 1, `{version, file, edits, hosts: {name: {actions, held, upload_bytes,
 * download_bytes}}, total, fresh, held}`.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs, UsageError } from "../args.js";
import { openSession, selectOrReport } from "../session.js";
import { plan, type HeldItem, type PlanItem } from "../../engine/plan.js";
import { formatHold, type RefreshMark } from "../../engine/retrain-hold.js";
import { heldJson } from "./build.js";
import { formatReason } from "../../engine/fingerprint.js";
import { nodeLoadIO, type LoadIO } from "../../engine/load-io.js";
import { workspacePaths } from "../../engine/workspace.js";
import { appendRefreshLog, shiftSpans, spanDiff, writeAtomic } from "../../refresh/span.js";

/** One host's share of a refresh plan. */
export interface HostPlan {
  readonly actions: readonly { readonly id: string; readonly target: string; readonly how: "run" | "restore" | "run-if-changed"; readonly reason: string }[];
  /** Held by their retraining cadence: not run (see heldJson). */
  readonly held: readonly ReturnType<typeof heldJson>[];
  readonly upload_bytes: number;
  readonly download_bytes: number;
}

/** Groups plan items (and held actions) by host, in plan order. */
export function byHost(items: readonly PlanItem[], held: readonly HeldItem[] = []): Record<string, HostPlan> {
  const hosts: Record<string, { actions: HostPlan["actions"][number][]; held: HostPlan["held"][number][]; upload_bytes: number; download_bytes: number }> = {};
  for (const h of held) (hosts[h.host] ??= { actions: [], held: [], upload_bytes: 0, download_bytes: 0 }).held.push(heldJson(h));
  for (const i of items) {
    const h = (hosts[i.host] ??= { actions: [], held: [], upload_bytes: 0, download_bytes: 0 });
    h.actions.push({ id: i.id, target: i.target, how: i.restore ? "restore" : i.pending ? "run-if-changed" : "run", reason: formatReason(i.reason) });
    h.upload_bytes += i.uploadBytes;
    h.download_bytes += i.downloadBytes;
  }
  return Object.fromEntries(Object.keys(hosts).sort().map((k) => [k, hosts[k]!]));
}

/** argv without refresh's own flag (`--weeks N`), for the build that follows. */
function buildArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--weeks") i++;
    else if (a.startsWith("--weeks=")) continue;
    else out.push(a);
  }
  return out;
}

export async function run(argv: string[]): Promise<number> {
  const o = parseArgs(argv, { weeks: "value" });
  const weeks = o.extra.weeks === undefined ? 1 : Number(o.extra.weeks);
  if (!Number.isInteger(weeks) || weeks < 1) throw new UsageError(`--weeks expects a positive integer, got "${o.extra.weeks}"`);
  const root = resolve(o.dir);
  const abs = join(root, o.pipeline);
  let before: string;
  try {
    before = readFileSync(abs, "utf8");
  } catch (e) {
    process.stderr.write(`dagbuild refresh: cannot read ${o.pipeline}: ${(e as Error).message}\n`);
    return 2;
  }
  const shift = shiftSpans(before, o.pipeline, weeks);
  if (!shift.ok) {
    process.stderr.write(`dagbuild refresh: ${shift.message}\n`);
    return 2;
  }
  const diff = spanDiff(o.pipeline, before, shift.text);
  const moves = shift.edits.map((e) => `axes.${e.axis}.span end ${e.from} -> ${e.to}`).join(", ");
  if (!o.dryRun) {
    // Load the new text before writing it: a refresh that makes the pipeline invalid writes nothing.
    const check = await planRefreshed(o, abs, shift.text, true);
    if (typeof check === "number") return check;
    writeAtomic(abs, shift.text);
    appendRefreshLog(workspacePaths(root).cache, {
      at: new Date().toISOString(),
      weeks,
      file: o.pipeline,
      axes: Object.fromEntries(shift.edits.map((e) => [e.axis, [e.from, e.to] as const])),
    });
    process.stderr.write(`refresh: ${o.pipeline}: ${moves}\n${diff}`);
    return (await import("./build.js")).run(buildArgv(argv)); // no -n here: that is the branch below
  }
  const p = await planRefreshed(o, abs, shift.text, false, { at: new Date().toISOString(), weeks });
  if (typeof p === "number") return p;
  const hosts = byHost(p.items, p.held);
  if (o.json) {
    process.stdout.write(JSON.stringify({ version: 1, file: o.pipeline, edits: shift.edits, hosts, total: p.items.length, fresh: p.fresh, held: p.held.length }, null, 2) + "\n");
    return 0;
  }
  process.stdout.write(`refresh -n: ${o.pipeline} (not written): ${moves}\n${diff}`);
  for (const [name, h] of Object.entries(hosts)) {
    const runs = h.actions.filter((a) => a.how !== "restore").length;
    process.stdout.write(`host ${name}: ${h.actions.length} action${h.actions.length === 1 ? "" : "s"} (${runs} run, ${h.actions.length - runs} restored), moves ~${h.upload_bytes} B up, ~${h.download_bytes} B down\n`);
    for (const a of h.actions) process.stdout.write(`  ${a.how.padEnd(14)} ${a.id}  (${a.reason})\n`);
    for (const a of p.held.filter((x) => x.host === name)) process.stdout.write(`  ${"held".padEnd(14)} ${a.id}  (${formatHold(a.reason, a.hold)})\n`);
  }
  process.stdout.write(`${p.items.length} to run or restore, ${p.fresh} up to date${p.held.length ? `, ${p.held.length} held` : ""}\n`);
  return 0;
}

/** Plans the selection of `o` on the pipeline as `text` would make it (nothing written). */
async function planRefreshed(o: ReturnType<typeof parseArgs>, abs: string, text: string, validateOnly: boolean, pendingRefresh?: RefreshMark) {
  const io: LoadIO = { ...nodeLoadIO, readFile: (f) => (resolve(f) === abs ? text : nodeLoadIO.readFile(f)) };
  // The planned refresh counts for `retrain_every` as if it were in cache/refresh.json already.
  const s = await openSession(o, { io, ...(pendingRefresh ? { pendingRefresh } : {}) });
  if (typeof s === "number") return s;
  if (validateOnly) return { items: [], fresh: 0, held: [], total: 0 };
  const sel = selectOrReport(s.graph, o.positional);
  if (typeof sel === "number") return sel;
  return plan(s.checker, sel.ids);
}
