/**
 * Content-addressed store of output blobs: `cache/cas/<d[0..2]>/<d>` where d is the sha256 of
 * the contents. A directory output is stored as its files' blobs plus a tree manifest blob
 * (canonical JSON, format version 1) whose digest is the directory's digest.
 * Blobs are written to a temp name and renamed, so a reader never sees half a blob.
 */
import { constants, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync, chmodSync, lstatSync } from "node:fs";
import { dirname, join } from "node:path";
import { canonicalJson, hashFile, sha256 } from "../hash.js";
import type { TreeEntry } from "../hosts/host.js";

export const TREE_FORMAT_VERSION = 1;

/** Digest, size and (for directories) file list of one output. */
export interface Artifact {
  readonly digest: string;
  readonly size: number;
  readonly tree?: readonly TreeEntry[];
}

let tmpCounter = 0;

export class Cas {
  constructor(readonly dir: string) {}

  blobPath(digest: string): string {
    return join(this.dir, digest.slice(0, 2), digest);
  }

  has(digest: string): boolean {
    return existsSync(this.blobPath(digest));
  }

  /** Copies a file into the store under its digest (known or computed). */
  putFile(path: string, known?: { digest: string; size: number }): { digest: string; size: number } {
    const { digest, size } = known ?? hashFile(path);
    const dest = this.blobPath(digest);
    if (!existsSync(dest)) {
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
    if (lstatSync(path).isDirectory()) {
      const tree = known?.tree ?? hashTree(path);
      for (const e of tree) this.putFile(join(path, e.rel), e);
      const digest = this.putBytes(treeManifest(tree));
      return { digest, size: tree.reduce((s, e) => s + e.size, 0), tree };
    }
    return this.putFile(path, known);
  }

  /** Copies a stored artifact to `dest` (a file, or a directory for a tree). False if absent. */
  restore(artifact: { digest: string; tree?: readonly TreeEntry[] }, dest: string): boolean {
    if (artifact.tree) {
      if (!artifact.tree.every((e) => this.has(e.digest))) return false;
      mkdirSync(dest, { recursive: true });
      for (const e of artifact.tree) {
        const p = join(dest, e.rel);
        mkdirSync(dirname(p), { recursive: true });
        copyFileSync(this.blobPath(e.digest), p, constants.COPYFILE_FICLONE);
        if (e.executable) chmodSync(p, 0o755);
      }
      return true;
    }
    if (!this.has(artifact.digest)) return false;
    mkdirSync(dirname(dest), { recursive: true });
    copyFileSync(this.blobPath(artifact.digest), dest, constants.COPYFILE_FICLONE);
    return true;
  }
}

/** The canonical manifest of a directory: its digest is the directory's digest. */
export function treeManifest(tree: readonly TreeEntry[]): string {
  return canonicalJson({ version: TREE_FORMAT_VERSION, entries: tree });
}

/** Hashes every regular file under `dir`, sorted by relative path (forward slashes). */
export function hashTree(dir: string): TreeEntry[] {
  const out: TreeEntry[] = [];
  const walk = (abs: string, rel: string): void => {
    for (const name of readdirSync(abs).sort()) {
      const p = join(abs, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = statSync(p);
      if (st.isDirectory()) walk(p, r);
      else if (st.isFile()) {
        const { digest, size } = hashFile(p);
        out.push({ rel: r, digest, size, executable: (st.mode & 0o111) !== 0 });
      }
    }
  };
  walk(dir, "");
  return out;
}

/** Digest and size of a file or directory without storing it. */
export function describePath(path: string): Artifact {
  if (statSync(path).isDirectory()) {
    const tree = hashTree(path);
    return { digest: sha256(treeManifest(tree)), size: tree.reduce((s, e) => s + e.size, 0), tree };
  }
  return hashFile(path);
}
