/**
 * Paths in host configs (`identity_file`, `known_hosts`): `~` is the home directory, a
 * relative path is relative to the workspace root. Shared by the SSH host and the build's
 * preflight (which checks the files exist before anything runs) without loading ssh2.
 */
import { accessSync, constants } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import type { HostConfig } from "../graph-types.js";

/** The absolute path a host config's path names. */
export function expandPath(p: string, root: string): string {
  if (p === "~") return homedir();
  if (p.startsWith("~/")) return join(homedir(), p.slice(2));
  return isAbsolute(p) ? p : resolve(root, p);
}

/** Problems with the local files an SSH host needs (unreadable known_hosts or identity_file). */
export function hostFileProblems(name: string, config: HostConfig, root: string): string[] {
  if (config.transport !== "ssh") return [];
  const out: string[] = [];
  const check = (field: string, p: string | undefined) => {
    if (p === undefined) return;
    const abs = expandPath(p, root);
    try {
      accessSync(abs, constants.R_OK);
    } catch (e) {
      out.push(`host ${name}: ${field} ${abs} cannot be read (${(e as NodeJS.ErrnoException).code ?? "error"})`);
    }
  };
  check("known_hosts", config.known_hosts);
  check("identity_file", config.identity_file);
  return out;
}
