/**
 * `cache/vars.json`: the vars the last build ran with and which of them `--set` overrode, so
 * `dagbuild status` can say what the outputs on disk were built from. Format (version 1):
 *   {"format": "dagbuild.vars", "version": 1, "set": {name: value}, "vars": {name: value}}
 * keys sorted. Written after every build that ran (not by dry runs or no-op answers).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Graph } from "../engine/graph-types.js";
import { maskUrlSecrets } from "../engine/secrets.js";

export const VARS_RECORD_FORMAT = "dagbuild.vars";
export const VARS_RECORD_VERSION = 1;

/** What a build ran with. */
export interface VarsRecord {
  readonly set: Readonly<Record<string, string>>;
  readonly vars: Readonly<Record<string, string>>;
}

/** A URL's secrets (its password, credential query parameters: src/engine/secrets.ts) as `***`: never written or shown. */
function redact(v: string): string {
  return maskUrlSecrets(v, () => () => "***");
}

function sorted(r: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => [k, redact(v)]));
}

/** The record of a loaded graph's vars. */
export function varsOf(graph: Graph): VarsRecord {
  return { set: sorted(graph.varOverrides ?? {}), vars: sorted(Object.fromEntries(graph.vars ?? [])) };
}

/** Writes `cache/vars.json` atomically. */
export function writeVarsRecord(cacheDir: string, rec: VarsRecord): void {
  mkdirSync(cacheDir, { recursive: true });
  const file = join(cacheDir, "vars.json");
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify({ format: VARS_RECORD_FORMAT, version: VARS_RECORD_VERSION, set: sorted(rec.set), vars: sorted(rec.vars) }) + "\n");
  renameSync(tmp, file);
}

/** The last build's record, or undefined when there is none (or it is unreadable). */
export function readVarsRecord(cacheDir: string): VarsRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(join(cacheDir, "vars.json"), "utf8"));
    if (r?.format !== VARS_RECORD_FORMAT || r.version !== VARS_RECORD_VERSION) return undefined;
    return { set: r.set ?? {}, vars: r.vars ?? {} };
  } catch {
    return undefined;
  }
}

/** `--set a=1 --set b=2`, or `no --set`. */
export function formatSet(set: Readonly<Record<string, string>>): string {
  const e = Object.entries(set);
  return e.length ? e.map(([k, v]) => `--set ${k}=${v}`).join(" ") : "no --set";
}
