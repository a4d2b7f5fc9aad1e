/**
 * `dagbuild verify [targets] [--rebuild]`: holds the workspace to its recorded digests.
 * Without --rebuild: every output on disk is re-hashed and compared with its record.
 * With --rebuild: every selected action is executed again into a scratch directory (nothing
 * is committed) and its outputs' digests compared with the record: a reproducibility check.
 * Either way every CAS blob the current records use is re-hashed: a corrupt one is moved to
 * cache/quarantine/ and, when the output in the workspace still has the recorded content,
 * stored again from it (REPAIRED); otherwise it is reported (CORRUPT) and the next build that
 * needs it runs the action instead of restoring. Holds the workspace lock (it writes the CAS).
 * Exit 0 when everything matches (repaired blobs included), 1 otherwise.
 */
import { mkdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "../args.js";
import { openSession, selectOrReport, type Session } from "../session.js";
import type { ActionRecord } from "../../engine/cache/action-cache.js";
import { hashFile } from "../../engine/hash.js";
import { describePath } from "../../engine/cache/cas.js";
import { createHost } from "../../engine/hosts/index.js";
import { toSpec } from "../../engine/scheduler.js";
import { dirAware } from "../../engine/plan.js";
import { safeName } from "../../engine/workspace.js";
import type { Host } from "../../engine/hosts/host.js";

export async function run(argv: string[]): Promise<number> {
  const o = parseArgs(argv, { rebuild: "bool" });
  const s = await openSession(o, { lock: "verify" });
  if (typeof s === "number") return s;
  try {
    return await verify(s, o.positional, o.extra.rebuild === "true");
  } finally {
    s.release();
  }
}

/**
 * Re-hashes every blob of `rec` (one action's current record); repairs a bad or missing one
 * from the workspace file when that still has the blob's content. Returns the problems left.
 */
function checkBlobs(s: Session, id: string, rec: ActionRecord): number {
  let bad = 0;
  for (const out of Object.values(rec.outputs)) {
    const blobs = out.tree ? out.tree.map((e) => ({ digest: e.digest, file: join(s.graph.root, out.path, e.rel), what: `${out.path}/${e.rel}` })) : [{ digest: out.digest, file: join(s.graph.root, out.path), what: out.path }];
    for (const b of blobs) {
      const got = s.checker.cas.check(b.digest);
      if (got === "ok") continue;
      let repaired = false;
      try {
        if (statSync(b.file).isFile() && hashFile(b.file).digest === b.digest) {
          s.checker.cas.putFile(b.file);
          repaired = true;
        }
      } catch {
        // the output is gone: nothing to repair from
      }
      if (repaired) process.stdout.write(`REPAIRED ${id}: ${b.what}: cache blob ${b.digest.slice(0, 12)} was ${got}, stored again from the workspace\n`);
      else if (got === "corrupt") {
        process.stdout.write(`CORRUPT  ${id}: ${b.what}: cache blob ${b.digest.slice(0, 12)} moved to ${s.checker.cas.quarantineDir}; the next build runs the action instead of restoring it\n`);
        bad++;
      }
    }
  }
  return bad;
}

async function verify(s: Session, targets: string[], rebuild: boolean): Promise<number> {
  const sel = selectOrReport(s.graph, targets);
  if (typeof sel === "number") return sel;
  let bad = 0;
  let checked = 0;
  const hosts = new Map<string, Host>();
  const controller = new AbortController();
  process.once("SIGINT", () => controller.abort());
  for (const id of sel.ids) {
    const node = s.graph.actions.get(id)!;
    const st = s.checker.state.actions.get(id);
    if (!st) {
      process.stdout.write(`MISSING  ${id}: never built\n`);
      bad++;
      continue;
    }
    checked++;
    const rec = s.checker.ac.get(st.k);
    if (rec) bad += checkBlobs(s, id, rec);
    if (!rebuild) {
      for (const out of Object.values(st.o)) {
        let now: string;
        try {
          now = describePath(join(s.graph.root, out.p)).digest;
        } catch {
          now = "(missing)";
        }
        if (now !== out.d) {
          process.stdout.write(`MISMATCH ${id}: ${out.p} recorded ${out.d.slice(0, 12)} now ${now.slice(0, 12)}\n`);
          bad++;
        }
      }
      continue;
    }
    const lookup = dirAware(s.graph, (path: string) => {
      const producer = s.graph.producers.get(path);
      return producer ? s.checker.recordedOutput(producer, path) : undefined;
    });
    const d = s.checker.decide(node, lookup);
    if (d.status !== "fresh") {
      process.stdout.write(`STALE    ${id}: build it first (dagbuild ${node.target})\n`);
      bad++;
      continue;
    }
    const material = s.checker.ac.get(d.key)?.material;
    if (!material) {
      process.stdout.write(`MISSING  ${id}: no action record for its key\n`);
      bad++;
      continue;
    }
    let host = hosts.get(node.host);
    if (!host) {
      host = await createHost(node.host, s.graph.hosts[node.host] ?? { transport: "local" }, { root: s.graph.root, casDir: s.paths.cas, logTransfer: () => {}, note: () => {} });
      await host.prepare(controller.signal);
      hosts.set(node.host, host);
    }
    const staging = join(s.paths.tmp, `verify.${safeName(id)}.${process.pid}`);
    mkdirSync(staging, { recursive: true });
    try {
      const spec = toSpec(node, { status: "stale", reason: { kind: "forced" }, key: d.key, material, restorable: undefined }, s.checker, lookup);
      const r = await host.run(spec, staging, { log: () => {}, signal: controller.signal });
      if (!r.ok) {
        process.stdout.write(`FAILED   ${id}: ${r.message}\n`);
        bad++;
        continue;
      }
      for (const out of Object.values(st.o)) {
        const again = describePath(join(staging, out.p)).digest;
        if (again !== out.d) {
          process.stdout.write(`NONDETERMINISTIC ${id}: ${out.p} recorded ${out.d.slice(0, 12)} rebuilt ${again.slice(0, 12)}\n`);
          bad++;
        }
      }
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  for (const h of hosts.values()) await h.close();
  process.stdout.write(`verify${rebuild ? " --rebuild" : ""}: ${checked} actions checked, ${bad} problem${bad === 1 ? "" : "s"}\n`);
  return bad ? 1 : 0;
}
