/**
 * `dagbuild [targets...]`: build (or with -n, plan) the selected targets.
 * Exit codes: 0 ok, 1 build failed, 2 pipeline or usage error, 75 workspace locked, 130 interrupted.
 */
import { rmSync } from "node:fs";
import { parseArgs } from "../args.js";
import { openSession, selectOrReport } from "../session.js";
import { plan, untouchedBy } from "../../engine/plan.js";
import { runBuild } from "../../engine/scheduler.js";
import { checkRuleModules } from "../../engine/rule-check.js";
import { hostFileProblems } from "../../engine/hosts/host-paths.js";
import type { ActionNode } from "../../engine/graph-types.js";
import { diag, renderDiagnostics } from "../../engine/diagnostics.js";
import { makeLogger } from "../loggers.js";
import { formatReason } from "../../engine/fingerprint.js";
import { dueInWeeks, formatHold } from "../../engine/retrain-hold.js";
import type { HeldItem } from "../../engine/plan.js";
import { ReadLog } from "../../engine/read-log.js";
import { noopManifestPath, requestKey, type NoopManifest } from "../../engine/cache/noop-manifest.js";
import { engineFiles, writeNoopManifest } from "../../engine/cache/noop-writer.js";
import { noopRequest, type BuildHint } from "../fast-noop.js";
import type { CommonOptions } from "../args.js";
import type { Session } from "../session.js";
import type { StatEntry } from "../../engine/cache/state-index.js";
import type { TransferEntry } from "../../engine/hosts/host.js";
import { appendTransfer } from "../../engine/transfer-log.js";
import { varsOf, writeVarsRecord } from "../vars-record.js";
import { workspaceMasker } from "../../engine/secrets.js";
import { describeResident, goalsOf, prepareResidency, residencyPolicy, residentOutputs, type ResidencyPolicy } from "../../engine/residency.js";
import { createHost } from "../../engine/hosts/index.js";

export async function run(argv: string[], hint?: BuildHint): Promise<number> {
  const o = parseArgs(argv); // a UsageError is reported by main
  // A real build reads the state index only once it holds the workspace lock; it alone writes
  // a no-op manifest, so it alone logs what the load and the checker read.
  const log = new ReadLog();
  const session = await openSession(o, o.dryRun ? { force: o.force } : { force: o.force, log, lock: "build", ...(hint ? { held: hint.release } : {}) });
  if (typeof session === "number") return session;
  const sel = selectOrReport(session.graph, o.positional);
  if (typeof sel === "number") {
    session.release();
    return sel;
  }

  // The fast path saw only these outputs and sources move: the rest is fresh without deciding,
  // provided this load read what the manifest stamped (nothing moved since the fast path looked).
  const sameLoad = hint?.manifest ? loadMatches(log, hint.manifest) : undefined;
  if (sameLoad !== undefined && sameLoad !== true && process.env.DAGBUILD_TRACE_NOOP === "1") process.stderr.write(`dagbuild: incremental hint dropped: ${sameLoad}\n`);
  let knownFresh = hint?.dirty && sameLoad === true ? untouchedBy(session.graph, sel.ids, hint.dirty) : undefined;
  // Which outputs stay on the ssh host that made them (docs/hosts.md, "Resident artifacts").
  const policy = residencyPolicy(session.graph, goalsOf(session.graph, sel.roots));
  if (o.dryRun) {
    const p = plan(session.checker, sel.ids, knownFresh);
    const resident = residentOutputs(session.checker, sel.ids, policy);
    if (o.json) {
      process.stdout.write(JSON.stringify({
        version: 1,
        total: p.total,
        fresh: p.fresh,
        actions: p.items.map((i) => ({ ...i, reason_text: formatReason(i.reason) })),
        held: p.held.map(heldJson),
        resident: resident.map((r) => ({ path: r.state.p, host: r.state.h, digest: r.state.d, size: r.state.z, fetch: r.needed })),
      }, null, 2) + "\n");
    } else {
      for (const line of describeResident(resident)) process.stdout.write(`${line}\n`);
      for (const i of p.items) {
        const how = i.restore ? "restore" : i.pending ? "run*" : "run";
        const moved = i.uploadBytes + i.downloadBytes;
        const bytes = moved ? ` [moves ~${moved} B: ${i.uploadBytes} up, ${i.downloadBytes} down]` : "";
        process.stdout.write(`${how.padEnd(7)} ${i.id}  @${i.host}  (${formatReason(i.reason)})${bytes}\n`);
      }
      for (const h of p.held) process.stdout.write(`${"held".padEnd(7)} ${h.id}  @${h.host}  (${formatHold(h.reason, h.hold)})\n`);
      process.stdout.write(
        `${p.items.length} to run, ${p.fresh} up to date${p.held.length ? `, ${p.held.length} held` : ""}` + (p.items.some((i) => i.pending) ? "  (* runs only if its upstream outputs change)" : "") + "\n",
      );
    }
    return 0;
  }

  // Holding the lock, no other build runs here: staging left by a killed build is garbage.
  rmSync(session.paths.tmp, { recursive: true, force: true });
  const controller = new AbortController();
  let interrupts = 0;
  const onSig = () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    process.stderr.write("\ndagbuild: interrupted; stopping running actions (Ctrl-C again to quit now)\n");
    controller.abort();
  };
  // A closed terminal (SIGHUP) stops the build like Ctrl-C: running actions are cancelled (their
  // process groups signalled) and their staging removed, instead of dying and orphaning them.
  process.on("SIGINT", onSig);
  process.on("SIGTERM", onSig);
  process.on("SIGHUP", onSig);
  try {
    const logger = makeLogger(o.json, o.progress);
    if (await residencyGone(session, sel.ids, policy, knownFresh, (message) => logger.emit({ type: "note", message }))) knownFresh = undefined;
    const summary = await runBuild(session.checker, sel.ids, session.paths, logger, {
      resident: policy,
      jobs: o.jobs,
      keepGoing: o.keepGoing,
      signal: controller.signal,
      ...(knownFresh ? { knownFresh } : {}),
      // Rule modules that cannot load fail the build before anything runs (exit 2).
      preflight: async (nodes) => {
        const line = (message: string, loc: ActionNode["loc"]) => renderDiagnostics([diag("unknown-rule", message, loc)], { color: process.stderr.isTTY }).split("\n")[0]!;
        const out = (await checkRuleModules(session.graph.root, nodes)).map((p) => line(p.message, p.action.loc));
        // The SSH key files of every host that may be used: a missing one would fail only
        // when that host's first action starts.
        const hosts = new Map<string, ActionNode>();
        for (const n of nodes) if (!hosts.has(n.host)) hosts.set(n.host, n);
        for (const [name, n] of hosts) {
          const config = session.graph.hosts[name];
          if (config) for (const p of hostFileProblems(name, config, session.graph.root)) out.push(line(p, n.loc));
        }
        return out;
      },
    });
    if (summary.invalid) {
      process.stderr.write(summary.invalid.join("\n") + `\n${summary.invalid.length} error${summary.invalid.length === 1 ? "" : "s"}; nothing was run\n`);
      return 2;
    }
    // What the outputs now on disk were built from, for `dagbuild status`.
    writeVarsRecord(session.paths.cache, varsOf(session.graph));
    if (summary.cancelled) return 130;
    // Everything selected is fresh now: let the next identical command line prove it by stats.
    if (summary.ok) recordNoop(session, sel.ids, o, log, summary.held);
    return summary.ok ? 0 : 1;
  } finally {
    process.off("SIGINT", onSig);
    process.off("SIGTERM", onSig);
    process.off("SIGHUP", onSig);
    session.release();
  }
}

/**
 * Checks and fetches the resident outputs of the selection before the build (src/engine/residency.ts).
 * True when one is gone from its host: its producer must be decided again, so the no-op hint
 * (which would settle it from its record) is dropped.
 */
async function residencyGone(session: Session, ids: readonly string[], policy: ResidencyPolicy, knownFresh: ReadonlySet<string> | undefined, note: (m: string) => void): Promise<boolean> {
  const { graph, paths } = session;
  const env = { root: graph.root, casDir: paths.cas, logTransfer: (entry: TransferEntry) => appendTransfer(paths.transferLog, { ...entry, when: new Date().toISOString() }), note };
  // (fetch rows go to the transfer log like the scheduler's; `note` carries what was fetched or is gone)
  const check = !knownFresh || ids.some((id) => !knownFresh.has(id));
  const r = await prepareResidency(session.checker, ids, policy, { check, tmp: paths.tmp, note, host: (name) => createHost(name, graph.hosts[name] ?? { transport: "local" }, env) });
  return r.gone.size > 0;
}

/**
 * Whether the load just done saw what the manifest recorded: the same stamps for the files it
 * read, the same probes, listings and tool outputs. True, or what differs.
 */
function loadMatches(log: ReadLog, m: NoopManifest): true | string {
  const files = new Map(m.files.map(([abs, ...stamp]) => [abs, stamp]));
  const absent = new Set(m.absent);
  for (const [abs, seen] of log.reads) {
    if (seen === null) {
      if (!absent.has(abs)) return `${abs} is missing`;
      continue;
    }
    const was = files.get(abs);
    if (!was || was.some((x, k) => x !== seen.stamp[k])) return `${abs} changed`;
  }
  const kinds = new Map(m.kinds);
  for (const [abs, kind] of log.kinds) if (kinds.get(abs) !== kind) return `probe ${abs} changed`;
  const listings = new Map(m.listings);
  for (const [abs, digest] of log.listings) if (listings.get(abs) !== digest) return `listing ${abs} changed`;
  const tools = new Map(m.tools);
  for (const [command, output] of log.commands) if (tools.get(command) !== output) return `tool \`${command}\` changed`;
  return true;
}

/** Writes the no-op manifest for this command line (under the lock; a refusal is only traced). */
function recordNoop(session: Session, ids: readonly string[], o: CommonOptions, log: ReadLog, held: readonly string[]): void {
  const { graph, checker, paths } = session;
  const request = requestKey(noopRequest(o), () => workspaceMasker(paths.cache));
  const file = noopManifestPath(paths.cache, request);
  const refuse = (why: string) => {
    rmSync(file, { force: true });
    if (process.env.DAGBUILD_TRACE_NOOP === "1") process.stderr.write(`dagbuild: no no-op manifest: ${why}\n`);
  };
  // A hold depends on cache/refresh.json, which the manifest does not stamp, and a held action's
  // key is not its record's: only the full check may say it is still held (never less work).
  if (held.length) return refuse(`${held[0]} is held by its retrain_every cadence${held.length > 1 ? ` (and ${held.length - 1} more)` : ""}`);
  const outputs = [];
  const sources = new Map<string, StatEntry | undefined>();
  const rulesChecked = new Set<string>();
  for (const id of ids) {
    const s = checker.state.actions.get(id);
    if (!s) return refuse(`${id} has no record`); // cannot happen after a clean build
    const node = graph.actions.get(id)!;
    // A provisional action runs on every build until final: no build of this selection is a no-op.
    if (checker.notFinal(node, s)) return refuse(`${id} is provisional (${s.n ?? "until its final_after time"})`);
    // Actions settled without a decision (an incremental build) did not hash their rule: do it
    // now, so it is stamped, and only if it is still the rule their records were built with
    // (it may have been edited while the build ran: the manifest must not vouch for it).
    // One record per module is enough: every action of a module shares its rule hash.
    if (node.rule.kind === "module") {
      const now = checker.rules.hash(node.rule);
      if (!rulesChecked.has(node.rule.module)) {
        rulesChecked.add(node.rule.module);
        const rec = checker.ac.get(s.k);
        if (!rec || rec.material.rule.hash !== now) return refuse(`rule ${node.rule.module} changed during the build (${id} was built with another version)`);
      }
    }
    outputs.push(...Object.values(s.o).filter((x) => x.h === undefined)); // a resident output is vouched for by its record
    for (const deps of Object.values(node.deps))
      for (const d of deps) if (d.kind === "source") sources.set(d.path, checker.state.stats.get(d.path));
  }
  try {
    const r = writeNoopManifest(file, {
      request,
      stateFile: paths.state,
      fresh: ids.length,
      log,
      outputs,
      sources: [...sources],
      engineFiles: engineFiles(),
      processStart: performance.timeOrigin,
    });
    if (!r.written) refuse(r.why);
  } catch (e) {
    // The build itself succeeded; without a manifest the next no-op is only slower.
    refuse((e as Error).message);
  }
}

/** A held action in `-n --json` (and `refresh -n --json`): its reason, its cadence and when it retrains. */
export function heldJson(h: HeldItem) {
  return { id: h.id, target: h.target, host: h.host, reason: h.reason, reason_text: formatReason(h.reason), hold: h.hold, retrain_due_in_weeks: dueInWeeks(h.hold) };
}
