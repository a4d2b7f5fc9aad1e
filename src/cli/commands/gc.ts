/**
 * `dagbuild gc [--max-size SIZE] [--max-age DAYS] [-n]`: trims the CAS and the action cache.
 * Never deletes what the newest records reference (every action's current outputs and its
 * record): those are the workspace's state. Other entries go when older than --max-age, then
 * oldest first until the cache fits --max-size (e.g. 500M, 2G).
 */
import { readdirSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { parseArgs, UsageError } from "../args.js";
import { openSession } from "../session.js";

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMGT]?)i?B?$/i.exec(s.trim());
  if (!m) throw new UsageError(`--max-size expects a size like 500M or 2G, got "${s}"`);
  return Number(m[1]) * 1024 ** " KMGT".indexOf((m[2] || " ").toUpperCase());
}

function files(dir: string): { path: string; size: number; mtime: number; name: string }[] {
  const out: { path: string; size: number; mtime: number; name: string }[] = [];
  let subs: string[];
  try {
    subs = readdirSync(dir);
  } catch {
    return out;
  }
  for (const sub of subs) {
    const d = join(dir, sub);
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      out.push({ path: p, size: st.size, mtime: st.mtimeMs, name });
    }
  }
  return out;
}

export async function run(argv: string[]): Promise<number> {
  let maxSize = Infinity;
  let maxAgeMs = Infinity;
  // A UsageError is reported by main ("dagbuild gc: ...", exit 2).
  const o = parseArgs(argv, { "max-size": "value", "max-age": "value" });
  if (o.extra["max-size"]) maxSize = parseSize(o.extra["max-size"]);
  if (o.extra["max-age"] !== undefined) {
    const days = o.extra["max-age"].trim() === "" ? NaN : Number(o.extra["max-age"]);
    // A negative age would make everything "too old"; NaN would keep everything silently.
    if (!Number.isFinite(days) || days < 0) throw new UsageError(`--max-age expects a number of days (0 or more), got "${o.extra["max-age"]}"`);
    maxAgeMs = days * 86_400_000;
  }
  const s = await openSession(o, { lock: "gc" });
  if (typeof s === "number") return s;
  try {
    // The live set: current keys' records and every blob they reference.
    const liveRecords = new Set<string>();
    const liveBlobs = new Set<string>();
    for (const st of s.checker.state.actions.values()) {
      liveRecords.add(`${st.k}.json`);
      const rec = s.checker.ac.get(st.k);
      for (const out of Object.values(rec?.outputs ?? {})) {
        liveBlobs.add(out.digest);
        for (const e of out.tree ?? []) liveBlobs.add(e.digest);
      }
      for (const out of Object.values(st.o)) liveBlobs.add(out.d);
    }
    const now = Date.now();
    // Each directory is listed (and every entry stat'ed) once.
    const blobs = files(s.paths.cas);
    const records = files(s.paths.ac);
    const candidates = [...blobs.filter((f) => !liveBlobs.has(f.name)), ...records.filter((f) => !liveRecords.has(f.name))].sort((a, b) => a.mtime - b.mtime);
    let total = [...blobs, ...records].reduce((n, f) => n + f.size, 0);
    let freed = 0;
    let removed = 0;
    for (const f of candidates) {
      if (now - f.mtime <= maxAgeMs && total <= maxSize) continue;
      if (!o.dryRun) unlinkSync(f.path);
      total -= f.size;
      freed += f.size;
      removed++;
    }
    process.stderr.write(`dagbuild gc: ${o.dryRun ? "would remove" : "removed"} ${removed} entries (${(freed / 1048576).toFixed(1)} MiB); cache now ${(total / 1048576).toFixed(1)} MiB${total > maxSize ? " (live entries alone exceed --max-size)" : ""}\n`);
    return 0;
  } finally {
    s.release();
  }
}
