/**
 * OpenSSH `known_hosts` parsing and host key checking for the ssh host.
 *
 * dagbuild never trusts a server key on first use: the key the server presents must already be
 * listed for `[host]:port` (or plain `host` on port 22) in the configured known_hosts file, the
 * same lookup OpenSSH does. Hashed entries (`|1|salt|hash`, written by `ssh-keygen -H` or
 * `HashKnownHosts yes`), comma-separated patterns, `*`/`?` wildcards, `!` negation and the
 * `@revoked` marker are supported; `@cert-authority` lines are ignored (no certificate support).
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/** One usable line of a known_hosts file. */
export interface KnownHostEntry {
  /** 1-based line number, for error messages. */
  readonly line: number;
  readonly marker?: "revoked" | "cert-authority";
  /** The host pattern field as written (comma-separated patterns or one `|1|` hash). */
  readonly patterns: string;
  /** Key type, e.g. `ssh-ed25519`. */
  readonly keyType: string;
  /** The public key blob (SSH wire format), as ssh2 hands it to `hostVerifier`. */
  readonly key: Buffer;
}

/** Outcome of checking a presented server key against the known_hosts entries. */
export type HostKeyCheck =
  | { readonly status: "match"; readonly line: number }
  | { readonly status: "unknown" }
  /** The host is listed with a different key of the same type: possible man-in-the-middle. */
  | { readonly status: "changed"; readonly lines: readonly number[] }
  | { readonly status: "revoked"; readonly line: number };

/** Parses known_hosts text; malformed lines are skipped (OpenSSH does the same). */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === "" || raw.startsWith("#")) continue;
    const fields = raw.split(/\s+/);
    let marker: KnownHostEntry["marker"];
    if (fields[0] === "@revoked" || fields[0] === "@cert-authority") {
      marker = fields[0] === "@revoked" ? "revoked" : "cert-authority";
      fields.shift();
    }
    const [patterns, keyType, b64] = fields;
    if (!patterns || !keyType || !b64) continue;
    const key = Buffer.from(b64, "base64");
    // The blob starts with its own type string; a mismatch means a corrupt line.
    if (key.length < 4 || keyTypeOf(key) !== keyType) continue;
    out.push({ line: i + 1, marker, patterns, keyType, key });
  }
  return out;
}

/** The name OpenSSH looks up: `host` on port 22, `[host]:port` otherwise. */
export function lookupName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Whether a known_hosts host field matches `host`/`port` (hashed or pattern list). */
export function hostMatches(patterns: string, host: string, port: number): boolean {
  const name = lookupName(host, port);
  if (patterns.startsWith("|1|")) {
    const [, , salt, hash] = patterns.split("|");
    if (!salt || !hash) return false;
    const want = Buffer.from(hash, "base64");
    const got = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest();
    return want.length === got.length && timingSafeEqual(want, got);
  }
  let matched = false;
  for (const p of patterns.split(",")) {
    const negated = p.startsWith("!");
    const pat = negated ? p.slice(1) : p;
    if (globMatch(pat.toLowerCase(), name.toLowerCase())) {
      if (negated) return false; // a negated match vetoes the whole line
      matched = true;
    }
  }
  return matched;
}

function globMatch(pattern: string, text: string): boolean {
  const re = new RegExp(
    "^" + pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$",
  );
  return re.test(text);
}

/** Checks a presented key (SSH wire blob) for `host`/`port` against parsed entries. */
export function checkHostKey(entries: readonly KnownHostEntry[], host: string, port: number, key: Buffer): HostKeyCheck {
  const type = keyTypeOf(key);
  const changed: number[] = [];
  let match: number | undefined;
  for (const e of entries) {
    if (e.marker === "cert-authority") continue;
    if (!hostMatches(e.patterns, host, port)) continue;
    const same = e.key.equals(key);
    if (e.marker === "revoked") {
      if (same) return { status: "revoked", line: e.line };
      continue;
    }
    if (same) match ??= e.line;
    else if (e.keyType === type) changed.push(e.line);
  }
  if (match !== undefined) return { status: "match", line: match };
  if (changed.length > 0) return { status: "changed", lines: changed };
  return { status: "unknown" };
}

/** Key types listed (not revoked) for `host`/`port`, so the client can ask the server for those. */
export function knownKeyTypes(entries: readonly KnownHostEntry[], host: string, port: number): string[] {
  const types = new Set<string>();
  for (const e of entries) {
    if (e.marker === undefined && hostMatches(e.patterns, host, port)) types.add(e.keyType);
  }
  return [...types];
}

/** The type string at the start of an SSH public key blob (`ssh-ed25519`, `ssh-rsa`, ...). */
export function keyTypeOf(key: Buffer): string {
  if (key.length < 4) return "";
  const len = key.readUInt32BE(0);
  if (len > 64 || 4 + len > key.length) return "";
  return key.subarray(4, 4 + len).toString("latin1");
}

/** OpenSSH-style fingerprint, e.g. `SHA256:Jx...` (what `ssh-keygen -lf` prints). */
export function fingerprint(key: Buffer): string {
  return "SHA256:" + createHash("sha256").update(key).digest("base64").replace(/=+$/, "");
}
