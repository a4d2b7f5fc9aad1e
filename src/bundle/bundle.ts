/**
 * The Stage-1 hand-off bundle: named input files (and directory trees) packed into a
 * deterministic `.tgz` under a top directory `NAME/`, with `NAME/BUNDLE_INDEX.json` and a
 * `NAME.sha256` manifest covering the archive and every file in it.
 *
 * BUNDLE_INDEX.json, format "dagbuild.bundle_index":
 *   version 1: `files` (which input name each file came from, its path, digest and size);
 *   version 2: also `backtest` (./backtest-members.ts BacktestIndex, or null): the gates and
 *              candles of the backtest weeks, packed under `backtest/` rather than at their
 *              workspace paths, so the backtests on gpu read them from the ingest.
 */
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative, sep } from "node:path";
import { renderManifest, sha256File } from "./manifest.js";
import { writeDeterministicTgz, type TarFile } from "./tarball.js";
import { writeAtomic } from "../io/write-atomic.js";
import { sha256 } from "../engine/hash.js";
import type { BacktestIndex, PlacedFile } from "./backtest-members.js";

/** Format version of BUNDLE_INDEX.json (2: the `backtest` section). */
export const BUNDLE_INDEX_VERSION = 2;

/** One file in the bundle. */
export interface BundledFile {
  /** Input name it came from (e.g. "corpus", "reports"). */
  readonly input: string;
  /** Its path in the archive under NAME/ (POSIX): the workspace-relative path, or for a placed file (the backtest members) its own. */
  readonly path: string;
  readonly source: string;
  readonly sha256: string;
  readonly bytes: number;
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
    else throw new Error(`bundle: ${p} is neither a file nor a directory`);
  }
  return out;
}

/** Collects the files of named inputs (directories expanded), sorted by path. */
export async function collectInputs(root: string, inputs: Readonly<Record<string, readonly string[]>>): Promise<BundledFile[]> {
  const byPath = new Map<string, BundledFile>();
  for (const name of Object.keys(inputs).sort()) {
    if (name === "*") continue; // the engine's all-inputs alias
    for (const p of inputs[name]!) {
      const files = (await stat(p)).isDirectory() ? await walk(p) : [p];
      for (const f of files) {
        const rel = relative(root, f).split(sep).join("/");
        if (rel.startsWith("../")) throw new Error(`bundle: input ${f} is outside the workspace`);
        if (byPath.has(rel)) continue; // the same file under two input names: first name wins
        byPath.set(rel, { input: name, path: rel, source: f, sha256: await sha256File(f), bytes: (await stat(f)).size });
      }
    }
  }
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** Digests and sizes of files packed under their own paths; a path already taken is an error. */
async function placeFiles(taken: readonly BundledFile[], placed: readonly PlacedFile[]): Promise<BundledFile[]> {
  const paths = new Set(taken.map((f) => f.path));
  const out: BundledFile[] = [];
  for (const f of placed) {
    if (paths.has(f.path)) throw new Error(`bundle: ${f.path} (input "${f.input}") is also a workspace path of another input`);
    paths.add(f.path);
    out.push({ input: f.input, path: f.path, source: f.source, sha256: await sha256File(f.source), bytes: (await stat(f.source)).size });
  }
  return out;
}

/** Writes the archive and its manifest. `stem` names the top directory and the manifest lines. */
export async function buildBundle(opts: {
  root: string;
  inputs: Readonly<Record<string, readonly string[]>>;
  stem: string;
  archive: string;
  manifest: string;
  /** Files packed under paths of their own (the backtest members), with their index section. */
  backtest?: { index: BacktestIndex; files: readonly PlacedFile[] };
}): Promise<{ files: BundledFile[]; archiveSha256: string }> {
  const files = await collectInputs(opts.root, opts.inputs);
  if (files.length === 0) throw new Error("bundle: no input files");
  files.push(...(await placeFiles(files, opts.backtest?.files ?? [])));
  files.sort((a, b) => (a.path < b.path ? -1 : 1));
  const scratch = await mkdtemp(join(tmpdir(), "dagbuild-bundle-"));
  try {
    const index = {
      format: "dagbuild.bundle_index",
      version: BUNDLE_INDEX_VERSION,
      files: files.map((f) => ({ bytes: f.bytes, input: f.input, path: f.path, sha256: f.sha256 })),
      backtest: opts.backtest?.index ?? null,
    };
    const indexPath = join(scratch, "BUNDLE_INDEX.json");
    const indexText = JSON.stringify(index, null, 2) + "\n";
    await writeFile(indexPath, indexText);
    const tarFiles: TarFile[] = [
      { name: `${opts.stem}/BUNDLE_INDEX.json`, source: indexPath },
      ...files.map((f) => ({ name: `${opts.stem}/${f.path}`, source: f.source })),
    ];
    await writeDeterministicTgz(opts.archive, tarFiles);
    const archiveSha256 = await sha256File(opts.archive);
    const inner = [
      { name: `${opts.stem}/BUNDLE_INDEX.json`, sha256: sha256(indexText) }, // hashed as written, not read back
      ...files.map((f) => ({ name: `${opts.stem}/${f.path}`, sha256: f.sha256 })),
    ];
    await writeAtomic(opts.manifest, renderManifest({ name: `${opts.stem}.tgz`, sha256: archiveSha256 }, inner));
    return { files, archiveSha256 };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
