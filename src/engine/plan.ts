/**
 * Staleness decisions. The Checker answers "is this action fresh, and if not, why?" from the
 * state index, the stat cache and the action records; it never runs an action. The scheduler
 * asks it once an action's inputs are known (so early cutoff falls out naturally); `plan()`
 * asks it for a dry run, treating outputs of actions that will run as unknown.
 */
import { statSync, type Stats } from "node:fs";
import { dirname, join } from "node:path";
import type { ActionNode, DepRef, Graph } from "./graph-types.js";
import { actionKey, diffMaterial, inputsLine, keyedOutputs, keyOf, KEY_SCHEMA_VERSION, outputsLine, staticHash, type KeyMaterial, type Reason } from "./fingerprint.js";
import { RuleHasher } from "./fingerprint.js";
import { sameStamp, type ActionState, type StateIndex, type OutputState } from "./cache/state-index.js";
import type { ActionCache, ActionRecord } from "./cache/action-cache.js";
import type { Cas } from "./cache/cas.js";
import type { TreeEntry } from "./hosts/host.js";
import { hashFile, sha256 } from "./hash.js";
import { describePath } from "./cache/cas.js";
import { treeSignature } from "./cache/tree-signature.js";
import type { ReadLog } from "./read-log.js";
import { keyedParams, workspaceMasker, type Masker } from "./secrets.js";
import { heldDecision, type RefreshMark, type RetrainHold } from "./retrain-hold.js";

/** What is known about one file: its digest and size. */
export interface FileDigest {
  readonly digest: string;
  readonly size: number;
}

/** The verdict on one action. */
export type Decision =
  | { readonly status: "fresh"; readonly key: string }
  | {
      readonly status: "stale";
      readonly reason: Reason;
      readonly key: string;
      readonly material: KeyMaterial;
      /** An action record for this key exists and the CAS holds its outputs. */
      readonly restorable: ActionRecord | undefined;
    }
  /** Dry run only: an input comes from an action that will run, so the key is unknown yet. */
  | { readonly status: "waiting"; readonly reason: Reason; readonly definite: boolean }
  /**
   * `retrain_every`: stale only by an input a refresh changed, and not due yet. Its recorded
   * outputs (of `key`, the recorded key) stay and consumers read them (src/engine/retrain-hold.ts).
   */
  | { readonly status: "held"; readonly key: string; readonly reason: Reason; readonly hold: RetrainHold };

/** Looks up the digest of an upstream output (undefined = not known yet). */
export type OutputLookup = (path: string) => FileDigest | undefined;

/**
 * A dep on a file inside a directory output (`gen/a.txt` of `gen/`) is keyed by the directory's
 * digest: any change inside the directory reruns the consumer (conservative, never stale).
 */
export function dirAware(graph: Graph, lookup: OutputLookup): OutputLookup {
  return (path) => {
    const exact = lookup(path);
    if (exact || graph.producers.get(path) !== undefined) return exact;
    for (let i = path.lastIndexOf("/"); i > 0; i = path.lastIndexOf("/", i - 1)) {
      const dir = path.slice(0, i);
      if (graph.producers.get(dir) !== undefined) return lookup(dir);
    }
    return undefined;
  };
}

export class Checker {
  readonly rules: RuleHasher;
  constructor(
    readonly graph: Graph,
    readonly state: StateIndex,
    readonly ac: ActionCache,
    readonly cas: Cas,
    readonly forced: ReadonlySet<string> = new Set(),
    /** Told every rule source the checker reads (for the no-op manifest). */
    log?: ReadLog,
  ) {
    this.rules = new RuleHasher(graph.root, log);
  }

  /**
   * The refreshes of the span (`cache/refresh.json`, oldest first), which `retrain_every`
   * counts; none unless the session sets it (then nothing is ever held).
   */
  refreshHistory: () => readonly RefreshMark[] = () => [];
  /**
   * Resident outputs (src/engine/residency.ts) whose host was found not to hold them before
   * this build: path → host. Every other resident output is present by its record.
   */
  readonly residentGone = new Map<string, string>();

  /** Digest of a source file through the stat cache (hash only when size/mtime/inode moved). */
  sourceDigest(path: string): FileDigest | undefined {
    // Many actions share a source (a profile, a config): stat it once per build.
    const memo = this.sourceMemo.get(path);
    if (memo !== undefined || this.sourceMemo.has(path)) return memo;
    const d = this.sourceDigestUncached(path);
    this.sourceMemo.set(path, d);
    return d;
  }

  private readonly sourceMemo = new Map<string, FileDigest | undefined>();

  private sourceDigestUncached(path: string): FileDigest | undefined {
    let st: Stats;
    try {
      st = statSync(join(this.graph.root, path));
    } catch {
      return undefined;
    }
    if (st.isDirectory()) {
      const a = describePath(join(this.graph.root, path));
      return { digest: a.digest, size: a.size };
    }
    const cached = this.state.stats.get(path);
    if (cached && sameStamp(st, cached)) return { digest: cached.d, size: cached.z };
    const h = hashFile(join(this.graph.root, path));
    this.state.recordStat(path, { d: h.digest, z: h.size, m: st.mtimeMs, i: st.ino, c: st.ctimeMs });
    return h;
  }

  /** The key material of an action, or the first input whose digest is not known yet. */
  material(node: ActionNode, lookup: OutputLookup): { material: KeyMaterial } | { unknown: string; producer?: string } | { missing: string } {
    const inputs: Record<string, [string, string][]> = {};
    for (const [name, deps] of Object.entries(node.deps)) {
      const list: [string, string][] = [];
      for (const dep of deps) {
        if (dep.kind === "output") {
          const d = lookup(dep.path);
          if (!d) return { unknown: dep.path, producer: dep.producer };
          list.push([dep.path, d.digest]);
        } else {
          const d = this.sourceDigest(dep.path);
          if (!d) return { missing: dep.path };
          list.push([dep.path, d.digest]);
        }
      }
      inputs[name] = list;
    }
    const material: KeyMaterial = {
      v: KEY_SCHEMA_VERSION,
      rule: { ...node.rule, hash: this.rules.hash(node.rule) },
      params: keyedParams(node.params, this.masker), // secrets masked: never keyed, recorded or explained
      tools: node.tools,
      inputs,
      outputs: keyedOutputs(node.outputs),
    };
    return { material };
  }

  private maskerMemo: Masker | undefined;
  /** The workspace's secret masker, made (and its key file read or created) on first need. */
  private readonly masker = (): Masker => (this.maskerMemo ??= workspaceMasker(dirname(this.ac.dir)));

  // Static key parts by (params object, target): expansion shares one params object between
  // the partitions of a target whose params have no templates, so this hits on big graphs.
  private readonly staticMemo = new WeakMap<object, Map<string, string>>();

  /** The static part of `node`'s key (rule, params, tools): what a rerun for its inputs alone keeps. */
  staticDigest(node: ActionNode): string {
    return this.staticPart(node);
  }

  private staticPart(node: ActionNode): string {
    let byTarget = this.staticMemo.get(node.params);
    if (!byTarget) this.staticMemo.set(node.params, (byTarget = new Map()));
    let h = byTarget.get(node.target);
    if (h === undefined) {
      h = staticHash(KEY_SCHEMA_VERSION, { ...node.rule, hash: this.rules.hash(node.rule) }, keyedParams(node.params, this.masker), node.tools);
      byTarget.set(node.target, h);
    }
    return h;
  }

  // An action's outputs line never changes within a build: computed once per action.
  private readonly outputsMemo = new WeakMap<object, string>();

  /**
   * The fast path of a no-op build: the action's key from its static part and its input
   * digests, without building the key material (which is only needed when it is stale).
   * Equal to `actionKey` of the material whenever every input is known (tested).
   */
  quickKey(node: ActionNode, lookup: OutputLookup): string | undefined {
    let outs = this.outputsMemo.get(node.outputs);
    if (outs === undefined) this.outputsMemo.set(node.outputs, (outs = outputsLine(keyedOutputs(node.outputs))));
    const line = inputsLine(node.deps, depPath, (dep) => (dep.kind === "output" ? lookup(dep.path) : this.sourceDigest(dep.path))?.digest);
    return line === undefined ? undefined : keyOf(this.staticPart(node), outs, line);
  }

  /** Decides one action whose inputs are all known (or reports it waiting / missing). */
  decide(node: ActionNode, lookup: OutputLookup, opts: { quick?: boolean } = {}): Decision {
    if (!this.forced.has(node.id)) {
      const prev = this.state.actions.get(node.id);
      if (prev && ((node.finalAfter === undefined && prev.n === undefined) || !this.notFinal(node, prev)) && this.quickKey(node, lookup) === prev.k) {
        let ok = true;
        let refreshed: Record<string, OutputState> | undefined;
        for (const name in prev.o) {
          if (!node.outputs[name] || this.checkOutput(prev.o[name]!, (now) => ((refreshed ??= { ...prev.o })[name] = now))) {
            ok = false;
            break;
          }
        }
        if (ok) {
          if (refreshed) this.state.refreshAction(node.id, { ...prev, o: refreshed });
          return { status: "fresh", key: prev.k };
        }
      }
    }
    const m = this.material(node, lookup);
    if ("unknown" in m && opts.quick) {
      // The scheduler only needs to know it must wait; the reason is decided once inputs are known.
      return { status: "waiting", reason: { kind: "input-changed", path: m.unknown, producer: m.producer }, definite: false };
    }
    if ("unknown" in m) {
      // Its own outputs and the parts of its key that are known already can be judged now: a
      // missing output, a rule or param change is a definite reason, not "maybe".
      const prev = this.state.actions.get(node.id);
      if (this.forced.has(node.id)) return { status: "waiting", reason: { kind: "forced" }, definite: true };
      if (!prev) return { status: "waiting", reason: { kind: "new" }, definite: true };
      for (const out of Object.values(prev.o)) {
        const problem = this.checkOutput(out);
        if (problem) return { status: "waiting", reason: problem, definite: true };
      }
      const provisional = this.notFinal(node, prev);
      if (provisional) return { status: "waiting", reason: provisional, definite: true };
      const old = this.ac.get(prev.k);
      const oldDigests = new Map<string, string>();
      for (const list of Object.values(old?.material.inputs ?? {})) for (const [path, d] of list) oldDigests.set(path, d);
      if (old) {
        // Assume the pending inputs come back unchanged; if the key still differs, something else changed.
        const assumed = this.material(node, (p) => lookup(p) ?? (oldDigests.has(p) ? { digest: oldDigests.get(p)!, size: 0 } : undefined));
        if ("material" in assumed && actionKey(assumed.material) !== prev.k) {
          return { status: "waiting", reason: this.withProducer(diffMaterial(old.material, assumed.material)), definite: true };
        }
      }
      const pending: Reason = { kind: "input-changed", path: m.unknown, old: oldDigests.get(m.unknown), producer: m.producer };
      return heldDecision(this, node, prev, pending, lookup) ?? { status: "waiting", reason: pending, definite: false };
    }
    if ("missing" in m) {
      // A source vanished after load: the action cannot be fresh; running it reports the error.
      const material = this.material(node, (p) => lookup(p) ?? { digest: "missing", size: 0 });
      return { status: "stale", reason: { kind: "input-changed", path: m.missing, new: undefined }, key: "missing", material: (material as { material: KeyMaterial }).material, restorable: undefined };
    }
    const material = m.material;
    const key = actionKey(material);
    const stale = (reason: Reason): Decision => ({ status: "stale", reason: this.withProducer(reason), key, material, restorable: this.restorable(key, node) });
    if (this.forced.has(node.id)) return { status: "stale", reason: { kind: "forced" }, key, material, restorable: undefined };
    const prev = this.state.actions.get(node.id);
    if (!prev) return stale({ kind: "new" });
    if (prev.k !== key) {
      const old = this.ac.get(prev.k);
      const reason = this.withProducer(old ? diffMaterial(old.material, material) : { kind: "rule-changed", detail: "no previous record" });
      return heldDecision(this, node, prev, reason, lookup) ?? stale(reason);
    }
    let refreshed: Record<string, OutputState> | undefined;
    for (const [name, out] of Object.entries(prev.o)) {
      const problem = this.checkOutput(out, (now) => ((refreshed ??= { ...prev.o })[name] = now));
      if (problem) return stale(problem);
      if (!node.outputs[name]) return stale({ kind: "rule-changed", detail: "declared outputs" });
    }
    const provisional = this.notFinal(node, prev);
    if (provisional) return stale(provisional);
    if (refreshed) this.state.refreshAction(node.id, { ...prev, o: refreshed });
    return { status: "fresh", key };
  }

  /**
   * A `final_after` action whose recorded run started before that time: its outputs are
   * provisional (a week of live candles fetched while the week was open) and it runs again.
   * So is one whose last run called `ctx.notFinal` (the record's `n`).
   */
  notFinal(node: ActionNode, prev: ActionState | undefined): Reason | undefined {
    // The rule said its outcome depends on more than its key (a pruned trial: its siblings).
    if (prev?.n !== undefined) return { kind: "not-final", said: prev.n };
    if (node.finalAfter === undefined || (prev?.b !== undefined && prev.b >= node.finalAfter)) return undefined;
    const iso = (ms: number) => new Date(ms).toISOString();
    return { kind: "not-final", finalAfter: iso(node.finalAfter), ...(prev?.b !== undefined ? { builtAt: iso(prev.b) } : {}) };
  }

  /** Names the upstream action of a changed input (explain shows where a change came from). */
  private withProducer(r: Reason): Reason {
    if (r.kind !== "input-changed" || r.producer) return r;
    const producer = this.graph.producers.get(r.path);
    return producer ? { ...r, producer } : r;
  }

  /**
   * Compares an output on disk with its record; re-hashes only when its stats moved. When the
   * re-hash finds the recorded content (and mode), `unchanged` is told the output's new
   * stamps, so the caller can record them and the next check matches by stats again.
   */
  checkOutput(out: OutputState, unchanged?: (now: OutputState) => void): Reason | undefined {
    if (out.h !== undefined) return this.residentGone.has(out.p) ? { kind: "output-missing", path: out.p, on: out.h } : undefined;
    const abs = this.graph.root + "/" + out.p; // workspace-relative, normalized: no join() needed
    // No exception for a missing file: this runs once per output on every build.
    const st = statSync(abs, { throwIfNoEntry: false });
    if (!st) return { kind: "output-missing", path: out.p };
    if (out.t) {
      if (!st.isDirectory()) return { kind: "output-modified", path: out.p };
      const g = treeSignature(abs);
      if (g === out.g) return undefined;
      const now = describePath(abs);
      if (now.digest !== out.d) return { kind: "output-modified", path: out.p, old: out.d, new: now.digest };
      unchanged?.({ ...out, m: st.mtimeMs, i: st.ino, c: st.ctimeMs, g });
      return undefined;
    }
    if (!st.isFile()) return { kind: "output-modified", path: out.p, old: out.d };
    // The mode is restored with the content, so a chmod is a change like an edit.
    const exec = (st.mode & 0o111) !== 0;
    if (exec !== (out.x === 1)) return { kind: "output-modified", path: out.p, old: out.d };
    if (sameStamp(st, out)) return undefined;
    if (st.size !== out.z) return { kind: "output-modified", path: out.p, old: out.d };
    const h = hashFile(abs);
    if (h.digest !== out.d) return { kind: "output-modified", path: out.p, old: out.d, new: h.digest };
    unchanged?.({ ...out, m: st.mtimeMs, i: st.ino, c: st.ctimeMs });
    return undefined;
  }

  /**
   * The action record for `key` if every output blob is in the CAS (and, for a `final_after`
   * action, if its run started after that time; never one its rule called not final):
   * provisional outputs are never restored.
   */
  restorable(key: string, node?: ActionNode): ActionRecord | undefined {
    const rec = this.ac.get(key);
    if (!rec || rec.not_final !== undefined) return undefined;
    if (node?.finalAfter !== undefined && runStart(rec) < node.finalAfter) return undefined;
    for (const o of Object.values(rec.outputs)) {
      if (o.tree ? !o.tree.every((e) => this.cas.has(e.digest)) : !this.cas.has(o.digest)) return undefined;
    }
    return rec;
  }

  /** Recorded digest of an output of a fresh action. */
  recordedOutput(producer: string, path: string): FileDigest | undefined {
    const s = this.state.actions.get(producer);
    if (!s) return undefined;
    for (const o of Object.values(s.o)) if (o.p === path) return { digest: o.d, size: o.z };
    return undefined;
  }

  /**
   * The file list of `producer`'s directory output at `path` with tree digest `digest`: from its
   * action record, or from the directory when it still has that digest; undefined otherwise.
   */
  recordedTree(producer: string, path: string, digest: string): readonly TreeEntry[] | undefined {
    const st = this.state.actions.get(producer);
    const out = st ? Object.entries(st.o).find(([, o]) => o.p === path) : undefined;
    if (!st || !out || !out[1].t) return undefined;
    const rec = this.ac.get(st.k)?.outputs[out[0]];
    if (rec?.tree && rec.digest === digest) return rec.tree;
    const now = describePath(join(this.graph.root, path));
    return now.digest === digest ? now.tree : undefined;
  }
}

const depPath = (d: DepRef) => d.path;

/** When the run that made a record started (ms since the epoch). */
export function runStart(rec: ActionRecord): number {
  return Date.parse(rec.built_at) - rec.duration_ms;
}

/** One line of a dry-run plan. */
export interface PlanItem {
  readonly id: string;
  readonly target: string;
  readonly host: string;
  readonly reason: Reason;
  /** Restored from the cache instead of run. */
  readonly restore: boolean;
  /** Runs only if its upstream's outputs actually change (early cutoff may skip it). */
  readonly pending: boolean;
  /**
   * Remote hosts only (0 for local ones), estimated from recorded sizes without connecting:
   * bytes sent up (inputs whose digest differs from what the host was last sent for this
   * action, or every input of a new action) and bytes fetched back (the outputs' last sizes).
   */
  readonly uploadBytes: number;
  readonly downloadBytes: number;
}

/** An action a `retrain_every` cadence holds on its recorded outputs (nothing runs). */
export interface HeldItem {
  readonly id: string;
  readonly target: string;
  readonly host: string;
  /** The change it is held against (an input). */
  readonly reason: Reason;
  readonly hold: RetrainHold;
}

/** The dry run: every action that a real build would execute or restore, in order. */
export interface Plan {
  readonly items: readonly PlanItem[];
  readonly fresh: number;
  /** Held by their retraining cadence: neither run nor fresh (items + fresh + held = total). */
  readonly held: readonly HeldItem[];
  readonly total: number;
}

/**
 * The actions of `ids` (topological order) that neither produce nor read any of `moved`
 * (outputs and source inputs whose stats changed) nor depend on an action that does. When
 * the no-op manifest proved that nothing else changed, exactly these need no decision.
 */
export function untouchedBy(graph: Graph, ids: readonly string[], moved: readonly string[]): Set<string> {
  const changed = new Set(moved);
  const touched = new Set<string>();
  for (const id of ids) {
    const node = graph.actions.get(id)!;
    let t = Object.values(node.outputs).some((o) => changed.has(o.path));
    for (const name in node.deps) {
      if (t) break;
      for (const d of node.deps[name]!) {
        if (d.kind === "source" ? changed.has(d.path) : touched.has(d.producer)) {
          t = true;
          break;
        }
      }
    }
    if (t) touched.add(id);
  }
  return new Set(ids.filter((id) => !touched.has(id)));
}

/** Computes the plan for `ids` (already closed over their deps, in topological order). */
export function plan(checker: Checker, ids: readonly string[], knownFresh?: ReadonlySet<string>): Plan {
  const graph = checker.graph;
  const willRun = new Set<string>();
  const items: PlanItem[] = [];
  const held: HeldItem[] = [];
  let fresh = 0;
  const lookup: OutputLookup = dirAware(graph, (path) => {
    const producer = graph.producers.get(path);
    if (!producer || willRun.has(producer)) return undefined;
    return checker.recordedOutput(producer, path);
  });
  for (const id of ids) {
    if (knownFresh?.has(id)) {
      fresh++;
      continue;
    }
    const node = graph.actions.get(id)!;
    const d = checker.decide(node, lookup);
    if (d.status === "fresh") {
      fresh++;
      continue;
    }
    if (d.status === "held") {
      held.push({ id, target: node.target, host: node.host, reason: d.reason, hold: d.hold }); // consumers read its record
      continue;
    }
    willRun.add(id);
    const remote = graph.hosts[node.host]?.transport === "ssh";
    let up = 0;
    let down = 0;
    if (remote) {
      const prev = checker.state.actions.get(id);
      const old = prev ? checker.ac.get(prev.k) : undefined;
      const sent = new Map<string, string>();
      for (const list of Object.values(old?.material.inputs ?? {})) for (const [path, digest] of list) sent.set(path, digest);
      for (const deps of Object.values(node.deps))
        for (const dep of deps) {
          const known = dep.kind === "output" ? lookup(dep.path) : checker.sourceDigest(dep.path);
          if (known && sent.get(dep.path) === known.digest) continue; // already in the host's CAS
          up += (known ?? (dep.kind === "output" ? checker.recordedOutput(dep.producer, dep.path) : undefined))?.size ?? 0;
        }
      for (const o of Object.values(prev?.o ?? {})) if (o.h === undefined) down += o.z; // a resident output stays there
    }
    items.push({
      id,
      target: node.target,
      host: node.host,
      reason: d.reason,
      restore: d.status === "stale" && d.restorable !== undefined,
      pending: d.status === "waiting" && !d.definite,
      uploadBytes: up,
      downloadBytes: down,
    });
  }
  return { items, fresh, held, total: ids.length };
}
