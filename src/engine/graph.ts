/**
 * The load phase: pipeline.yaml → validated, expanded `Graph` (or every diagnostic found).
 *
 *   A. read + parse + schema-check every file (pipeline, includes, hosts_file)
 *   B. per-target static checks and template binding (axes, vars, hosts, tools, rules, params)
 *   C. expansion: one action per partition, outputs indexed by path, deps resolved to producers
 *      or source files, duplicate outputs, missing sources, cycles, topological order
 *
 * Each phase reports every problem it finds; a later phase only runs when the earlier ones
 * were clean (a broken axis would otherwise cascade into hundreds of bogus errors). Schema
 * errors inside one target only skip that target's static checks.
 *
 * Expansion is linear in actions × deps: outputs are indexed in a Map, templates are bound
 * once per target and evaluated per partition by array indexing, globs are compiled once per
 * distinct pattern and tested only against outputs under their literal prefix.
 */
import { isAbsolute, relative, resolve } from "node:path";
import { diag, sortDiagnostics } from "./diagnostics.js";
import type {
  ActionNode,
  DepRef,
  Diagnostic,
  DiagnosticKind,
  Graph,
  HostConfig,
  LoadResult,
  Loc,
  OutputDecl,
  RuleRef,
  VerifySettings,
} from "./graph-types.js";
import { actionId, buildAxes, forEachPartition, parseUtcTime, partitionAxis, type Axis } from "./partitions.js";
import {
  compileGlob,
  globFiles,
  isGlob,
  joinAbs,
  nodeLoadIO,
  normalizeRel,
  readSource,
  type DataPath,
  type Glob,
  type LoadIO,
  type SourceFile,
} from "./pipeline.js";
import { schemaValidators, validateSource } from "./schema.js";
import { groupSiblings, parseSiblings, type SiblingsDecl } from "./siblings.js";
import { bindTemplate, evaluate, parseTemplate, typedSlot, type Bound, type Scope, type Slot } from "./templates.js";
import { resolveToolVersions, shellRunner, type CommandRunner, type ToolDecl } from "./tool-versions.js";
import { resolveArgs } from "./select.js";

/** Options of `loadGraph`. */
export interface LoadOptions {
  /** Pipeline file, relative to `root` (default `pipeline.yaml`). */
  readonly file?: string;
  /** `--host gpu=local`: run that host's actions locally (its resources are kept). */
  readonly hostOverrides?: Readonly<Record<string, string>>;
  /** `--set source=files`: replaces the value of a declared var for this load. */
  readonly varOverrides?: Readonly<Record<string, string>>;
  /** File-system access (tests pass fakes). */
  readonly io?: LoadIO;
  /** Runs `tools:` version commands (tests pass fakes). */
  readonly runner?: CommandRunner;
}

/** A template with the location of its YAML node. */
interface LocatedTemplate {
  readonly name: string;
  readonly loc: Loc;
  readonly bound: Bound;
}

/** A target after phase B: everything bound, nothing expanded yet. */
interface CompiledTarget {
  readonly name: string;
  readonly src: SourceFile;
  readonly loc: Loc;
  readonly index: number;
  readonly describe?: Bound;
  readonly axes: readonly Axis[];
  readonly outputs: readonly (LocatedTemplate & { readonly dir: boolean })[];
  readonly deps: readonly LocatedTemplate[];
  /** Dep names in declaration order (a named dep may hold several templates). */
  readonly depNames: readonly string[];
  readonly rule: RuleRef | { readonly kind: "shell"; readonly bound: Bound };
  readonly params: ParamsFn;
  readonly host: string;
  readonly resources: Readonly<Record<string, number>>;
  readonly tools: readonly string[];
  /** `final_after:` as written (evaluated and parsed per partition). */
  readonly finalAfter?: LocatedTemplate;
  /** `verify:` as written (schema-checked; read by `dagbuild verify` only). */
  readonly verify?: VerifySettings;
  /** `retrain_every:` in weeks (schema-checked `<N>w`). */
  readonly retrainEvery?: number;
  /** `siblings:` (src/engine/siblings.ts), checked against the partition. */
  readonly siblings?: SiblingsDecl;
}

type ParamsFn = (idx: ArrayLike<number>) => Readonly<Record<string, unknown>>;

/** Loads, validates and expands the pipeline under `root`. */
export async function loadGraph(root: string, opts: LoadOptions = {}): Promise<LoadResult> {
  const io = opts.io ?? nodeLoadIO;
  const validators = await schemaValidators();
  const absRoot = resolve(root);
  const diags: Diagnostic[] = [];
  const fail = (): LoadResult => ({ ok: false, diagnostics: sortDiagnostics(diags) });

  const requested = opts.file ?? "pipeline.yaml";
  const file = normalizeRel(isAbsolute(requested) ? relative(absRoot, requested) : requested);
  const main = file === undefined ? undefined : readSource(absRoot, file, io, diags);
  if (!main) {
    diags.push(diag("include-missing", `pipeline file \`${requested}\` not found in ${absRoot}`));
    return fail();
  }
  if (main.data === undefined) return fail();

  // ---- A. schema ---------------------------------------------------------------------------
  // Schema errors are reported; what they break is skipped so it cannot cascade: a broken
  // target skips its own checks, a broken axis the targets using it, a broken `axes:` or
  // `targets:` section everything after phase A. Other sections do not feed later checks.
  const badTargets = new Set<string>(); // "file\0target"
  const badAxes = new Set<string>();
  let globalBad = false;
  const noteErrors = (src: SourceFile, paths: DataPath[]) => {
    for (const p of paths) {
      if (p[0] === "targets" && p.length >= 2) badTargets.add(`${src.file}\0${String(p[1])}`);
      else if (p[0] === "axes" && p.length >= 2) badAxes.add(String(p[1]));
      else if (p.length === 1 && (p[0] === "targets" || p[0] === "axes" || p[0] === "vars")) globalBad = true;
    }
  };
  noteErrors(main, validateSource(validators, main, "pipeline", diags));
  const top = asRecord(main.data);

  const includes: SourceFile[] = [];
  if (Array.isArray(top.include)) {
    const seen = new Set<string>([main.file]);
    top.include.forEach((pattern: unknown, i: number) => {
      if (typeof pattern !== "string") return;
      const at = main.loc(["include", i]);
      const rel = normalizeRel(pattern);
      if (rel === undefined) {
        diags.push(diag("include-missing", `include \`${pattern}\` is outside the workspace (${absRoot}): includes must be workspace-relative`, at));
        return;
      }
      let files: string[];
      if (isGlob(rel)) files = globFiles(absRoot, compileGlob(rel), io);
      else files = io.stat(joinAbs(absRoot, rel)) === "file" ? [rel] : [];
      if (files.length === 0) {
        diags.push(diag("include-missing", isGlob(pattern) ? `include \`${pattern}\` matches no file` : `included file \`${pattern}\` not found`, at));
        return;
      }
      for (const f of files) {
        if (seen.has(f)) continue;
        seen.add(f);
        const src = readSource(absRoot, f, io, diags);
        if (!src) continue;
        if (src.data === undefined) {
          globalBad = true;
          continue;
        }
        noteErrors(src, validateSource(validators, src, "include", diags));
        includes.push(src);
      }
    });
  }

  let hostsDecl: Record<string, unknown> | undefined = isRecord(top.hosts) ? top.hosts : undefined;
  if (typeof top.hosts_file === "string") {
    const at = main.loc(["hosts_file"]);
    const rel = normalizeRel(top.hosts_file);
    const src = rel === undefined ? undefined : readSource(absRoot, rel, io, diags);
    if (rel === undefined) diags.push(diag("include-missing", `hosts_file \`${top.hosts_file}\` is outside the workspace (${absRoot})`, at));
    else if (!src) diags.push(diag("include-missing", `hosts_file \`${top.hosts_file}\` not found`, at));
    else if (src.data === undefined) globalBad = true;
    else {
      noteErrors(src, validateSource(validators, src, "hosts", diags));
      if (hostsDecl) {
        diags.push(diag("schema", "hosts are declared both here and in hosts_file; keep one", main.loc(["hosts"], true), [
          { message: "hosts_file declared here", loc: at },
        ]));
      } else hostsDecl = asRecord(asRecord(src.data).hosts);
    }
  }
  if (globalBad) return fail();

  // ---- B. declarations and per-target checks -----------------------------------------------
  const vars = new Map<string, string>();
  for (const e of mergeNamed([main, ...includes], "vars", diags, "schema", (k) => `var \`${k}\` is defined twice`, "first defined here"))
    vars.set(e.name, String(e.value));
  for (const [name, value] of Object.entries(opts.varOverrides ?? {})) {
    // Only declared vars: a typo in `--set` must not be silently ignored.
    if (!vars.has(name)) {
      const known = [...vars.keys()].sort().join(", ");
      diags.push(diag("unknown-variable", `--set ${name}=...: no var \`${name}\` is declared (vars: ${known || "none"})`, main.loc(["vars"], true)));
    } else vars.set(name, value);
  }
  // Axes: the pipeline's, then each include's (a sweep file declares its own trial axes).
  const axes = new Map<string, Axis>();
  const declaredAxes: string[] = [];
  const axisFiles = new Map<string, number>();
  for (const src of [main, ...includes]) for (const k of Object.keys(asRecord(asRecord(src.data).axes))) axisFiles.set(k, (axisFiles.get(k) ?? 0) + 1);
  for (const e of mergeNamed([main, ...includes], "axes", diags, "schema", (k) => `axis \`${k}\` is declared twice`, "first declared here")) {
    declaredAxes.push(e.name);
    // A twice-declared axis is used by neither: its targets are skipped, not checked against the wrong one.
    if (!badAxes.has(e.name) && axisFiles.get(e.name) === 1) for (const [k, a] of buildAxes(e.src, { [e.name]: e.value }, diags)) axes.set(k, a);
  }
  const brokenAxes = new Set(declaredAxes.filter((a) => !axes.has(a)));

  const toolDecls = new Map<string, ToolDecl>();
  for (const [name, d] of Object.entries(asRecord(top.tools))) {
    const r = asRecord(d);
    toolDecls.set(name, {
      name,
      ...(typeof r.version === "string" ? { version: r.version } : {}),
      ...(typeof r.command === "string" ? { command: r.command } : {}),
      loc: main.loc(["tools", name], true),
    });
  }

  // Targets in declaration order: the pipeline file first, then includes (sorted per pattern).
  const targetDecls = mergeNamed([main, ...includes], "targets", diags, "duplicate-target", (name) => `target \`${name}\` is declared twice`, "first declared here").map(
    (e) => ({ name: e.name, src: e.src, data: asRecord(e.value) }),
  );

  const usedHosts = new Map<string, Loc>();
  const paramsFiles = new Map<string, SourceFile | null>();
  const targets: CompiledTarget[] = [];
  for (const t of targetDecls) {
    if (badTargets.has(`${t.src.file}\0${t.name}`)) continue;
    const c = compileTarget(t.name, t.src, t.data, targets.length, {
      absRoot,
      io,
      vars,
      axes,
      brokenAxes,
      toolDecls,
      hostsDecl,
      usedHosts,
      paramsFiles,
      diags,
    });
    if (c) targets.push(c);
  }

  const hosts = buildHosts(hostsDecl, usedHosts, opts.hostOverrides ?? {}, diags);
  const defaults = Array.isArray(top.default) ? (top.default as string[]) : typeof top.default === "string" ? [top.default] : undefined;

  // Tool commands run concurrently with expansion; only when everything so far is clean.
  const usedTools = targets.flatMap((t) => t.tools);
  const toolsPromise =
    diags.length === 0 ? resolveToolVersions(toolDecls, usedTools, absRoot, opts.runner ?? shellRunner, diags) : undefined;
  if (diags.length > 0 || targets.length !== targetDecls.length) return fail();

  // ---- C. expansion ------------------------------------------------------------------------
  // Each target's tool record is shared by its actions and filled once the versions are in.
  const toolRecords = new Map<CompiledTarget, Record<string, string>>(targets.map((t) => [t, {}]));
  const expanded = expand(targets, toolRecords, absRoot, io, diags);
  const toolVersions = await toolsPromise!;
  if (!expanded) return fail();
  if (defaults) checkDefaults(defaults, main, expanded, diags);
  checkVariantDeps(targets, expanded, diags);
  if (diags.length > 0) return fail();
  for (const [t, rec] of toolRecords) {
    for (const name of t.tools) rec[name] = toolVersions.get(name)!;
    Object.freeze(rec);
  }

  const graph: Graph = {
    root: absRoot,
    pipelineFile: main.file,
    actions: expanded.actions,
    order: expanded.order,
    producers: expanded.producers,
    targets: expanded.targets,
    defaults: defaults ?? targets.map((t) => t.name),
    hosts,
    vars,
    varOverrides: { ...(opts.varOverrides ?? {}) },
  };
  return { ok: true, graph };
}

// ---- B helpers ------------------------------------------------------------------------------

interface CompileContext {
  readonly absRoot: string;
  readonly io: LoadIO;
  readonly vars: ReadonlyMap<string, string>;
  readonly axes: ReadonlyMap<string, Axis>;
  readonly brokenAxes: ReadonlySet<string>;
  readonly toolDecls: ReadonlyMap<string, ToolDecl>;
  readonly hostsDecl: Record<string, unknown> | undefined;
  readonly usedHosts: Map<string, Loc>;
  readonly paramsFiles: Map<string, SourceFile | null>;
  readonly diags: Diagnostic[];
}

/** Static checks and template binding of one target; undefined when it has errors. */
function compileTarget(
  name: string,
  src: SourceFile,
  data: Record<string, unknown>,
  index: number,
  cx: CompileContext,
): CompiledTarget | undefined {
  const { diags } = cx;
  const before = diags.length;
  const base = ["targets", name];
  const at = (...p: (string | number)[]) => src.loc([...base, ...p]);
  const loc = src.loc(base, true);

  // Partition axes; an axis whose own declaration is broken was already reported.
  const axes: Axis[] = [];
  let axesOk = true;
  ((data.partition as string[] | undefined) ?? []).forEach((a, i) => {
    const axis = partitionAxis(a, cx.axes);
    if (typeof axis === "string") {
      axesOk = false;
      diags.push(diag("unknown-axis", axis, at("partition", i)));
    } else if (axis) axes.push(axis);
    else {
      axesOk = false;
      if (!cx.brokenAxes.has(a.split(".")[0]!)) {
        const known = [...cx.axes.keys()];
        diags.push(diag("unknown-axis", `unknown axis \`${a}\` in partition of \`${name}\`${known.length ? ` (axes: ${known.join(", ")})` : " (no axes are declared)"}`, at("partition", i)));
      }
    }
  });
  const mixed = axes.find((x) => x.projection && axes.includes(x.projection.of));
  if (mixed) diags.push(diag("unknown-axis", `partition of \`${name}\` has both \`${mixed.projection!.of.name}\` and its projection \`${mixed.name}\`: keep one`, at("partition")));
  if (!axesOk || mixed) return undefined;

  // Named outputs and deps, list form named "0", "1", ...
  const outputEntries = namedEntries(data.outputs);
  // A target is named by its outputs: with none it could never be fresh, restored or depended on.
  if (outputEntries.length === 0) {
    diags.push(diag("schema", `target \`${name}\` declares no outputs: every target needs at least one`, at("outputs")));
    return undefined;
  }
  const depEntries = namedEntries(data.deps);
  const scope: Scope = {
    vars: cx.vars,
    axes: cx.axes,
    partition: axes,
    runNames: { deps: new Set(depEntries.map((e) => e.name)), out: new Set(outputEntries.map((e) => e.name)) },
  };
  const bind = (raw: string, usage: "dep" | "output" | "param" | "run" | "describe", where: Loc): Bound | undefined => {
    const errors: string[] = [];
    const b = bindTemplate(parseTemplate(raw), scope, usage, errors);
    for (const m of errors) diags.push(diag("unknown-variable", m, where));
    return b;
  };

  const outputs: (LocatedTemplate & { dir: boolean })[] = [];
  for (const e of outputEntries) {
    const where = at("outputs", ...e.path);
    const dir = e.raw.endsWith("/");
    const b = bind(dir ? e.raw.replace(/\/+$/, "") : e.raw, "output", where);
    if (b) outputs.push({ name: e.name, loc: where, bound: b, dir });
  }
  const deps: LocatedTemplate[] = [];
  for (const e of depEntries) {
    const where = at("deps", ...e.path);
    const b = bind(e.raw.replace(/\/+$/, ""), "dep", where);
    // A dep that is empty once vars are substituted (`files: "{files}"` with `files: ""`) is
    // no dependency: the rule sees an empty list under that name.
    if (b && b.constant === "") continue;
    if (b) deps.push({ name: e.name, loc: where, bound: b });
  }
  const depNames = [...new Set(depEntries.map((e) => e.name))];

  // Rule: exactly one of `rule:` (a .ts module under the root) and `run:` (a shell command).
  let rule: CompiledTarget["rule"] | undefined;
  if (typeof data.rule === "string" && typeof data.run === "string") {
    diags.push(diag("schema", `target \`${name}\` has both \`rule:\` and \`run:\`; keep one`, at("run")));
  } else if (typeof data.rule === "string") {
    const mod = normalizeRel(data.rule);
    if (mod === undefined || cx.io.stat(joinAbs(cx.absRoot, mod)) !== "file") {
      diags.push(diag("unknown-rule", `rule module \`${data.rule}\` not found under the workspace root`, at("rule")));
    } else rule = { kind: "module", module: mod };
  } else if (typeof data.run === "string") {
    const b = bind(data.run, "run", at("run"));
    if (b) rule = { kind: "shell", bound: b };
  } else {
    diags.push(diag("schema", `target \`${name}\` needs \`rule:\` (a module) or \`run:\` (a shell command)`, loc));
  }

  // Host: unknown names are errors only when a hosts section exists.
  const host = typeof data.host === "string" ? data.host : "local";
  if (typeof data.host === "string") {
    if (cx.hostsDecl && !Object.hasOwn(cx.hostsDecl, host) && host !== "local") {
      const known = Object.keys(cx.hostsDecl);
      diags.push(diag("unknown-host", `unknown host \`${host}\` (hosts: ${["local", ...known].join(", ")})`, at("host")));
    } else if (!cx.usedHosts.has(host)) cx.usedHosts.set(host, at("host"));
  }

  const tools = (data.tools as string[] | undefined) ?? [];
  tools.forEach((tool, i) => {
    if (!cx.toolDecls.has(tool)) {
      diags.push(diag("unknown-tool", `unknown tool \`${tool}\`: declare it under \`tools:\``, at("tools", i)));
    }
  });

  const params = compileParams(name, src, data, bind, cx);
  const describe = typeof data.describe === "string" ? bind(data.describe, "describe", at("describe")) : undefined;
  const finalBound = typeof data.final_after === "string" ? bind(data.final_after, "describe", at("final_after")) : undefined;
  const finalAfter = finalBound ? { name: "final_after", loc: at("final_after"), bound: finalBound } : undefined;

  const siblings = parseSiblings(name, data.siblings, axes.map((a) => a.name), at, diags);

  if (diags.length > before || !rule || !params) return undefined;
  return {
    name,
    src,
    loc,
    index,
    ...(describe ? { describe } : {}),
    ...(finalAfter ? { finalAfter } : {}),
    ...(data.verify ? { verify: data.verify as VerifySettings } : {}),
    ...(typeof data.retrain_every === "string" ? { retrainEvery: parseInt(data.retrain_every, 10) } : {}),
    ...(siblings ? { siblings } : {}),
    axes,
    outputs,
    deps,
    depNames,
    rule,
    params,
    host,
    resources: Object.freeze({ ...(asRecord(data.resources) as Record<string, number>) }),
    tools,
  };
}

/** `{a: x, b: [y, z]}` or `[x, y]` → entries with names and data paths. */
function namedEntries(v: unknown): { name: string; raw: string; path: (string | number)[] }[] {
  const out: { name: string; raw: string; path: (string | number)[] }[] = [];
  if (Array.isArray(v)) v.forEach((raw, i) => out.push({ name: String(i), raw: String(raw), path: [i] }));
  else if (isRecord(v)) {
    for (const [name, x] of Object.entries(v)) {
      if (Array.isArray(x)) x.forEach((raw, i) => out.push({ name, raw: String(raw), path: [name, i] }));
      else out.push({ name, raw: String(x), path: [name] });
    }
  }
  return out;
}

/**
 * Compiles `params:` (string values templated, at any depth) and merges `params_file` keys.
 * Params that do not depend on the partition are built once and shared by every action.
 */
function compileParams(
  name: string,
  src: SourceFile,
  data: Record<string, unknown>,
  bind: (raw: string, usage: "param", where: Loc) => Bound | undefined,
  cx: CompileContext,
): ParamsFn | undefined {
  const base = ["targets", name];
  const declared = asRecord(data.params);
  let ok = true;
  let dynamic = false;
  // Each leaf string becomes a Bound; the shape is rebuilt per partition only when dynamic.
  const compile = (v: unknown, path: (string | number)[]): unknown => {
    if (typeof v === "number" && !keyableNumber(v)) {
      cx.diags.push(badParam(v, path, src.loc([...base, "params", ...path])));
      ok = false;
      return v;
    }
    if (typeof v === "string") {
      const b = bind(v, "param", src.loc([...base, "params", ...path]));
      if (!b) {
        ok = false;
        return v;
      }
      if (b.constant !== undefined) return b.constant;
      dynamic = true;
      const typed = typedSlot(b);
      return typed ? new TypedLeaf(typed.slot, typed.typed) : new BoundLeaf(b);
    }
    if (Array.isArray(v)) return v.map((x, i) => compile(x, [...path, i]));
    if (isRecord(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, compile(x, [...path, k])]));
    return v;
  };
  const shape = compile(declared, []) as Record<string, unknown>;

  const pf = data.params_file as { file: string; keys: string[] } | undefined;
  if (pf) {
    const rel = normalizeRel(pf.file);
    if (rel === undefined) {
      cx.diags.push(diag("params-file", `params file \`${pf.file}\` is outside the workspace (${cx.absRoot})`, src.loc([...base, "params_file", "file"])));
      return undefined;
    }
    let fsrc = cx.paramsFiles.get(rel);
    if (fsrc === undefined) {
      const n = cx.diags.length;
      fsrc = readSource(cx.absRoot, rel, cx.io, cx.diags) ?? null;
      if (cx.diags.length > n) fsrc = null; // syntax errors already reported, in that file
      cx.paramsFiles.set(rel, fsrc);
      if (!fsrc && cx.diags.length === n) {
        cx.diags.push(diag("params-file", `params file \`${pf.file}\` not found`, src.loc([...base, "params_file", "file"])));
      }
    }
    if (!fsrc) return undefined;
    const fileData = fsrc.data;
    pf.keys.forEach((k, i) => {
      const at = src.loc([...base, "params_file", "keys", i]);
      if (!isRecord(fileData) || !Object.hasOwn(fileData, k)) {
        cx.diags.push(diag("params-file", `params file \`${pf.file}\` has no top-level key \`${k}\``, at));
        ok = false;
      } else if (Object.hasOwn(shape, k)) {
        cx.diags.push(diag("params-file", `params key \`${k}\` is set both in \`params:\` and by params_file`, at, [
          { message: "set in params here", loc: src.loc([...base, "params", k], true) },
        ]));
        ok = false;
      } else {
        for (const [path, v] of unkeyableNumbers(fileData[k], [k])) {
          cx.diags.push(badParam(v, path, fsrc!.loc(path)));
          ok = false;
        }
        shape[k] = fileData[k];
      }
    });
  }
  if (!ok) return undefined;
  if (!dynamic) {
    const frozen = deepFreeze(shape);
    return () => frozen;
  }
  const build = (v: unknown, idx: ArrayLike<number>): unknown => {
    if (v instanceof BoundLeaf) return evaluate(v.bound, idx);
    if (v instanceof TypedLeaf) return v.values[idx[v.slot]!];
    if (Array.isArray(v)) return v.map((x) => build(x, idx));
    if (isRecord(v)) {
      const o: Record<string, unknown> = {};
      for (const k in v) o[k] = build(v[k], idx);
      return o;
    }
    return v;
  };
  return (idx) => build(shape, idx) as Record<string, unknown>;
}

/**
 * A number the action key can tell apart from every other value. Keys hash canonical JSON,
 * where NaN and ±Infinity have no spelling (they would read as null) and -0 reads as 0, while
 * the rule would see the real value: such params are refused rather than keyed ambiguously.
 */
function keyableNumber(v: number): boolean {
  return Number.isFinite(v) && !Object.is(v, -0);
}

/** Every number below `v` that `keyableNumber` refuses, with its data path. */
function unkeyableNumbers(v: unknown, path: (string | number)[]): [(string | number)[], number][] {
  if (typeof v === "number") return keyableNumber(v) ? [] : [[path, v]];
  if (Array.isArray(v)) return v.flatMap((x, i) => unkeyableNumbers(x, [...path, i]));
  if (isRecord(v)) return Object.entries(v).flatMap(([k, x]) => unkeyableNumbers(x, [...path, k]));
  return [];
}

function badParam(v: number, path: readonly (string | number)[], at: Loc): Diagnostic {
  const name = "params" + path.map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`)).join("");
  const shown = Object.is(v, -0) ? "-0" : String(v);
  const hint = Object.is(v, -0) ? "write 0" : "pass it as a string (e.g. \"" + shown + "\") and parse it in the rule";
  return diag("param-value", `${name} is ${shown}, which an action key cannot tell from ${Object.is(v, -0) ? "0" : "null"}: ${hint}`, at);
}

/** A partition-dependent string inside params (a class, so user data cannot be mistaken for it). */
class BoundLeaf {
  constructor(readonly bound: Bound) {}
}

/** A param that is exactly one sweep reference (`"{trial.lr}"`): the trial's value, JSON type kept. */
class TypedLeaf {
  constructor(
    readonly slot: number,
    readonly values: readonly unknown[],
  ) {}
}

function deepFreeze<T>(v: T): T {
  if (typeof v === "object" && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/**
 * Host configs: declared hosts plus an implicit `local`. Without a hosts section every host a
 * target names is local. `--host NAME=local` replaces a host's transport, keeping resources.
 */
function buildHosts(
  decl: Record<string, unknown> | undefined,
  used: ReadonlyMap<string, Loc>,
  overrides: Readonly<Record<string, string>>,
  diags: Diagnostic[],
): Record<string, HostConfig> {
  const hosts: Record<string, HostConfig> = { local: { transport: "local" } };
  if (decl) for (const [k, v] of Object.entries(decl)) hosts[k] = v as HostConfig;
  else for (const k of used.keys()) hosts[k] = { transport: "local" };
  for (const [name, to] of Object.entries(overrides)) {
    if (to !== "local") {
      diags.push(diag("unknown-host", `--host ${name}=${to}: only \`local\` can replace a host`));
    } else if (!Object.hasOwn(hosts, name)) {
      diags.push(diag("unknown-host", `--host ${name}=local: no host named \`${name}\` (hosts: ${Object.keys(hosts).join(", ")})`));
    } else {
      const h = hosts[name]!;
      hosts[name] = {
        transport: "local",
        ...(h.resources ? { resources: h.resources } : {}),
        ...(h.jobs !== undefined ? { jobs: h.jobs } : {}),
      };
    }
  }
  return hosts;
}

// ---- C. expansion -----------------------------------------------------------------------------

/** The expanded graph parts (everything but the declarations phase B already has). */
interface Expanded {
  readonly actions: Map<string, ActionNode>;
  readonly targets: Map<string, string[]>;
  readonly order: string[];
  readonly producers: ReadonlyMap<string, string>;
}

const EMPTY_PARTITION: Readonly<Record<string, string>> = Object.freeze({});

/**
 * Output path → producing action id, as a read-only view over the slot index expansion
 * builds anyway (copying 100k+ entries into a second Map would cost more than the lookups).
 */
class ProducerView implements ReadonlyMap<string, string> {
  constructor(
    private readonly slots: ReadonlyMap<string, number>,
    private readonly owner: (slot: number) => string,
  ) {}
  get size(): number {
    return this.slots.size;
  }
  get(path: string): string | undefined {
    const s = this.slots.get(path);
    return s === undefined ? undefined : this.owner(s);
  }
  has(path: string): boolean {
    return this.slots.has(path);
  }
  forEach(fn: (value: string, key: string, map: ReadonlyMap<string, string>) => void, thisArg?: unknown): void {
    for (const [k, s] of this.slots) fn.call(thisArg, this.owner(s), k, this);
  }
  *entries(): MapIterator<[string, string]> {
    for (const [k, s] of this.slots) yield [k, this.owner(s)];
  }
  keys(): MapIterator<string> {
    return this.slots.keys();
  }
  *values(): MapIterator<string> {
    for (const s of this.slots.values()) yield this.owner(s);
  }
  [Symbol.iterator](): MapIterator<[string, string]> {
    return this.entries();
  }
}

/**
 * Pass 1 registers every action's outputs (so deps can name outputs of later targets);
 * pass 2 resolves deps and builds the ActionNodes; then the topological order.
 * Hot-loop rules: no per-action typed arrays, closures or Sets; one Map lookup per dep path;
 * path normalization and glob detection decided once per template (its skeleton).
 */
function expand(
  targets: readonly CompiledTarget[],
  toolRecords: ReadonlyMap<CompiledTarget, Record<string, string>>,
  absRoot: string,
  io: LoadIO,
  diags: Diagnostic[],
): Expanded | undefined {
  const before = diags.length;
  const facts = templateFacts(targets);
  const ix = indexOutputs(targets, facts, diags);
  if (diags.length > before) return undefined;

  const deps = new DepResolver(ix, absRoot, io);
  const built = buildActions(targets, toolRecords, ix, facts, deps);
  deps.report(diags);
  reportBadTimes(built.badTimes, diags);
  if (diags.length > before) return undefined;

  // 3. Topological order (Kahn; ready actions leave in declaration order) and cycles.
  const n = ix.ids.length;
  const order = topoOrder(n, deps.edgeFrom, deps.edgeTo);
  if (order.length < n) {
    reportCycles(n, deps.edgeFrom, deps.edgeTo, order, ix.ids, ix.owner, built.actions, diags);
    return undefined;
  }
  return {
    actions: built.actions,
    targets: built.targetIds,
    order: order.map((k) => ix.ids[k]!),
    producers: new ProducerView(ix.slots, (s) => ix.ids[ix.slotAction[s]!]!),
  };
}

/** Per-template path facts, decided once from the skeleton. */
interface TemplateFacts {
  /** The skeleton is already a normalized relative path (evaluated paths need no normalizing). */
  readonly clean: ReadonlyMap<Bound, boolean>;
  readonly glob: ReadonlyMap<Bound, boolean>;
}

/** The path facts of every output and dep template of `targets`. */
function templateFacts(targets: readonly CompiledTarget[]): TemplateFacts {
  const clean = new Map<Bound, boolean>();
  const glob = new Map<Bound, boolean>();
  for (const t of targets) {
    for (const o of [...t.outputs, ...t.deps]) {
      clean.set(o.bound, normalizeRel(o.bound.skeleton) === o.bound.skeleton);
      glob.set(o.bound, isGlob(o.bound.skeleton));
    }
  }
  return { clean, glob };
}

/**
 * Pass 1's result: every action (by index, in declaration order) and every output slot.
 * Output slots: path → slot; per slot its DepRef (shared by every consumer, made when first
 * consumed), producing action and template (for duplicate reports).
 */
interface OutputIndex {
  readonly ids: string[];
  readonly owner: CompiledTarget[];
  readonly slots: Map<string, number>;
  readonly slotPath: string[];
  readonly slotAction: number[];
  readonly slotRefs: (DepRef | undefined)[];
  readonly slotTemplate: LocatedTemplate[];
  readonly dirOutputs: Set<string>;
  readonly outputsOf: Readonly<Record<string, OutputDecl>>[];
  readonly partitionOf: Readonly<Record<string, string>>[];
  readonly firstAction: Map<CompiledTarget, number>;
  /** Per action: slot of its first output (an action's outputs are consecutive). */
  readonly firstSlot: number[];
}

/** 1. Actions and outputs; duplicate and nested outputs are reported into `diags`. */
function indexOutputs(targets: readonly CompiledTarget[], facts: TemplateFacts, diags: Diagnostic[]): OutputIndex {
  const ix: OutputIndex = {
    ids: [],
    owner: [],
    slots: new Map(),
    slotPath: [],
    slotAction: [],
    slotRefs: [],
    slotTemplate: [],
    dirOutputs: new Set(),
    outputsOf: [],
    partitionOf: [],
    firstAction: new Map(),
    firstSlot: [],
  };
  const reportDup = duplicateReporter(ix, diags);
  for (const t of targets) {
    const outs = t.outputs.map((o) => ({ o, clean: facts.clean.get(o.bound)! }));
    ix.firstAction.set(t, ix.ids.length);
    forEachPartition(t.axes, (idx) => {
      const i = ix.ids.length;
      ix.firstSlot.push(ix.slotAction.length);
      ix.ids.push(actionId(t.name, t.axes, idx));
      ix.owner.push(t);
      ix.partitionOf.push(partitionRecord(t.axes, idx));
      const rec: Record<string, OutputDecl> = {};
      for (const { o, clean: c } of outs) {
        const raw = evaluate(o.bound, idx)!;
        const path = c ? raw : normalizeRel(raw);
        if (path === undefined) {
          diags.push(diag("schema", `output \`${raw}\` of \`${ix.ids[i]}\` is outside the workspace`, o.loc));
          continue;
        }
        rec[o.name] = { path, dir: o.dir };
        const prev = ix.slots.get(path);
        if (prev !== undefined) {
          reportDup(path, ix.slotAction[prev]!, ix.slotTemplate[prev]!, i, o);
          continue;
        }
        ix.slots.set(path, ix.slotAction.length);
        ix.slotPath.push(path);
        ix.slotAction.push(i);
        ix.slotTemplate.push(o);
        if (o.dir) ix.dirOutputs.add(path);
      }
      ix.outputsOf.push(rec);
    });
  }
  reportNestedOutputs(ix, reportDup);
  return ix;
}

/** The partition record of one action (shared frozen `{}` for unpartitioned targets). */
function partitionRecord(axes: readonly Axis[], idx: ArrayLike<number>): Readonly<Record<string, string>> {
  if (axes.length === 0) return EMPTY_PARTITION;
  const p: Record<string, string> = {};
  for (let k = 0; k < axes.length; k++) p[axes[k]!.name] = axes[k]!.ids[idx[k]!]!;
  return p;
}

type DupReporter = (path: string, a: number, ta: LocatedTemplate, b: number, tb: LocatedTemplate, inside?: string) => void;

/** Reports a second writer of a path once per pair of templates (not once per partition). */
function duplicateReporter(ix: OutputIndex, diags: Diagnostic[]): DupReporter {
  const reported = new Set<string>();
  return (path, a, ta, b, tb, inside) => {
    const key = `${ix.owner[a]!.name}.${ta.name}\0${ix.owner[b]!.name}.${tb.name}`;
    if (reported.has(key)) return;
    reported.add(key);
    const msg = inside
      ? `output \`${path}\` of \`${ix.ids[b]}\` is inside directory output \`${inside}\` of \`${ix.ids[a]}\``
      : `\`${ix.ids[a]}\` and \`${ix.ids[b]}\` both write \`${path}\``;
    diags.push(diag("duplicate-output", msg, tb.loc, [{ message: `\`${ix.ids[a]}\` declares it here`, loc: ta.loc }]));
  };
}

/** An output inside another action's directory output is a second writer of that tree. */
function reportNestedOutputs(ix: OutputIndex, reportDup: DupReporter): void {
  if (ix.dirOutputs.size === 0) return;
  for (const [path, s] of ix.slots) {
    const d = dirAncestor(path, ix.dirOutputs);
    if (d !== undefined) {
      const ds = ix.slots.get(d)!;
      reportDup(path, ix.slotAction[ds]!, ix.slotTemplate[ds]!, ix.slotAction[s]!, ix.slotTemplate[s]!, d);
    }
  }
}

/** First occurrence of a per-template problem, and how many partitions share it. */
interface Counted {
  readonly first: string;
  readonly action: string;
  count: number;
}

/** Counts one more occurrence of a per-template problem. */
function countProblem(m: Map<LocatedTemplate, Counted>, d: LocatedTemplate, first: string, action: string): void {
  const c = m.get(d);
  if (c) c.count++;
  else m.set(d, { first, action, count: 1 });
}

/**
 * 2a. Resolves evaluated dep paths of action i to DepRefs (outputs, sources, glob matches),
 * records each producer → consumer edge once, and collects the problems (one per template).
 */
class DepResolver {
  readonly edgeFrom: number[] = [];
  readonly edgeTo: number[] = [];
  private readonly sources = new Map<string, DepRef | null>(); // path → source ref (null: missing)
  private readonly globCache = new Map<string, DepRef[]>();
  private sortedOutputs: string[] | undefined;
  private readonly missing = new Map<LocatedTemplate, Counted>();
  private readonly emptyGlobs = new Map<LocatedTemplate, { pattern: string; action: string }>();
  private readonly intoDir = new Set<string>(); // glob patterns rooted inside a directory output
  private readonly intoDirGlobs = new Map<LocatedTemplate, { pattern: string; action: string }>();
  private readonly escaped = new Map<LocatedTemplate, string>();
  private readonly stamp: Int32Array; // last consumer that added an edge from producer

  constructor(
    private readonly ix: OutputIndex,
    private readonly absRoot: string,
    private readonly io: LoadIO,
  ) {
    this.stamp = new Int32Array(ix.ids.length).fill(-1);
  }

  /** The DepRef of an output slot (one object shared by every consumer). */
  private slotRef(s: number): DepRef {
    const ix = this.ix;
    return (ix.slotRefs[s] ??= { kind: "output", path: ix.slotPath[s]!, producer: ix.ids[ix.slotAction[s]!]! });
  }

  /** Slot of a path inside a directory output, or -1. */
  private dirSlot(path: string): number {
    if (this.ix.dirOutputs.size === 0) return -1;
    const d = dirAncestor(path, this.ix.dirOutputs);
    return d === undefined ? -1 : this.ix.slots.get(d)!;
  }

  /** A path that is no output: inside a directory output, a source file, or missing (null). */
  private resolveOther(path: string): DepRef | null {
    let r = this.sources.get(path);
    if (r !== undefined) return r;
    const ds = this.dirSlot(path);
    if (ds >= 0) r = { kind: "output", path, producer: this.ix.ids[this.ix.slotAction[ds]!]! };
    else r = this.io.stat(joinAbs(this.absRoot, path)) !== undefined ? { kind: "source", path } : null;
    this.sources.set(path, r);
    return r;
  }

  /** The outputs and files a glob matches, sorted by path (memoized per pattern). */
  private resolveGlob(pattern: string): DepRef[] {
    let r = this.globCache.get(pattern);
    if (r) return r;
    const { slots, dirOutputs } = this.ix;
    const g: Glob = compileGlob(pattern);
    // A glob rooted inside a directory output would list that output's files as the previous
    // build left them (globs expand at load): refused (see intoDirGlobs); one that merely
    // passes over a directory output does not look inside it (every load agrees).
    const base = g.prefix.replace(/\/$/, "");
    if (base !== "" && (dirOutputs.has(base) || this.dirSlot(base) >= 0)) {
      this.globCache.set(pattern, (r = []));
      this.intoDir.add(pattern);
      return r;
    }
    const found = new Map<string, DepRef>();
    for (const p of this.outputsUnder(g.prefix)) {
      if (g.test(p)) found.set(p, this.slotRef(slots.get(p)!));
    }
    for (const p of globFiles(this.absRoot, g, this.io, (dir) => dirOutputs.has(dir))) {
      if (!found.has(p)) found.set(p, slots.has(p) ? this.slotRef(slots.get(p)!) : this.resolveOther(p)!);
    }
    r = [...found.values()].sort(byPath);
    this.globCache.set(pattern, r);
    return r;
  }

  /** Output paths starting with `prefix` (only those can match a glob): a binary-searched range. */
  private *outputsUnder(prefix: string): Generator<string> {
    const sorted = (this.sortedOutputs ??= [...this.ix.slots.keys()].sort());
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid]! < prefix) lo = mid + 1;
      else hi = mid;
    }
    for (let k = lo; k < sorted.length && sorted[k]!.startsWith(prefix); k++) yield sorted[k]!;
  }

  /** Records the edge producer → consumer once per pair. */
  private edge(from: number, i: number): void {
    if (this.stamp[from] !== i) {
      this.stamp[from] = i;
      this.edgeFrom.push(from);
      this.edgeTo.push(i);
    }
  }

  /** Adds the output an aligned dep names for index vector `vec` (none when shifted out). */
  addAligned(i: number, al: Aligned, vec: ArrayLike<number>, list: DepRef[]): void {
    let p = al.first;
    for (let k = 0; k < al.picks.length; k++) {
      const pick = al.picks[k]!;
      const v = vec[pick.slot]! + pick.shift;
      if (v < 0 || v >= pick.len) return;
      p += v * pick.stride;
    }
    list.push(this.slotRef(this.ix.firstSlot[p]! + al.output));
    this.edge(p, i);
  }

  /** Adds one evaluated dep path of action i to `list` (and its edge); records problems. */
  addDep(i: number, d: LocatedTemplate, raw: string | undefined, isClean: boolean, isGlobT: boolean, list: DepRef[]): void {
    if (raw === undefined) return; // a shift left the axis range: no such dependency
    const path = isClean ? raw : normalizeRel(raw);
    if (path === undefined) {
      if (!this.escaped.has(d)) this.escaped.set(d, raw);
      return;
    }
    if (isGlobT) return this.addGlob(i, d, path, list);
    const { slots, slotAction, ids } = this.ix;
    const s = slots.get(path);
    if (s !== undefined) {
      list.push(this.slotRef(s));
      this.edge(slotAction[s]!, i);
      return;
    }
    const r = this.resolveOther(path);
    if (r === null) return countProblem(this.missing, d, path, ids[i]!);
    if (r.kind === "output") this.edge(slotAction[this.dirSlot(path)]!, i);
    list.push(r);
  }

  /** Adds every match of a glob dep of action i (and their edges); records refused and empty globs. */
  private addGlob(i: number, d: LocatedTemplate, pattern: string, list: DepRef[]): void {
    const { slots, slotAction, ids } = this.ix;
    const refs = this.resolveGlob(pattern);
    if (this.intoDir.has(pattern)) {
      if (!this.intoDirGlobs.has(d)) this.intoDirGlobs.set(d, { pattern, action: ids[i]! });
      return;
    }
    if (refs.length === 0 && !this.emptyGlobs.has(d)) this.emptyGlobs.set(d, { pattern, action: ids[i]! });
    for (const r of refs) {
      list.push(r);
      if (r.kind === "output") this.edge(slotAction[slots.get(r.path) ?? this.dirSlot(r.path)]!, i);
    }
  }

  /** Pushes the collected dep problems (missing sources, refused and empty globs, escapes). */
  report(diags: Diagnostic[]): void {
    for (const [d, m] of this.missing) {
      const more = m.count > 1 ? ` (and ${m.count - 1} more like it)` : "";
      diags.push(diag("missing-source", `\`${m.first}\` (dep \`${d.name}\` of \`${m.action}\`) is no target's output and does not exist${more}`, d.loc));
    }
    for (const [d, g] of this.intoDirGlobs) {
      const dir = dirAncestor(compileGlob(g.pattern).prefix.replace(/\/$/, "") + "/x", this.ix.dirOutputs) ?? "";
      diags.push(diag("missing-source", `glob \`${g.pattern}\` (dep \`${d.name}\` of \`${g.action}\`) looks inside the directory output \`${dir}/\`, whose files are known only after it is built: depend on \`${dir}/\` itself`, d.loc));
    }
    for (const [d, g] of this.emptyGlobs) {
      diags.push(diag("missing-source", `glob \`${g.pattern}\` (dep \`${d.name}\` of \`${g.action}\`) matches no output and no file`, d.loc));
    }
    for (const [d, raw] of this.escaped) {
      diags.push(diag("missing-source", `dep \`${raw}\` is outside the workspace`, d.loc));
    }
  }
}

/** Pass 2's result. */
interface BuiltActions {
  readonly actions: Map<string, ActionNode>;
  readonly targetIds: Map<string, string[]>;
  /** `final_after:` values that are no date, per template. */
  readonly badTimes: Map<LocatedTemplate, Counted>;
}

/** A dep template with its path facts and its aligned producer (if any). */
interface DepPlan {
  readonly d: LocatedTemplate;
  readonly clean: boolean;
  readonly glob: boolean;
  readonly al: Aligned | undefined;
}

/** 2b. Resolves every action's deps and builds its ActionNode (in action index order). */
function buildActions(
  targets: readonly CompiledTarget[],
  toolRecords: ReadonlyMap<CompiledTarget, Record<string, string>>,
  ix: OutputIndex,
  facts: TemplateFacts,
  resolver: DepResolver,
): BuiltActions {
  const built: BuiltActions = { actions: new Map(), targetIds: new Map(), badTimes: new Map() };
  const aligned = alignDeps(targets, ix.firstAction);
  const extend = new Extender();
  let i = 0;
  for (const t of targets) {
    const idsOfTarget: string[] = [];
    built.targetIds.set(t.name, idsOfTarget);
    const deps: DepPlan[] = t.deps.map((d) => ({ d, clean: facts.clean.get(d.bound)!, glob: facts.glob.get(d.bound)!, al: aligned.get(d.bound) }));
    const tools = toolRecords.get(t)!;
    forEachPartition(t.axes, (idx) => {
      const rec = resolveDeps(t, i, idx, deps, resolver, extend);
      const node = actionNode(t, i, idx, rec, tools, ix, built.badTimes);
      built.actions.set(node.id, node);
      idsOfTarget.push(node.id);
      i++;
    });
    if (t.siblings) groupSiblings(t.siblings, idsOfTarget, built.actions);
  }
  return built;
}

/** The deps of action i (partition `idx` of `t`), by dep name, each list sorted and unique. */
function resolveDeps(
  t: CompiledTarget,
  i: number,
  idx: ArrayLike<number>,
  deps: readonly DepPlan[],
  resolver: DepResolver,
  extend: Extender,
): Record<string, DepRef[]> {
  const rec: Record<string, DepRef[]> = {};
  for (const name of t.depNames) rec[name] = [];
  for (const { d, clean: c, glob: g, al } of deps) {
    const list = rec[d.name]!;
    const b = d.bound;
    // Aligned: same shape as a producer's output template, index arithmetic, no strings.
    if (b.free.length === 0) {
      if (al) resolver.addAligned(i, al, idx, list);
      else resolver.addDep(i, d, evaluate(b, idx), c, g, list);
    } else {
      // Aggregate: every value of the axes the target is not partitioned over.
      extend.forEach(idx, b.free, al ? (x) => resolver.addAligned(i, al, x, list) : (x) => resolver.addDep(i, d, evaluate(b, x), c, g, list));
    }
  }
  for (const name of t.depNames) {
    const list = rec[name]!;
    if (list.length > 1) sortUnique(list);
  }
  return rec;
}

/** Extends an index vector by every combination of free axes, in one reused scratch array. */
class Extender {
  private readonly scratch: number[] = [];

  /** Calls `f` with `idx` extended by every combination of the `free` axes. */
  forEach(idx: ArrayLike<number>, free: readonly Axis[], f: (x: ArrayLike<number>) => void): void {
    const scratch = this.scratch;
    const p = idx.length;
    for (let k = 0; k < p; k++) scratch[k] = idx[k]!;
    scratch.length = p + free.length;
    forEachPartition(free, (fidx) => {
      for (let k = 0; k < fidx.length; k++) scratch[p + k] = fidx[k]!;
      f(scratch);
    });
  }
}

/** The ActionNode of action i; a `final_after:` that is no date is counted in `badTimes`. */
function actionNode(
  t: CompiledTarget,
  i: number,
  idx: ArrayLike<number>,
  deps: Record<string, DepRef[]>,
  tools: Readonly<Record<string, string>>,
  ix: OutputIndex,
  badTimes: Map<LocatedTemplate, Counted>,
): ActionNode {
  const id = ix.ids[i]!;
  const shell = t.rule.kind === "shell" ? (t.rule as { bound: Bound }).bound : undefined;
  const node: { -readonly [K in keyof ActionNode]: ActionNode[K] } = {
    id,
    target: t.name,
    partition: ix.partitionOf[i]!,
    rule: shell ? { kind: "shell", command: evaluate(shell, idx)! } : (t.rule as RuleRef),
    params: t.params(idx),
    deps,
    outputs: ix.outputsOf[i]!,
    host: t.host,
    resources: t.resources,
    tools,
    loc: t.loc,
  };
  if (t.describe) node.describe = evaluate(t.describe, idx)!;
  if (t.verify) node.verify = t.verify;
  if (t.retrainEvery) node.retrainEvery = t.retrainEvery;
  if (t.finalAfter) {
    const text = evaluate(t.finalAfter.bound, idx)!;
    const ms = parseUtcTime(text);
    if (ms !== undefined) node.finalAfter = ms;
    else countProblem(badTimes, t.finalAfter, text, id);
  }
  return node;
}

/** Pushes one diagnostic per `final_after:` template whose value is no date. */
function reportBadTimes(badTimes: ReadonlyMap<LocatedTemplate, Counted>, diags: Diagnostic[]): void {
  for (const [d, b] of badTimes) {
    const more = b.count > 1 ? ` (and ${b.count - 1} more partitions)` : "";
    diags.push(diag("schema", `final_after of \`${b.action}\` is \`${b.first}\`: not an ISO date (YYYY-MM-DD) or UTC date-time (YYYY-MM-DDTHH:MM[:SS]Z)${more}`, d.loc));
  }
}

/** How an aligned dep template finds its producer: action = first + Σ (vec[slot]+shift)·stride. */
interface Aligned {
  readonly first: number;
  readonly output: number; // index of the output template in the producer target
  readonly picks: readonly { readonly slot: number; readonly shift: number; readonly stride: number; readonly len: number }[];
}

/**
 * Finds, for each dep template, the output template of the same shape (equal literals, slots
 * over the same value arrays) if any. Such a dep names exactly that output for the indexes its
 * slots give, so expansion resolves it by arithmetic instead of building and hashing a path
 * string: the common case (`data/candles/{instrument}/{week}.parquet` in both places).
 * Deps without a same-shaped output (sources, globs, paths inside directory outputs, or a
 * different spelling of the same path) go through the string lookup, which is always correct.
 */
function alignDeps(targets: readonly CompiledTarget[], firstAction: ReadonlyMap<CompiledTarget, number>): Map<Bound, Aligned> {
  const valsId = new Map<readonly string[], number>();
  const signature = (b: Bound): string =>
    b.parts
      .map((p) => {
        if (typeof p === "string") return `s${p.length}:${p}`;
        let id = valsId.get(p.vals);
        if (id === undefined) valsId.set(p.vals, (id = valsId.size));
        return `v${id};`;
      })
      .join("");
  const outputs = new Map<string, { t: CompiledTarget; o: number }>();
  for (const t of targets) {
    t.outputs.forEach((o, k) => {
      const sig = signature(o.bound);
      if (!o.dir && !outputs.has(sig)) outputs.set(sig, { t, o: k });
    });
  }
  const out = new Map<Bound, Aligned>();
  for (const t of targets) {
    for (const d of t.deps) {
      const hit = outputs.get(signature(d.bound));
      if (!hit) continue;
      const producer = hit.t;
      const ob = producer.outputs[hit.o]!.bound;
      // Each producer axis must be fixed by the dep, the same way at every occurrence.
      const picks: ({ slot: number; shift: number } | undefined)[] = producer.axes.map(() => undefined);
      let ok = true;
      ob.parts.forEach((p, k) => {
        if (typeof p === "string") return;
        const dp = d.bound.parts[k] as Slot;
        const prev = picks[p.slot];
        if (prev && (prev.slot !== dp.slot || prev.shift !== dp.shift)) ok = false;
        picks[p.slot] = { slot: dp.slot, shift: dp.shift };
      });
      if (!ok || picks.some((p) => p === undefined)) continue;
      let stride = 1;
      const full = producer.axes.map(() => ({ slot: 0, shift: 0, stride: 0, len: 0 }));
      for (let j = producer.axes.length - 1; j >= 0; j--) {
        const len = producer.axes[j]!.ids.length;
        full[j] = { ...picks[j]!, stride, len };
        stride *= len;
      }
      out.set(d.bound, { first: firstAction.get(producer)!, output: hit.o, picks: full });
    }
  }
  return out;
}

/** Sorts deps by path and drops repeats, skipping the sort when already in order. */
function sortUnique(list: DepRef[]): void {
  let sorted = true;
  for (let k = 1; k < list.length && sorted; k++) if (list[k - 1]!.path > list[k]!.path) sorted = false;
  if (!sorted) list.sort(byPath);
  let w = 1;
  for (let k = 1; k < list.length; k++) if (list[k]!.path !== list[w - 1]!.path) list[w++] = list[k]!;
  list.length = w;
}

function byPath(a: DepRef, b: DepRef): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/** The nearest proper ancestor of `path` that is a directory output. */
function dirAncestor(path: string, dirs: ReadonlySet<string>): string | undefined {
  for (let k = path.lastIndexOf("/"); k > 0; k = path.lastIndexOf("/", k - 1)) {
    const a = path.slice(0, k);
    if (dirs.has(a)) return a;
  }
  return undefined;
}

/** CSR adjacency: successors of node i are `to[start[i] .. start[i+1])`. */
function adjacency(n: number, from: readonly number[], to: readonly number[]): { start: Int32Array; adj: Int32Array } {
  const start = new Int32Array(n + 1);
  for (const f of from) start[f + 1]!++;
  for (let i = 0; i < n; i++) start[i + 1]! += start[i]!;
  const fill = start.slice(0, n);
  const adj = new Int32Array(from.length);
  for (let e = 0; e < from.length; e++) adj[fill[from[e]!]!++] = to[e]!;
  return { start, adj };
}

/** Kahn's algorithm with a min-heap on declaration index; returns fewer than n on a cycle. */
function topoOrder(n: number, from: readonly number[], to: readonly number[]): number[] {
  const { start, adj } = adjacency(n, from, to);
  const indeg = new Int32Array(n);
  for (const t of to) indeg[t]!++;
  const heap: number[] = [];
  const push = (x: number) => {
    let k = heap.push(x) - 1;
    while (k > 0) {
      const parent = (k - 1) >> 1;
      if (heap[parent]! <= x) break;
      heap[k] = heap[parent]!;
      k = parent;
    }
    heap[k] = x;
  };
  const pop = (): number => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      let k = 0;
      for (;;) {
        const l = 2 * k + 1;
        if (l >= heap.length) break;
        const c = l + 1 < heap.length && heap[l + 1]! < heap[l]! ? l + 1 : l;
        if (heap[c]! >= last) break;
        heap[k] = heap[c]!;
        k = c;
      }
      heap[k] = last;
    }
    return top;
  };
  for (let i = 0; i < n; i++) if (indeg[i] === 0) push(i);
  const order: number[] = [];
  while (heap.length > 0) {
    const i = pop();
    order.push(i);
    for (let e = start[i]!; e < start[i + 1]!; e++) {
      const j = adj[e]!;
      if (--indeg[j]! === 0) push(j);
    }
  }
  return order;
}

/**
 * Reports the cycles among the actions Kahn could not order (at most 10, one per set of
 * targets), each step located at its dep.
 */
function reportCycles(
  n: number,
  from: readonly number[],
  to: readonly number[],
  ordered: readonly number[],
  ids: readonly string[],
  owner: readonly CompiledTarget[],
  actions: ReadonlyMap<string, ActionNode>,
  diags: Diagnostic[],
): void {
  // Walk consumer → producer edges (the direction a reader follows: "a needs b").
  const { start, adj } = adjacency(n, to, from);
  const done = new Uint8Array(n);
  for (const i of ordered) done[i] = 2;
  const state = new Uint8Array(n); // 0 new, 1 on stack, 2 finished
  state.set(done);
  const reported = new Set<string>();
  for (let s = 0; s < n && reported.size < 10; s++) {
    if (state[s] !== 0) continue;
    const stack: number[] = [s];
    const edgePos: number[] = [start[s]!];
    state[s] = 1;
    while (stack.length > 0) {
      const v = stack[stack.length - 1]!;
      const e = edgePos[edgePos.length - 1]!;
      if (e >= start[v + 1]!) {
        state[v] = 2;
        stack.pop();
        edgePos.pop();
        continue;
      }
      edgePos[edgePos.length - 1] = e + 1;
      const w = adj[e]!;
      if (state[w] === 1) {
        const cycle = stack.slice(stack.indexOf(w));
        // One report per set of targets: a chain over 50 weeks is one mistake, not 50.
        const key = [...new Set(cycle.map((k) => owner[k]!.name))].sort().join("\0");
        if (!reported.has(key)) {
          reported.add(key);
          diags.push(cycleDiagnostic(cycle, ids, owner, actions));
        }
      } else if (state[w] === 0) {
        state[w] = 1;
        stack.push(w);
        edgePos.push(start[w]!);
      }
    }
  }
}

function cycleDiagnostic(
  cycle: readonly number[],
  ids: readonly string[],
  owner: readonly CompiledTarget[],
  actions: ReadonlyMap<string, ActionNode>,
): Diagnostic {
  const notes: { message: string; loc?: Loc }[] = [];
  for (let k = 0; k < cycle.length; k++) {
    const a = cycle[k]!;
    const b = cycle[(k + 1) % cycle.length]!;
    const t = owner[a]!;
    let via: { name: string; path: string } | undefined;
    for (const [name, refs] of Object.entries(actions.get(ids[a]!)!.deps)) {
      const r = refs.find((x) => x.kind === "output" && x.producer === ids[b]);
      if (r) {
        via = { name, path: r.path };
        break;
      }
    }
    const loc = t.deps.find((d) => d.name === via?.name)?.loc ?? t.loc;
    notes.push({ message: `\`${ids[a]}\` needs \`${via?.path ?? "?"}\` (dep \`${via?.name ?? "?"}\`) from \`${ids[b]}\``, loc });
  }
  const path = [...cycle, cycle[0]!].map((k) => ids[k]).join(" → ");
  return diag("cycle", `dependency cycle: ${path}`, notes[0]!.loc, notes);
}

/**
 * A dep that selects a variant by a trial's value (`"out/data/h{trial.horizon}/"`) must find a
 * target's output for every trial once it finds one for any: a trial whose value has no
 * producer would otherwise read whatever an earlier build left at that path as a source file
 * (or fail at run time). Reported at the dep, naming the trial and the value (issue 13).
 */
function checkVariantDeps(targets: readonly CompiledTarget[], ex: Expanded, diags: Diagnostic[]): void {
  for (const t of targets) {
    for (const d of t.deps) {
      const keyed = d.bound.parts.filter((p): p is Slot => typeof p === "object" && p.typed !== undefined && p.slot < t.axes.length);
      if (keyed.length === 0 || isGlob(d.bound.skeleton)) continue;
      const ids = ex.targets.get(t.name)!;
      const kinds: { id: string; path: string; idx: Int32Array; output: boolean }[] = [];
      let k = 0;
      forEachPartition(t.axes, (idx) => {
        const path = normalizeRel(evaluate(d.bound, idx) ?? "");
        const ref = path === undefined ? undefined : ex.actions.get(ids[k]!)!.deps[d.name]?.find((r) => r.path === path);
        if (ref) kinds.push({ id: ids[k]!, path: ref.path, idx: idx.slice(), output: ref.kind === "output" });
        k++;
      });
      const bad = kinds.filter((x) => !x.output);
      if (bad.length === 0 || bad.length === kinds.length) continue;
      const b = bad[0]!;
      const values = keyed.map((p) => `\`{${sweepRef(t.axes[p.slot]!, p.typed!)}}\` = ${JSON.stringify(p.typed![b.idx[p.slot]!])}`).join(", ");
      const producer = ex.actions.get(kinds.find((x) => x.output)!.id)!.deps[d.name]!.find((r) => r.kind === "output") as { producer: string };
      const more = bad.length > 1 ? ` (and ${bad.length - 1} more trials)` : "";
      diags.push(diag("missing-source", `dep \`${d.name}\` of \`${b.id}\` (${values}) names \`${b.path}\`, which no target produces, while other partitions' \`${d.name}\` are outputs (of \`${producer.producer.split("[")[0]}\`): add the value to the producer's partition, or partition it by the projection (\`partition: [${t.axes[keyed[0]!.slot]!.name}.KEY]\`)${more}`, d.loc));
    }
  }
}

/** `trial.KEY` for the values array of one key of a sweep axis (or of its projection). */
function sweepRef(axis: Axis, typed: readonly unknown[]): string {
  const of = axis.projection?.of ?? axis;
  for (const [k, v] of axis.values!) if (v === typed) return `${of.name}.${k}`;
  return of.name;
}

/** `default:` entries must name a target, an action, an output or a directory of outputs. */
function checkDefaults(
  defaults: readonly string[],
  main: SourceFile,
  ex: Expanded,
  diags: Diagnostic[],
): void {
  // Resolved exactly as a target named on the command line is (select.ts).
  const { unknown } = resolveArgs(ex, defaults);
  defaults.forEach((d, i) => {
    if (!unknown.includes(d)) return;
    const at = Array.isArray(asRecord(main.data).default) ? main.loc(["default", i]) : main.loc(["default"]);
    diags.push(diag("unknown-target", `default \`${d}\` names no target, action, output or directory of outputs`, at));
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function asRecord(v: unknown): Record<string, unknown> {
  return isRecord(v) ? v : {};
}

/**
 * The entries of one top-level section (`vars`, `targets`) across the pipeline file and its
 * includes, in declaration order. A name declared again is reported at the repeat, with a note
 * pointing at the first declaration, and the repeat is dropped.
 */
function mergeNamed(
  sources: readonly SourceFile[],
  section: string,
  diags: Diagnostic[],
  kind: DiagnosticKind,
  message: (name: string) => string,
  firstNote: string,
): { name: string; src: SourceFile; value: unknown }[] {
  const out: { name: string; src: SourceFile; value: unknown }[] = [];
  const first = new Map<string, Loc>();
  for (const src of sources) {
    for (const [name, value] of Object.entries(asRecord(asRecord(src.data)[section]))) {
      const at = src.loc([section, name], true);
      const prev = first.get(name);
      if (prev) {
        diags.push(diag(kind, message(name), at, [{ message: firstNote, loc: prev }]));
        continue;
      }
      first.set(name, at);
      out.push({ name, src, value });
    }
  }
  return out;
}
