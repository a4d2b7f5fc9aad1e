/**
 * The write side of the no-op manifest (format and soundness argument: noop-manifest.ts).
 * Called by a build that ended clean, under the workspace lock.
 */
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import type { ReadLog } from "../read-log.js";
import type { OutputState, StatEntry } from "./state-index.js";
import { engineDir, NOOP_FORMAT, NOOP_FORMAT_VERSION, type NoopManifest, type Stamp } from "./noop-manifest.js";
import { nativeStatStamps, nativeStatStampsFile, stampOf } from "./stat-stamps.js";

/** A file modified this recently when stamped could change again unseen within one mtime tick. */
export const RACY_MS = 1000;
/** Manifests kept per workspace (one per distinct command line); the oldest go first. */
const KEEP = 32;

/** What the full check knew when the build ended clean: everything a manifest is made from. */
export interface NoopFacts {
  /** `requestKey` of the command line. */
  readonly request: string;
  readonly stateFile: string;
  /** Number of actions the request covers (all fresh now). */
  readonly fresh: number;
  /** What the load and the checker read, probed, listed and ran. */
  readonly log: ReadLog;
  /** Recorded outputs of every selected action (state index entries). */
  readonly outputs: readonly OutputState[];
  /** Source inputs of every selected action with their stat-cache entry (undefined: none). */
  readonly sources: readonly (readonly [path: string, entry: StatEntry | undefined])[];
  /** The engine's own code files, and when this process started (ms since the epoch). */
  readonly engineFiles: readonly string[];
  readonly processStart: number;
}

export type NoopWrite = { readonly written: true } | { readonly written: false; readonly why: string };

function stampAt(abs: string): Stamp | undefined {
  const st = statSync(abs, { throwIfNoEntry: false });
  return st && st.isFile() ? stampOf(st) : undefined;
}

/**
 * When a file was last written, for the racy test. The mtime, not the ctime: an edit after
 * the stamp always sets the mtime to "now", so only a file whose mtime is near now can change
 * unseen within one tick (a recent ctime with an old mtime, as after `cp -p`, cannot).
 */
const lastChange = (s: Stamp) => s[1];

/** A recorded stat, as a stamp (entries written before ctime was recorded never match). */
const recorded = (e: { z: number; m: number; i: number; c?: number }): number[] => [e.z, e.m, e.i, e.c ?? -1];

/**
 * Writes the manifest (temp + rename), or says why it cannot: a file changed or modified too
 * recently to trust its stamp, a directory source (hashed whole on every check, no stamp). On
 * a refusal the request's old manifest is removed (it would miss anyway; this makes it plain).
 */
export function writeNoopManifest(file: string, facts: NoopFacts): NoopWrite {
  const refuse = (why: string): NoopWrite => {
    rmSync(file, { force: true });
    return { written: false, why };
  };
  const files: [string, ...Stamp][] = [];
  const absent: string[] = [];
  for (const [abs, seen] of facts.log.reads) {
    if (seen === null) {
      if (statSync(abs, { throwIfNoEntry: false })) return refuse(`${abs} appeared during the build`);
      absent.push(abs);
      continue;
    }
    const s = stampAt(abs);
    if (!s) return refuse(`${abs} vanished during the build`);
    if (s.some((x, k) => x !== seen.stamp[k])) return refuse(`${abs} changed during the build`);
    if (lastChange(s) > seen.at - RACY_MS) return refuse(`${abs} was modified less than ${RACY_MS} ms before it was read`);
    files.push([abs, ...s]);
  }
  for (const abs of facts.engineFiles) {
    const s = stampAt(abs);
    if (!s) return refuse(`engine file ${abs} is missing`);
    if (lastChange(s) > facts.processStart - RACY_MS) return refuse(`engine file ${abs} is newer than this process`);
    files.push([abs, ...s]);
  }
  const paths: string[] = [];
  const stamps: number[] = [];
  const trees: [string, string][] = [];
  for (const o of facts.outputs) {
    if (o.t) trees.push([o.p, o.g ?? ""]);
    else paths.push(o.p), stamps.push(...recorded(o));
  }
  for (const [path, st] of facts.sources) {
    if (!st) return refuse(`source ${path} is a directory (hashed whole on every check)`);
    paths.push(path), stamps.push(...recorded(st));
  }
  const manifest: NoopManifest = {
    format: NOOP_FORMAT,
    version: NOOP_FORMAT_VERSION,
    request: facts.request,
    fresh: facts.fresh,
    state: stampAt(facts.stateFile) ?? null,
    files,
    absent,
    kinds: [...facts.log.kinds],
    listings: [...facts.log.listings],
    tools: [...facts.log.commands],
    paths,
    stamps,
    trees,
    engine: engineDir(),
  };
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp${process.pid}`;
  writeFileSync(tmp, JSON.stringify(manifest));
  renameSync(tmp, file);
  prune(dirname(file));
  return { written: true };
}

/** Keeps the newest KEEP manifests. */
function prune(dir: string): void {
  const names = readdirSync(dir).filter((n) => n.endsWith(".json"));
  if (names.length <= KEEP) return;
  const aged = names.map((n) => ({ n, m: statSync(join(dir, n)).mtimeMs })).sort((a, b) => b.m - a.m);
  for (const { n } of aged.slice(KEEP)) rmSync(join(dir, n), { force: true });
}

/** The engine's code (dist/src/engine, dist/src/cli, the schema, package.json, the native helper): stamped in every manifest. */
export function engineFiles(): string[] {
  const engine = fileURLToPath(new URL("..", import.meta.url)); // dist/src/engine/
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".js")) out.push(p);
    }
  };
  walk(engine);
  walk(join(engine, "..", "cli"));
  const repo = join(engine, "..", "..", "..");
  out.push(join(repo, "package.json"), join(repo, "schema", "pipeline.schema.json"));
  // The libraries the full check runs on (YAML parsing, schema validation): an upgrade in
  // node_modules changes what the load accepts, so their versions are stamped too.
  const req = createRequire(import.meta.url);
  for (const dep of ["yaml", "ajv"]) {
    try {
      out.push(req.resolve(`${dep}/package.json`));
    } catch {
      // not resolvable by package.json (exports map): its main file instead
      try {
        out.push(req.resolve(dep));
      } catch {
        /* not installed: the load would fail anyway */
      }
    }
  }
  if (nativeStatStamps()) out.push(nativeStatStampsFile()); // the helper that compares the stamps
  return out.sort();
}
