/**
 * Test double of the remote side of the ssh host: `host-check --json` and `exec` (shell rules
 * only), speaking the documented protocol of `dagbuild exec --spec --staging --cas --result`.
 * The transport tests use it to control the remote exactly (corrupt a blob, slow a rule) and to
 * run before/independently of the real executor; the contract suite also runs on the real one.
 *
 * Shell rules see `{out.NAME}` / `{out}` (staging paths) and `{in.NAME}` / `{deps}` (workspace
 * paths) substituted, and run with `bash -c` in the workdir.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { hostFacts } from "../../src/engine/host-facts.js";
import type { ActionSpec } from "../../src/engine/hosts/host.js";

function sha(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

function store(cas: string, file: string): string {
  const d = sha(file);
  const dest = join(cas, d.slice(0, 2), d);
  if (!existsSync(dest)) {
    // Content-addressed: an existing blob is kept as is (like the real CAS).
    mkdirSync(dirname(dest), { recursive: true });
    copyFileSync(file, `${dest}.tmp`);
    renameSync(`${dest}.tmp`, dest);
  }
  return d;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === "host-check") {
    process.stdout.write(JSON.stringify(hostFacts(process.cwd())) + "\n");
    return 0;
  }
  if (argv[0] !== "exec") return 2;
  const specPath = arg(argv, "--spec")!;
  const staging = arg(argv, "--staging")!;
  const cas = arg(argv, "--cas")!;
  const resultPath = arg(argv, "--result")!;
  const spec = JSON.parse(readFileSync(specPath, "utf8")) as ActionSpec;
  if (spec.version !== 1 || spec.rule.kind !== "shell") return 2;
  const fail = (message: string): number => {
    writeFileSync(resultPath, JSON.stringify({ version: 1, ok: false, message }));
    return 1;
  };
  // Materialize inputs from the CAS.
  const ins: Record<string, string[]> = {};
  for (const [name, files] of Object.entries(spec.inputs)) {
    for (const f of files) {
      const entries = f.tree ? f.tree.map((t) => ({ path: join(f.path, t.rel), digest: t.digest })) : [{ path: f.path, digest: f.digest }];
      for (const e of entries) {
        if (existsSync(e.path) && sha(e.path) === e.digest) continue;
        const blob = join(cas, e.digest.slice(0, 2), e.digest);
        if (!existsSync(blob)) return fail(`input ${e.path}: blob ${e.digest} missing from ${cas}`);
        mkdirSync(dirname(e.path), { recursive: true });
        copyFileSync(blob, e.path);
      }
      (ins[name] ??= []).push(f.path);
    }
  }
  const outs: Record<string, string> = {};
  for (const [name, o] of Object.entries(spec.outputs)) {
    outs[name] = join(staging, o.path);
    mkdirSync(o.dir ? outs[name]! : dirname(outs[name]!), { recursive: true });
  }
  const command = spec.rule.command
    .replace(/\{out\.([\w-]+)\}/g, (_, n: string) => outs[n] ?? "")
    .replace(/\{in\.([\w-]+)\}/g, (_, n: string) => (ins[n] ?? []).join(" "))
    .replace(/\{out\}/g, Object.values(outs).join(" "))
    .replace(/\{deps\}/g, Object.values(ins).flat().join(" "));
  const code = await new Promise<number>((resolve) => {
    const child = spawn("bash", ["-c", command], { stdio: ["ignore", "inherit", "inherit"] });
    child.on("exit", (c, s) => resolve(c ?? (s ? 128 : 1)));
  });
  if (code !== 0) return fail(`shell rule exited with ${code}`);
  const outputs: Record<string, unknown> = {};
  for (const [name, o] of Object.entries(spec.outputs)) {
    const p = outs[name]!;
    if (!existsSync(p)) return fail(`declared output ${o.path} was not written`);
    if (o.dir) {
      const tree = walk(p).map((f) => ({
        rel: relative(p, f),
        digest: store(cas, f),
        size: statSync(f).size,
        executable: (statSync(f).mode & 0o111) !== 0,
      }));
      const digest = createHash("sha256").update(JSON.stringify(tree)).digest("hex");
      outputs[name] = { path: o.path, digest, size: tree.reduce((a, t) => a + t.size, 0), dir: true, tree };
    } else {
      outputs[name] = { path: o.path, digest: store(cas, p), size: statSync(p).size, dir: false };
    }
  }
  writeFileSync(resultPath, JSON.stringify({ version: 1, ok: true, outputs }));
  return 0;
}
