/**
 * `dagbuild host-check [--json]`: the facts an ssh host compares before running anything there.
 *
 * The ssh host runs this in the remote checkout (`<node> bin/dagbuild host-check --json`) and
 * refuses to use a host whose dagbuild version or package-lock.json differ from the local ones:
 * the same action must mean the same code on both sides, or cached results would lie.
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

/** The dagbuild checkout this module belongs to (dist/src/cli/commands/ → four levels up). */
export function projectRoot(): string {
  return fileURLToPath(new URL("../../../../", import.meta.url));
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

export async function run(argv: string[]): Promise<number> {
  const unknown = argv.filter((a) => a !== "--json");
  if (unknown.length > 0) {
    process.stderr.write(`dagbuild host-check: unknown argument ${unknown[0]} (usage: dagbuild host-check [--json])\n`);
    return 2;
  }
  const facts = hostFacts();
  if (argv.includes("--json")) {
    process.stdout.write(JSON.stringify(facts) + "\n");
  } else {
    process.stdout.write(
      `dagbuild ${facts.version}\nnode ${facts.node}\npackage-lock.json sha256 ${facts.lockfile_sha256 ?? "(missing)"}\n`,
    );
  }
  return 0;
}
