/**
 * Runs one serialized action (an ActionSpec) in this process: the common core of the local
 * worker pool, `dagbuild exec` and the remote side of an SSH host. It never parses pipelines.
 * Outputs are written under `staging/<path>`; the caller commits them.
 */
import { spawn } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import type { ActionIO, ActionSpec, HostResult } from "./hosts/host.js";
import { RuleError, type Rule, type RuleContext } from "./rule.js";
import { ruleSiblings } from "./siblings.js";
import { compiledModulePath } from "./fingerprint.js";
import { shq } from "./shell-quote.js";

/** Absolute staging paths of the declared outputs; directory outputs are created empty. */
export function stagingOutputs(spec: ActionSpec, staging: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, o] of Object.entries(spec.outputs)) {
    const p = join(staging, o.path);
    mkdirSync(o.dir ? p : dirname(p), { recursive: true });
    out[name] = p;
  }
  return out;
}

function inputPaths(spec: ActionSpec, root: string): Record<string, string[]> {
  const inputs: Record<string, string[]> = {};
  const all: string[] = [];
  for (const [name, list] of Object.entries(spec.inputs)) {
    inputs[name] = list.map((f) => join(root, f.path));
    all.push(...inputs[name]!);
  }
  inputs["*"] = all.sort();
  return inputs;
}

/**
 * Runs a module or shell rule; expected failures come back as values. Afterwards `staging`
 * holds exactly the declared outputs (all of them on success, none on failure): stray files a
 * rule wrote elsewhere in staging are removed, so no host can ship back undeclared artifacts.
 */
export async function executeSpec(spec: ActionSpec, root: string, staging: string, io: ActionIO): Promise<HostResult> {
  const result = await executeRule(spec, root, staging, io);
  pruneStaging(staging, result.ok ? Object.values(spec.outputs).map((o) => o.path) : []);
  return result;
}

/** Removes everything under `dir` that is not one of `keep` (relative paths) or inside one. */
function pruneStaging(dir: string, keep: readonly string[]): void {
  const keepSet = new Set(keep);
  const walk = (abs: string, rel: string): boolean => {
    // Returns true when something under `abs` is kept.
    let kept = false;
    let names: string[];
    try {
      names = readdirSync(abs);
    } catch {
      return false;
    }
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      const p = join(abs, name);
      if (keepSet.has(r)) {
        kept = true;
        continue;
      }
      if (lstatSync(p).isDirectory() && keep.some((k) => k.startsWith(`${r}/`)) && walk(p, r)) {
        kept = true;
        continue;
      }
      rmSync(p, { recursive: true, force: true });
    }
    return kept;
  };
  walk(dir, "");
}

async function executeRule(spec: ActionSpec, root: string, staging: string, io: ActionIO): Promise<HostResult> {
  const outputs = stagingOutputs(spec, staging);
  const inputs = inputPaths(spec, root);
  if (spec.rule.kind === "shell") {
    const command = spec.rule.command;
    return shellWithSiblings(spec, root, staging, (env) => runShell(command, inputs, outputs, root, io, env));
  }
  const file = compiledModulePath(root, spec.rule.module);
  if (!file) {
    return { ok: false, kind: "rule-failed", message: `rule module ${spec.rule.module} is not compiled: run \`npm run build\`` };
  }
  let rule: Rule;
  try {
    const mod = await import(pathToFileURL(file).href);
    rule = mod.default as Rule;
    if (!rule || typeof rule.run !== "function") throw new Error(`${spec.rule.module} has no default export made with defineRule()`);
  } catch (e) {
    return { ok: false, kind: "rule-failed", message: `cannot load ${spec.rule.module}: ${(e as Error).message}` };
  }
  let notFinal: string | undefined;
  const ctx: RuleContext = {
    root,
    target: spec.target,
    partition: spec.partition,
    params: spec.params,
    inputs,
    outputs,
    log: (line) => io.log(line.endsWith("\n") ? line : line + "\n"),
    progress: (line) => {
      io.log(line.endsWith("\n") ? line : line + "\n");
      io.progress?.(line.trimEnd());
    },
    signal: io.signal,
    ...(spec.env ? { env: spec.env } : {}),
    ...(spec.siblings ? { siblings: ruleSiblings(spec.siblings, root) } : {}),
    notFinal: (reason) => {
      notFinal = String(reason);
    },
  };
  try {
    await rule.run(ctx);
  } catch (e) {
    if (io.signal.aborted) return { ok: false, kind: "cancelled", message: "cancelled" };
    const msg = e instanceof RuleError ? e.message : ((e as Error)?.stack ?? String(e));
    io.log(msg + "\n");
    return { ok: false, kind: "rule-failed", message: e instanceof RuleError ? e.message : ((e as Error)?.message ?? String(e)) };
  }
  if (io.signal.aborted) return { ok: false, kind: "cancelled", message: "cancelled" };
  for (const [name, p] of Object.entries(outputs)) {
    if (!existsSync(p)) return { ok: false, kind: "rule-failed", message: `rule did not write its output "${name}" (${spec.outputs[name]!.path})` };
    if (spec.outputs[name]!.dir !== statSync(p).isDirectory())
      return { ok: false, kind: "rule-failed", message: `output "${name}" should be a ${spec.outputs[name]!.dir ? "directory" : "file"}` };
  }
  return notFinal === undefined ? { ok: true } : { ok: true, notFinal };
}


/**
 * A shell rule's view of `siblings:`: `DAGBUILD_SIBLINGS` holds ctx.siblings as JSON, and a
 * reason written to the file `DAGBUILD_NOT_FINAL` names is its `ctx.notFinal` (the file is in
 * staging, outside the outputs: removed with the rest of staging).
 */
async function shellWithSiblings(spec: ActionSpec, root: string, staging: string, run: (env?: Readonly<Record<string, string>>) => Promise<HostResult>): Promise<HostResult> {
  if (!spec.siblings) return run(spec.env);
  const file = join(staging, ".dagbuild-not-final");
  const result = await run({ ...spec.env, DAGBUILD_SIBLINGS: JSON.stringify(ruleSiblings(spec.siblings, root)), DAGBUILD_NOT_FINAL: file });
  if (!result.ok || !existsSync(file)) return result;
  return { ok: true, notFinal: readFileSync(file, "utf8").trim() || "the rule said so" };
}

/**
 * Substitutes `{out}` (the first output), `{out.NAME}`, `{deps}` (every input) and
 * `{deps.NAME}` with shell-quoted paths. The load phase substituted everything else.
 */
export function expandShell(command: string, inputs: Record<string, string[]>, outputs: Record<string, string>): string {
  return command.replace(/\{(out|deps)(?:\.([A-Za-z0-9_-]+))?\}/g, (m, kind: string, name?: string) => {
    if (kind === "out") {
      const p = name ? outputs[name] : Object.values(outputs)[0];
      return p === undefined ? m : shq(p);
    }
    const list = name ? inputs[name] : inputs["*"];
    return list === undefined ? m : list.map(shq).join(" ");
  });
}

function runShell(command: string, inputs: Record<string, string[]>, outputs: Record<string, string>, root: string, io: ActionIO, own?: Readonly<Record<string, string>>): Promise<HostResult> {
  const script = expandShell(command, inputs, outputs);
  const env: NodeJS.ProcessEnv = { ...process.env, ...own };
  for (const [n, p] of Object.entries(outputs)) env[`DAGBUILD_OUT_${n.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`] = p;
  return new Promise((resolve) => {
    const child = spawn("bash", ["-eo", "pipefail", "-c", script], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const onAbort = () => {
      try {
        process.kill(-child.pid!, "SIGTERM");
      } catch {
        /* already gone */
      }
    };
    io.signal.addEventListener("abort", onAbort, { once: true });
    let tail = "";
    const onData = (b: Buffer) => {
      const text = b.toString();
      tail = (tail + text).slice(-1500);
      io.log(text);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    const lastLines = () => {
      const lines = tail.trimEnd().split("\n").slice(-5).join("\n");
      return lines ? `:\n${lines}` : "";
    };
    child.on("error", (e) => resolve({ ok: false, kind: "rule-failed", message: `cannot run bash: ${e.message}` }));
    child.on("close", (code, sig) => {
      io.signal.removeEventListener("abort", onAbort);
      if (io.signal.aborted) return resolve({ ok: false, kind: "cancelled", message: "cancelled" });
      if (code === 0) {
        for (const [name, p] of Object.entries(outputs))
          if (!existsSync(p)) return resolve({ ok: false, kind: "rule-failed", message: `command did not write its output "${name}"` });
        return resolve({ ok: true });
      }
      resolve({ ok: false, kind: "rule-failed", message: (sig ? `command killed by ${sig}` : `command exited with status ${code}`) + lastLines() });
    });
  });
}
