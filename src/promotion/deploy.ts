/**
 * Deploying the ML guardrail profile: to the droplet (the deploy action's own output file, e.g.
 * `output/deploy/ml_guardrail.yaml`, where the droplet's gate engine reads it) and, when a URL
 * is configured, to the live stack's Valkey (gate-spec section 10 naming):
 *   `profile:ml_guardrail`          JSON of the profile plus its `sha256` (of the YAML text)
 *   `profile:ml_guardrail:{sha256}` the same JSON, kept by digest (a rollback finds it there)
 *   `ml:threshold:{INST}`           the threshold, one per instrument, when enabled; deleted when
 *                                   not (no key = no guardrail: the heuristic trades alone)
 * written in one MULTI/EXEC and read back before anything is recorded.
 *
 * Order, so records are written only after success: schema-check the profile, push to Valkey
 * and verify, write the droplet copy and the deploy record (outputs), then append the hand-off
 * rows to `handoff/transfer_log.md`. Idempotent: the same profile sets the same keys, and a
 * row whose what / to / digest equal the newest row for that what / to is not appended again.
 *
 * The URL is `redis://[user:password@]host:port/db`, or `env:NAME` to read it from the
 * environment (keeping the password out of the pipeline and the cache). Logs, errors and the
 * record show the endpoint as `host:port/db` only: never the password.
 */
import { existsSync } from "node:fs";
import { sha256 as sha256Hex } from "../engine/hash.js";
import { appendTransfer, readTransfers } from "../engine/transfer-log.js";
import { parseRedisUrl, redact, RespClient, RespError } from "../market/resp.js";
import { stableStringify } from "../sep/records.js";
import { GuardrailError, parseGuardrailProfile, type GuardrailProfile } from "./guardrail-profile.js";

/** Version of the deploy record (`*.deploy.json`). */
export const DEPLOY_RECORD_VERSION = 1;

/** A deploy that could not be done (message names the file, key or endpoint; never a password). */
export class DeployError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DeployError";
  }
}

/** What `deploy` needs. */
export interface DeployInput {
  /** The profile YAML text and its workspace-relative path. */
  readonly text: string;
  readonly shown: string;
  /** Workspace-relative path of the droplet copy (the `what` of the transfer row). */
  readonly target: string;
  /** Valkey URL, `env:NAME`, or "" to skip the push. */
  readonly valkeyUrl: string;
  /** Profile key (default `profile:ml_guardrail`). */
  readonly key?: string;
  /** Host names for the transfer rows. */
  readonly from: string;
  readonly to: string;
  /** Environment for `env:NAME` URLs (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly log: (line: string) => void;
}

/** What was deployed (the deploy record, a build output: no wall-clock time). */
export interface DeployRecord {
  readonly format: "dagbuild.deploy_record";
  readonly version: number;
  readonly what: string;
  readonly source: string;
  readonly sha256: string;
  readonly bytes: number;
  readonly enabled: boolean;
  readonly model: string | null;
  readonly valkey: { readonly endpoint: string; readonly keys: readonly string[]; readonly deleted: readonly string[] } | null;
}

/** `host:port/db` of a URL: what logs and records may show. */
export function endpointOf(url: string): string {
  const ep = parseRedisUrl(url);
  return `${ep.host}:${ep.port}/${ep.db}`;
}

/** The URL a `valkey_url` param means ("" = none); `env:NAME` reads the environment. */
export function resolveValkeyUrl(value: string, env: Readonly<Record<string, string | undefined>>): string {
  const m = /^env:([A-Za-z_][A-Za-z0-9_]*)$/.exec(value.trim());
  if (!m) return value.trim();
  const v = env[m[1]!];
  if (!v) throw new DeployError(`valkey_url names the environment variable ${m[1]}, which is not set`);
  return v.trim();
}

/** The Valkey writes of a profile: keys to set (key -> value) and keys to delete. */
export function valkeyWrites(p: GuardrailProfile, sha256: string, key = "profile:ml_guardrail"): { set: [string, string][]; del: string[] } {
  const json = stableStringify({ ...p, sha256 });
  const set: [string, string][] = [[key, json], [`${key}:${sha256}`, json]];
  const del: string[] = [];
  for (const inst of p.instruments) {
    if (p.enabled && p.threshold) set.push([`ml:threshold:${inst}`, String(p.threshold.value)]);
    else del.push(`ml:threshold:${inst}`);
  }
  return { set, del };
}

async function pushValkey(url: string, writes: { set: [string, string][]; del: string[] }): Promise<void> {
  const where = endpointOf(url);
  let c: RespClient;
  try {
    c = await RespClient.connect(url, { timeoutMs: 10_000 });
  } catch (e) {
    throw new DeployError(`Valkey ${where}: ${redactIn((e as Error).message, url)}`);
  }
  try {
    await c.command("MULTI");
    for (const [k, v] of writes.set) await c.command("SET", k, v);
    if (writes.del.length) await c.command("DEL", ...writes.del);
    const r = await c.command("EXEC");
    if (!Array.isArray(r)) throw new DeployError(`Valkey ${where}: the MULTI/EXEC of the deploy was aborted`);
    // Read back: a record is written only for what the server now holds.
    for (const [k, v] of writes.set) {
      const got = await c.command("GET", k);
      if (got !== v) throw new DeployError(`Valkey ${where}: key ${k} reads back ${got === null ? "missing" : "different"} after the deploy`);
    }
    if (writes.del.length && (await c.command("EXISTS", ...writes.del)) !== 0) throw new DeployError(`Valkey ${where}: ml:threshold keys still exist after the deploy deleted them`);
  } catch (e) {
    if (e instanceof DeployError) throw e;
    if (e instanceof RespError) throw new DeployError(`Valkey ${where}: ${redactIn(e.message, url)}`);
    throw e;
  } finally {
    c.close();
  }
}

/** `msg` with the URL's password (and the URL itself) made safe to print. */
function redactIn(msg: string, url: string): string {
  let out = msg.split(url).join(redact(url));
  const pw = (() => {
    try {
      return parseRedisUrl(url).password;
    } catch {
      return undefined;
    }
  })();
  if (pw) out = out.split(pw).join("***");
  return out;
}

/** True when the newest row for (what, to) in the log already carries `digest`. */
function alreadyLogged(log: string, what: string, to: string, digest: string): boolean {
  if (!existsSync(log)) return false;
  const rows = readTransfers(log).filter((r) => r.what === what && r.to === to);
  return rows.length > 0 && rows[rows.length - 1]!.digest === digest;
}

/**
 * Deploys: checks the profile, pushes to Valkey (if configured), then returns the droplet copy
 * and the record for the caller to write; `recordTransfers` appends the log rows after that.
 */
export async function deploy(x: DeployInput): Promise<{ text: string; record: DeployRecord }> {
  let p: GuardrailProfile;
  try {
    p = parseGuardrailProfile(x.text, x.shown);
  } catch (e) {
    if (e instanceof GuardrailError) throw new DeployError(`refusing to deploy: ${e.message}`);
    throw e;
  }
  const sha256 = sha256Hex(x.text);
  const url = resolveValkeyUrl(x.valkeyUrl, x.env ?? process.env);
  let valkey: DeployRecord["valkey"] = null;
  if (!url) {
    x.log("deploy: no Valkey URL (deploy_valkey_url is empty): the Valkey push is skipped, the profile goes to the droplet only");
  } else {
    let where: string;
    try {
      where = endpointOf(url);
    } catch (e) {
      throw new DeployError(`bad Valkey URL: ${redactIn((e as Error).message, url)}`);
    }
    const writes = valkeyWrites(p, sha256, x.key);
    await pushValkey(url, writes);
    valkey = { endpoint: where, keys: writes.set.map(([k]) => k), deleted: writes.del };
    x.log(`deploy: Valkey ${where}: set ${writes.set.map(([k]) => k).join(", ")}${writes.del.length ? `; deleted ${writes.del.join(", ")} (guardrail off)` : ""}`);
  }
  const record: DeployRecord = {
    format: "dagbuild.deploy_record",
    version: DEPLOY_RECORD_VERSION,
    what: x.target,
    source: x.shown,
    sha256,
    bytes: Buffer.byteLength(x.text),
    enabled: p.enabled,
    model: p.model?.name ?? null,
    valkey,
  };
  x.log(`deploy: ${x.target} sha256 ${sha256} (${p.enabled ? `guardrail on: ${p.model!.name}, threshold ${p.threshold!.value}` : "no promotion: the heuristic stays"})`);
  return { text: x.text, record };
}

/** Appends the hand-off rows of a finished deploy (droplet copy; Valkey key), skipping repeats. */
export function recordTransfers(log: string, rec: DeployRecord, from: string, to: string, when = new Date().toISOString()): number {
  const rows = [{ what: rec.what, to }];
  if (rec.valkey) rows.push({ what: `valkey:${rec.valkey.keys[0]}`, to: `valkey@${rec.valkey.endpoint}` });
  let n = 0;
  for (const r of rows) {
    if (alreadyLogged(log, r.what, r.to, rec.sha256)) continue;
    appendTransfer(log, { what: r.what, digest: rec.sha256, size: rec.bytes, from, to: r.to, direction: "put", when });
    n++;
  }
  return n;
}

/** The deploy record's JSON text. */
export function formatDeployRecord(r: DeployRecord): string {
  return `${stableStringify(r)}\n`;
}
