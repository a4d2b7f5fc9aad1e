/**
 * Declared tool versions (`tools:`). A tool's version is part of the action key of every target
 * that lists it, so upgrading xgboost rebuilds exactly the targets that use it.
 *
 * `{version: "1.7.4"}` is taken literally; `{command: "xgboost --version"}` is run once per load
 * (the only thing the load phase executes) and the first non-empty output line is the version.
 * Running goes through `CommandRunner` so tests can use fakes.
 */
import { execFile } from "node:child_process";
import { diag } from "./diagnostics.js";
import type { Diagnostic, Loc } from "./graph-types.js";

/** Result of running a version command. */
export type CommandResult =
  | { readonly ok: true; readonly stdout: string }
  | { readonly ok: false; readonly message: string };

/** Runs a shell command in the workspace; the side effect of this module. */
export interface CommandRunner {
  run(command: string, cwd: string): Promise<CommandResult>;
}

/** `/bin/sh -c command` with a 30 s limit (a hung `--version` must not hang the load). */
export const shellRunner: CommandRunner = {
  run(command, cwd) {
    return new Promise((resolve) => {
      execFile("/bin/sh", ["-c", command], { cwd, timeout: 30_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
        if (err) {
          const why = String(stderr).trim().split("\n")[0] || err.message.split("\n")[0];
          resolve({ ok: false, message: `exit ${String((err as { code?: unknown }).code ?? "?")}: ${why}` });
        } else resolve({ ok: true, stdout: String(stdout) + String(stderr) });
      });
    });
  },
};

/** A tool as declared, with the location of its declaration for errors. */
export interface ToolDecl {
  readonly name: string;
  readonly version?: string;
  readonly command?: string;
  readonly loc: Loc;
}

/**
 * Resolves the versions of `names` (the tools some target uses), running each command once,
 * all concurrently. Failures are `unknown-tool` diagnostics located at the declaration.
 */
export async function resolveToolVersions(
  decls: ReadonlyMap<string, ToolDecl>,
  names: Iterable<string>,
  cwd: string,
  runner: CommandRunner,
  diags: Diagnostic[],
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const jobs: Promise<void>[] = [];
  for (const name of new Set(names)) {
    const d = decls.get(name);
    if (!d) continue;
    if (d.version !== undefined) {
      out.set(name, d.version);
      continue;
    }
    jobs.push(
      runner.run(d.command!, cwd).then((r) => {
        if (!r.ok) {
          diags.push(diag("unknown-tool", `tool \`${name}\`: version command \`${d.command}\` failed (${r.message})`, d.loc));
          return;
        }
        const line = r.stdout.split("\n").map((l) => l.trim()).find((l) => l !== "");
        if (line === undefined) {
          diags.push(diag("unknown-tool", `tool \`${name}\`: version command \`${d.command}\` printed nothing`, d.loc));
        } else out.set(name, line);
      }),
    );
  }
  await Promise.all(jobs);
  return out;
}
