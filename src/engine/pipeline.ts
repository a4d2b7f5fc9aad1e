/**
 * Reading pipeline YAML files with their source locations.
 *
 * Every file the load phase reads (pipeline.yaml, its includes, hosts_file, params files) is
 * parsed once into a `SourceFile`: the plain data plus the yaml `Document` and `LineCounter`,
 * so any later check can point at `file:line:col` of the offending node by its data path.
 * File-system access goes through `LoadIO` so tests can use fakes.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Node as YamlNode, type Pair, type YAMLMap } from "yaml";
import { diag } from "./diagnostics.js";
import type { Diagnostic, Loc } from "./graph-types.js";

export { nodeLoadIO, type LoadIO } from "./load-io.js";
import { InvalidUtf8Error, type LoadIO } from "./load-io.js";

/**
 * How many times aliases may be resolved (the yaml library's count: resolutions of an anchor
 * times the alias depth inside it). Ordinary reuse of a defaults block stays far below; a
 * chain of aliases to aliases (an exponential "billion laughs") stops here, in milliseconds.
 */
export const MAX_ALIAS_COUNT = 10_000;

/** A data path into a YAML document: map keys and sequence indexes. */
export type DataPath = readonly (string | number)[];

/** One parsed YAML file. `data` is undefined when the file did not parse. */
export interface SourceFile {
  /** Workspace-relative path (forward slashes). */
  readonly file: string;
  readonly data: unknown;
  /**
   * Location of the node at `path`. `key: true` points at the map key instead of the value
   * (unknown keys, target names). Falls back to the deepest existing ancestor.
   */
  loc(path: DataPath, key?: boolean): Loc;
}

/** Parses one YAML file; syntax errors (every one yaml reports) go to `diags`. */
export function parseSource(file: string, text: string, diags: Diagnostic[]): SourceFile {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): Loc => {
    const p = lc.linePos(offset);
    return { file, line: p.line, col: p.col };
  };
  let ok = true;
  for (const e of doc.errors) {
    ok = false;
    diags.push(diag("yaml-syntax", firstLine(e.message), at(e.pos[0])));
  }
  // Key → pair index per map, built on first use: locating every target of a pipeline with
  // thousands of targets must not scan the targets map once per target.
  const index = new WeakMap<object, Map<string, Pair>>();
  const pairOf = (map: YAMLMap, k: string): Pair | undefined => {
    let m = index.get(map);
    if (!m) {
      m = new Map();
      for (const p of map.items) {
        const kv = isPair(p) ? keyValue(p.key) : undefined;
        if (kv !== undefined && !m.has(kv)) m.set(kv, p as Pair);
      }
      index.set(map, m);
    }
    return m.get(k);
  };
  const loc = (path: DataPath, key = false): Loc => {
    let node: unknown = doc.contents;
    let best: number = rangeStart(node) ?? 0;
    for (let i = 0; i < path.length; i++) {
      const seg = path[i]!;
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = pairOf(node, String(seg));
        if (!pair) break;
        const kStart = rangeStart(pair.key);
        if (kStart !== undefined) best = kStart;
        if (last && key) return at(best);
        node = pair.value;
      } else if (isSeq(node) && typeof seg === "number") {
        node = node.items[seg];
      } else break;
      const s = rangeStart(node);
      if (s !== undefined && !(isScalar(node) && node.value === null && node.range?.[0] === node.range?.[1])) best = s;
    }
    return at(best);
  };
  let data: unknown;
  if (ok) {
    try {
      data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (e) {
      if (!(e instanceof ReferenceError)) throw e;
      // Located at the first alias: the expansion is a property of the aliases as a whole.
      let first: number | undefined;
      visit(doc, { Alias: (_k, n) => ((first = n.range?.[0]), visit.BREAK) });
      diags.push(diag("yaml-syntax", `YAML aliases expand too far (over ${MAX_ALIAS_COUNT} alias resolutions; an alias of aliases of aliases?): ${firstLine(e.message)}`, at(first ?? 0)));
    }
  }
  return { file, data, loc };
}

function keyValue(k: unknown): string | undefined {
  if (isScalar(k)) return String(k.value);
  return undefined;
}

function rangeStart(n: unknown): number | undefined {
  const r = (n as YamlNode | null | undefined)?.range;
  return r ? r[0] : undefined;
}

function firstLine(s: string): string {
  const i = s.indexOf("\n");
  return i < 0 ? s : s.slice(0, i);
}

/** Reads and parses a workspace-relative file; undefined when it does not exist. */
export function readSource(root: string, file: string, io: LoadIO, diags: Diagnostic[]): SourceFile | undefined {
  let text: string | undefined;
  try {
    text = io.readFile(joinAbs(root, file));
  } catch (e) {
    if (!(e instanceof InvalidUtf8Error)) throw e;
    // Parsed as unreadable (data undefined): every reader stops at this file's own error.
    diags.push(diag("invalid-utf8", `${e.message}: pipeline files must be UTF-8`, { file, line: e.line, col: e.col }));
    return { file, data: undefined, loc: () => ({ file, line: e.line, col: e.col }) };
  }
  if (text === undefined) return undefined;
  return parseSource(file, text, diags);
}

/** `root/rel` without `path.resolve` (rel is already normalized, forward slashes). */
export function joinAbs(root: string, rel: string): string {
  return root.endsWith("/") ? root + rel : `${root}/${rel}`;
}

const NEEDS_NORMALIZE = /(^|\/)\.\.?(\/|$)|\/\/|\\|^\/|\/$/;

/**
 * Normalizes a workspace-relative path (forward slashes, no `.`/`..`/empty segments).
 * Returns undefined when the path is absolute or escapes the workspace.
 * The fast path (already clean) costs one precompiled regex test: this runs per dep per action.
 */
export function normalizeRel(p: string): string | undefined {
  if (!NEEDS_NORMALIZE.test(p)) return p;
  const s = p.replace(/\\/g, "/");
  if (s.startsWith("/")) return undefined;
  const out: string[] = [];
  for (const seg of s.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (out.length === 0) return undefined;
      out.pop();
    } else out.push(seg);
  }
  return out.length === 0 ? undefined : out.join("/");
}

/** True when `p` contains glob syntax (`*`, `?`, `[`). */
export function isGlob(p: string): boolean {
  return /[*?[]/.test(p);
}

/** A compiled glob: `*` and `?` stay inside a path segment, `**` crosses them, `[...]` classes. */
export interface Glob {
  readonly pattern: string;
  /** The literal directory prefix (ending in `/`, or empty): only paths under it can match. */
  readonly prefix: string;
  test(path: string): boolean;
}

/** Compiles a glob once; callers cache by pattern string. */
export function compileGlob(pattern: string): Glob {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === "*") {
      if (pattern[i + 1] === "*") {
        // `**/` matches zero or more whole segments; a trailing `**` matches everything below.
        if (pattern[i + 2] === "/") {
          re += "(?:[^/]+/)*";
          i += 2;
        } else {
          re += ".*";
          i += 1;
        }
      } else re += "[^/]*";
    } else if (ch === "?") re += "[^/]";
    else if (ch === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) re += "\\[";
      else {
        let body = pattern.slice(i + 1, end).replace(/\\/g, "\\\\");
        if (body.startsWith("!")) body = "^" + body.slice(1);
        re += `[${body}]`;
        i = end;
      }
    } else re += ch.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  const rx = new RegExp(re + "$");
  const firstMeta = pattern.search(/[*?[]/);
  const lit = firstMeta < 0 ? pattern : pattern.slice(0, firstMeta);
  const prefix = lit.slice(0, lit.lastIndexOf("/") + 1);
  return { pattern, prefix, test: (p) => rx.test(p) };
}

/**
 * Workspace files matching a glob, sorted. Walks only below the glob's literal prefix and
 * skips dot-directories (`.git`, `.dagbuild`) and `node_modules`, which are never sources,
 * and the directories `skipDir` names (directory outputs: their files are not known at load).
 */
export function globFiles(root: string, glob: Glob, io: LoadIO, skipDir?: (rel: string) => boolean): string[] {
  const out: string[] = [];
  const base = glob.prefix.replace(/\/$/, "");
  const walk = (rel: string) => {
    for (const name of io.readdir(rel === "" ? root : joinAbs(root, rel))) {
      if (name.startsWith(".") || name === "node_modules") continue;
      const p = rel === "" ? name : `${rel}/${name}`;
      const kind = io.stat(joinAbs(root, p));
      if (kind === "dir") {
        if (!skipDir?.(p)) walk(p);
      }
      else if (kind === "file" && glob.test(p)) out.push(p);
    }
  };
  if (base === "" || io.stat(joinAbs(root, base)) === "dir") walk(base);
  return out.sort();
}
