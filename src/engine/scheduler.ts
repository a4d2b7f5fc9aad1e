/**
 * The execute phase: runs the stale actions of a closed, topologically ordered id list,
 * parallel up to `jobs` and per-host limits, deciding each action only once its inputs are
 * known (early cutoff), committing outputs atomically, recording results last.
 */
import { appendFileSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, sep } from "node:path";
import type { ActionNode, Graph } from "./graph-types.js";
import { Checker, dirAware, runStart, type Decision, type FileDigest, type OutputLookup } from "./plan.js";
import type { EventSink } from "./events.js";
import type { ActionSpec, Host, HostEnv, InputFile, TreeEntry } from "./hosts/host.js";
import { appendTransfer } from "./transfer-log.js";
import { HostError } from "./hosts/host.js";
import { createHost } from "./hosts/index.js";
import { safeName, type WorkspacePaths } from "./workspace.js";
import { sameStamp, type ActionState, type OutputState } from "./cache/state-index.js";
import { describePath, type Artifact } from "./cache/cas.js";
import { ACTION_RECORD_VERSION, type RecordedOutput } from "./cache/action-cache.js";
import { formatReason } from "./fingerprint.js";
import { hashFile } from "./hash.js";
import { treeSignature } from "./cache/tree-signature.js";
import { fsyncPath, fsyncTree } from "./durable.js";
import { DeviceTokens } from "./device-tokens.js";
import { withSiblings } from "./sibling-inputs.js";
import { commitResident, leftOnHost, residentFile, type ResidencyPolicy } from "./residency.js";

/** Options of one build. */
export interface BuildOptions {
  readonly jobs: number;
  readonly keepGoing: boolean;
  readonly signal: AbortSignal;
  /** Injected in tests to run actions on fakes; defaults to createHost. */
  readonly hostFactory?: (name: string, graph: Graph, env: HostEnv) => Promise<Host>;
  /** Test hook: permutes the ready queue to prove order independence. */
  readonly shuffle?: (ready: string[]) => void;
  /**
   * Actions proven fresh before the build (the no-op manifest: nothing they depend on moved,
   * see `untouchedBy`): settled from their records without being decided.
   */
  readonly knownFresh?: ReadonlySet<string>;
  /**
   * Called once with every action that may run (stale, or waiting on an upstream), before any
   * starts; problems returned stop the build before it runs anything (`invalid` in the summary).
   */
  readonly preflight?: (nodes: readonly ActionNode[]) => Promise<readonly string[]>;
  /** Outputs to leave on their ssh host (resident, src/engine/residency.ts); absent: all come back. */
  readonly resident?: ResidencyPolicy;
}

export interface BuildSummary {
  readonly ok: boolean;
  readonly built: string[];
  readonly restored: string[];
  readonly failed: string[];
  readonly skipped: string[];
  readonly fresh: number;
  /** Held by their retraining cadence (`retrain_every`): not run, their recorded outputs used. */
  readonly held: string[];
  readonly cancelled: boolean;
  /** Preflight problems: nothing ran. */
  readonly invalid?: readonly string[];
}

type Done = { readonly kind: "ok" } | { readonly kind: "failed" };

let stagingCounter = 0;

export async function runBuild(
  checker: Checker,
  ids: readonly string[],
  paths: WorkspacePaths,
  sink: EventSink,
  opts: BuildOptions,
): Promise<BuildSummary> {
  const graph = checker.graph;
  const started = Date.now();
  const wanted = new Set(ids);
  const outputs = new Map<string, FileDigest>(); // path → digest, for actions settled this build
  const settled = new Map<string, Done>();
  const summary = { built: [] as string[], restored: [] as string[], failed: [] as string[], skipped: [] as string[], fresh: 0, held: [] as string[] };
  const lookup: OutputLookup = dirAware(graph, (path) => {
    const got = outputs.get(path);
    if (got) return got;
    const producer = graph.producers.get(path);
    // Outside the request, or known fresh: as recorded.
    if (producer && (!wanted.has(producer) || opts.knownFresh?.has(producer))) return checker.recordedOutput(producer, path);
    return undefined;
  });

  // Dependants and pending-dep counts, built after the first pass over what is not settled.
  const dependants = new Map<string, string[]>();
  const remaining = new Map<string, number>();
  sink.emit({ type: "build-start", actions: ids.length, targets: [] });

  // Fast synchronous pass: a no-op build decides everything here without a single await.
  type Ready = { id: string; decision: Decision & { status: "stale" } };
  const ready: Ready[] = []; // decided stale, not yet queued on a host
  // Per-host FIFO queues with a head index: starting an action is O(1), not a scan of
  // everything that is ready (100k ready actions must not cost 100k² steps).
  const queues = new Map<string, { items: (Ready | undefined)[]; head: number }>();
  let queuedCount = 0;
  const enqueue = (batch: Ready[]) => {
    const ids = batch.map((r) => r.id);
    opts.shuffle?.(ids);
    const byId = new Map(batch.map((r) => [r.id, r]));
    for (const id of ids) {
      const r = byId.get(id)!;
      const host = graph.actions.get(id)!.host;
      let q = queues.get(host);
      if (!q) queues.set(host, (q = { items: [], head: 0 }));
      q.items.push(r);
      queuedCount++;
    }
  };
  const markFresh = (id: string, held?: Decision & { status: "held" }, waited = false) => {
    const s = checker.state.actions.get(id)!;
    for (const o of Object.values(s.o)) outputs.set(o.p, { digest: o.d, size: o.z });
    settled.set(id, { kind: "ok" });
    // A held action settles like a fresh one (its recorded outputs); its state is not rewritten.
    if (!held) summary.fresh++;
    else {
      summary.held.push(id);
      sink.emit({ type: "action-held", id, reason: held.reason, hold: held.hold, waited });
    }
  };
  const release = (id: string, queue: string[]) => {
    for (const d of dependants.get(id) ?? []) {
      const n = remaining.get(d)! - 1;
      remaining.set(d, n);
      if (n === 0) queue.push(d);
    }
  };
  const skipDependants = (id: string, because: string) => {
    const stack = [...(dependants.get(id) ?? [])];
    while (stack.length) {
      const d = stack.pop()!;
      if (settled.has(d)) continue;
      settled.set(d, { kind: "failed" });
      summary.skipped.push(d);
      sink.emit({ type: "action-skipped", id: d, because });
      stack.push(...(dependants.get(d) ?? []));
    }
  };
  const decideQueue: string[] = [];
  let decideHead = 0;
  const drainDecisions = () => {
    const before = ready.length;
    while (decideHead < decideQueue.length) {
      const id = decideQueue[decideHead++]!;
      if (settled.has(id)) continue;
      const node = graph.actions.get(id)!;
      const d = checker.decide(node, lookup);
      if (d.status === "fresh") {
        // It waited on an upstream that reran with identical outputs: early cutoff.
        markFresh(id);
        sink.emit({ type: "action-cutoff", id });
        release(id, decideQueue);
      } else if (d.status === "held") {
        markFresh(id, d, true);
        release(id, decideQueue);
      } else if (d.status === "stale") ready.push({ id, decision: d });
      else {
        // Cannot happen while every dep resolves (dirAware); fail this action, not its producer.
        const msg = `internal: inputs of ${id} are unknown after their producers finished (${formatReason(d.reason)})`;
        fail(id, "internal", msg, "", msg);
      }
    }
    if (decideHead > 4096) {
      decideQueue.splice(0, decideHead);
      decideHead = 0;
    }
    if (ready.length > before) enqueue(ready.splice(before));
  };
  // First pass, in topological order: every producer is decided before its consumers, so an
  // action whose inputs are all known is decided at once. A no-op build ends here, without
  // building any dependency-count structure (100k actions: that alone was ~10% of the time).
  const waiting: string[] = [];
  for (const id of ids) {
    if (opts.knownFresh?.has(id)) {
      settled.set(id, { kind: "ok" }); // its outputs are looked up in its record when needed
      summary.fresh++;
      continue;
    }
    const node = graph.actions.get(id)!;
    const d = checker.decide(node, lookup, { quick: true });
    if (d.status === "fresh") markFresh(id);
    else if (d.status === "held") markFresh(id, d);
    else if (d.status === "stale") ready.push({ id, decision: d });
    else waiting.push(id);
  }
  for (const id of waiting) {
    const node = graph.actions.get(id)!;
    const ups = new Set<string>();
    for (const name in node.deps) for (const d of node.deps[name]!) if (d.kind === "output" && wanted.has(d.producer) && !settled.has(d.producer)) ups.add(d.producer);
    remaining.set(id, ups.size);
    for (const u of ups) (dependants.get(u) ?? dependants.set(u, []).get(u)!).push(id);
  }
  if (opts.preflight && (ready.length || waiting.length)) {
    // A restore runs no rule: only what will (or may) execute is checked.
    const problems = await opts.preflight([...ready.filter((r) => !r.decision.restorable).map((r) => graph.actions.get(r.id)!), ...waiting.map((id) => graph.actions.get(id)!)]);
    if (problems.length) {
      checker.state.flush();
      return { ok: false, ...summary, cancelled: false, invalid: problems };
    }
  }
  if (ready.length) enqueue(ready.splice(0));
  sink.emit({ type: "plan-ready", fresh: summary.fresh, stale: queuedCount, waiting: ids.length - summary.fresh - summary.held.length - queuedCount });

  // Hosts, created lazily on first use; `prepare` once each.
  const hosts = new Map<string, Promise<Host>>();
  const hostEnv: HostEnv = {
    root: graph.root,
    casDir: paths.cas,
    // Appended as each transfer completes, so the log is true even if the build dies later.
    logTransfer: (entry) => {
      appendTransfer(paths.transferLog, { ...entry, when: new Date().toISOString() });
      sink.emit({ type: "transfer", entry });
    },
    note: (message) => sink.emit({ type: "note", message }),
  };
  const getHost = (name: string): Promise<Host> => {
    let h = hosts.get(name);
    if (!h) {
      h = (async () => {
        const host = opts.hostFactory ? await opts.hostFactory(name, graph, hostEnv) : await createHost(name, graph.hosts[name] ?? { transport: "local" }, hostEnv);
        await host.prepare(opts.signal);
        return host;
      })();
      hosts.set(name, h);
    }
    return h;
  };

  // Slots: `jobs` overall for local hosts; `jobs` of each remote host (default 2); resources.
  const running = new Map<string, number>(); // host → running count
  const resUsed = new Map<string, number>(); // `${host}\0${res}` → used
  const tokens = new DeviceTokens(); // which gpu indices each running action holds (CUDA_VISIBLE_DEVICES)
  let localRunning = 0;
  const hostJobs = (name: string) => {
    const c = graph.hosts[name];
    return c?.jobs ?? (c?.transport === "ssh" ? 2 : opts.jobs);
  };
  const isLocal = (host: string) => (graph.hosts[host]?.transport ?? "local") === "local";
  /** No free slot on `host` (local hosts also share the `-j` slots). */
  const hostFull = (host: string) => (isLocal(host) && localRunning >= opts.jobs) || (running.get(host) ?? 0) >= hostJobs(host);
  const fits = (node: ActionNode): boolean => {
    if (hostFull(node.host)) return false;
    const cap = graph.hosts[node.host]?.resources ?? {};
    for (const [r, n] of Object.entries(node.resources)) {
      const limit = cap[r];
      const used = resUsed.get(`${node.host}\0${r}`) ?? 0;
      // An action that asks for more than the host has still runs, but alone.
      if (limit !== undefined && used > 0 && used + n > limit) return false;
    }
    return true;
  };
  const take = (node: ActionNode, sign: 1 | -1) => {
    if (isLocal(node.host)) localRunning += sign;
    running.set(node.host, (running.get(node.host) ?? 0) + sign);
    for (const [r, n] of Object.entries(node.resources)) resUsed.set(`${node.host}\0${r}`, (resUsed.get(`${node.host}\0${r}`) ?? 0) + sign * n);
  };

  let stopping = false;
  let cancelled = false;
  const inflight = new Set<Promise<void>>();
  const onAbort = () => {
    cancelled = true;
    stopping = true;
  };
  opts.signal.addEventListener("abort", onAbort, { once: true });

  const finishOk = (id: string) => {
    settled.set(id, { kind: "ok" });
    release(id, decideQueue);
    drainDecisions();
  };

  const runOne = async (id: string, decision: Decision & { status: "stale" }): Promise<void> => {
    const node = graph.actions.get(id)!;
    const t0 = Date.now();
    const staging = join(paths.tmp, `${safeName(id)}.${process.pid}.${stagingCounter++}`);
    const logFile = join(paths.logs, `${safeName(id)}.log`);
    let tail = "";
    let logOpen = false;
    let logBroken = false;
    // The log file is created on the first output only: most actions print nothing, and a
    // build of 100k small actions should not write 100k empty logs. A log that cannot be
    // written (disk full) is said once and then only kept in memory (the tail): the action's
    // outputs do not depend on it, and this runs inside host callbacks, where a throw is uncaught.
    const log = (chunk: string) => {
      tail = (tail + chunk).slice(-4000);
      if (logBroken) return;
      try {
        if (!logOpen) {
          logOpen = true;
          mkdirSync(paths.logs, { recursive: true });
          writeFileSync(logFile, `# dagbuild log of ${id}\n# reason: ${formatReason(decision.reason)}\n`);
        }
        appendFileSync(logFile, chunk);
      } catch (e) {
        logBroken = true;
        sink.emit({ type: "note", message: `dagbuild: cannot write the log of ${id} (${logFile}): ${(e as Error).message}; its last lines are kept in memory only` });
      }
    };
    const restore = decision.restorable;
    sink.emit({ type: "action-start", id, host: node.host, reason: decision.reason, restore: restore !== undefined });
    try {
      mkdirSync(staging, { recursive: true });
      let ok = false;
      let verified: Readonly<Record<string, Artifact>> | undefined; // output digests the host checked
      let notFinal: string | undefined; // the rule's ctx.notFinal reason: a provisional outcome
      if (restore) {
        // Every output is tried (each restore verifies its blobs and quarantines bad ones).
        const problems: string[] = [];
        for (const o of Object.values(restore.outputs)) {
          const r = checker.cas.restore(o, join(staging, o.path));
          if (!r.ok) problems.push(r.message);
        }
        ok = problems.length === 0;
        if (!ok) {
          const msg = `${id}: ${problems.join("; ")}; running instead`;
          log(`${msg}\n`);
          sink.emit({ type: "note", message: msg });
          rmSync(staging, { recursive: true, force: true });
          mkdirSync(staging, { recursive: true });
          sink.emit({ type: "action-start", id, host: node.host, reason: decision.reason, restore: false });
        }
      }
      if (!ok) {
        if (node.rule.kind === "module" && isLocal(node.host)) {
          const stale = checker.rules.staleCompiled(node.rule.module);
          if (stale) {
            const msg = `${stale} changed since it was compiled (rule ${node.rule.module}): run \`npm run build\` first`;
            log(`${msg}\n`);
            fail(id, "rule-failed", msg, logFile, tail);
            return;
          }
        }
        const env = tokens.env(id);
        const base = withSiblings(toSpec(node, decision, checker, lookup), node, checker, (s) => !wanted.has(s) || settled.get(s)?.kind === "ok");
        const spec = env ? { ...base, env } : base;
        let host: Host;
        try {
          host = await getHost(node.host);
        } catch (e) {
          const msg = e instanceof HostError ? e.message : ((e as Error).stack ?? String(e));
          log(`${msg}\n`);
          fail(id, "host-unavailable", msg, logFile, tail);
          return;
        }
        const keep = opts.resident?.(node);
        const result = await host.run(spec, staging, { log, progress: (line) => sink.emit({ type: "action-progress", id, message: line }), signal: opts.signal, verified: (o) => (verified = o), ...(keep ? { keep } : {}) });
        if (!result.ok) {
          if (result.kind === "cancelled" || opts.signal.aborted) {
            settled.set(id, { kind: "failed" });
            return;
          }
          if (!tail.includes(result.message)) log(`${result.message}\n`);
          fail(id, result.kind, result.message, logFile, tail);
          return;
        }
        notFinal = result.notFinal;
      }
      if (opts.signal.aborted) {
        settled.set(id, { kind: "failed" });
        return;
      }
      // The key was computed from the inputs and the rule as they were before the run: if one
      // changed meanwhile, the outputs may come from either content and must not be cached
      // under it. `ok` is true only when the outputs came from the cache (a vanished blob means it ran).
      const restored = ok;
      const moved = restored ? undefined : changedInput(node, checker);
      const ruleMoved = restored || moved ? undefined : checker.rules.changedSince(node.rule, decision.material.rule.hash);
      if (moved || ruleMoved) {
        const msg = moved
          ? `input ${moved} changed during the build; its outputs were discarded: run dagbuild again`
          : `rule source ${ruleMoved} changed while ${id} ran (after its key was computed); its outputs were discarded: run dagbuild again`;
        log(`${msg}\n`);
        fail(id, moved ? "input-changed" : "rule-changed", msg, logFile, tail);
        return;
      }
      // A restore brings back outputs as old as the run that made them (final_after compares that).
      const startedAt = restored && decision.restorable ? runStart(decision.restorable) : t0;
      const left = restored ? undefined : leftOnHost(opts.resident?.(node), node.outputs, staging, verified);
      const { changed } = commit(node, decision, staging, checker, outputs, Date.now() - t0, restored, startedAt, verified, notFinal, left);
      if (notFinal !== undefined) sink.emit({ type: "note", message: `${id}: provisional, runs again next build (${notFinal})` });
      (restored ? summary.restored : summary.built).push(id);
      sink.emit({ type: "action-done", id, outcome: restored ? "restored" : "built", durationMs: Date.now() - t0, changed });
      finishOk(id);
    } catch (e) {
      if (e instanceof CommitError) {
        log(e.message + "\n");
        fail(id, e.kind, e.message, logFile, tail);
        return;
      }
      const msg = (e as Error)?.stack ?? String(e);
      log(msg + "\n");
      fail(id, "internal", (e as Error)?.message ?? String(e), logFile, tail);
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  };

  function fail(id: string, kind: string, message: string, logFile: string, tail: string) {
    settled.set(id, { kind: "failed" });
    summary.failed.push(id);
    sink.emit({ type: "action-failed", id, kind, message, logFile, logTail: tail });
    skipDependants(id, id);
    if (!opts.keepGoing) stopping = true;
  }

  const start = (r: Ready) => {
    const node = graph.actions.get(r.id)!;
    take(node, 1);
    tokens.acquire(r.id, node.host, node.resources, graph.hosts[node.host]?.resources ?? {});
    const p: Promise<void> = runOne(r.id, r.decision).finally(() => {
      take(node, -1);
      tokens.release(r.id, node.host);
      inflight.delete(p);
    });
    inflight.add(p);
  };
  const startWhatFits = () => {
    for (const [host, q] of queues) {
      // Actions held back by a resource limit are stepped over, but only a bounded number.
      let blocked = 0;
      for (let i = q.head; i < q.items.length && blocked < 256; i++) {
        const r = q.items[i];
        if (!r) continue;
        if (settled.has(r.id)) {
          q.items[i] = undefined;
          queuedCount--;
          continue;
        }
        if (hostFull(host)) break;
        if (!fits(graph.actions.get(r.id)!)) {
          blocked++;
          continue;
        }
        q.items[i] = undefined;
        queuedCount--;
        start(r);
      }
      while (q.head < q.items.length && q.items[q.head] === undefined) q.head++;
      if (q.head > 4096 && q.head * 2 > q.items.length) {
        q.items = q.items.slice(q.head);
        q.head = 0;
      }
    }
  };

  // Main loop: start whatever fits, wait for one to finish, repeat.
  for (;;) {
    if (!stopping) startWhatFits();
    if (inflight.size === 0) break;
    await Promise.race(inflight);
  }
  opts.signal.removeEventListener("abort", onAbort);
  checker.state.flush();
  for (const h of hosts.values()) await h.then((x) => x.close(), () => undefined);

  const ok = summary.failed.length === 0 && !cancelled && settled.size === ids.length;
  sink.emit({
    type: "build-done",
    ok,
    built: summary.built.length,
    restored: summary.restored.length,
    fresh: summary.fresh,
    held: summary.held.length,
    failed: summary.failed.length,
    skipped: summary.skipped.length,
    cancelled,
    durationMs: Date.now() - started,
  });
  return { ok, ...summary, cancelled };
}

/**
 * An input of `node` whose stats differ from those its digest was taken with, if any: a
 * source against the stat cache (hashed this build), an upstream output against its
 * producer's recorded state (a file inside a directory output: the directory's tree signature).
 */
function changedInput(node: ActionNode, checker: Checker): string | undefined {
  const root = checker.graph.root;
  for (const name in node.deps) {
    for (const dep of node.deps[name]!) {
      if (dep.kind === "source") {
        const rec = checker.state.stats.get(dep.path);
        if (!rec) continue; // a directory source: hashed whole, not stat-cached
        const st = statSync(join(root, dep.path), { throwIfNoEntry: false });
        if (!st || !sameStamp(st, rec)) return dep.path;
        continue;
      }
      const out = recordedOutputState(checker, dep.producer, dep.path);
      if (!out || out.h !== undefined) continue; // not recorded (cannot be: the producer settled before this ran), or resident: not here
      const abs = join(root, out.p);
      if (out.t) {
        let g: string | undefined;
        try {
          g = treeSignature(abs);
        } catch {
          g = undefined;
        }
        if (g !== out.g) return dep.path;
      } else {
        const st = statSync(abs, { throwIfNoEntry: false });
        // A state recorded before ctimes were (an older engine) is held to what it has.
        const same = st && (out.c === undefined ? st.size === out.z && st.mtimeMs === out.m && st.ino === out.i : sameStamp(st, out));
        if (!same) return dep.path;
      }
    }
  }
  return undefined;
}

/** The producer's recorded state of `path`, or of the directory output that contains it. */
function recordedOutputState(checker: Checker, producer: string, path: string): OutputState | undefined {
  const s = checker.state.actions.get(producer);
  if (!s) return undefined;
  for (const o of Object.values(s.o)) if (o.p === path || (o.t && path.startsWith(`${o.p}/`))) return o;
  return undefined;
}

/** Serializes an action for a host: the executor needs nothing else. */
export function toSpec(node: ActionNode, decision: Decision & { status: "stale" }, checker: Checker, lookup: OutputLookup): ActionSpec {
  const inputs: Record<string, InputFile[]> = {};
  for (const [name, deps] of Object.entries(node.deps)) {
    inputs[name] = deps.map((d, i) => {
      if (d.kind === "output" && checker.graph.producers.get(d.path) === undefined) {
        // A file inside a directory output: the key used the directory's digest; an executor
        // (a remote CAS) needs the file's own.
        const own = residentFile(checker, d.producer, d.path) ?? hashFile(join(checker.graph.root, d.path));
        return { path: d.path, digest: own.digest, size: own.size };
      }
      const digest = decision.material.inputs[name]![i]![1];
      const size = (d.kind === "output" ? lookup(d.path)?.size : checker.sourceDigest(d.path)?.size) ?? 0;
      // A whole directory output goes to an executor as its files (the tree), never as the
      // manifest blob its digest names: a remote host materializes the files one by one.
      const tree = d.kind === "output" ? recordedTree(checker, d.producer, d.path, digest) : undefined;
      return { path: d.path, digest, size, ...(tree ? { tree } : {}) };
    });
  }
  return { version: 1, id: node.id, target: node.target, partition: node.partition, rule: node.rule, params: node.params, inputs, outputs: node.outputs };
}

/** The file list of the directory output `path` of `producer` as recorded with `digest` (undefined for a file output). */
function recordedTree(checker: Checker, producer: string, path: string, digest: string): readonly TreeEntry[] | undefined {
  const st = checker.state.actions.get(producer);
  const out = st ? Object.entries(st.o).find(([, o]) => o.p === path) : undefined;
  if (!st || !out || !out[1].t) return undefined;
  const rec = checker.ac.get(st.k)?.outputs[out[0]];
  if (rec?.tree && rec.digest === digest) return rec.tree;
  const now = describePath(join(checker.graph.root, path));
  return now.digest === digest ? now.tree : undefined;
}

/**
 * An output that cannot be committed: the wrong kind (a file where a directory was declared,
 * a symbolic link), or a path in the way that the engine did not create. Nothing was changed.
 */
export class CommitError extends Error {
  constructor(
    readonly kind: "rule-failed" | "output-blocked",
    message: string,
  ) {
    super(message);
    this.name = "CommitError";
  }
}

/**
 * Commits an action's staged outputs in three steps, so a failure at any point leaves every
 * previous output as it was:
 *   1. check every staged output (declared kind, no symbolic links) and every path it will
 *      replace (only what the engine made: see `blockedBy`);
 *   2. store every output in the CAS;
 *   3. swap them in: each old output is moved aside, the new one renamed into place (a reader
 *      sees the old or the new file, never half of one); if any step fails, the swapped ones
 *      are moved back, then the error is reported.
 * Only then are the action record and the index line written.
 */
function commit(
  node: ActionNode,
  decision: Decision & { status: "stale" },
  staging: string,
  checker: Checker,
  outputs: Map<string, FileDigest>,
  durationMs: number,
  restored: boolean,
  startedAt: number,
  verified: Readonly<Record<string, Artifact>> | undefined,
  notFinal?: string,
  left?: ReadonlySet<string>,
): { changed: boolean } {
  const root = checker.graph.root;
  const prev = checker.state.actions.get(node.id);
  // Outputs its host kept (resident) are recorded by digest only: nothing of them is here to check or move.
  const entries = Object.entries(node.outputs).filter(([name]) => !left?.has(name));
  const realRoot = realpathSync(root); // once per commit, not once per output
  for (const [, decl] of entries) {
    const final = join(root, decl.path);
    const problem = stagedProblem(join(staging, decl.path), decl) ?? escapesRoot(final, decl.path, realRoot) ?? blockedBy(final, decl, prev, checker);
    if (problem) throw problem;
  }
  // A restore copied (and verified) blobs out of the CAS under digests it recorded: no need to hash them again.
  const arts = entries.map(([name, decl]) => (restored ? decision.restorable?.outputs[name] : undefined) ?? checker.cas.putPath(join(staging, decl.path), verified?.[name]));
  // The outputs' data is on disk before their names are (durable.ts), then the renames are.
  for (const [, decl] of entries) (decl.dir ? fsyncTree : fsyncPath)(join(staging, decl.path));
  swapIn(entries.map(([, decl], i) => ({ staged: join(staging, decl.path), final: join(root, decl.path), aside: `${staging}.old-${i}` })));

  for (const d of new Set(entries.map(([, decl]) => dirname(join(root, decl.path))))) fsyncPath(d);
  const recorded: Record<string, RecordedOutput> = {};
  const states: Record<string, OutputState> = {};
  // Outputs replaced on disk (a restore over a hand edit) changed even when their digest did not.
  const r = decision.reason;
  let changed = r.kind === "output-missing" || r.kind === "output-modified";
  entries.forEach(([name, decl], i) => {
    const art = arts[i]!;
    const final = join(root, decl.path);
    const st = statSync(final);
    recorded[name] = { path: decl.path, digest: art.digest, size: art.size, dir: decl.dir, ...(art.tree ? { tree: art.tree } : {}), ...(art.dirs?.length ? { dirs: art.dirs } : {}), ...(art.executable ? { executable: true } : {}) };
    states[name] = decl.dir
      ? { p: decl.path, d: art.digest, z: art.size, m: st.mtimeMs, i: st.ino, c: st.ctimeMs, t: 1, g: treeSignature(final) }
      : { p: decl.path, d: art.digest, z: art.size, m: st.mtimeMs, i: st.ino, c: st.ctimeMs, ...((st.mode & 0o111) !== 0 ? { x: 1 as const } : {}) };
    if (prev?.o[name]?.d !== art.digest) changed = true;
    outputs.set(decl.path, { digest: art.digest, size: art.size });
  });
  // After the swap: an old workspace copy of a resident output goes only once the rest is in place.
  const resident = left?.size ? commitResident(node, left, verified!, checker) : undefined;
  if (resident) {
    Object.assign(recorded, resident.recorded);
    Object.assign(states, resident.states);
    changed ||= resident.changed;
    for (const o of Object.values(resident.states)) outputs.set(o.p, { digest: o.d, size: o.z });
  }
  if (!restored) {
    checker.ac.put({
      version: ACTION_RECORD_VERSION,
      key: decision.key,
      id: node.id,
      material: decision.material,
      outputs: recorded,
      host: node.host,
      duration_ms: durationMs,
      built_at: new Date().toISOString(),
      ...(notFinal !== undefined ? { not_final: notFinal } : {}),
    });
  }
  const base = node.finalAfter === undefined ? { k: decision.key, o: states } : { k: decision.key, o: states, b: startedAt };
  checker.state.recordAction(node.id, notFinal === undefined ? base : { ...base, n: notFinal });
  return { changed };
}

/**
 * An output whose directory resolves outside the workspace (a symbolic link on its way, such as
 * `link -> /elsewhere` for `link/x`): the rename would write through the link, so it is refused.
 * The nearest existing ancestor of the output's directory is resolved (the rest is created);
 * `realRoot` is the workspace root, resolved.
 */
function escapesRoot(final: string, rel: string, realRoot: string): CommitError | undefined {
  let dir = dirname(final);
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  const real = realpathSync(dir);
  if (real === realRoot || real.startsWith(realRoot + sep)) return undefined;
  return new CommitError("output-blocked", `output ${rel} resolves outside the workspace (its directory is ${real}, through a symbolic link): outputs are written only inside ${realRoot}`);
}

/** What is wrong with a staged output, if anything: missing, the wrong kind, or a symbolic link. */
function stagedProblem(staged: string, decl: { path: string; dir: boolean }): CommitError | undefined {
  const st = lstatSync(staged, { throwIfNoEntry: false });
  if (!st) return new CommitError("rule-failed", `the rule did not write its output ${decl.path}`);
  if (st.isSymbolicLink()) return new CommitError("rule-failed", `output ${decl.path} is a symbolic link: outputs must be regular files or directories (a link's target is not part of the build)`);
  if (decl.dir !== st.isDirectory()) return new CommitError("rule-failed", `output ${decl.path} should be a ${decl.dir ? "directory" : "regular file"}; the rule wrote a ${st.isDirectory() ? "directory" : "file"}`);
  if (!decl.dir && !st.isFile()) return new CommitError("rule-failed", `output ${decl.path} should be a regular file`);
  if (decl.dir) {
    const link = firstSymlink(staged, "");
    if (link) return new CommitError("rule-failed", `output ${decl.path} contains a symbolic link (${link}): directory outputs may hold only files and directories`);
  }
  return undefined;
}

function firstSymlink(abs: string, rel: string): string | undefined {
  for (const e of readdirSync(abs, { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isSymbolicLink()) return r;
    if (e.isDirectory()) {
      const inner = firstSymlink(join(abs, e.name), r);
      if (inner) return inner;
    }
  }
  return undefined;
}

/**
 * Whether the path an output goes to holds something the engine must not delete. A file at a
 * file output's path is replaced as always (outputs are the build's). Anything else in the way
 * (a directory, or a file where a directory goes) is replaced only if the engine made it: this
 * action's last result recorded that path, or its content is in the CAS (an output whose
 * index line a crash lost, or another action's). Otherwise it is the user's.
 */
function blockedBy(final: string, decl: { path: string; dir: boolean }, prev: ActionState | undefined, checker: Checker): CommitError | undefined {
  const st = lstatSync(final, { throwIfNoEntry: false });
  if (!st || (!decl.dir && !st.isDirectory())) return undefined;
  if (Object.values(prev?.o ?? {}).some((o) => o.p === decl.path)) return undefined;
  if (!st.isSymbolicLink() && checker.cas.has(describePath(final).digest)) return undefined;
  const what = st.isSymbolicLink() ? "symbolic link" : st.isDirectory() ? "directory" : "file";
  return new CommitError("output-blocked", `${decl.path} exists as a ${what} not created by dagbuild (no build recorded it and its content is not in the cache); move it away or remove it, then build again`);
}

/**
 * Renames every staged output into place, moving what was there aside first; on any failure
 * moves the new ones back out and the old ones back in (in reverse), then rethrows. The
 * set-aside old outputs are deleted once every new one is in place.
 */
function swapIn(moves: readonly { staged: string; final: string; aside: string }[]): void {
  const done: { final: string; staged: string; aside?: string; placed: boolean }[] = [];
  try {
    for (const m of moves) {
      mkdirSync(dirname(m.final), { recursive: true });
      const step: { final: string; staged: string; aside?: string; placed: boolean } = { final: m.final, staged: m.staged, placed: false };
      done.push(step);
      if (lstatSync(m.final, { throwIfNoEntry: false })) step.aside = moveAside(m.final, m.aside);
      moveInto(m.staged, m.final);
      step.placed = true;
    }
  } catch (e) {
    const stuck: string[] = [];
    for (const step of done.reverse()) {
      try {
        if (step.placed) rmSync(step.final, { recursive: true, force: true }); // the new one: staging goes anyway
        if (step.aside) renameSync(step.aside, step.final);
      } catch (back) {
        stuck.push(`${step.final}: ${(back as Error).message}`);
      }
    }
    const msg = `cannot put the outputs in place (${(e as Error).message}); the previous outputs were ${stuck.length ? `NOT all restored: ${stuck.join("; ")}` : "restored"}`;
    throw new CommitError("output-blocked", msg);
  }
  for (const step of done) if (step.aside) rmSync(step.aside, { recursive: true, force: true });
}

let crossCounter = 0;

/**
 * Renames `from` to `to`. Across file systems (EXDEV: an output directory that is a mount of
 * its own, such as a tmpfs at `output/`), copies it beside `to` first, makes the copy durable,
 * and renames that into place: the output still appears at once, whole.
 */
function moveInto(from: string, to: string): void {
  try {
    renameSync(from, to);
    return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EXDEV") throw e;
  }
  const near = join(dirname(to), `.${basename(to)}.dagbuild-new.${process.pid}.${crossCounter++}`);
  try {
    cpSync(from, near, { recursive: true, preserveTimestamps: true });
    (lstatSync(near).isDirectory() ? fsyncTree : fsyncPath)(near);
    renameSync(near, to);
  } catch (e) {
    rmSync(near, { recursive: true, force: true });
    throw e;
  }
  rmSync(from, { recursive: true, force: true });
}

/**
 * Moves an old output out of the way to `aside` (in staging), or, when staging is on another
 * file system, to a hidden name beside it (a rename there cannot fail with EXDEV). Returns
 * where it went.
 */
function moveAside(final: string, aside: string): string {
  try {
    renameSync(final, aside);
    return aside;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EXDEV") throw e;
  }
  const near = join(dirname(final), `.${basename(final)}.dagbuild-old.${process.pid}.${crossCounter++}`);
  renameSync(final, near);
  return near;
}
