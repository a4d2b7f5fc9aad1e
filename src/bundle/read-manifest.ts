/**
 * Reads a bundle manifest (`NAME.sha256`, written by renderManifest in ./manifest.ts) back, and
 * refuses anything that is not exactly that format: the ingest trusts nothing a line does not
 * state plainly.
 *
 * Accepted: `#` comment lines (a `# dagbuild bundle manifest, format version N` header, when
 * present, must name a version this reader knows), then one entry per line
 * `<64 lowercase hex><space><space or *><name>`: the archive `NAME.tgz` first, then the members
 * `NAME/<relative path>`. Refused, with the line number: blank or CRLF lines, upper-case or
 * short digests, sha256sum's backslash-escaped names, unsafe paths (absolute, `..`, `.`, empty
 * components), a member outside `NAME/`, duplicates, a name that is both a file and a directory
 * of another member, and names the ingest writes itself (SHA256SUMS, INGEST.json at the top).
 */
import { MANIFEST_FORMAT_VERSION } from "./manifest.js";
import { IngestError } from "./ingest-error.js";

/** One entry line of a manifest. */
export interface ManifestLine {
  /** The name as written (members keep the `NAME/` prefix). */
  readonly name: string;
  readonly sha256: string;
  /** 1-based line number in the manifest file. */
  readonly line: number;
}

/** A parsed manifest. */
export interface ParsedManifest {
  /** The header's format version, or null for a plain sha256sum file without the header. */
  readonly version: number | null;
  /** The archive line (the first entry). */
  readonly archive: ManifestLine;
  /** `NAME`: the archive name without `.tgz`, the top directory of every member. */
  readonly stem: string;
  /** Member lines in file order. */
  readonly members: readonly ManifestLine[];
}

/** Names the ingest writes at the top of its output; a bundle may not ship its own. */
export const RESERVED_NAMES: readonly string[] = ["INGEST.json", "SHA256SUMS"];

const ENTRY = /^([0-9a-f]{64}) ([ *])(.+)$/;
const HEADER = /^# dagbuild bundle manifest, format version (\d+)$/;

/** Why `path` (slash-separated, relative) is unsafe to extract, or null when it is fine. */
export function unsafePathReason(path: string): string | null {
  if (path === "") return "empty path";
  if (path.startsWith("/") || /^[A-Za-z]:/.test(path)) return "absolute path";
  if (path.includes("\\")) return "backslash in path";
  if (/[\u0000-\u001f\u007f]/.test(path)) return "control character in path";
  const parts = path.split("/");
  if (parts.includes("..")) return '".." component';
  if (parts.some((p) => p === "" || p === ".")) return 'empty or "." component';
  return null;
}

function malformed(file: string, line: number, text: string, why: string): IngestError {
  const shown = text.length > 200 ? `${text.slice(0, 200)}...` : text;
  const m = ENTRY.exec(text);
  return new IngestError(`manifest ${file} line ${line}: ${why}: ${JSON.stringify(shown)}`, {
    kind: "malformed-manifest",
    line,
    ...(m ? { member: m[3]!, expected: m[1]! } : {}),
  });
}

/** Parses manifest text; `file` (its base name) is only used in messages. Throws IngestError. */
export function parseManifest(text: string, file: string): ParsedManifest {
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop(); // the final newline
  let version: number | null = null;
  let archive: ManifestLine | undefined;
  let stem = "";
  const members: ManifestLine[] = [];
  const byName = new Map<string, ManifestLine>();
  for (const [i, raw] of lines.entries()) {
    const line = i + 1;
    if (raw.startsWith("#")) {
      const h = HEADER.exec(raw);
      if (h) {
        version = Number(h[1]);
        if (version !== MANIFEST_FORMAT_VERSION) {
          throw malformed(file, line, raw, `format version ${version} is not the supported version ${MANIFEST_FORMAT_VERSION}`);
        }
      }
      continue;
    }
    if (raw.includes("\r")) throw malformed(file, line, raw, "carriage return (CRLF line end)");
    const m = ENTRY.exec(raw);
    if (!m) throw malformed(file, line, raw, 'malformed line (expected "<64 lowercase hex>  <name>")');
    const name = m[3]!;
    if (name.startsWith("\\")) throw malformed(file, line, raw, "escaped names are not supported");
    if (archive === undefined) {
      if (name.includes("/") || !/^[A-Za-z0-9._-]+\.tgz$/.test(name)) {
        throw malformed(file, line, raw, "the first entry must be the archive, a plain NAME.tgz");
      }
      archive = { name, sha256: m[1]!, line };
      stem = name.slice(0, -".tgz".length);
      continue;
    }
    const why = unsafePathReason(name);
    if (why) throw malformed(file, line, raw, why);
    if (!name.startsWith(`${stem}/`)) throw malformed(file, line, raw, `member outside the top directory ${stem}/`);
    if (RESERVED_NAMES.includes(name.slice(stem.length + 1))) throw malformed(file, line, raw, "reserved name (the ingest writes it)");
    if (byName.has(name)) throw malformed(file, line, raw, `duplicate member (first on line ${byName.get(name)!.line})`);
    const entry = { name, sha256: m[1]!, line };
    byName.set(name, entry);
    members.push(entry);
  }
  if (!archive) throw new IngestError(`manifest ${file}: no entries (expected the archive line and its members)`, { kind: "malformed-manifest" });
  if (members.length === 0) throw new IngestError(`manifest ${file}: no member lines after the archive (line ${archive.line})`, { kind: "malformed-manifest", line: archive.line });
  for (const mem of members) {
    // A file that is also a directory of another member cannot be unpacked.
    const parts = mem.name.split("/");
    for (let k = 2; k < parts.length; k++) {
      const dir = parts.slice(0, k).join("/");
      const clash = byName.get(dir);
      if (clash) throw malformed(file, clash.line, `${clash.sha256}  ${clash.name}`, `member is also a directory of ${mem.name}`);
    }
  }
  return { version, archive, stem, members };
}
