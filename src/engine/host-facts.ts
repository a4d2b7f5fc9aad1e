/**
 * The facts an ssh host compares before running anything remotely: the same action must mean
 * the same code on both sides (dagbuild version and package-lock.json), or cached results lie.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** What `host-check --json` prints (one JSON object, one line). */
export interface HostFacts {
  /** `version` of the dagbuild package.json. */
  readonly version: string;
  /** sha256 hex of package-lock.json; null when the checkout has none. */
  readonly lockfile_sha256: string | null;
  /** `process.version` of the node running dagbuild, e.g. `v20.20.2`. */
  readonly node: string;
}

/** The dagbuild checkout this module belongs to (dist/src/engine/ → three levels up). */
export function projectRoot(): string {
  return fileURLToPath(new URL("../../../", import.meta.url));
}

/** Facts of the checkout at `root` (default: the one running). */
export function hostFacts(root: string = projectRoot()): HostFacts {
  const pkg = JSON.parse(readFileSync(`${root}/package.json`, "utf8")) as { version?: unknown };
  let lock: string | null = null;
  try {
    lock = createHash("sha256").update(readFileSync(`${root}/package-lock.json`)).digest("hex");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  return { version: String(pkg.version), lockfile_sha256: lock, node: process.version };
}

