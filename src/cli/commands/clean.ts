/**
 * `dagbuild clean [targets]`: removes the outputs of the selected targets (default: all) and
 * forgets their records in the state index; the CAS keeps the blobs, so a rebuild of an
 * unchanged action is a restore. `--cache` also deletes cache/ entirely.
 */
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "../args.js";
import { openSession, selectOrReport } from "../session.js";

export async function run(argv: string[]): Promise<number> {
  const o = parseArgs(argv, { cache: "bool" });
  const s = await openSession(o, { lock: "clean" });
  if (typeof s === "number") return s;
  const sel = o.positional.length ? selectOrReport(s.graph, o.positional) : { ids: [...s.graph.actions.keys()], roots: [...s.graph.actions.keys()] };
  try {
    if (typeof sel === "number") return sel;
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
      // Everything but the lock, which this command still holds (released below).
      for (const entry of readdirSync(s.paths.cache)) {
        const p = join(s.paths.cache, entry);
        if (p !== s.paths.lock) rmSync(p, { recursive: true, force: true });
      }
    }
    process.stderr.write(`dagbuild clean: removed ${n} output${n === 1 ? "" : "s"}${o.extra.cache === "true" ? " and the cache" : ""}\n`);
    return 0;
  } finally {
    s.release();
  }
}
