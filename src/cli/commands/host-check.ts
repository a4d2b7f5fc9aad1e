/**
 * `dagbuild host-check [--json]`: the facts an ssh host compares before running anything there.
 *
 * The ssh host runs this in the remote checkout (`<node> bin/dagbuild host-check --json`) and
 * refuses to use a host whose dagbuild version or package-lock.json differ from the local ones:
 * the same action must mean the same code on both sides, or cached results would lie.
 */
import { hostFacts } from "../../engine/host-facts.js";

export type { HostFacts } from "../../engine/host-facts.js";

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
