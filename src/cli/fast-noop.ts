/**
 * The no-op fast path of `dagbuild [targets...]` and `dagbuild -n`: before the pipeline is even
 * parsed, check the no-op manifest the last clean build of this command line left; if every
 * stamp in it still matches, print what the full check would print and stop. Anything else
 * (a miss, --force, --json, a held lock) goes on to the full build command, with a hint: the
 * workspace lock, still held (no other build may move things between this check and that
 * one), and the outputs and sources that moved when nothing else did, so the build decides
 * only what depends on them.
 *
 * Imports node built-ins and small engine modules only: no YAML, no schema, no graph.
 * `DAGBUILD_FULL_CHECK=1` turns it off; `DAGBUILD_TRACE_NOOP=1` prints why it missed.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs, type CommonOptions } from "./args.js";
import { acquireLock } from "../engine/lock.js";
import { workspacePaths } from "../engine/workspace.js";
import { checkNoopManifest, formatMiss, noopManifestPath, requestKey, type NoopManifest, type NoopRequest } from "../engine/cache/noop-manifest.js";
import { workspaceMasker } from "../engine/secrets.js";

/** The request a parsed command line makes (shared with the build command that writes manifests). */
export function noopRequest(o: CommonOptions): NoopRequest {
  return { root: resolve(o.dir), pipeline: o.pipeline, hostOverrides: o.hostOverrides, varOverrides: o.varOverrides, targets: o.positional };
}

/** What the full build takes over from a fast path that could not answer. */
export interface BuildHint {
  /** Releases the workspace lock the fast path took (idempotent; a no-op for a dry run). */
  readonly release: () => void;
  /** Outputs and sources that moved, when nothing else did (see NoopCheck). */
  readonly dirty?: readonly string[];
  /**
   * The manifest `dirty` was found against: the build holds its own load to it (a pipeline
   * edited after this check, say while tool commands ran, makes `dirty` meaningless).
   */
  readonly manifest?: NoopManifest;
}

/** The answer (an exit code), or the hint for the full build (undefined: no hint). */
export type FastNoop = { readonly code: number } | BuildHint | undefined;

export async function fastNoop(argv: readonly string[]): Promise<FastNoop> {
  if (process.env.DAGBUILD_FULL_CHECK === "1") return undefined;
  let o: CommonOptions;
  try {
    o = parseArgs(argv);
  } catch {
    return undefined; // the build command reports usage errors
  }
  if (o.force.length > 0 || o.json) return undefined;
  const req = noopRequest(o);
  const paths = workspacePaths(req.root);
  // No pipeline here: nothing to check, and taking the lock would create cache/ where there is
  // no workspace. The full path reports the missing pipeline.
  if (!existsSync(resolve(req.root, o.pipeline))) return undefined;
  // A real build decides under the lock (another build may be changing things); so does this.
  let release = () => {};
  if (!o.dryRun) {
    const lock = acquireLock(paths.lock);
    if (!lock.ok) return undefined; // the full path reports the holder
    release = lock.release;
  }
  const key = requestKey(req, () => workspaceMasker(paths.cache));
  // An unreadable file or a permission problem throws: the full build meets it and reports it.
  const r = await checkNoopManifest(noopManifestPath(paths.cache, key), req.root, key, paths.state).catch(() => undefined);
  const trace = process.env.DAGBUILD_TRACE_NOOP === "1";
  if (r?.hit) {
    release();
    if (trace) process.stderr.write("dagbuild: no-op manifest: hit\n");
    if (o.dryRun) process.stdout.write(`0 to run, ${r.fresh} up to date\n`);
    else process.stderr.write(`dagbuild: nothing to do (${r.fresh} up to date)\n`);
    return { code: 0 };
  }
  if (trace && r) process.stderr.write(`dagbuild: no-op manifest: ${formatMiss(r.miss)}${r.dirty ? ` (${r.dirty.length} moved)` : ""}\n`);
  return r?.dirty && r.manifest ? { release, dirty: r.dirty, manifest: r.manifest } : { release };
}
