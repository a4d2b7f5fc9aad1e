/**
 * Action keys and why they change.
 *
 * key = sha256(canonical JSON of KeyMaterial): the rule's identity and source hash (the module
 * and every project module it imports, transitively), the resolved params, the declared tool
 * versions, the declared output paths and the digest of every input. Hosts, times and secrets
 * are never part of it.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import type { OutputDecl, RuleRef } from "./graph-types.js";
import { canonicalJson, sha256 } from "./hash.js";
import type { ReadLog } from "./read-log.js";
import { stampOf } from "./cache/stat-stamps.js";

/** Where a module's compiled JavaScript is: `dist/<module>.js`, else `<module>.js` beside it. */
export function compiledModulePath(root: string, module: string): string | undefined {
  const base = module.replace(/\.ts$/, "");
  for (const p of [join(root, "dist", `${base}.js`), join(root, `${base}.js`)]) if (existsSync(p)) return p;
  return undefined;
}

/** Bumped when the meaning of a key changes (forces a rebuild of everything once). */
export const KEY_SCHEMA_VERSION = 2;

/** Everything an action key is computed from (stored in the action record for `explain`). */
export interface KeyMaterial {
  readonly v: number;
  readonly rule: RuleRef & { readonly hash: string };
  readonly params: Readonly<Record<string, unknown>>;
  readonly tools: Readonly<Record<string, string>>;
  /** name → [path, digest] pairs, sorted by path. */
  readonly inputs: Readonly<Record<string, readonly (readonly [string, string])[]>>;
  /** name → path (+ "/" for directories). */
  readonly outputs: Readonly<Record<string, string>>;
}

/**
 * key = sha256(static hash "\n" outputs line "\n" inputs line). The static hash covers the
 * rule, params, tools and schema version: it is computed once per distinct (rule, params) in a
 * build, so per action only a short string of paths and digests is hashed. The no-op path of
 * a 100k-action build is dominated by this.
 */
export function actionKey(m: KeyMaterial): string {
  return keyOf(staticHash(m.v, m.rule, m.params, m.tools), outputsLine(m.outputs), inputsLine(m.inputs, entryPath, entryDigest)!);
}

export function staticHash(v: number, rule: KeyMaterial["rule"], params: KeyMaterial["params"], tools: KeyMaterial["tools"]): string {
  return sha256(canonicalJson({ v, rule, params, tools }));
}

/** The declared outputs as keyed: name → path, with "/" after a directory. */
export function keyedOutputs(outputs: Readonly<Record<string, OutputDecl>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, o] of Object.entries(outputs)) out[name] = o.dir ? `${o.path}/` : o.path;
  return out;
}

/** The declared outputs part of a key: names sorted. */
export function outputsLine(outputs: KeyMaterial["outputs"]): string {
  let s = "";
  for (const name of Object.keys(outputs).sort()) s += name + "\0" + outputs[name] + "\0";
  return s;
}

/**
 * The inputs part of a key: names sorted, files in declared (sorted) order. One writer for
 * both the key material (`actionKey`) and the checker's quick key straight from an action's
 * deps, so the two can never disagree; undefined when `digestOf` does not know a file yet.
 */
export function inputsLine<T>(groups: Readonly<Record<string, readonly T[]>>, pathOf: (t: T) => string, digestOf: (t: T) => string | undefined): string | undefined {
  let s = "";
  for (const name of Object.keys(groups).sort()) {
    s += name + "\0";
    for (const t of groups[name]!) {
      const digest = digestOf(t);
      if (digest === undefined) return undefined;
      s += pathOf(t) + "\0" + digest + "\0";
    }
    s += "\n";
  }
  return s;
}

const entryPath = (e: readonly [string, string]) => e[0];
const entryDigest = (e: readonly [string, string]) => e[1];

export function keyOf(staticPart: string, outputs: string, inputs: string): string {
  return sha256(staticPart + "\n" + outputs + "\n" + inputs);
}

/**
 * A staleness reason: the single vocabulary shared by dry-run, explain, status and --json.
 */
export type Reason =
  | { readonly kind: "new" }
  | { readonly kind: "input-changed"; readonly path: string; readonly old?: string; readonly new?: string; readonly producer?: string }
  | { readonly kind: "param-changed"; readonly key: string; readonly old?: unknown; readonly new?: unknown }
  | { readonly kind: "rule-changed"; readonly detail?: string }
  | { readonly kind: "tool-changed"; readonly tool: string; readonly old?: string; readonly new?: string }
  /** `on`: a resident output (docs/hosts.md) whose blob its host no longer has. */
  | { readonly kind: "output-missing"; readonly path: string; readonly on?: string }
  | { readonly kind: "output-modified"; readonly path: string; readonly old?: string; readonly new?: string }
  | { readonly kind: "forced" }
  /**
   * Provisional, rebuilt on every build: built (or last run) before its `final_after` time, or
   * its rule said so (`said`: `ctx.notFinal(reason)`, a pruned sweep trial; no finalAfter then).
   */
  | { readonly kind: "not-final"; readonly finalAfter?: string; readonly builtAt?: string; readonly said?: string };

/** One-line rendering: `input-changed data/x.csv`, `param-changed replay.p`. */
export function formatReason(r: Reason): string {
  switch (r.kind) {
    case "new":
    case "forced":
      return r.kind;
    case "input-changed":
      return `input-changed ${r.path}`;
    case "param-changed":
      return `param-changed ${r.key}`;
    case "rule-changed":
      return r.detail ? `rule-changed (${r.detail})` : "rule-changed";
    case "tool-changed":
      return `tool-changed ${r.tool}`;
    case "output-missing":
      return `output-missing ${r.path}${r.on ? ` (not on ${r.on})` : ""}`;
    case "output-modified":
      return `output-modified ${r.path}`;
    case "not-final":
      if (r.said !== undefined) return `not-final (${r.said})`;
      return `not-final (${r.builtAt ? `built ${r.builtAt}` : "never built"}, final after ${r.finalAfter})`;
  }
}

/** The first difference between the previous key material and the new one, as a reason. */
export function diffMaterial(old: KeyMaterial, cur: KeyMaterial): Reason {
  if (old.v !== cur.v) return { kind: "rule-changed", detail: "dagbuild key schema" };
  if (old.rule.kind !== cur.rule.kind || canonicalJson({ ...old.rule, hash: 0 }) !== canonicalJson({ ...cur.rule, hash: 0 }))
    return { kind: "rule-changed", detail: "rule definition" };
  if (old.rule.hash !== cur.rule.hash) return { kind: "rule-changed", detail: "rule source" };
  for (const t of new Set([...Object.keys(old.tools), ...Object.keys(cur.tools)])) {
    if (old.tools[t] !== cur.tools[t]) return { kind: "tool-changed", tool: t, old: old.tools[t], new: cur.tools[t] };
  }
  const p = diffValue(old.params, cur.params, "");
  if (p) return { kind: "param-changed", key: p.key, old: p.old, new: p.new };
  const oldIn = new Map<string, string>();
  for (const list of Object.values(old.inputs)) for (const [path, d] of list) oldIn.set(path, d);
  const curIn = new Map<string, string>();
  for (const list of Object.values(cur.inputs)) for (const [path, d] of list) curIn.set(path, d);
  for (const [path, d] of curIn) if (oldIn.get(path) !== d) return { kind: "input-changed", path, old: oldIn.get(path), new: d };
  for (const [path, d] of oldIn) if (!curIn.has(path)) return { kind: "input-changed", path, old: d, new: undefined };
  if (canonicalJson(old.inputs) !== canonicalJson(cur.inputs)) return { kind: "rule-changed", detail: "input names" };
  if (canonicalJson(old.outputs) !== canonicalJson(cur.outputs)) return { kind: "rule-changed", detail: "declared outputs" };
  return { kind: "rule-changed" };
}

function diffValue(a: unknown, b: unknown, path: string): { key: string; old: unknown; new: unknown } | undefined {
  if (canonicalJson(a) === canonicalJson(b)) return undefined;
  if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
    const ao = a as Record<string, unknown>, bo = b as Record<string, unknown>;
    for (const k of [...new Set([...Object.keys(ao), ...Object.keys(bo)])].sort()) {
      const d = diffValue(ao[k], bo[k], path ? `${path}.${k}` : k);
      if (d) return d;
    }
  }
  return { key: path || "(params)", old: a, new: b };
}

/**
 * Hashes rule modules: the `.ts` source plus every relative import, transitively, so editing
 * a library under src/ that a rule uses marks exactly the actions of that rule `rule-changed`.
 * Memoized per process (one build reads each source once).
 */
export class RuleHasher {
  private readonly memo = new Map<string, string>();
  private readonly shellMemo = new Map<string, string>();

  /** `log` (optional) is told every source file read and every existence probe. */
  constructor(
    private readonly root: string,
    private readonly log?: ReadLog,
  ) {}

  hash(rule: RuleRef): string {
    if (rule.kind === "shell") {
      let h = this.shellMemo.get(rule.command);
      if (!h) this.shellMemo.set(rule.command, (h = sha256(`shell\0${rule.command}`)));
      return h;
    }
    let h = this.memo.get(rule.module);
    if (!h) {
      const files = moduleClosure(this.root, rule.module, this.log);
      h = closureHash(files);
      this.memo.set(rule.module, h);
      this.stamps.set(rule.module, files);
    }
    return h;
  }

  /** Per module: the files its hash covers, with their stats taken just before each was read. */
  private readonly stamps = new Map<string, readonly ClosureFile[]>();

  /**
   * After an action ran: did its rule's sources change since they were hashed for its key
   * (the worker imports the module later than the decision)? Stats first; only when one moved
   * is the closure hashed again, so a touch is not a change. Returns a changed file, if any.
   */
  changedSince(rule: RuleRef, keyHash: string): string | undefined {
    if (rule.kind === "shell") return undefined; // the command itself is the key
    const files = this.stamps.get(rule.module);
    const moved = !files || files.some((f) => {
      const st = statSync(join(this.root, f.path), { throwIfNoEntry: false });
      return f.stamp === undefined ? st !== undefined : !st || stampOf(st).some((x, k) => x !== f.stamp![k]);
    });
    if (!moved) return undefined;
    const now = moduleClosure(this.root, rule.module);
    if (closureHash(now) === keyHash) return undefined;
    const before = new Map((files ?? []).map((f) => [f.path, f.digest]));
    return now.find((f) => before.get(f.path) !== f.digest)?.path ?? rule.module;
  }

  /** The source files a module rule's hash covers. */
  files(module: string): string[] {
    return moduleClosure(this.root, module).map((f) => f.path);
  }

  private readonly staleMemo = new Map<string, string | undefined>();

  /**
   * The key hashes the `.ts` sources but the executor runs their compiled `.js`: a source newer
   * than its compiled file would run old code under the new key. Returns such a source, if any.
   */
  staleCompiled(module: string): string | undefined {
    if (this.staleMemo.has(module)) return this.staleMemo.get(module);
    let stale: string | undefined;
    for (const ts of this.files(module)) {
      if (!ts.endsWith(".ts")) continue;
      const src = statSync(join(this.root, ts), { throwIfNoEntry: false });
      const compiled = compiledModulePath(this.root, ts);
      if (src && (!compiled || statSync(compiled).mtimeMs < src.mtimeMs)) {
        stale = ts;
        break;
      }
    }
    this.staleMemo.set(module, stale);
    return stale;
  }
}

const IMPORT_RE = /(?:import|export)\s[^'"]*?from\s*["'](\.{1,2}\/[^"']+)["']|import\s*\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)|import\s+["'](\.{1,2}\/[^"']+)["']/g;

/** A source file of a rule's closure: its digest and its stat stamp taken before the read. */
interface ClosureFile {
  readonly path: string;
  readonly digest: string;
  readonly stamp?: readonly [number, number, number, number];
}

function closureHash(files: readonly { path: string; digest: string }[]): string {
  return sha256(files.map((f) => `${f.path}\0${f.digest}`).join("\n"));
}

function moduleClosure(root: string, module: string, log?: ReadLog): ClosureFile[] {
  const seen = new Map<string, string>();
  const stamps = new Map<string, readonly [number, number, number, number]>();
  const stack = [normalize(module)];
  while (stack.length) {
    const rel = stack.pop()!;
    if (seen.has(rel)) continue;
    const abs = join(root, rel);
    log?.read(abs);
    const st = statSync(abs, { throwIfNoEntry: false });
    if (!st) {
      seen.set(rel, "missing");
      continue;
    }
    stamps.set(rel, stampOf(st));
    const src = readFileSync(abs, "utf8");
    seen.set(rel, sha256(src));
    for (const m of src.matchAll(IMPORT_RE)) {
      const spec = m[1] ?? m[2] ?? m[3]!;
      let target = relative(root, join(dirname(abs), spec));
      if (target.endsWith(".js")) {
        const ts = target.slice(0, -3) + ".ts";
        const there = existsSync(join(root, ts));
        log?.probe(join(root, ts), there ? "any" : null);
        if (there) target = ts;
      }
      // A relative import that leaves the workspace is hashed too (its path stays relative,
      // `../lib/x.ts`): silently leaving it out would let an edit there keep the key.
      stack.push(target);
    }
  }
  return [...seen].map(([path, digest]) => ({ path, digest, ...(stamps.has(path) ? { stamp: stamps.get(path)! } : {}) })).sort((a, b) => (a.path < b.path ? -1 : 1));
}
