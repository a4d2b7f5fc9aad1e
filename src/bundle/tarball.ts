/**
 * Deterministic `.tgz` archives: the same files give the same bytes on any machine.
 *
 * Headers are encoded with the `tar` package's `Header` (ustar) with every field pinned:
 * entries sorted by path, mtime 0 (1970-01-01), uid/gid 0, uname/gname "root", mode 0644 for
 * files and 0755 for directories, no pax extended headers (a name that needs one is an error,
 * not a silent non-portable archive). Gzip comes from Node's zlib, which writes no file name
 * and mtime 0 in the gzip header; the level is fixed.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip, constants as zc } from "node:zlib";
import { Header } from "tar";

/** One regular file to store: its path inside the archive and where to read it. */
export interface TarFile {
  readonly name: string;
  readonly source: string;
}

const BLOCK = 512;
const EPOCH = new Date(0);

function header(name: string, type: "File" | "Directory", size: number): Buffer {
  const h = new Header({
    path: name,
    mode: type === "File" ? 0o644 : 0o755,
    uid: 0,
    gid: 0,
    uname: "root",
    gname: "root",
    size,
    mtime: EPOCH,
    type,
  });
  const block = Buffer.alloc(BLOCK);
  if (h.encode(block, 0)) throw new Error(`tar: "${name}" needs a pax header (path over 255 bytes or non-ASCII); rename it`);
  return block;
}

/** Every parent directory of the names ("a/b/c" → "a/", "a/b/"), sorted. */
function directoriesOf(names: readonly string[]): string[] {
  const dirs = new Set<string>();
  for (const n of names) {
    const parts = n.split("/");
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/") + "/");
  }
  return [...dirs];
}

async function* tarStream(files: readonly TarFile[], sizes: ReadonlyMap<string, number>): AsyncGenerator<Buffer> {
  const byName = new Map(files.map((f) => [f.name, f]));
  const names = [...directoriesOf(files.map((f) => f.name)), ...byName.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const name of names) {
    const f = byName.get(name);
    if (!f) {
      yield header(name, "Directory", 0);
      continue;
    }
    const size = sizes.get(name)!;
    yield header(name, "File", size);
    let seen = 0;
    for await (const chunk of createReadStream(f.source)) {
      seen += (chunk as Buffer).length;
      yield chunk as Buffer;
    }
    if (seen !== size) throw new Error(`tar: ${f.source} changed size while archiving (${size} -> ${seen})`);
    if (size % BLOCK) yield Buffer.alloc(BLOCK - (size % BLOCK));
  }
  yield Buffer.alloc(BLOCK * 2); // end-of-archive marker
}

/** Writes `out` (temp file + rename). Names must be unique relative paths without `..`. */
export async function writeDeterministicTgz(out: string, files: readonly TarFile[]): Promise<void> {
  const seen = new Set<string>();
  const sizes = new Map<string, number>();
  for (const f of files) {
    if (f.name.startsWith("/") || f.name.split("/").some((p) => p === ".." || p === "." || p === "")) {
      throw new Error(`tar: bad archive name "${f.name}"`);
    }
    if (seen.has(f.name)) throw new Error(`tar: duplicate archive name "${f.name}"`);
    seen.add(f.name);
    const st = await stat(f.source);
    if (!st.isFile()) throw new Error(`tar: ${f.source} is not a regular file`);
    sizes.set(f.name, st.size);
  }
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    await pipeline(Readable.from(tarStream(files, sizes)), createGzip({ level: 6, strategy: zc.Z_DEFAULT_STRATEGY }), createWriteStream(tmp));
    await rename(tmp, out);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
