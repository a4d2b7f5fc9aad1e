/**
 * `dagbuild verify [targets] [--rebuild] [--on HOST] [--no-deps] [--json]`: holds the workspace
 * to its recorded digests: the selected actions and everything they depend on (`--no-deps`:
 * the named ones only).
 * Without --rebuild: every output on disk is re-hashed and compared with its record.
 * With --rebuild: every selected action is executed again into a scratch directory (nothing
 * is committed) and its outputs' digests compared with the record: a reproducibility check.
 * `--on HOST` re-executes on that host instead of the action's own (the droplet's result,
 * rebuilt on the gpu host, must match).
 * A mismatch is classified (src/verify/compare.ts): JSON, CSV and parquet structurally, tar
 * member by member, anything else by its first differing byte; a target's `verify:` block
 * (`rtol`, `atol`, `ignore`) turns allowed differences into "within tolerance".
 * Either way every CAS blob the current records use is re-hashed: a corrupt one is moved to
 * cache/quarantine/ and, when the output in the workspace still has the recorded content,
 * stored again from it (REPAIRED); otherwise it is reported (CORRUPT, or MISSING-BLOB) and the
 * next build that needs it runs the action instead of restoring. Holds the workspace lock.
 * Exit 0 when everything matches or is within tolerance (repaired blobs included), 1 otherwise.
 * `--json`: one document, format version 1 (see VerifyReport).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs, UsageError } from "../args.js";
import { openSession, selectOrReport, type Session } from "../session.js";
import type { ActionRecord, RecordedOutput } from "../../engine/cache/action-cache.js";
import { hashFile } from "../../engine/hash.js";
import { describePath } from "../../engine/cache/cas.js";
import { createHost } from "../../engine/hosts/index.js";
import { toSpec } from "../../engine/scheduler.js";
import { cacheResidentInputs } from "../../engine/residency.js";
import { dirAware } from "../../engine/plan.js";
import { formatHold } from "../../engine/retrain-hold.js";
import { safeName } from "../../engine/workspace.js";
import type { Host, TreeEntry } from "../../engine/hosts/host.js";
import { compareBytes, compareContent, type FileComparison, type VerifyConfig } from "../../verify/compare.js";

/** One problem or finding about one action. */
export interface VerifyFinding {
  readonly id: string;
  /** MISMATCH (on disk), NONDETERMINISTIC (rebuilt), WITHIN-TOLERANCE, MISSING, STALE, HELD (not rebuilt), FAILED, CORRUPT, MISSING-BLOB, REPAIRED. */
  readonly kind: string;
  readonly message: string;
  /** The classified comparisons (outputs; for a directory, each file that differs). */
  readonly files?: readonly FileComparison[];
}

/** `--json` output, format version 1. */
export interface VerifyReport {
  readonly version: 1;
  readonly rebuild: boolean;
  readonly on?: string;
  readonly checked: number;
  readonly problems: number;
  readonly within_tolerance: number;
  readonly findings: readonly VerifyFinding[];
}

/** Problems are everything but REPAIRED, WITHIN-TOLERANCE and HELD. */
const isProblem = (f: VerifyFinding) => f.kind !== "REPAIRED" && f.kind !== "WITHIN-TOLERANCE" && f.kind !== "HELD";

export async function run(argv: string[]): Promise<number> {
  const o = parseArgs(argv, { rebuild: "bool", on: "value", "no-deps": "bool" });
  if (o.extra.on !== undefined && o.extra.rebuild !== "true") throw new UsageError("--on HOST re-executes: use it with --rebuild");
  const s = await openSession(o, { lock: "verify" });
  if (typeof s === "number") return s;
  try {
    if (o.extra.on !== undefined && o.extra.on !== "local" && !s.graph.hosts[o.extra.on]) {
      process.stderr.write(`dagbuild verify: --on ${o.extra.on}: no such host in ${s.graph.pipelineFile} (hosts: ${["local", ...Object.keys(s.graph.hosts)].join(", ")})\n`);
      return 2;
    }
    const report = await verify(s, o.positional, o.extra.rebuild === "true", o.extra.on, o.extra["no-deps"] === "true", o.json ? () => {} : (f) => process.stdout.write(formatFinding(f)));
    if (typeof report === "number") return report;
    if (o.json) process.stdout.write(JSON.stringify(report, null, 2) + "\n");
    else
      process.stdout.write(
        `verify${report.rebuild ? " --rebuild" : ""}${report.on ? ` --on ${report.on}` : ""}: ${report.checked} actions checked, ${report.problems} problem${report.problems === 1 ? "" : "s"}` +
          (report.within_tolerance ? `, ${report.within_tolerance} within tolerance` : "") +
          "\n",
      );
    return report.problems ? 1 : 0;
  } finally {
    s.release();
  }
}

/** Text rendering: the finding, then one indented line per classified file. */
export function formatFinding(f: VerifyFinding): string {
  let s = `${f.kind.padEnd(8)} ${f.id}: ${f.message}\n`;
  for (const c of f.files ?? []) {
    if (c.verdict === "identical") continue;
    s += `    ${c.path} [${c.format}${c.verdict === "within-tolerance" ? ", within tolerance" : ""}]: ${c.summary}\n`;
    for (const m of c.members ?? []) if (m.verdict !== "identical") s += `      ${m.path} [${m.format}]: ${m.summary}\n`;
  }
  return s;
}

/**
 * Re-hashes every blob of `rec` (one action's current record); repairs a bad or missing one
 * from the workspace file when that still has the blob's content.
 */
function checkBlobs(s: Session, id: string, rec: ActionRecord, resident: ReadonlySet<string>): VerifyFinding[] {
  const found: VerifyFinding[] = [];
  for (const out of Object.values(rec.outputs)) {
    if (resident.has(out.path)) continue; // its blobs are in its host's CAS, not here (docs/hosts.md)
    const blobs = out.tree ? out.tree.map((e) => ({ digest: e.digest, file: join(s.graph.root, out.path, e.rel), what: `${out.path}/${e.rel}` })) : [{ digest: out.digest, file: join(s.graph.root, out.path), what: out.path }];
    for (const b of blobs) {
      const got = s.checker.cas.check(b.digest);
      if (got === "ok") continue;
      let repaired = false;
      try {
        const h = statSync(b.file).isFile() ? hashFile(b.file) : undefined;
        if (h?.digest === b.digest) {
          s.checker.cas.putFile(b.file, h); // hashed just now: not again
          repaired = true;
        }
      } catch {
        // the output is gone: nothing to repair from
      }
      if (repaired) found.push({ id, kind: "REPAIRED", message: `${b.what}: cache blob ${b.digest.slice(0, 12)} was ${got}, stored again from the workspace` });
      else if (got === "corrupt") found.push({ id, kind: "CORRUPT", message: `${b.what}: cache blob ${b.digest.slice(0, 12)} moved to ${s.checker.cas.quarantineDir}; the next build runs the action instead of restoring it` });
      else found.push({ id, kind: "MISSING-BLOB", message: `${b.what}: cache blob ${b.digest.slice(0, 12)} is missing from the CAS and the workspace file no longer has its content; the next build runs the action instead of restoring it` });
    }
  }
  return found;
}

/** The recorded content of a blob, when the CAS still has it. */
function blob(s: Session, digest: string): Buffer | undefined {
  const p = s.checker.cas.blobPath(digest);
  return existsSync(p) ? readFileSync(p) : undefined;
}

/**
 * Classifies the difference between the recorded output `out` and the one under `base`
 * (the workspace or a rebuild's staging dir): a file's content, or a directory file by file.
 */
async function classify(s: Session, out: RecordedOutput, base: string, cfg: VerifyConfig): Promise<FileComparison[]> {
  const abs = join(base, out.path);
  if (!existsSync(abs)) return [{ path: out.path, format: "bytes", verdict: "mismatch", summary: "missing", sizes: [out.size, 0] }];
  if (!out.dir) {
    const was = blob(s, out.digest);
    const now = readFileSync(abs);
    if (!was) return [{ path: out.path, format: "bytes", verdict: "mismatch", summary: `recorded content unavailable (blob ${out.digest.slice(0, 12)} is not in the CAS); size ${out.size} recorded, ${now.length} now`, sizes: [out.size, now.length] }];
    return [await compareContent(out.path, was, now, cfg)];
  }
  const now = describePath(abs);
  const before = new Map((out.tree ?? []).map((e) => [e.rel, e] as const));
  const after = new Map((now.tree ?? []).map((e: TreeEntry) => [e.rel, e] as const));
  const files: FileComparison[] = [];
  for (const [rel, e] of before) {
    const path = `${out.path}/${rel}`;
    const n = after.get(rel);
    if (!n) files.push({ path, format: "bytes", verdict: "mismatch", summary: "file gone from the directory", sizes: [e.size, 0] });
    else if (n.digest !== e.digest) {
      const was = blob(s, e.digest);
      const cur = readFileSync(join(abs, rel));
      files.push(was ? await compareContent(path, was, cur, cfg) : compareBytes(path, Buffer.alloc(0), cur, `recorded content unavailable (blob ${e.digest.slice(0, 12)} is not in the CAS)`));
    } else if (n.executable !== e.executable) files.push({ path, format: "bytes", verdict: "mismatch", summary: `executable bit ${e.executable} recorded, ${n.executable} now`, sizes: [e.size, n.size] });
  }
  for (const [rel, n] of after) if (!before.has(rel)) files.push({ path: `${out.path}/${rel}`, format: "bytes", verdict: "mismatch", summary: "file new in the directory", sizes: [0, n.size] });
  const emptyWas = (out.dirs ?? []).join("\n");
  const emptyNow = (now.dirs ?? []).join("\n");
  if (emptyWas !== emptyNow) files.push({ path: `${out.path}/`, format: "bytes", verdict: "mismatch", summary: `empty directories differ: [${emptyWas}] recorded, [${emptyNow}] now`, sizes: [0, 0] });
  if (!files.length) files.push({ path: `${out.path}/`, format: "bytes", verdict: "mismatch", summary: "same files, different directory digest", sizes: [out.size, now.size] });
  return files;
}

/** One finding from the classified files of one output (MISMATCH/NONDETERMINISTIC or WITHIN-TOLERANCE). */
function findingOf(id: string, kind: string, out: RecordedOutput, files: FileComparison[], digestNow: string): VerifyFinding {
  const bad = files.filter((f) => f.verdict === "mismatch");
  const what = kind === "NONDETERMINISTIC" ? "rebuilt" : "now";
  const digests = `recorded ${out.digest.slice(0, 12)} ${what} ${digestNow.slice(0, 12)}`;
  if (!bad.length) return { id, kind: "WITHIN-TOLERANCE", message: `${out.path}${out.dir ? "/" : ""} ${digests}: within tolerance`, files };
  return { id, kind, message: `${out.path}${out.dir ? "/" : ""} ${digests}${out.dir ? `: ${bad.length} file${bad.length === 1 ? "" : "s"} differ` : ""}`, files };
}

function digestOf(abs: string): string {
  try {
    return describePath(abs).digest;
  } catch {
    return "(missing)";
  }
}

async function verify(s: Session, targets: string[], rebuild: boolean, on: string | undefined, noDeps: boolean, emit: (f: VerifyFinding) => void): Promise<VerifyReport | number> {
  const sel = selectOrReport(s.graph, targets);
  if (typeof sel === "number") return sel;
  // --no-deps: the named actions only, not everything upstream (a rebuild of one model, not of Stage 1).
  if (noDeps) sel.ids = sel.ids.filter((id) => sel.roots.includes(id));
  const findings: VerifyFinding[] = [];
  const add = (f: VerifyFinding) => {
    findings.push(f);
    emit(f);
  };
  let checked = 0;
  const hosts = new Map<string, Host>();
  const controller = new AbortController();
  process.once("SIGINT", () => controller.abort());
  for (const id of sel.ids) {
    const node = s.graph.actions.get(id)!;
    const cfg: VerifyConfig = node.verify ?? {};
    const st = s.checker.state.actions.get(id);
    if (!st) {
      add({ id, kind: "MISSING", message: "never built" });
      continue;
    }
    checked++;
    const rec = s.checker.ac.get(st.k);
    const resident = new Set(Object.values(st.o).flatMap((o) => (o.h !== undefined ? [o.p] : [])));
    if (rec) for (const f of checkBlobs(s, id, rec, resident)) add(f);
    const recorded = (name: string): RecordedOutput => rec?.outputs[name] ?? { path: st.o[name]!.p, digest: st.o[name]!.d, size: st.o[name]!.z, dir: st.o[name]!.t === 1 };
    if (!rebuild) {
      for (const [name, out] of Object.entries(st.o)) {
        if (out.h !== undefined) continue; // resident on its host (docs/hosts.md): no workspace copy to compare
        const now = digestOf(join(s.graph.root, out.p));
        if (now !== out.d) add(findingOf(id, "MISMATCH", recorded(name), await classify(s, recorded(name), s.graph.root, cfg), now));
      }
      continue;
    }
    const lookup = dirAware(s.graph, (path: string) => {
      const producer = s.graph.producers.get(path);
      return producer ? s.checker.recordedOutput(producer, path) : undefined;
    });
    const d = s.checker.decide(node, lookup);
    if (d.status === "held") {
      // Its outputs are those of its recorded key, whose inputs are no longer the ones on disk:
      // re-executing it now would train on the new inputs, which is not what it recorded.
      add({ id, kind: "HELD", message: `held by retrain_every (${formatHold(d.reason, d.hold)}): its outputs are those of its record, built ${d.hold.builtAt} from older inputs; not rebuilt` });
      continue;
    }
    if (d.status !== "fresh") {
      add({ id, kind: "STALE", message: `build it first (dagbuild ${node.target})` });
      continue;
    }
    const material = s.checker.ac.get(d.key)?.material;
    if (!material) {
      add({ id, kind: "MISSING", message: "no action record for its key" });
      continue;
    }
    const hostName = on ?? node.host;
    const hostFor = async (name: string): Promise<Host> => {
      let h = hosts.get(name);
      if (!h) {
        h = await createHost(name, s.graph.hosts[name] ?? { transport: "local" }, { root: s.graph.root, casDir: s.paths.cas, logTransfer: () => {}, note: () => {} });
        await h.prepare(controller.signal);
        hosts.set(name, h);
      }
      return h;
    };
    const host = await hostFor(hostName);
    // Inputs left on another host (resident) reach this one through the local CAS.
    try {
      await cacheResidentInputs(s.checker, node, hostName, hostFor, s.paths.tmp);
    } catch (e) {
      add({ id, kind: "FAILED", message: `on ${hostName}: ${(e as Error).message}` });
      continue;
    }
    const staging = join(s.paths.tmp, `verify.${safeName(id)}.${process.pid}`);
    mkdirSync(staging, { recursive: true });
    try {
      const spec = toSpec(node, { status: "stale", reason: { kind: "forced" }, key: d.key, material, restorable: undefined }, s.checker, lookup);
      const r = await host.run(spec, staging, { log: () => {}, signal: controller.signal });
      if (!r.ok) {
        add({ id, kind: "FAILED", message: `on ${hostName}: ${r.message}` });
        continue;
      }
      for (const [name, out] of Object.entries(st.o)) {
        const again = digestOf(join(staging, out.p));
        if (again !== out.d) add(findingOf(id, "NONDETERMINISTIC", recorded(name), await classify(s, recorded(name), staging, cfg), again));
      }
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  for (const h of hosts.values()) await h.close();
  const problems = findings.filter(isProblem).length;
  return { version: 1, rebuild, ...(on ? { on } : {}), checked, problems, within_tolerance: findings.filter((f) => f.kind === "WITHIN-TOLERANCE").length, findings };
}
