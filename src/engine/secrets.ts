/**
 * Secrets in params never enter an action key, a record or `explain`: a rule needs them, the
 * key must not hold them (cache/ac/*.json is plain text, and an outputs' identity must not
 * change when only a password rotates). What counts as a secret:
 *   - the password of a URL's userinfo (`redis://user:PASSWORD@host`, `https://:TOKEN@host`);
 *   - the value of a URL query parameter named like a credential (password, token, secret,
 *     api_key, apikey, key, auth: case-insensitive);
 *   - the value of a params key named like a credential (the same names, plus any key ending
 *     in `_password`, `_token` or `_secret`).
 * Each is replaced in the keyed copy by `***` and a keyed hash of it (HMAC-SHA256 under a
 * random per-workspace key, `cache/secret.key`, created with mode 0600 when first needed):
 * the key still changes when a secret does (so a misjudged name can never make two different
 * values look equal), but neither the key material nor `explain` reveals it, and the hash is
 * useless without the workspace's key. The rule itself still receives the real params.
 */
import { createHmac, randomBytes } from "node:crypto";
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const CREDENTIAL = /^(password|passwd|token|secret|api_?key|key|auth|.*_(password|token|secret))$/i;
/** Replaces one secret value (a keyed hash: see the header). */
export type Masker = (secret: string) => string;
const URL_WITH_SECRET = /^[a-z][a-z0-9+.-]*:\/\/[^/?#\s]*:[^@/?#\s]*@|[?&][^=&#]+=/i;

/** `text` with the secrets of a URL masked (unchanged if it is not a URL holding one). */
export function maskUrlSecrets(text: string, masker: () => Masker): string {
  if (!URL_WITH_SECRET.test(text)) return text;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return text;
  }
  let changed = false;
  if (url.password) {
    url.password = masker()(decodeURIComponent(url.password));
    changed = true;
  }
  for (const [name, value] of [...url.searchParams]) {
    if (CREDENTIAL.test(name)) {
      url.searchParams.set(name, masker()(value));
      changed = true;
    }
  }
  return changed ? url.toString() : text;
}

const memo = new WeakMap<object, unknown>();

/**
 * The params as keyed and recorded: secrets masked (see the header). Returns the same object
 * when there is nothing to mask (the common case costs one walk per params object, memoized:
 * partitions of a target share their params object). `masker` is asked only for a secret.
 */
export function keyedParams<T extends Readonly<Record<string, unknown>>>(params: T, masker: () => Masker): T {
  const hit = memo.get(params);
  if (hit !== undefined) return hit as T;
  const out = mask(params, undefined, masker) as T;
  memo.set(params, out);
  return out;
}

/** The masker of a workspace: HMAC under `<cacheDir>/secret.key` (created on first use). */
export function workspaceMasker(cacheDir: string): Masker {
  const key = secretKey(cacheDir);
  return (secret) => `***${createHmac("sha256", key).update(secret).digest("hex").slice(0, 16)}`;
}

function secretKey(cacheDir: string): Buffer {
  const file = join(cacheDir, "secret.key");
  try {
    return readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  // Written aside and linked into place: two processes creating it at once agree on one key.
  mkdirSync(cacheDir, { recursive: true });
  const tmp = `${file}.new.${process.pid}`;
  writeFileSync(tmp, randomBytes(32), { mode: 0o600 });
  try {
    linkSync(tmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  } finally {
    unlinkSync(tmp);
  }
  return readFileSync(file);
}

function mask(v: unknown, key: string | undefined, masker: () => Masker): unknown {
  if (typeof v === "string") return key !== undefined && CREDENTIAL.test(key) && v !== "" ? masker()(v) : maskUrlSecrets(v, masker);
  if (Array.isArray(v)) {
    let changed = false;
    const out = v.map((x) => {
      const m = mask(x, undefined, masker);
      if (m !== x) changed = true;
      return m;
    });
    return changed ? out : v;
  }
  if (v && typeof v === "object") {
    let changed = false;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const m = mask(x, k, masker);
      if (m !== x) changed = true;
      out[k] = m;
    }
    return changed ? out : v;
  }
  return v;
}
