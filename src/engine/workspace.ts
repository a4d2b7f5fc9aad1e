/**
 * Where dagbuild keeps its state inside a workspace. Everything lives under `cache/` so
 * `cache/tmp` and the outputs share one file system and a rename is atomic.
 */
import { join } from "node:path";

/** Absolute paths of the engine's on-disk state for one workspace. */
export interface WorkspacePaths {
  readonly root: string;
  readonly cache: string;
  readonly cas: string;
  readonly ac: string;
  readonly logs: string;
  readonly tmp: string;
  readonly state: string;
  readonly lock: string;
  readonly transferLog: string;
}

export function workspacePaths(root: string): WorkspacePaths {
  const cache = join(root, "cache");
  return {
    root,
    cache,
    cas: join(cache, "cas"),
    ac: join(cache, "ac"),
    logs: join(cache, "logs"),
    tmp: join(cache, "tmp"),
    state: join(cache, "state.v1.jsonl"),
    lock: join(cache, "lock"),
    transferLog: join(root, "handoff", "transfer_log.md"),
  };
}

/** A file-name-safe form of an action id (`gates[mode=rolling,week=2025-05-12]`). */
export function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9._=-]+/g, "_").slice(0, 180);
}
