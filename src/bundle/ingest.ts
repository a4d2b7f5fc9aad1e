/**
 * Verified ingest of a Stage-1 bundle (`NAME.tgz` + `NAME.sha256`, see ./bundle.ts) into a
 * directory, the first step of Stage 2 on the GPU host.
 *
 * Order of checks (nothing is kept unless every manifest line holds):
 *   1. the manifest parses strictly (./read-manifest.ts) and its archive line names this bundle;
 *   2. the archive file's sha256 equals the archive line;
 *   3. the file is gzip; it is streamed through zlib into the `tar` package's Unpack, whose
 *      `filter` refuses every entry that is not a plain file or directory under `NAME/`
 *      (absolute paths, `..`, links, devices, FIFOs, duplicates, members not in the manifest),
 *      and whose `transform` hashes each file on its way to disk;
 *   4. every member's digest equals its line, and no manifest member is missing.
 * Extraction goes to a staging directory beside `outDir`, renamed into place only at the end,
 * so a refusal (or a crash) leaves no partial `outDir`; the first failure stops the stream.
 *
 * Layout of `outDir` afterwards: the members without the `NAME/` top directory, plus
 *   SHA256SUMS   format version 1: `#` header lines, then `<sha256>  <relative path>` for every
 *                member, sorted; `cd outDir && sha256sum -c SHA256SUMS` checks the tree;
 *   INGEST.json  format "dagbuild.ingest" (IngestRecord, sorted keys): the bundle and manifest
 *                names and digests, member count and bytes, and the corpus parquet; version 2
 *                adds `backtest` (./ingest-backtest.ts: the gates and candles of the backtest
 *                weeks under backtest/, from BUNDLE_INDEX.json, with their digests; null when
 *                the bundle carries none). Version 1 records are still read (no `backtest`).
 * Both are deterministic (no times), so the same bundle gives the same tree.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, type Stats } from "node:fs";
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Transform } from "node:stream";
import { createGunzip } from "node:zlib";
import { Unpack, type ReadEntry } from "tar";
import { sha256, stableStringify } from "../engine/hash.js";
import { sha256File } from "./manifest.js";
import { IngestError, type IngestFailure } from "./ingest-error.js";
import { parseManifest, unsafePathReason, type ManifestLine, type ParsedManifest } from "./read-manifest.js";
import { backtestOfIndex, type IngestedBacktest } from "./ingest-backtest.js";

export { IngestError, type IngestFailure } from "./ingest-error.js";

/** `format` of INGEST.json. */
export const INGEST_FORMAT = "dagbuild.ingest";
/** Version of INGEST.json (2: the `backtest` field); SHA256SUMS keeps its layout (version 1). */
export const INGEST_VERSION = 2;
const SUMS_VERSION = 1;
/** File names the ingest writes at the top of its output. */
export const INGEST_FILE = "INGEST.json";
export const SUMS_FILE = "SHA256SUMS";

/** A file the ingest vouches for: path relative to the ingest directory, digest, size. */
export interface IngestedFile {
  readonly path: string;
  readonly sha256: string;
  readonly bytes: number;
}

/** The content of INGEST.json. */
export interface IngestRecord {
  readonly format: typeof INGEST_FORMAT;
  readonly version: typeof INGEST_VERSION | 1;
  /** The bundle's top directory name, e.g. "ml_corpus_2025-05-12_2025-11-10". */
  readonly stem: string;
  readonly bundle: { readonly name: string; readonly sha256: string; readonly bytes: number };
  readonly manifest: { readonly name: string; readonly sha256: string };
  /** Number of members (files) unpacked. */
  readonly members: number;
  /** Their total size in bytes. */
  readonly bytes: number;
  /** The corpus parquet (`output/ml_corpus/gates_*.parquet`), or null when the bundle has none. */
  readonly corpus: IngestedFile | null;
  /** The backtest weeks' gates and candles (version 2), or null when the bundle carries none. */
  readonly backtest?: IngestedBacktest | null;
}

/** What ingestBundle returns: the record it wrote, and where. */
export interface IngestSummary extends IngestRecord {
  readonly outDir: string;
}

/** Options of ingestBundle. */
export interface IngestOptions {
  /** The `.tgz` file. */
  readonly bundle: string;
  /** Its `.sha256` manifest. */
  readonly manifest: string;
  /** Directory to create; may exist only when empty (the engine pre-creates directory outputs). */
  readonly outDir: string;
  /** Stops the ingest (IngestError "aborted"); nothing is left behind. */
  readonly signal?: AbortSignal;
}

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const CORPUS_PATTERN = /^output\/ml_corpus\/gates_[^/]+\.parquet$/;

/**
 * Verifies and unpacks `bundle` into `outDir` (see the module comment). Throws IngestError for
 * a bad bundle, manifest or output directory, leaving `outDir` as it was (absent or empty).
 */
export async function ingestBundle(opts: IngestOptions): Promise<IngestSummary> {
  const bundleName = basename(opts.bundle);
  const manifestName = basename(opts.manifest);
  const manifestText = await readFile(opts.manifest, "utf8");
  const manifest = parseManifest(manifestText, manifestName);
  if (manifest.archive.name !== bundleName) {
    throw new IngestError(
      `manifest ${manifestName} line ${manifest.archive.line} is for archive ${manifest.archive.name}, not for the bundle ${bundleName}`,
      { kind: "malformed-manifest", member: manifest.archive.name, line: manifest.archive.line },
    );
  }
  checkAborted(opts.signal, bundleName);
  const archive = await hashArchive(opts.bundle);
  if (archive.sha256 !== manifest.archive.sha256) {
    throw new IngestError(
      `archive ${bundleName} digest mismatch: manifest ${manifestName} line ${manifest.archive.line} has ${manifest.archive.sha256}, the file has ${archive.sha256}`,
      { kind: "archive-mismatch", member: bundleName, line: manifest.archive.line, expected: manifest.archive.sha256, actual: archive.sha256 },
    );
  }
  if (!archive.head.subarray(0, 2).equals(GZIP_MAGIC)) {
    throw new IngestError(`archive ${bundleName} is not gzip (first bytes ${archive.head.subarray(0, 4).toString("hex") || "none: empty file"}, expected 1f8b)`, {
      kind: "not-gzip",
      member: bundleName,
    });
  }
  await prepareOutDir(opts.outDir);
  const staging = `${opts.outDir}.ingest-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    await mkdir(staging);
    const files = await new Extraction(manifest, bundleName, manifestName, opts.signal).run(opts.bundle, staging);
    const record: IngestRecord = {
      format: INGEST_FORMAT,
      version: INGEST_VERSION,
      stem: manifest.stem,
      bundle: { name: bundleName, sha256: archive.sha256, bytes: archive.bytes },
      manifest: { name: manifestName, sha256: sha256(manifestText) },
      members: files.length,
      bytes: files.reduce((s, f) => s + f.bytes, 0),
      corpus: pickCorpus(manifest.stem, files),
      backtest: await backtestOfIndex(staging, files, bundleName),
    };
    await writeFile(join(staging, SUMS_FILE), renderSums(record, files));
    await writeFile(join(staging, INGEST_FILE), stableStringify(record));
    checkAborted(opts.signal, bundleName);
    await rename(staging, opts.outDir); // replaces the empty outDir, if there is one
    return { ...record, outDir: opts.outDir };
  } catch (e) {
    await rm(staging, { recursive: true, force: true, maxRetries: 3 });
    throw e;
  }
}

/**
 * Locates the corpus parquet inside a directory written by ingestBundle and returns it with
 * the ingest record (whose digests the caller can record as its inputs). Checks the record's
 * format and the parquet's size; `verify` also re-hashes it against the record.
 */
export async function findIngestedCorpus(dir: string, opts: { verify?: boolean } = {}): Promise<{ corpus: string; ingest: IngestRecord }> {
  const ingest = await readIngestRecord(dir);
  if (!ingest.corpus) {
    throw new IngestError(`${join(dir, INGEST_FILE)}: the ingested bundle ${ingest.bundle.name} holds no corpus (output/ml_corpus/gates_*.parquet)`, { kind: "missing-member", member: "output/ml_corpus/gates_*.parquet" });
  }
  const corpus = join(dir, ingest.corpus.path);
  const st = await stat(corpus).catch(() => null);
  if (!st?.isFile() || st.size !== ingest.corpus.bytes) {
    throw new IngestError(`${corpus}: ${st ? `${st.size} bytes, INGEST.json says ${ingest.corpus.bytes}` : "missing"} (re-run the ingest)`, {
      kind: st ? "member-mismatch" : "missing-member",
      member: ingest.corpus.path,
    });
  }
  if (opts.verify) {
    const actual = await sha256File(corpus);
    if (actual !== ingest.corpus.sha256) {
      throw new IngestError(`${corpus}: digest mismatch: INGEST.json has ${ingest.corpus.sha256}, the file has ${actual}`, {
        kind: "member-mismatch",
        member: ingest.corpus.path,
        expected: ingest.corpus.sha256,
        actual,
      });
    }
  }
  return { corpus, ingest };
}

/** Reads and checks INGEST.json of an ingest directory. */
export async function readIngestRecord(dir: string): Promise<IngestRecord> {
  const file = join(dir, INGEST_FILE);
  let rec: Partial<IngestRecord>;
  try {
    rec = JSON.parse(await readFile(file, "utf8")) as Partial<IngestRecord>;
  } catch (e) {
    throw new IngestError(`${file}: not a readable ingest record (${(e as Error).message})`, { kind: "bad-record", member: INGEST_FILE });
  }
  if (rec.format !== INGEST_FORMAT || (rec.version !== INGEST_VERSION && rec.version !== 1)) {
    throw new IngestError(`${file}: format ${JSON.stringify(rec.format)} version ${JSON.stringify(rec.version)}, expected ${INGEST_FORMAT} version 1 or ${INGEST_VERSION}`, {
      kind: "bad-record",
      member: INGEST_FILE,
    });
  }
  if (rec.corpus !== null && (typeof rec.corpus?.path !== "string" || unsafePathReason(rec.corpus.path))) {
    throw new IngestError(`${file}: field "corpus" must be null or name a relative path, got ${JSON.stringify(rec.corpus)}`, { kind: "bad-record", member: INGEST_FILE });
  }
  return rec as IngestRecord;
}

// ---- steps ---------------------------------------------------------------------------------------

function checkAborted(signal: AbortSignal | undefined, bundleName: string): void {
  if (signal?.aborted) throw new IngestError(`ingest of ${bundleName} aborted`, { kind: "aborted", member: bundleName });
}

/** SHA-256, size and first bytes of the archive, in one streamed read. */
async function hashArchive(path: string): Promise<{ sha256: string; bytes: number; head: Buffer }> {
  const h = createHash("sha256");
  let bytes = 0;
  let head = Buffer.alloc(0);
  for await (const chunk of createReadStream(path)) {
    const b = chunk as Buffer;
    if (head.length < 4) head = Buffer.concat([head, b.subarray(0, 4 - head.length)]);
    h.update(b);
    bytes += b.length;
  }
  return { sha256: h.digest("hex"), bytes, head };
}

/** `outDir` must be absent or an empty directory; its parent is created. */
async function prepareOutDir(outDir: string): Promise<void> {
  const st = await stat(outDir).catch(() => null);
  if (st && (!st.isDirectory() || (await readdir(outDir)).length > 0)) {
    throw new IngestError(`ingest output ${outDir} exists and is not an empty directory`, { kind: "output-not-empty" });
  }
  await mkdir(dirname(outDir), { recursive: true });
}

/** The corpus parquet among the members: the one named after the span, else the only one. */
function pickCorpus(stem: string, files: readonly IngestedFile[]): IngestedFile | null {
  const candidates = files.filter((f) => CORPUS_PATTERN.test(f.path));
  const named = candidates.find((f) => f.path === `output/ml_corpus/gates_${stem.replace(/^ml_corpus_/, "")}.parquet`);
  return named ?? (candidates.length === 1 ? candidates[0]! : null);
}

function renderSums(record: IngestRecord, files: readonly IngestedFile[]): string {
  const lines = [
    `# dagbuild ingested bundle checksums, format version ${SUMS_VERSION}`,
    `# from ${record.bundle.name} (sha256 ${record.bundle.sha256}) and ${record.manifest.name}`,
    `# check: cd <this directory> && sha256sum -c ${SUMS_FILE}`,
    ...files.map((f) => `${f.sha256}  ${f.path}`),
  ];
  return lines.join("\n") + "\n";
}

// ---- the streaming extraction ------------------------------------------------------------------

/**
 * One pass over the archive: gunzip → tar Unpack (strip 1) into `staging`. The first failure
 * is kept and ends the input early; `run` waits for Unpack to finish every pending write (its
 * "close") before it reports, so the caller can remove `staging` with nothing still writing.
 */
class Extraction {
  private readonly expected = new Map<string, ManifestLine>();
  private readonly directories = new Set<string>();
  private readonly seen = new Set<string>();
  private readonly digests = new Map<string, IngestedFile>();
  private readonly memberOf = new WeakMap<ReadEntry, ManifestLine>();
  private readonly extras = new WeakMap<ReadEntry, string>();
  private failure: Error | undefined;
  /** Entries are refused from here on (a failure, or an extra member still being hashed). */
  private refusing = false;
  private current: { name: string; ended: boolean } | undefined;
  private stop: () => void = () => undefined;

  constructor(
    private readonly manifest: ParsedManifest,
    private readonly bundleName: string,
    private readonly manifestName: string,
    private readonly signal: AbortSignal | undefined,
  ) {
    for (const m of manifest.members) {
      this.expected.set(m.name, m);
      const parts = m.name.split("/");
      for (let k = 1; k < parts.length; k++) this.directories.add(parts.slice(0, k).join("/"));
    }
  }

  /** Extracts into `staging`; resolves with the verified members (relative paths, sorted). */
  async run(bundle: string, staging: string): Promise<IngestedFile[]> {
    await new Promise<void>((resolve) => {
      const src = createReadStream(bundle);
      const gunzip = createGunzip();
      const unpack = new Unpack({
        cwd: staging,
        strip: 1,
        preserveOwner: false,
        noMtime: true, // fresh mtimes: every member carries mtime 0, useless to stat-based caches
        filter: (path, entry) => this.filter(path, entry),
        transform: (entry) => this.transform(entry),
        onwarn: (code, message, data) => this.tarProblem(code, message, (data as { entry?: ReadEntry }).entry),
      });
      let stopped = false;
      this.stop = () => {
        if (stopped) return;
        stopped = true;
        src.unpipe(gunzip);
        gunzip.unpipe(unpack as unknown as NodeJS.WritableStream);
        src.destroy();
        gunzip.destroy();
        unpack.end();
      };
      const onAbort = () => this.fail(new IngestError(`ingest of ${this.bundleName} aborted`, { kind: "aborted", member: this.bundleName }));
      this.signal?.addEventListener("abort", onAbort, { once: true });
      if (this.signal?.aborted) onAbort();
      src.on("error", (e) => this.fail(e));
      gunzip.on("error", (e) => this.fail(this.gzipError(e)));
      // Unpack reports a damaged archive (TAR_BAD_ARCHIVE) as "error", entry problems as "warn".
      unpack.on("error", (e: Error & { tarCode?: string; entry?: ReadEntry }) => this.tarProblem(e.tarCode ?? "TAR_ERROR", e.message, e.entry));
      unpack.on("close", () => {
        stopped = true; // a failure found from here on has nothing left to stop
        this.signal?.removeEventListener("abort", onAbort);
        resolve();
      });
      src.pipe(gunzip).pipe(unpack as unknown as NodeJS.WritableStream);
    });
    if (!this.failure && this.refusing) {
      // Defensive: an extra member is reported when its content has been hashed; should that
      // never happen, it is still refused.
      this.fail(new IngestError(`archive ${this.bundleName}: member ${JSON.stringify(this.current?.name)} refused (not in the manifest ${this.manifestName})`, { kind: "extra-member", ...(this.current ? { member: this.current.name } : {}) }));
    }
    if (!this.failure) this.checkComplete();
    if (this.failure) throw this.failure;
    return [...this.digests.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /** Keeps the first failure and ends the input (deferred: this may run inside tar's write). */
  private fail(e: Error): void {
    this.refusing = true;
    if (this.failure) return;
    this.failure = e;
    setImmediate(() => this.stop());
  }

  private refuse(kind: IngestFailure, member: string, what: string): false {
    this.fail(new IngestError(`archive ${this.bundleName}: member ${JSON.stringify(member)} ${what}`, { kind, member }));
    return false;
  }

  /** Decides on every entry header, before anything of it is written. */
  private filter(path: string, e: ReadEntry | Stats): boolean {
    if (this.refusing) return false;
    const entry = e as ReadEntry;
    const isDir = entry.type === "Directory";
    const name = isDir && path.endsWith("/") ? path.slice(0, -1) : path;
    this.current = { name, ended: false };
    entry.on("end", () => {
      if (this.current?.name === name) this.current.ended = true;
    });
    const why = unsafePathReason(name);
    if (why) return this.refuse("unsafe-path", path, `refused: ${why}`);
    switch (entry.type) {
      case "SymbolicLink":
      case "Link":
        return this.refuse("link", name, `is a ${entry.type === "Link" ? "hard" : "symbolic"} link (to ${JSON.stringify(entry.linkpath)}); links are refused`);
      case "CharacterDevice":
      case "BlockDevice":
      case "FIFO":
        return this.refuse("special-file", name, `is a ${entry.type}; only regular files and directories are accepted`);
      case "Directory":
      case "File":
      case "OldFile":
      case "ContiguousFile":
        break;
      default:
        return this.refuse("special-file", name, `has the unsupported entry type ${entry.type}; only regular files and directories are accepted`);
    }
    if (this.seen.has(name)) return this.refuse("duplicate-member", name, "appears twice in the archive");
    this.seen.add(name);
    if (isDir) {
      if (name !== this.manifest.stem && !this.directories.has(name)) {
        return this.refuse("extra-member", name, `is a directory that holds no member of the manifest ${this.manifestName}`);
      }
      entry.mode = 0o755;
      return true;
    }
    const line = this.expected.get(name);
    if (!line) return this.extraMember(name, entry);
    entry.mode = 0o644; // the archive's modes are not trusted (no setuid, no executables)
    this.memberOf.set(entry, line);
    return true;
  }

  /**
   * A file the manifest does not list: refused once its content is hashed, so the message can
   * say what it was. tar drops the data of entries its filter rejects, so this one is let
   * through to `transform`, which hashes it and writes nothing (an empty placeholder in the
   * staging directory, which the failure discards); every later entry is rejected.
   */
  private extraMember(name: string, entry: ReadEntry): true {
    this.refusing = true;
    entry.mode = 0o644;
    this.extras.set(entry, name);
    return true;
  }

  /** Hashes an accepted file on its way to disk (Unpack pipes entry → this → the file). */
  private transform(entry: ReadEntry): ReadEntry | undefined {
    const extra = this.extras.get(entry);
    if (extra !== undefined) return this.extraSink(extra);
    const line = this.memberOf.get(entry);
    if (!line) return undefined;
    const h = createHash("sha256");
    let bytes = 0;
    const tx = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        h.update(chunk);
        bytes += chunk.length;
        cb(null, chunk);
      },
      flush: (cb) => {
        this.verified(line, h.digest("hex"), bytes);
        cb();
      },
    });
    // Unpack only pipes the returned stream; a Node Transform does that as well as a Minipass.
    return tx as unknown as ReadEntry;
  }

  private extraSink(name: string): ReadEntry {
    const h = createHash("sha256");
    const sink = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        h.update(chunk);
        cb(); // nothing reaches the file
      },
      flush: (cb) => {
        const actual = h.digest("hex");
        this.fail(
          new IngestError(`archive ${this.bundleName}: member ${JSON.stringify(name)} (sha256 ${actual}) is in the archive but not in the manifest ${this.manifestName} (no line, no digest)`, {
            kind: "extra-member",
            member: name,
            actual,
          }),
        );
        cb();
      },
    });
    return sink as unknown as ReadEntry;
  }

  private verified(line: ManifestLine, actual: string, bytes: number): void {
    if (actual !== line.sha256) {
      this.fail(
        new IngestError(`archive ${this.bundleName}: member ${line.name} digest mismatch: manifest ${this.manifestName} line ${line.line} has ${line.sha256}, the archive holds ${actual}`, {
          kind: "member-mismatch",
          member: line.name,
          line: line.line,
          expected: line.sha256,
          actual,
        }),
      );
      return;
    }
    this.digests.set(line.name, { path: line.name.slice(this.manifest.stem.length + 1), sha256: actual, bytes });
  }

  private where(): string {
    if (!this.current) return "before its first member";
    return this.current.ended ? `after member ${this.current.name}` : `inside member ${this.current.name}`;
  }

  private gzipError(e: Error & { code?: string }): IngestError {
    const truncated = e.code === "Z_BUF_ERROR" || /unexpected end of file/i.test(e.message);
    return new IngestError(
      truncated ? `archive ${this.bundleName} is truncated (gzip stream ends ${this.where()})` : `archive ${this.bundleName}: corrupt gzip data ${this.where()} (${e.message})`,
      { kind: truncated ? "truncated" : "bad-archive", ...(this.current ? { member: this.current.name } : { member: this.bundleName }) },
    );
  }

  /** Any tar warning or error is a refusal: a bundle we wrote never causes one. */
  private tarProblem(code: string, message: string, entry: ReadEntry | undefined): void {
    // A file's stripped path is no longer its archive name: prefer the manifest line's name.
    const member = (entry && this.memberOf.get(entry)?.name) ?? this.current?.name ?? entry?.path;
    const truncated = /truncated/i.test(message);
    this.fail(
      new IngestError(
        truncated
          ? `archive ${this.bundleName} is truncated (tar stream ends ${this.where()}: ${message})`
          : `archive ${this.bundleName}: tar reports ${code} ${message} ${member ? `at member ${JSON.stringify(member)}` : this.where()}`,
        { kind: truncated ? "truncated" : "bad-archive", member: member ?? this.bundleName },
      ),
    );
  }

  /** After a clean pass: every manifest member was unpacked and matched. */
  private checkComplete(): void {
    const missing = this.manifest.members.filter((m) => !this.digests.has(m.name));
    if (missing.length === 0) return;
    const m = missing[0]!;
    const more = missing.length > 1 ? ` (and ${missing.length - 1} more)` : "";
    this.fail(
      new IngestError(`archive ${this.bundleName}: member ${m.name} (manifest ${this.manifestName} line ${m.line}, sha256 ${m.sha256}) is missing from the archive${more}`, {
        kind: "missing-member",
        member: m.name,
        line: m.line,
        expected: m.sha256,
      }),
    );
  }
}
