/**
 * The execute phase: runs the stale actions of a closed, topologically ordered id list,
 * parallel up to `jobs` and per-host limits, deciding each action only once its inputs are
 * known (early cutoff), committing outputs atomically, recording results last.
 */
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, sep } from "node:path";
import type { ActionNode, Graph } from "./graph-types.js";
import { Checker, dirAware, runStart, type Decision, type FileDigest, type OutputLookup } from "./plan.js";
import type { EventSink } from "./events.js";
import type { ActionSpec, Host, InputFile } from "./hosts/host.js";
import { HostError } from "./hosts/host.js";
import { safeName, type WorkspacePaths } from "./workspace.js";
import { sameStamp, type ActionState, type OutputState } from "./cache/state-index.js";
import { describePath, type Artifact } from "./cache/cas.js";
import { ACTION_RECORD_VERSION, type RecordedOutput } from "./cache/action-cache.js";
import { formatReason } from "./fingerprint.js";
import { hashFile } from "./hash.js";
import { treeSignature } from "./cache/tree-signature.js";
import { fsyncPath, fsyncTree } from "./durable.js";
import { withSiblings } from "./sibling-inputs.js";
import { upstreamStatics } from "./retrain-hold.js";
import { commitResident, leftOnHost, residentFile, type ResidencyPolicy } from "./residency.js";
import { ActionLog } from "./action-log.js";
import { HostQueues, type Ready } from "./build-queue.js";
import { HostPool, type HostFactory } from "./host-pool.js";
import { HostSlots } from "./host-slots.js";

/** Options of one build. */
export interface BuildOptions {
  readonly jobs: number;
  readonly keepGoing: boolean;
  readonly signal: AbortSignal;
  /** Injected in tests to run actions on fakes; defaults to createHost. */
  readonly hostFactory?: HostFactory;
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
type Stale = Decision & { status: "stale" };

let stagingCounter = 0;

/**
 * Builds `ids` (closed, in topological order): a first synchronous pass decides every action
 * whose inputs are known (a no-op build ends there, without a single await), preflight checks
 * what may run, then actions start as slots free up, and those that waited on one are decided
 * when it finishes (early cutoff).
 */
export async function runBuild(
  checker: Checker,
  ids: readonly string[],
  paths: WorkspacePaths,
  sink: EventSink,
  opts: BuildOptions,
): Promise<BuildSummary> {
  const run = new BuildRun(checker, ids, paths, sink, opts);
  sink.emit({ type: "build-start", actions: ids.length, targets: [] });
  const waiting = run.firstPass();
  run.countWaiting(waiting);
  if (opts.preflight && (run.ready.length || waiting.length)) {
    const problems = await run.preflight(opts.preflight, waiting);
    if (problems.length) return run.invalid(problems);
  }
  run.planReady();
  opts.signal.addEventListener("abort", run.onAbort, { once: true });
  // Main loop: start whatever fits, wait for one to finish, repeat.
  for (;;) {
    if (!run.stopping) run.startWhatFits();
    if (run.inflight.size === 0) break;
    await Promise.race(run.inflight);
  }
  opts.signal.removeEventListener("abort", run.onAbort);
  checker.state.flush();
  if (run.hosts.used) await run.hosts.closeAll();
  return run.done();
}

/** One action's run: where it stages its outputs, its log, and what its host reported. */
interface Attempt {
  readonly node: ActionNode;
  readonly decision: Stale;
  readonly t0: number;
  readonly staging: string;
  readonly log: ActionLog;
  /** Output digests the host checked. */
  verified?: Readonly<Record<string, Artifact>>;
  /** The rule's ctx.notFinal reason: a provisional outcome. */
  notFinal?: string;
}

/** The state of one build and the steps that move it on; `runBuild` sequences them. */
class BuildRun {
  private readonly started = Date.now();
  private readonly graph: Graph;
  private readonly wanted: ReadonlySet<string>;
  private readonly outputs = new Map<string, FileDigest>(); // path → digest, for actions settled this build
  private readonly settled = new Map<string, Done>();
  private readonly summary = { built: [] as string[], restored: [] as string[], failed: [] as string[], skipped: [] as string[], fresh: 0, held: [] as string[] };
  private readonly lookup: OutputLookup;
  // Dependants and pending-dep counts, built after the first pass over what is not settled.
  private readonly dependants = new Map<string, string[]>();
  private readonly remaining = new Map<string, number>();
  /** Decided stale, not yet queued on a host. */
  readonly ready: Ready[] = [];
  private readonly queues: HostQueues;
  // Released actions to decide, in order; a head index, compacted now and then.
  private readonly decideQueue: string[] = [];
  private decideHead = 0;
  readonly hosts: HostPool;
  private readonly slots: HostSlots;
  stopping = false;
  private cancelled = false;
  readonly inflight = new Set<Promise<void>>();

  constructor(
    private readonly checker: Checker,
    private readonly ids: readonly string[],
    private readonly paths: WorkspacePaths,
    private readonly sink: EventSink,
    private readonly opts: BuildOptions,
  ) {
    this.graph = checker.graph;
    this.wanted = new Set(ids);
    this.lookup = this.outputLookup();
    this.queues = new HostQueues(this.graph, opts.shuffle);
    this.hosts = new HostPool(this.graph, paths, sink, opts.signal, opts.hostFactory);
    this.slots = new HostSlots(this.graph.hosts, opts.jobs);
  }

  /** Cancellation: nothing more starts; what runs is told through the signal. */
  readonly onAbort = (): void => {
    this.cancelled = true;
    this.stopping = true;
  };

  /** Digests of outputs settled this build; outside the request, or known fresh: as recorded. */
  private outputLookup(): OutputLookup {
    const { graph, checker, outputs, wanted } = this;
    const knownFresh = this.opts.knownFresh;
    return dirAware(graph, (path) => {
      const got = outputs.get(path);
      if (got) return got;
      const producer = graph.producers.get(path);
      if (producer && (!wanted.has(producer) || knownFresh?.has(producer))) return checker.recordedOutput(producer, path);
      return undefined;
    });
  }

  /**
   * First pass, in topological order: every producer is decided before its consumers, so an
   * action whose inputs are all known is decided at once. A no-op build ends here, without
   * building any dependency-count structure (100k actions: that alone was ~10% of the time).
   * Returns the actions that wait on an upstream.
   */
  firstPass(): string[] {
    const { checker, lookup, ready, settled, summary } = this;
    const actions = this.graph.actions;
    const knownFresh = this.opts.knownFresh;
    const waiting: string[] = [];
    for (const id of this.ids) {
      if (knownFresh?.has(id)) {
        settled.set(id, { kind: "ok" }); // its outputs are looked up in its record when needed
        summary.fresh++;
        continue;
      }
      const d = checker.decide(actions.get(id)!, lookup, { quick: true });
      if (d.status === "fresh") this.markFresh(id);
      else if (d.status === "held") this.markFresh(id, d);
      else if (d.status === "stale") ready.push({ id, decision: d });
      else waiting.push(id);
    }
    return waiting;
  }

  /** Dependants and pending-upstream counts of the actions that wait. */
  countWaiting(waiting: readonly string[]): void {
    const { dependants, settled, wanted } = this;
    for (const id of waiting) {
      const node = this.graph.actions.get(id)!;
      const ups = new Set<string>();
      for (const name in node.deps) for (const d of node.deps[name]!) if (d.kind === "output" && wanted.has(d.producer) && !settled.has(d.producer)) ups.add(d.producer);
      this.remaining.set(id, ups.size);
      for (const u of ups) (dependants.get(u) ?? dependants.set(u, []).get(u)!).push(id);
    }
  }

  /** Asks `check` about every action that may run. A restore runs no rule: only what will (or may) execute is checked. */
  preflight(check: NonNullable<BuildOptions["preflight"]>, waiting: readonly string[]): Promise<readonly string[]> {
    const actions = this.graph.actions;
    return check([...this.ready.filter((r) => !r.decision.restorable).map((r) => actions.get(r.id)!), ...waiting.map((id) => actions.get(id)!)]);
  }

  /** The summary of a build that preflight stopped: nothing ran. */
  invalid(problems: readonly string[]): BuildSummary {
    this.checker.state.flush();
    return { ok: false, ...this.summary, cancelled: false, invalid: problems };
  }

  /** Queues what the first pass found stale and says what the plan is. */
  planReady(): void {
    if (this.ready.length) this.queues.enqueue(this.ready.splice(0));
    const { fresh, held } = this.summary;
    const stale = this.queues.count;
    this.sink.emit({ type: "plan-ready", fresh, stale, waiting: this.ids.length - fresh - held.length - stale });
  }

  /** Settles `id` from its recorded outputs: fresh, or held by its retraining cadence. */
  private markFresh(id: string, held?: Decision & { status: "held" }, waited = false): void {
    const s = this.checker.state.actions.get(id)!;
    for (const o of Object.values(s.o)) this.outputs.set(o.p, { digest: o.d, size: o.z });
    this.settled.set(id, { kind: "ok" });
    // A held action settles like a fresh one (its recorded outputs); its state is not rewritten.
    if (!held) this.summary.fresh++;
    else {
      this.summary.held.push(id);
      this.sink.emit({ type: "action-held", id, reason: held.reason, hold: held.hold, waited });
    }
  }

  /** `id` settled: its dependants with no upstream left go to the decide queue. */
  private release(id: string): void {
    for (const d of this.dependants.get(id) ?? []) {
      const n = this.remaining.get(d)! - 1;
      this.remaining.set(d, n);
      if (n === 0) this.decideQueue.push(d);
    }
  }

  /** Settles everything downstream of a failed `id` as skipped. */
  private skipDependants(id: string, because: string): void {
    const stack = [...(this.dependants.get(id) ?? [])];
    while (stack.length) {
      const d = stack.pop()!;
      if (this.settled.has(d)) continue;
      this.settled.set(d, { kind: "failed" });
      this.summary.skipped.push(d);
      this.sink.emit({ type: "action-skipped", id: d, because });
      stack.push(...(this.dependants.get(d) ?? []));
    }
  }

  /** Decides every released action (and those its cutoff releases); queues the stale ones. */
  private drainDecisions(): void {
    const before = this.ready.length;
    while (this.decideHead < this.decideQueue.length) {
      const id = this.decideQueue[this.decideHead++]!;
      if (!this.settled.has(id)) this.decideReleased(id);
    }
    if (this.decideHead > 4096) {
      this.decideQueue.splice(0, this.decideHead);
      this.decideHead = 0;
    }
    if (this.ready.length > before) this.queues.enqueue(this.ready.splice(before));
  }

  /** Decides `id`, whose upstreams have all settled. */
  private decideReleased(id: string): void {
    const d = this.checker.decide(this.graph.actions.get(id)!, this.lookup);
    if (d.status === "fresh") {
      // It waited on an upstream that reran with identical outputs: early cutoff.
      this.markFresh(id);
      this.sink.emit({ type: "action-cutoff", id });
      this.release(id);
    } else if (d.status === "held") {
      this.markFresh(id, d, true);
      this.release(id);
    } else if (d.status === "stale") this.ready.push({ id, decision: d });
    else {
      // Cannot happen while every dep resolves (dirAware); fail this action, not its producer.
      const msg = `internal: inputs of ${id} are unknown after their producers finished (${formatReason(d.reason)})`;
      this.fail(id, "internal", msg, "", msg);
    }
  }

  private fail(id: string, kind: string, message: string, logFile: string, tail: string): void {
    this.settled.set(id, { kind: "failed" });
    this.summary.failed.push(id);
    this.sink.emit({ type: "action-failed", id, kind, message, logFile, logTail: tail });
    this.skipDependants(id, id);
    if (!this.opts.keepGoing) this.stopping = true;
  }

  private finishOk(id: string): void {
    this.settled.set(id, { kind: "ok" });
    this.release(id);
    this.drainDecisions();
  }

  /** Starts every queued action that fits its host's free slots. */
  startWhatFits(): void {
    this.queues.startWhatFits(this.settled, this.slots, (r) => this.start(r));
  }

  private start(r: Ready): void {
    const node = this.graph.actions.get(r.id)!;
    this.slots.acquire(node);
    const p: Promise<void> = this.runOne(node, r.decision).finally(() => {
      this.slots.release(node);
      this.inflight.delete(p);
    });
    this.inflight.add(p);
  }

  /** Restores or runs one action, checks nothing moved meanwhile, commits its outputs. */
  private async runOne(node: ActionNode, decision: Stale): Promise<void> {
    const id = node.id;
    const t0 = Date.now();
    const staging = join(this.paths.tmp, `${safeName(id)}.${process.pid}.${stagingCounter++}`);
    const a: Attempt = { node, decision, t0, staging, log: new ActionLog(this.paths.logs, id, decision.reason, this.sink) };
    this.sink.emit({ type: "action-start", id, host: node.host, reason: decision.reason, restore: decision.restorable !== undefined });
    try {
      mkdirSync(staging, { recursive: true });
      // True only when the outputs came from the cache (a vanished blob means it ran).
      const restored = this.restoreOutputs(a);
      if (!restored && !(await this.runRule(a))) return;
      if (this.opts.signal.aborted) {
        this.settled.set(id, { kind: "failed" });
        return;
      }
      if (!restored && this.changedWhileRunning(a)) return;
      this.commitAction(a, restored);
    } catch (e) {
      this.crashed(a, e);
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }

  /**
   * Restores the outputs from the cache if the decision allows it. False when there is nothing
   * to restore, or a blob was bad: then staging is emptied and the action runs instead.
   */
  private restoreOutputs(a: Attempt): boolean {
    const restore = a.decision.restorable;
    if (!restore) return false;
    // Every output is tried (each restore verifies its blobs and quarantines bad ones).
    const problems: string[] = [];
    for (const o of Object.values(restore.outputs)) {
      const r = this.checker.cas.restore(o, join(a.staging, o.path));
      if (!r.ok) problems.push(r.message);
    }
    if (problems.length === 0) return true;
    const { id, host } = a.node;
    const msg = `${id}: ${problems.join("; ")}; running instead`;
    a.log.write(`${msg}\n`);
    this.sink.emit({ type: "note", message: msg });
    rmSync(a.staging, { recursive: true, force: true });
    mkdirSync(a.staging, { recursive: true });
    this.sink.emit({ type: "action-start", id, host, reason: a.decision.reason, restore: false });
    return false;
  }

  /** Runs the rule on its host. False when the action ended there (failed, or cancelled). */
  private async runRule(a: Attempt): Promise<boolean> {
    const { node } = a;
    const id = node.id;
    if (this.compiledStale(a)) return false;
    const spec = this.spec(a);
    let host: Host;
    try {
      host = await this.hosts.get(node.host);
    } catch (e) {
      const msg = e instanceof HostError ? e.message : ((e as Error).stack ?? String(e));
      a.log.write(`${msg}\n`);
      this.fail(id, "host-unavailable", msg, a.log.file, a.log.tail);
      return false;
    }
    const keep = this.opts.resident?.(node);
    const progress = (line: string) => this.sink.emit({ type: "action-progress", id, message: line });
    const result = await host.run(spec, a.staging, { log: a.log.write, progress, signal: this.opts.signal, verified: (o) => (a.verified = o), ...(keep ? { keep } : {}) });
    if (result.ok) {
      a.notFinal = result.notFinal;
      return true;
    }
    if (result.kind === "cancelled" || this.opts.signal.aborted) this.settled.set(id, { kind: "failed" });
    else {
      if (!a.log.tail.includes(result.message)) a.log.write(`${result.message}\n`);
      this.fail(id, result.kind, result.message, a.log.file, a.log.tail);
    }
    return false;
  }

  /** A local module rule whose compiled .js is older than its source fails (it would run the old code). */
  private compiledStale(a: Attempt): boolean {
    const { node } = a;
    if (node.rule.kind !== "module" || !this.slots.isLocal(node.host)) return false;
    const stale = this.checker.rules.staleCompiled(node.rule.module);
    if (!stale) return false;
    const msg = `${stale} changed since it was compiled (rule ${node.rule.module}): run \`npm run build\` first`;
    a.log.write(`${msg}\n`);
    this.fail(node.id, "rule-failed", msg, a.log.file, a.log.tail);
    return true;
  }

  /** What the host is sent: the action, its sibling inputs, its device environment. */
  private spec(a: Attempt): ActionSpec {
    const { node } = a;
    const env = this.slots.env(node.id);
    const base = withSiblings(toSpec(node, a.decision, this.checker, this.lookup), node, this.checker, (s) => !this.wanted.has(s) || this.settled.get(s)?.kind === "ok");
    return env ? { ...base, env } : base;
  }

  /**
   * The key was computed from the inputs and the rule as they were before the run: if one
   * changed meanwhile, the outputs may come from either content and must not be cached
   * under it. Fails the action then.
   */
  private changedWhileRunning(a: Attempt): boolean {
    const { node } = a;
    const moved = changedInput(node, this.checker);
    const ruleMoved = moved ? undefined : this.checker.rules.changedSince(node.rule, a.decision.material.rule.hash);
    if (!moved && !ruleMoved) return false;
    const msg = moved
      ? `input ${moved} changed during the build; its outputs were discarded: run dagbuild again`
      : `rule source ${ruleMoved} changed while ${node.id} ran (after its key was computed); its outputs were discarded: run dagbuild again`;
    a.log.write(`${msg}\n`);
    this.fail(node.id, moved ? "input-changed" : "rule-changed", msg, a.log.file, a.log.tail);
    return true;
  }

  /** Commits the staged outputs (what the host kept stays there: residency), then settles the action. */
  private commitAction(a: Attempt, restored: boolean): void {
    const { node, decision, t0, notFinal } = a;
    const id = node.id;
    // A restore brings back outputs as old as the run that made them (final_after compares that).
    const startedAt = restored && decision.restorable ? runStart(decision.restorable) : t0;
    const left = restored ? undefined : leftOnHost(this.opts.resident?.(node), node.outputs, a.staging, a.verified);
    const { changed } = commit(node, decision, a.staging, this.checker, this.outputs, Date.now() - t0, restored, startedAt, a.verified, notFinal, left);
    if (notFinal !== undefined) this.sink.emit({ type: "note", message: `${id}: provisional, runs again next build (${notFinal})` });
    (restored ? this.summary.restored : this.summary.built).push(id);
    this.sink.emit({ type: "action-done", id, outcome: restored ? "restored" : "built", durationMs: Date.now() - t0, changed });
    this.finishOk(id);
  }

  /** An exception while running `a`: a commit refused (typed), or an internal error. */
  private crashed(a: Attempt, e: unknown): void {
    const id = a.node.id;
    if (e instanceof CommitError) {
      a.log.write(e.message + "\n");
      this.fail(id, e.kind, e.message, a.log.file, a.log.tail);
      return;
    }
    const msg = (e as Error)?.stack ?? String(e);
    a.log.write(msg + "\n");
    this.fail(id, "internal", (e as Error)?.message ?? String(e), a.log.file, a.log.tail);
  }

  /** Emits build-done and returns the summary. */
  done(): BuildSummary {
    const { summary, cancelled } = this;
    const ok = summary.failed.length === 0 && !cancelled && this.settled.size === this.ids.length;
    this.sink.emit({
      type: "build-done",
      ok,
      built: summary.built.length,
      restored: summary.restored.length,
      fresh: summary.fresh,
      held: summary.held.length,
      failed: summary.failed.length,
      skipped: summary.skipped.length,
      cancelled,
      durationMs: Date.now() - this.started,
    });
    return { ok, ...summary, cancelled };
  }
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
      const tree = d.kind === "output" ? checker.recordedTree(d.producer, d.path, digest) : undefined;
      return { path: d.path, digest, size, ...(tree ? { tree } : {}) };
    });
  }
  return { version: 1, id: node.id, target: node.target, partition: node.partition, rule: node.rule, params: node.params, inputs, outputs: node.outputs };
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
      // When the run ended, not now: runStart() (built_at - duration_ms) must give the run's real
      // start, which final_after compares for a restore; the commit's own time is not the run's.
      built_at: new Date(startedAt + durationMs).toISOString(),
      ...(notFinal !== undefined ? { not_final: notFinal } : {}),
      ...(node.retrainEvery !== undefined ? { upstream: upstreamStatics(checker, node) } : {}),
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
