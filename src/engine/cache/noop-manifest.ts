/**
 * The no-op manifest: proof, by stats alone, that a build would do nothing (ninja's no-op is a
 * stat of every file against its log; this is the same idea, kept sound for content keys).
 *
 * File `cache/noop/<request hash>.json`, one per distinct command line, written under the
 * workspace lock by a build that ended with every selected action fresh (noop-writer.ts):
 *   {"format":"dagbuild-noop","version":1,
 *    "request":"<the command line, as JSON>",        compared exactly (the file name is a hash)
 *    "fresh":N,                                      actions the request covers
 *    "state":Stamp | null,                          the state index as that build left it
 *    "files":[[abs,...Stamp],...],                  pipeline files, params, rule sources, engine code
 *    "absent":[abs,...],                             files the load or rule hashing found missing
 *    "kinds":[[abs,"file"|"dir"|"any"|null],...],  stat and existence probes of the load
 *    "listings":[[abs,sha256],...],                 directories listed (globs), by sorted names
 *    "tools":[[command,output],...],                tool version commands and what they printed
 *    "paths":[rel,...], "stamps":[...Stamp,...]    outputs and source inputs as the state
 *                                                    index records them (4 numbers per path)
 * where Stamp = size, mtimeMs, ino, ctimeMs (version 2 added the ctime: see stat-stamps.ts).
 *    "trees":[[rel,signature],...],                 directory outputs, by tree signature
 *    "engine":"<abs dir of the engine's code>"}     the install that wrote it (version 3)
 *
 * Why a hit is sound: the full check is a function of the command line, the engine code, the
 * state index, the files it reads, the probes and listings it makes and the tool outputs. The
 * manifest pins each of them:
 * - outputs and source inputs are compared exactly as the full check compares them (size,
 *   mtime, inode against the state index), so the fast path never trusts more than it does;
 * - the state index only grows by appends or is replaced by rename: any new record changes
 *   its size or inode;
 * - files the full check reads whole are stamped when the manifest is written, and only if
 *   their content still hashes to what was read and their mtime is over a second old (an edit
 *   within the same timestamp tick as the stamp would be invisible: "racy", in git's word), so
 *   a racy file prevents the manifest instead of being trusted; the engine's code likewise
 *   must be older than the process that ran it.
 * Any mismatch is a miss: the caller runs the full check, which writes a new manifest when the
 * build ends clean.
 *
 * This module is the read side, on the path of every no-op build: it imports node:fs and the
 * bulk stat comparison (stat-stamps.ts) only; hashing, tree signatures and child processes are
 * loaded when a manifest needs them.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { nodeLoadIO } from "../load-io.js";
import { changedStamps, STAMP_STRIDE } from "./stat-stamps.js";
import { maskUrlSecrets, type Masker } from "../secrets.js";

export const NOOP_FORMAT_VERSION = 3;
export const NOOP_FORMAT = "dagbuild-noop";

/** [size, mtimeMs, ino, ctimeMs], as the state index records them. */
export type Stamp = [size: number, mtimeMs: number, ino: number, ctimeMs: number];
/** What a probe saw: a file, a directory, something (an existence probe), or nothing. */
export type ProbeKind = "file" | "dir" | "any" | null;

/** The manifest as stored (see the header for the meaning of each field). */
export interface NoopManifest {
  readonly format: string;
  readonly version: number;
  readonly request: string;
  readonly fresh: number;
  readonly state: Stamp | null;
  readonly files: [string, ...Stamp][];
  readonly absent: string[];
  readonly kinds: [string, ProbeKind][];
  readonly listings: [string, string][];
  readonly tools: [string, string][];
  readonly paths: string[];
  readonly stamps: number[];
  readonly trees: [string, string][];
  /**
   * The engine install that wrote the manifest (its compiled engine directory). Another install
   * (a side-by-side checkout, another key schema) must not take this one's word: its own code
   * is not what was stamped.
   */
  readonly engine: string;
}

/** This install's engine directory (dist/src/engine/), as stored in `engine`. */
export const engineDir = (): string => fileURLToPath(new URL("..", import.meta.url));

/** The command line as far as it decides what a build does (not -j, not the logger). */
export interface NoopRequest {
  readonly root: string;
  readonly pipeline: string;
  readonly hostOverrides: Readonly<Record<string, string>>;
  /** `--set` var overrides: a manifest of another value must never answer. */
  readonly varOverrides?: Readonly<Record<string, string>>;
  readonly targets: readonly string[];
}

/**
 * The request in canonical form; stored in the manifest and compared exactly. A `--set` value
 * holding a secret (a URL password, say) is stored masked by the workspace's keyed hash
 * (src/engine/secrets.ts): another secret still misses, and the manifest never holds it.
 */
export function requestKey(r: NoopRequest, masker: () => Masker): string {
  const hosts = Object.entries(r.hostOverrides).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const vars = Object.entries(r.varOverrides ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => [k, maskUrlSecrets(v, masker)]);
  // Without overrides the key is unchanged, so existing manifests still answer.
  return JSON.stringify({ root: r.root, pipeline: r.pipeline, hosts, targets: r.targets, ...(vars.length ? { vars } : {}) });
}

/**
 * Where the manifest of a request lives. The name is a 64-bit FNV-1a of the request: a lookup
 * key, not a content hash (a collision only costs a miss: the stored request is compared).
 */
export function noopManifestPath(cacheDir: string, request: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0xcbf29ce4;
  for (let i = 0; i < request.length; i++) {
    const c = request.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x01000193 ^ 0x5bd1e995) >>> 0;
  }
  return join(cacheDir, "noop", `${h1.toString(16).padStart(8, "0")}${h2.toString(16).padStart(8, "0")}.json`);
}

/** Why the fast path did not answer: the first thing found changed. */
export type NoopMiss =
  | { readonly kind: "no-manifest" }
  | { readonly kind: "format" }
  | { readonly kind: "engine" }
  | { readonly kind: "request" }
  | { readonly kind: "state-changed" }
  | { readonly kind: "file-changed"; readonly path: string }
  | { readonly kind: "probe-changed"; readonly path: string }
  | { readonly kind: "listing-changed"; readonly path: string }
  | { readonly kind: "tool-changed"; readonly command: string }
  | { readonly kind: "output-changed"; readonly path: string };

/**
 * A hit, or a miss with its first reason. `dirty` is set when everything the graph, the keys
 * and the records depend on matched and only these outputs and source inputs moved (at most
 * MAX_DIRTY): then every selected action that neither produces nor reads one of them, nor
 * depends on one that does, would be found fresh by the full check as well.
 */
export type NoopCheck =
  | { readonly hit: true; readonly fresh: number }
  | { readonly hit: false; readonly miss: NoopMiss; readonly dirty?: readonly string[]; readonly manifest?: NoopManifest };

/** More moved outputs and sources than this, and the full check decides every action. */
export const MAX_DIRTY = 256;

/** Runs a tool version command as the loader does (sh -c, stdout then stderr); undefined on failure. */
export type ToolRunner = (command: string, cwd: string) => string | undefined;

/** The loader's `shellRunner`, synchronously (node:child_process is loaded only when needed). */
async function shellSync(): Promise<ToolRunner> {
  const { spawnSync } = await import("node:child_process");
  return (command, cwd) => {
    const r = spawnSync("/bin/sh", ["-c", command], { cwd, timeout: 30_000, maxBuffer: 1 << 20, encoding: "utf8" });
    return r.status === 0 ? r.stdout + r.stderr : undefined;
  };
}

const NO_THROW = { throwIfNoEntry: false } as const;

/**
 * Checks the manifest at `file` for `request` (a `requestKey`) in the workspace `root`.
 * A missing, torn or foreign file is a miss, never an error.
 */
export async function checkNoopManifest(file: string, root: string, request: string, stateFile: string, runner?: ToolRunner): Promise<NoopCheck> {
  const miss = (m: NoopMiss): NoopCheck => ({ hit: false, miss: m });
  let m: NoopManifest;
  try {
    m = JSON.parse(readFileSync(file, "utf8")) as NoopManifest;
  } catch (e) {
    return miss({ kind: (e as NodeJS.ErrnoException).code === "ENOENT" ? "no-manifest" : "format" });
  }
  if (m?.format !== NOOP_FORMAT || m.version !== NOOP_FORMAT_VERSION || !Array.isArray(m.paths) || !Array.isArray(m.stamps) || m.stamps.length !== m.paths.length * STAMP_STRIDE)
    return miss({ kind: "format" });
  if (m.request !== request) return miss({ kind: "request" });
  if (m.engine !== engineDir()) return miss({ kind: "engine" });
  const same = (abs: string, z: number, mt: number, i: number, ct: number): boolean => {
    const st = statSync(abs, NO_THROW);
    return st !== undefined && st.size === z && st.mtimeMs === mt && st.ino === i && st.ctimeMs === ct;
  };
  if (m.state === null ? statSync(stateFile, NO_THROW) !== undefined : !same(stateFile, ...m.state)) return miss({ kind: "state-changed" });
  // The small things most likely to change first (pipeline, rules, engine), then the bulk.
  for (const [abs, z, mt, i, ct] of m.files) if (!same(abs, z, mt, i, ct)) return miss({ kind: "file-changed", path: abs });
  for (const abs of m.absent) if (statSync(abs, NO_THROW)) return miss({ kind: "file-changed", path: abs });
  for (const [abs, kind] of m.kinds) {
    const now = nodeLoadIO.stat(abs) ?? null; // probed exactly as the loader probes
    if (kind === "any" ? now === null : now !== kind) return miss({ kind: "probe-changed", path: abs });
  }
  if (m.listings.length) {
    const { listingDigest } = await import("../read-log.js");
    for (const [abs, digest] of m.listings) if (listingDigest(nodeLoadIO.readdir(abs)) !== digest) return miss({ kind: "listing-changed", path: abs });
  }
  if (m.tools.length) {
    const run = runner ?? (await shellSync());
    for (const [command, output] of m.tools) if (run(command, root) !== output) return miss({ kind: "tool-changed", command });
  }
  // From here on only outputs and sources can differ: collect them all (up to the limit).
  const dirty = changedStamps(root, m.paths, m.stamps, MAX_DIRTY + 1).map((k) => m.paths[k]!);
  if (m.trees.length) {
    const { treeSignature } = await import("./tree-signature.js");
    for (const [p, g] of m.trees) {
      let now: string | undefined;
      try {
        now = treeSignature(root + "/" + p);
      } catch {
        now = undefined; // gone or unreadable: changed
      }
      if (now !== g) dirty.push(p);
    }
  }
  if (dirty.length === 0) return { hit: true, fresh: m.fresh };
  const first: NoopMiss = { kind: "output-changed", path: dirty[0]! };
  return dirty.length <= MAX_DIRTY ? { hit: false, miss: first, dirty, manifest: m } : miss(first);
}

/** Formats a miss for `DAGBUILD_TRACE_NOOP` and tests. */
export function formatMiss(m: NoopMiss): string {
  switch (m.kind) {
    case "file-changed":
    case "probe-changed":
    case "listing-changed":
    case "output-changed":
      return `${m.kind} ${m.path}`;
    case "tool-changed":
      return `tool-changed \`${m.command}\``;
    default:
      return m.kind;
  }
}
