/**
 * The file-system side effects of the load phase, in a module of their own (node:fs only) so
 * the no-op fast path can probe exactly as the loader does without importing the YAML parser.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";

/** The file-system side effects of the load phase. Paths are absolute. */
export interface LoadIO {
  /** File contents, or undefined when it does not exist / is not a file. */
  readFile(abs: string): string | undefined;
  /** What is at `abs`, if anything. */
  stat(abs: string): "file" | "dir" | undefined;
  /** Entry names of a directory (empty when absent). */
  readdir(abs: string): string[];
}

/** The real file system. */
export const nodeLoadIO: LoadIO = {
  readFile(abs) {
    try {
      return readFileSync(abs, "utf8");
    } catch {
      return undefined;
    }
  },
  stat(abs) {
    const st = statSync(abs, { throwIfNoEntry: false });
    if (!st) return undefined;
    return st.isDirectory() ? "dir" : "file";
  },
  readdir(abs) {
    try {
      return readdirSync(abs);
    } catch {
      return [];
    }
  },
};
