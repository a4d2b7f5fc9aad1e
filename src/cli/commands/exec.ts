/**
 * `dagbuild exec --spec FILE --staging DIR [--cas DIR] [--result FILE]`: runs one serialized
 * action in this process. Used by the local host in process isolation and, with `--cas`, as
 * the remote half of an SSH host:
 *   1. (--cas) materialize every input (and every finished sibling's output: spec.siblings) whose workspace file is missing or has another digest
 *      from the CAS blob of its digest (temp + rename); a directory input is made to hold
 *      exactly its tree (files left by an earlier version of it are removed);
 *   2. run the rule with outputs under --staging;
 *   3. (--cas) store the outputs in the CAS and write the result JSON (format version 1):
 *      {"version":1,"ok":true,"outputs":{name:{path,digest,size,dir,tree?}},"notFinal"?:reason} or {"version":1,"ok":false,"message"}.
 * Exit: 0 ok, 1 rule failed, 2 bad spec or missing input blob.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { ActionSpec } from "../../engine/hosts/host.js";
import { executeSpec } from "../../engine/exec.js";
import { shippedInputs } from "../../engine/siblings.js";
import { Cas, describePath } from "../../engine/cache/cas.js";
import { hashFile } from "../../engine/hash.js";

/**
 * A directory input must hold exactly its tree: files an earlier version of the directory left
 * in this workdir (a corpus of last week's span) would be read by the rule as if they were part
 * of it. Another action's materialization in progress (`*.tmp<pid>`) is left alone.
 */
function pruneStale(dest: string, tree: readonly { rel: string }[]): void {
  const keep = new Set(tree.map((e) => e.rel));
  let entries: string[];
  try {
    entries = readdirSync(dest, { recursive: true, encoding: "utf8" });
  } catch {
    return;
  }
  for (const rel of entries) {
    if (keep.has(rel) || /\.tmp\d+$/.test(rel)) continue;
    const abs = join(dest, rel);
    if (lstatSync(abs).isDirectory()) continue;
    rmSync(abs, { force: true });
  }
}

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

export async function run(argv: string[]): Promise<number> {
  const specFile = arg(argv, "--spec");
  const staging = arg(argv, "--staging");
  const casDir = arg(argv, "--cas");
  const resultFile = arg(argv, "--result");
  const root = process.cwd();
  const writeResult = (r: unknown) => {
    if (!resultFile) return;
    mkdirSync(dirname(resultFile), { recursive: true });
    writeFileSync(`${resultFile}.tmp`, JSON.stringify(r));
    renameSync(`${resultFile}.tmp`, resultFile);
  };
  if (!specFile || !staging) {
    process.stderr.write("usage: dagbuild exec --spec FILE --staging DIR [--cas DIR] [--result FILE]\n");
    return 2;
  }
  let spec: ActionSpec;
  try {
    spec = JSON.parse(readFileSync(specFile, "utf8"));
    if (spec.version !== 1) throw new Error(`unsupported action spec version ${String(spec.version)}`);
  } catch (e) {
    process.stderr.write(`dagbuild exec: ${specFile}: ${(e as Error).message}\n`);
    writeResult({ version: 1, ok: false, message: (e as Error).message });
    return 2;
  }
  // One action per process here, so its own environment (gpu tokens) can be the process's:
  // native libraries (CUDA) read it there.
  if (spec.env) Object.assign(process.env, spec.env);
  const cas = casDir ? new Cas(casDir) : undefined;
  if (cas) {
    for (const list of shippedInputs(spec)) {
      for (const f of list) {
        const dest = join(root, f.path);
        const entries = f.tree ? f.tree.map((e) => ({ dest: join(dest, e.rel), digest: e.digest, exec: e.executable })) : [{ dest, digest: f.digest, exec: false }];
        for (const e of entries) {
          if (existsSync(e.dest) && statSync(e.dest).isFile() && hashFile(e.dest).digest === e.digest) continue;
          mkdirSync(dirname(e.dest), { recursive: true });
          const tmp = `${e.dest}.tmp${process.pid}`;
          // Verified while copied: a corrupt blob is quarantined (the next run uploads it again).
          const got = cas.copyOut(e.digest, tmp, e.exec ? 0o755 : 0o644);
          if (got !== "ok") {
            const message = got === "missing" ? `input ${f.path} (sha256 ${e.digest}) is not in the remote CAS` : `input ${f.path}: the remote CAS blob ${e.digest} is corrupt (moved to ${cas.quarantineDir}); run the build again`;
            process.stderr.write(`dagbuild exec: ${message}\n`);
            writeResult({ version: 1, ok: false, message });
            return 2;
          }
          renameSync(tmp, e.dest);
        }
        if (f.tree) pruneStale(dest, f.tree);
      }
    }
  }
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  const result = await executeSpec(spec, root, staging, { log: (c) => process.stdout.write(c), signal: controller.signal });
  if (!result.ok) {
    process.stderr.write(`dagbuild exec: ${spec.id}: ${result.message}\n`);
    writeResult({ version: 1, ok: false, message: result.message, kind: result.kind });
    return 1;
  }
  const outputs: Record<string, unknown> = {};
  for (const [name, o] of Object.entries(spec.outputs)) {
    const p = join(staging, o.path);
    const art = cas ? cas.putPath(p) : describePath(p);
    outputs[name] = { path: o.path, digest: art.digest, size: art.size, dir: o.dir, ...(art.tree ? { tree: art.tree } : {}) };
  }
  writeResult({ version: 1, ok: true, outputs, ...(result.notFinal !== undefined ? { notFinal: result.notFinal } : {}) });
  return 0;
}
