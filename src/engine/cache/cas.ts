/**
 * Content-addressed store of output blobs: `cache/cas/<d[0..2]>/<d>` where d is the sha256 of
 * the contents. A directory output is stored as its files' blobs plus a tree manifest blob
 * (canonical JSON, format version 1) whose digest is the directory's digest.
 * Blobs are written to a temp name and renamed, so a reader never sees half a blob.
 *
 * A blob is trusted only as far as it hashes to its name: every copy out of the store
 * (`restore`, `copyOut`) hashes while it copies, and a blob that does not match (a flipped
 * bit, a torn write after a power loss, a hand edit) is moved to `cache/quarantine/` (kept
 * for inspection, never served again) and reported, so the caller runs the action instead.
 */
import { closeSync, copyFileSync, constants, existsSync, mkdirSync, openSync, readSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync, lstatSync } from "node:fs";
import { createHash } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { canonicalJson, hashFile, sha256 } from "../hash.js";
import type { TreeEntry } from "../hosts/host.js";

export const TREE_FORMAT_VERSION = 1;

/** Digest, size and (for directories) file list of one output. */
export interface Artifact {
  readonly digest: string;
  readonly size: number;
  readonly tree?: readonly TreeEntry[];
  /** Directories: the empty directories inside (relative paths, sorted); part of the digest. */
  readonly dirs?: readonly string[];
  /** Files: the executable bit (restored with the content; not part of the digest). */
  readonly executable?: boolean;
}

/** What copying a blob out of the store found. */
export type CopyOutcome = "ok" | "missing" | "corrupt";

/** Outcome of restoring an artifact: on failure, what was wrong (blobs missing or quarantined). */
export type RestoreResult = { readonly ok: true } | { readonly ok: false; readonly message: string };

let tmpCounter = 0;
const CHUNK = 1 << 20;
let copyBuffer: Buffer | undefined;

export class Cas {
  constructor(readonly dir: string) {}

  blobPath(digest: string): string {
    return join(this.dir, digest.slice(0, 2), digest);
  }

  has(digest: string): boolean {
    return existsSync(this.blobPath(digest));
  }

  /** Where bad blobs are moved: `quarantine/` beside the store (`cache/quarantine/`). */
  get quarantineDir(): string {
    return join(dirname(this.dir), "quarantine");
  }

  /**
   * Moves the blob of `digest` out of the store to `quarantine/<digest>.<ms>.<pid>`; returns
   * that path (undefined when it was gone already: another reader moved it first).
   */
  quarantine(digest: string): string | undefined {
    const to = join(this.quarantineDir, `${digest}.${Date.now()}.${process.pid}.${tmpCounter++}`);
    mkdirSync(this.quarantineDir, { recursive: true });
    try {
      renameSync(this.blobPath(digest), to);
      return to;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  /**
   * Copies blob `digest` to `dest` (created with `mode`), hashing while copying. A blob whose
   * content does not hash to its name is quarantined and `dest` removed: "corrupt".
   */
  copyOut(digest: string, dest: string, mode = 0o644): CopyOutcome {
    let src: number;
    try {
      src = openSync(this.blobPath(digest), "r");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return "missing";
      throw e;
    }
    let good: boolean;
    try {
      copyBuffer ??= Buffer.allocUnsafe(CHUNK);
      const h = createHash("sha256");
      const out = openSync(dest, "w", mode);
      try {
        for (;;) {
          const n = readSync(src, copyBuffer, 0, CHUNK, null);
          if (n === 0) break;
          h.update(copyBuffer.subarray(0, n));
          for (let off = 0; off < n; ) off += writeSync(out, copyBuffer, off, n - off);
        }
      } finally {
        closeSync(out);
      }
      good = h.digest("hex") === digest;
    } finally {
      closeSync(src);
    }
    if (good) return "ok";
    unlinkSync(dest);
    this.quarantine(digest);
    return "corrupt";
  }

  /** Re-hashes the blob of `digest`: "ok", "missing", or "corrupt" (quarantined). */
  check(digest: string): CopyOutcome {
    const p = this.blobPath(digest);
    if (!existsSync(p)) return "missing";
    if (hashFile(p).digest === digest) return "ok";
    this.quarantine(digest);
    return "corrupt";
  }

  /** Copies a file into the store under its digest (known or computed). */
  putFile(path: string, known?: { digest: string; size: number }): { digest: string; size: number } {
    const { digest, size } = known ?? hashFile(path);
    const dest = this.blobPath(digest);
    // A blob of the wrong size (torn, truncated) is replaced; one of the right size but wrong
    // content is caught when it is next copied out (hashing every put would double the cost).
    const have = statSync(dest, { throwIfNoEntry: false });
    if (!have || have.size !== size) {
      mkdirSync(dirname(dest), { recursive: true });
      const tmp = `${dest}.tmp${process.pid}.${tmpCounter++}`;
      // A copy, not a hard link: a user editing the output in place must not corrupt the blob.
      copyFileSync(path, tmp, constants.COPYFILE_FICLONE);
      renameSync(tmp, dest);
    }
    return { digest, size };
  }

  putBytes(data: string | Uint8Array): string {
    const digest = sha256(data);
    const dest = this.blobPath(digest);
    if (!existsSync(dest)) {
      mkdirSync(dirname(dest), { recursive: true });
      const tmp = `${dest}.tmp${process.pid}.${tmpCounter++}`;
      writeFileSync(tmp, data);
      renameSync(tmp, dest);
    }
    return digest;
  }

  /**
   * Stores a file or directory; returns its artifact description. `known`: digests already
   * verified against these very files (a directory's tree must list exactly its files), so
   * nothing is hashed again; the directory's own digest is always computed from its tree.
   */
  putPath(path: string, known?: Artifact): Artifact {
    const st = lstatSync(path);
    if (st.isDirectory()) {
      const scanned = known?.tree ? undefined : scanTree(path);
      const tree = known?.tree ?? scanned!.tree;
      const dirs = scanned?.dirs ?? emptyDirs(path);
      for (const e of tree) this.putFile(join(path, e.rel), e);
      const digest = this.putBytes(treeManifest(tree, dirs));
      return { digest, size: tree.reduce((s, e) => s + e.size, 0), tree, ...(dirs.length ? { dirs } : {}) };
    }
    const put = this.putFile(path, known);
    return (st.mode & 0o111) !== 0 ? { ...put, executable: true } : put;
  }

  /**
   * Copies a stored artifact to `dest` (a file, or a directory for a tree), verifying every
   * blob as it is copied. Every blob is tried, so one restore quarantines all the bad ones of
   * an artifact (the rerun that follows then stores good copies of each).
   */
  restore(artifact: { path?: string; digest: string; tree?: readonly TreeEntry[]; dirs?: readonly string[]; executable?: boolean }, dest: string): RestoreResult {
    const what = artifact.path ?? basename(dest);
    if (artifact.tree) {
      if (!artifact.tree.every((e) => this.has(e.digest))) return { ok: false, message: `blobs of ${what} are missing from the cache` };
      mkdirSync(dest, { recursive: true });
      for (const d of artifact.dirs ?? []) mkdirSync(join(dest, d), { recursive: true });
      const bad: string[] = [];
      for (const e of artifact.tree) {
        const p = join(dest, e.rel);
        mkdirSync(dirname(p), { recursive: true });
        const got = this.copyOut(e.digest, p, e.executable ? 0o755 : 0o644);
        if (got !== "ok") bad.push(`${e.rel} (${got})`);
      }
      return bad.length === 0 ? { ok: true } : { ok: false, message: this.problem(what, bad.some((b) => b.endsWith("(corrupt)")), bad.join(", ")) };
    }
    mkdirSync(dirname(dest), { recursive: true });
    const got = this.copyOut(artifact.digest, dest, artifact.executable ? 0o755 : 0o644);
    return got === "ok" ? { ok: true } : { ok: false, message: this.problem(what, got === "corrupt") };
  }

  private problem(what: string, corrupt: boolean, detail?: string): string {
    return `cache blob of ${what} ${corrupt ? `is corrupt (moved to ${this.quarantineDir})` : "vanished"}${detail ? `: ${detail}` : ""}`;
  }
}

/**
 * The canonical manifest of a directory: its digest is the directory's digest. Empty
 * directories are listed (`dirs`) only when there are some, so the digest of a directory
 * without any is what it was before they were recorded.
 */
export function treeManifest(tree: readonly TreeEntry[], dirs: readonly string[] = []): string {
  return canonicalJson(dirs.length ? { version: TREE_FORMAT_VERSION, entries: tree, dirs } : { version: TREE_FORMAT_VERSION, entries: tree });
}

/**
 * Hashes every regular file under `dir`, sorted by relative path (forward slashes), and lists
 * the empty directories. With `hash: false` only the directories are collected.
 */
function walkTree(dir: string, hash: boolean): { tree: TreeEntry[]; dirs: string[] } {
  const tree: TreeEntry[] = [];
  const dirs: string[] = [];
  const walk = (abs: string, rel: string): void => {
    const names = readdirSync(abs).sort();
    if (names.length === 0 && rel) dirs.push(rel);
    for (const name of names) {
      const p = join(abs, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = statSync(p);
      if (st.isDirectory()) walk(p, r);
      else if (st.isFile() && hash) {
        const { digest, size } = hashFile(p);
        tree.push({ rel: r, digest, size, executable: (st.mode & 0o111) !== 0 });
      }
    }
  };
  walk(dir, "");
  return { tree, dirs };
}

/** The files (hashed) and empty directories of a directory. */
export function scanTree(dir: string): { tree: TreeEntry[]; dirs: string[] } {
  return walkTree(dir, true);
}

/** The empty directories below `dir` (relative, sorted), without hashing anything. */
export function emptyDirs(dir: string): string[] {
  return walkTree(dir, false).dirs;
}

/** Digest and size of a file or directory without storing it. */
export function describePath(path: string): Artifact {
  const st = statSync(path);
  if (st.isDirectory()) {
    const { tree, dirs } = scanTree(path);
    return { digest: sha256(treeManifest(tree, dirs)), size: tree.reduce((s, e) => s + e.size, 0), tree, ...(dirs.length ? { dirs } : {}) };
  }
  const h = hashFile(path);
  return (st.mode & 0o111) !== 0 ? { ...h, executable: true } : h;
}
