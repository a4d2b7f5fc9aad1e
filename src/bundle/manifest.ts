/**
 * SHA-256 digests and the bundle manifest (`NAME.sha256`), in the `sha256sum` text format so
 * the standard tool checks it. The archive stores every file under a top directory `NAME/`,
 * so unpacking next to the manifest puts the inner files exactly where its lines point:
 *
 *   # dagbuild bundle manifest, format version 1
 *   # check: cd <dir holding NAME.tgz and NAME.sha256> && tar -xzf NAME.tgz && sha256sum -c NAME.sha256
 *   # archive only (before unpacking): sha256sum -c NAME.sha256 --ignore-missing
 *   <64 hex>  NAME.tgz
 *   <64 hex>  NAME/BUNDLE_INDEX.json
 *   <64 hex>  NAME/output/ml_corpus/gates_X.parquet
 *
 * GNU sha256sum skips lines starting with '#'.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

/** Format version of the manifest. */
export const MANIFEST_FORMAT_VERSION = 1;

/** SHA-256 hex of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** One manifest entry. */
export interface ManifestEntry {
  readonly name: string;
  readonly sha256: string;
}

/** Renders the manifest: header comments, the archive first, then the inner files sorted by name. */
export function renderManifest(archive: ManifestEntry, inner: readonly ManifestEntry[]): string {
  for (const e of [archive, ...inner]) {
    if (/[\n\\]/.test(e.name)) throw new Error(`manifest: unsupported character in name ${JSON.stringify(e.name)}`);
  }
  const stem = archive.name.replace(/\.tgz$/, "");
  const lines = [
    `# dagbuild bundle manifest, format version ${MANIFEST_FORMAT_VERSION}`,
    `# check: cd <dir holding ${stem}.tgz and ${stem}.sha256> && tar -xzf ${stem}.tgz && sha256sum -c ${stem}.sha256`,
    `# archive only (before unpacking): sha256sum -c ${stem}.sha256 --ignore-missing`,
    `${archive.sha256}  ${archive.name}`,
    ...[...inner].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((e) => `${e.sha256}  ${e.name}`),
  ];
  return lines.join("\n") + "\n";
}
