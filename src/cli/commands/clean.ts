/**
 * `dagbuild clean [targets]`: removes the outputs of the selected targets (default: all) and
 * forgets their records in the state index; the CAS keeps the blobs, so a rebuild of an
 * unchanged action is a restore. `--cache` also deletes cache/ entirely.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "../args.js";
import { openSession, selectOrReport } from "../session.js";
import { acquireLock } from "../../engine/lock.js";

export async function run(argv: string[]): Promise<number> {
  const o = parseArgs(argv, { cache: "bool" });
  const s = await openSession(o);
  if (typeof s === "number") return s;
  const sel = o.positional.length ? selectOrReport(s.graph, o.positional) : { ids: [...s.graph.actions.keys()], roots: [...s.graph.actions.keys()] };
  if (typeof sel === "number") return sel;
  const lock = acquireLock(s.paths.lock);
  if (!lock.ok) {
    process.stderr.write(`dagbuild clean: a build (pid ${lock.holder}) is running in this workspace\n`);
    return 75;
  }
  try {
    let n = 0;
    // Only the named targets, not their upstream: `clean lstm` must not wipe the corpus.
    for (const id of o.positional.length ? sel.roots : sel.ids) {
      const node = s.graph.actions.get(id)!;
      for (const out of Object.values(node.outputs)) {
        rmSync(join(s.graph.root, out.path), { recursive: true, force: true });
        n++;
      }
      s.checker.state.forgetAction(id);
    }
    s.checker.state.compact();
    if (o.extra.cache === "true") {
      lock.release();
      rmSync(s.paths.cache, { recursive: true, force: true });
    }
    process.stderr.write(`dagbuild clean: removed ${n} output${n === 1 ? "" : "s"}${o.extra.cache === "true" ? " and the cache" : ""}\n`);
    return 0;
  } finally {
    lock.release();
  }
}
