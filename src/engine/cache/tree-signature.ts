/**
 * Stat signature of every file in a directory: cheap change detection for directory outputs,
 * shared by the full check (plan.ts), the commit (scheduler.ts) and the no-op manifest.
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { sha256 } from "../hash.js";

/**
 * sha256 over `relpath\0size\0mtimeMs\0ino\0ctimeMs\0mode` of every entry below `dir` (files
 * and directories, so an empty directory or a chmod counts), in sorted order.
 */
export function treeSignature(dir: string): string {
  const parts: string[] = [];
  const walk = (abs: string, rel: string): void => {
    for (const name of readdirSync(abs).sort()) {
      const p = join(abs, name);
      const st = statSync(p);
      const r = rel ? `${rel}/${name}` : name;
      parts.push(`${r}\0${st.isDirectory() ? "dir" : st.size}\0${st.mtimeMs}\0${st.ino}\0${st.ctimeMs}\0${st.mode}`);
      if (st.isDirectory()) walk(p, r);
    }
  };
  walk(dir, "");
  return sha256(parts.join("\n"));
}
