/**
 * The ssh host: runs actions in a remote dagbuild checkout, moving files by digest.
 *
 * One action on a remote host:
 *   1. one remote command lists which input digests the remote CAS (`<workdir>/cache/cas`) lacks;
 *   2. only those blobs are uploaded (fastPut to a temp name, renamed into place);
 *   3. the action spec is uploaded and `dagbuild exec --cas` runs it there (log streamed back);
 *   4. each declared output blob is fetched (or copied from the local CAS when already there),
 *      its sha256 checked against the digest the remote reported, and placed under `staging`.
 * Every step is idempotent, so a dropped connection means: back off, reconnect, redo the steps
 * (step 1 makes finished uploads free; a finished exec is not run again).
 *
 * Security: the server key must be in the configured known_hosts file (no trust on first use);
 * authentication is a private key file or ssh-agent only; no secret ever reaches a log line,
 * an action key or an output.
 */
import { randomBytes } from "node:crypto";
import { chmod, copyFile, mkdir, readFile, rename, rm, stat, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, posix } from "node:path";
import { StringDecoder } from "node:string_decoder";
import SftpClient from "ssh2-sftp-client";
import ssh2 from "ssh2";
import type { Client, ClientChannel, ConnectConfig } from "ssh2";
import { hostFacts, type HostFacts } from "../host-facts.js";
import { shq } from "../shell-quote.js";
import { expandPath } from "./host-paths.js";
import type { HostConfig } from "../graph-types.js";
import { shippedInputs } from "../siblings.js";
import { HostError, type ActionIO, type ActionSpec, type Host, type HostEnv, type HostResult, type ResidentArtifact } from "./host.js";
import { checkHostKey, fingerprint, keyTypeOf, knownKeyTypes, lookupName, parseKnownHosts } from "./known-hosts.js";
import {
  ConnectionLostError,
  DigestMismatchError,
  backoffDelay,
  downloadBlob,
  isConnectionError,
  sha256File,
  sleep,
  uploadBlob,
} from "./sftp-transfer.js";

/** The ssh variant of HostConfig. */
export type SshHostConfig = Extract<HostConfig, { transport: "ssh" }>;

/** Knobs for tests and tuning; defaults suit real networks. */
export interface SshHostOptions {
  /** Reconnect attempts per action before `transfer-failed` (default: config `retries`, else 3). */
  readonly retries?: number;
  /** First backoff delay; doubles per retry (default 1000 ms). */
  readonly retryBaseMs?: number;
  /** SSH handshake timeout (default 15000 ms). */
  readonly readyTimeoutMs?: number;
}

/** Creates (does not connect) an ssh host; `prepare` connects and checks the remote checkout. */
export async function createSshHost(
  name: string,
  config: HostConfig,
  env: HostEnv,
  options: SshHostOptions = {},
): Promise<Host> {
  if (config.transport !== "ssh") throw new HostError(name, `host ${name}: createSshHost needs transport: ssh`);
  return new SshHost(name, config as SshHostConfig, env, options);
}

/** Remote `dagbuild exec` result file (format version 1). */
interface RemoteResult {
  readonly version: 1;
  readonly ok: boolean;
  readonly message?: string;
  /** The rule's ctx.notFinal reason (a provisional outcome). */
  readonly notFinal?: string;
  readonly outputs?: Record<
    string,
    {
      readonly path: string;
      readonly digest: string;
      readonly size: number;
      readonly dir: boolean;
      readonly tree?: readonly { rel: string; digest: string; size: number; executable: boolean }[];
    }
  >;
}

/** One live SSH connection: an SFTP session plus its ssh2 Client for exec channels. */
interface Conn {
  readonly sftp: SftpClient;
  alive: boolean;
}

/** A blob the action needs on the remote. */
interface Blob {
  readonly digest: string;
  readonly size: number;
  /** Workspace-relative path, for logs and as the fallback source. */
  readonly what: string;
}

/** An input file changed between planning and upload: rerunning fixes it, retrying does not. */
class InputChangedError extends Error {}
/** A failure that is the rule's, reported as such (not retried). */
class RuleFailure extends Error {
  constructor(readonly kind: "rule-failed" | "host-unavailable", message: string) {
    super(message);
  }
}

/** Remote node one-liner: mkdir run dirs, then print the digests missing from the CAS (or of wrong size). */
const MISSING_SCRIPT = `let s="";process.stdin.setEncoding("utf8");process.stdin.on("data",d=>s+=d).on("end",()=>{const fs=require("fs"),p=require("path");const q=JSON.parse(s);for(const d of q.mkdirs)fs.mkdirSync(d,{recursive:true});const miss=[];for(const [d,n] of q.blobs){const dir=p.join(q.cas,d.slice(0,2));let st;try{st=fs.statSync(p.join(dir,d))}catch{}if(!st||st.size!==n){miss.push(d);fs.mkdirSync(dir,{recursive:true})}}process.stdout.write(JSON.stringify(miss)+"\\n")})`;

/** Host key algorithms to ask for, per known_hosts key type (so a host with several keys shows the one we know). */
const HOST_KEY_ALGOS: Record<string, readonly string[]> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
  "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
};

const MAX_CHANNELS = 8; // OpenSSH's MaxSessions defaults to 10 per connection (sftp takes one)
const UPLOAD_CONCURRENCY = 4;
const LOG_TAIL_LINES = 20;

class SshHost implements Host {
  readonly describe: string;
  private readonly port: number;
  private readonly workdir: string;
  private readonly node: string;
  private readonly knownHostsPath: string;
  private readonly identityPath: string | undefined;
  private readonly retries: number;
  private readonly retryBaseMs: number;
  private readonly readyTimeoutMs: number;
  /** Distinguishes this process's temp files on the remote from another dagbuild's. */
  private readonly tag = randomBytes(6).toString("hex");
  private connPromise: Promise<Conn> | undefined;
  private prepared: Promise<void> | undefined;
  /**
   * Uploads by digest, in flight or done this session: two actions sharing an input upload it
   * once, also when the second listed it missing before the first's upload finished. A failed
   * one is forgotten, so the next action tries again.
   */
  private readonly uploads = new Map<string, Promise<void>>();
  private channels = 0;
  private readonly channelWaiters: (() => void)[] = [];
  private closed = false;

  constructor(
    readonly name: string,
    private readonly config: SshHostConfig,
    private readonly env: HostEnv,
    options: SshHostOptions,
  ) {
    this.port = config.port ?? 22;
    this.describe = `ssh ${config.user}@${config.host}:${this.port}`;
    this.workdir = config.workdir.replace(/\/+$/, "");
    this.node = config.node ?? "node";
    this.knownHostsPath = expandPath(config.known_hosts, env.root);
    this.identityPath = config.identity_file === undefined ? undefined : expandPath(config.identity_file, env.root);
    const r = options.retries ?? config.retries;
    this.retries = typeof r === "number" && Number.isInteger(r) && r >= 0 ? r : 3;
    this.retryBaseMs = options.retryBaseMs ?? 1000;
    this.readyTimeoutMs = options.readyTimeoutMs ?? 15_000;
  }

  private get casDir(): string {
    return `${this.workdir}/cache/cas`;
  }

  private remoteBlob(digest: string): string {
    return `${this.casDir}/${digest.slice(0, 2)}/${digest}`;
  }

  // ---------------------------------------------------------------- prepare

  prepare(_signal: AbortSignal): Promise<void> {
    this.prepared ??= this.doPrepare();
    return this.prepared;
  }

  private async doPrepare(): Promise<void> {
    const conn = await this.connectOrExplain();
    const node = shq(this.node);
    // Exit codes 97-99 are ours: each names one setup step that is missing on the host.
    // An upload cut off with its connection leaves `<digest>.part-<tag>` in the remote CAS; one
    // not written for an hour belongs to no live upload (fastPut writes as it goes): swept here.
    const cmd =
      `cd ${shq(this.workdir)} 2>/dev/null || exit 97; test -f bin/dagbuild || exit 98; ` +
      `find cache/cas -name '*.part-*' -type f -mmin +60 -delete 2>/dev/null; ` +
      `command -v ${node} >/dev/null 2>&1 || exit 99; exec ${node} bin/dagbuild host-check --json`;
    const r = await this.exec(conn, cmd, {});
    const where = `${this.name} (${this.describe})`;
    if (r.code === 97) {
      throw new HostError(
        this.name,
        `workdir ${this.workdir} does not exist on ${where}: clone dagbuild there and run npm ci ` +
          `(git clone <repo> ${this.workdir} && cd ${this.workdir} && npm ci), or fix workdir in the host config`,
      );
    }
    if (r.code === 98) {
      throw new HostError(
        this.name,
        `remote dagbuild not found at ${this.workdir}/bin/dagbuild on ${where}: clone the project there and run npm ci`,
      );
    }
    if (r.code === 99) {
      throw new HostError(
        this.name,
        `node not found on ${where} (looked for "${this.node}" on the non-interactive PATH): install Node ` +
          `${process.version.split(".")[0]} there or set node: /absolute/path/to/node in the host config`,
      );
    }
    let remote: HostFacts | undefined;
    try {
      const last = r.stdout.trim().split("\n").pop() ?? "";
      remote = JSON.parse(last) as HostFacts;
      if (typeof remote.version !== "string") remote = undefined;
    } catch {
      remote = undefined;
    }
    if (r.code !== 0 || !remote) {
      throw new HostError(
        this.name,
        `remote dagbuild at ${this.workdir} on ${where} failed to run host-check (exit ${r.code ?? r.signal}): ` +
          `${tailLines(r.stderr || r.stdout, 5) || "no output"}\n  fix: cd ${this.workdir} && npm ci (it also builds dist/)`,
      );
    }
    const local = hostFacts();
    if (remote.version !== local.version) {
      throw new HostError(
        this.name,
        `remote dagbuild at ${this.workdir} on ${where} is version ${remote.version}, local is ${local.version}: ` +
          `update it (cd ${this.workdir} && git pull && npm ci)`,
      );
    }
    if (remote.lockfile_sha256 !== local.lockfile_sha256) {
      throw new HostError(
        this.name,
        `remote package-lock.json at ${this.workdir} on ${where} differs from the local one ` +
          `(sha256 ${short(remote.lockfile_sha256)} vs ${short(local.lockfile_sha256)}), so its dependencies differ: ` +
          `update it (cd ${this.workdir} && git pull && npm ci)`,
      );
    }
    if (remote.node.split(".")[0] !== local.node.split(".")[0]) {
      this.env.note(`${this.name}: remote node is ${remote.node}, local is ${local.node} (results may differ)`);
    }
  }

  // ---------------------------------------------------------------- run

  async run(spec: ActionSpec, staging: string, io: ActionIO): Promise<HostResult> {
    const cancelled = (): HostResult => ({ ok: false, kind: "cancelled", message: `${spec.id} cancelled` });
    if (io.signal.aborted) return cancelled();
    try {
      await this.prepare(io.signal);
    } catch (err) {
      return { ok: false, kind: "host-unavailable", message: errorMessage(err) };
    }
    const runDir = `${this.workdir}/cache/remote/${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
    const placed: string[] = [];
    let result: RemoteResult | undefined;
    let lastError: unknown;
    const cleanupStaging = async (): Promise<void> => {
      for (const p of placed) await rm(p, { recursive: true, force: true }).catch(() => undefined);
    };
    for (let attempt = 0; ; attempt++) {
      let conn: Conn | undefined;
      try {
        conn = await this.connection();
        if (!result) {
          await this.ensureInputs(conn, spec, runDir, io);
          if (io.signal.aborted) return cancelled();
          const ex = await this.execRemote(conn, spec, runDir, io);
          if (ex === "cancelled") {
            void this.removeRemote(runDir);
            return cancelled();
          }
          result = ex;
        }
        await this.fetchOutputs(conn, spec, result, staging, placed, io.keep);
        void this.removeRemote(runDir);
        // fetchOutputs checked every staged file against these digests.
        if (result.outputs) io.verified?.(result.outputs);
        return result.notFinal === undefined ? { ok: true } : { ok: true, notFinal: result.notFinal };
      } catch (err) {
        lastError = err;
        if (io.signal.aborted) {
          await cleanupStaging();
          return cancelled();
        }
        if (err instanceof RuleFailure) {
          await cleanupStaging();
          void this.removeRemote(runDir);
          return { ok: false, kind: err.kind, message: err.message };
        }
        if (err instanceof DigestMismatchError) {
          await cleanupStaging();
          return { ok: false, kind: "digest-mismatch", message: `${spec.id} on ${this.name}: ${err.message}` };
        }
        if (err instanceof HostError) {
          await cleanupStaging();
          return { ok: false, kind: "host-unavailable", message: err.message };
        }
        if (err instanceof InputChangedError) {
          await cleanupStaging();
          return { ok: false, kind: "transfer-failed", message: err.message };
        }
        if (!isConnectionError(err) || attempt >= this.retries) break;
        if (conn) this.discard(conn);
        const delay = backoffDelay(attempt + 1, this.retryBaseMs);
        this.env.note(
          `${this.name}: connection to ${this.describe} lost (${errorMessage(err)}); ` +
            `retry ${attempt + 1}/${this.retries} in ${(delay / 1000).toFixed(1)} s`,
        );
        await sleep(delay, io.signal);
        if (io.signal.aborted) {
          await cleanupStaging();
          return cancelled();
        }
      }
    }
    await cleanupStaging();
    const lost = isConnectionError(lastError);
    return {
      ok: false,
      kind: "transfer-failed",
      message: lost
        ? `${spec.id}: lost the connection to ${this.name} (${this.describe}) and ${this.retries} reconnect ` +
          `attempt(s) failed: ${errorMessage(lastError)}; check that the host is up and sshd reachable, then rerun ` +
          `(finished uploads are kept, nothing partial was accepted)`
        : `${spec.id}: transfer to/from ${this.name} (${this.describe}) failed: ${errorMessage(lastError)}`,
    };
  }

  /** Step 1+2: upload the input blobs the remote CAS lacks (one remote command to find them). */
  private async ensureInputs(conn: Conn, spec: ActionSpec, runDir: string, io: ActionIO): Promise<void> {
    const blobs = new Map<string, Blob>();
    for (const files of shippedInputs(spec)) {
      for (const f of files) {
        if (f.tree) {
          for (const t of f.tree) blobs.set(t.digest, { digest: t.digest, size: t.size, what: `${f.path}/${t.rel}` });
        } else {
          blobs.set(f.digest, { digest: f.digest, size: f.size, what: f.path });
        }
      }
    }
    const query = JSON.stringify({ cas: this.casDir, mkdirs: [runDir, this.casDir], blobs: [...blobs.values()].map((b) => [b.digest, b.size]) });
    const r = await this.exec(conn, `${shq(this.node)} -e ${shq(MISSING_SCRIPT)}`, { stdin: query });
    if (r.code !== 0) {
      throw new Error(`listing the remote CAS ${this.casDir} failed (exit ${r.code ?? r.signal}): ${tailLines(r.stderr, 5)}`);
    }
    const missing = JSON.parse(r.stdout.trim().split("\n").pop() ?? "[]") as string[];
    const queue = missing.map((d) => blobs.get(d)!).filter(Boolean);
    const worker = async (): Promise<void> => {
      for (let b = queue.shift(); b; b = queue.shift()) {
        if (io.signal.aborted) return;
        await this.uploadOnce(conn, b);
      }
    };
    await Promise.all(Array.from({ length: Math.min(UPLOAD_CONCURRENCY, queue.length) }, worker));
  }

  private uploadOnce(conn: Conn, b: Blob): Promise<void> {
    let p = this.uploads.get(b.digest);
    if (!p) {
      p = this.upload(conn, b).catch((e: unknown) => {
        this.uploads.delete(b.digest);
        throw e;
      });
      this.uploads.set(b.digest, p);
    }
    return p;
  }

  /** Uploads one blob from the local CAS (or the workspace file), verified before it leaves. */
  private async upload(conn: Conn, b: Blob): Promise<void> {
    const casPath = join(this.env.casDir, b.digest.slice(0, 2), b.digest);
    const wsPath = join(this.env.root, b.what);
    let source: string | undefined;
    for (const candidate of [casPath, wsPath]) {
      const actual = await sha256File(candidate).catch(() => undefined);
      if (actual === b.digest) {
        source = candidate;
        break;
      }
    }
    if (!source) {
      const now = await sha256File(wsPath).catch((e: NodeJS.ErrnoException) => `unreadable (${e.code ?? e.message})`);
      throw new InputChangedError(
        `input ${b.what} changed since it was hashed (expected sha256 ${b.digest}, now ${now}) and the local CAS ` +
          `has no copy: rerun the build so it is hashed again (an output left resident on ${this.name} that its CAS ` +
          `lost meanwhile is rebuilt by that next build)`,
      );
    }
    await uploadBlob(conn.sftp, source, this.remoteBlob(b.digest), b.size, this.tag);
    this.env.logTransfer({ what: b.what, digest: b.digest, size: b.size, from: "local", to: this.name, direction: "put" });
  }

  /** Step 3: upload the spec and run `dagbuild exec` remotely; returns its result or throws RuleFailure. */
  private async execRemote(conn: Conn, spec: ActionSpec, runDir: string, io: ActionIO): Promise<RemoteResult | "cancelled"> {
    const localSpec = join(tmpdir(), `dagbuild-spec-${this.tag}-${randomBytes(4).toString("hex")}.json`);
    await writeFile(localSpec, JSON.stringify(spec));
    try {
      await conn.sftp.fastPut(localSpec, `${runDir}/spec.json`);
    } finally {
      await unlink(localSpec).catch(() => undefined);
    }
    if (io.signal.aborted) return "cancelled";
    const resultPath = `${runDir}/result.json`;
    const cmd =
      `cd ${shq(this.workdir)} && echo "@@dagbuild-pid $$" && exec ${shq(this.node)} bin/dagbuild exec ` +
      `--spec ${shq(`${runDir}/spec.json`)} --staging ${shq(`${runDir}/staging`)} --cas ${shq(this.casDir)} ` +
      `--result ${shq(resultPath)}`;
    let tail = "";
    const keep = (s: string): void => {
      tail = (tail + s).slice(-16_384);
      io.log(s);
    };
    const r = await this.exec(conn, cmd, { onStdout: keep, onStderr: keep, signal: io.signal, killable: true });
    if (io.signal.aborted) return "cancelled";
    const logTail = tailLines(tail, LOG_TAIL_LINES);
    const withLog = (msg: string): string => (logTail ? `${msg}\n--- last lines of the log (${this.name}) ---\n${logTail}` : msg);
    if (r.code === 2) {
      throw new RuleFailure(
        "host-unavailable",
        withLog(`dagbuild exec on ${this.name} rejected the action spec of ${spec.id} (exit 2): the remote checkout ` +
          `does not understand this dagbuild's specs; update it (cd ${this.workdir} && git pull && npm ci)`),
      );
    }
    let result: RemoteResult | undefined;
    if (r.code === 0 || r.code === 1) {
      const buf = await conn.sftp.get(resultPath).catch((err: unknown) => {
        if (isConnectionError(err)) throw err;
        return undefined;
      });
      if (Buffer.isBuffer(buf)) {
        try {
          result = JSON.parse(buf.toString("utf8")) as RemoteResult;
        } catch {
          result = undefined;
        }
      }
    }
    if (r.code === 0 && result?.ok) return result;
    if (r.code === null) {
      throw new RuleFailure("rule-failed", withLog(`${spec.id}: dagbuild exec on ${this.name} was killed by ${r.signal ?? "a signal"}`));
    }
    const why = result && !result.ok && result.message ? result.message : `dagbuild exec exited with ${r.code}`;
    throw new RuleFailure("rule-failed", withLog(`${spec.id} failed on ${this.name}: ${why}`));
  }

  /** Step 4: bring every declared output home, verified, under `staging`. */
  private async fetchOutputs(conn: Conn, spec: ActionSpec, result: RemoteResult, staging: string, placed: string[], keep?: ReadonlySet<string>): Promise<void> {
    for (const [name, decl] of Object.entries(spec.outputs)) {
      const out = result.outputs?.[name];
      if (!out) {
        throw new RuleFailure("rule-failed", `${spec.id} on ${this.name}: the rule did not produce declared output ${name} (${decl.path})`);
      }
      // A resident output stays in the remote CAS (`dagbuild exec --cas` stored it there, tree
      // files included): only its digest, reported in the result, comes back.
      if (keep?.has(name)) continue;
      const dest = join(staging, decl.path);
      if (!placed.includes(dest)) placed.push(dest);
      if (decl.dir) {
        await mkdir(dest, { recursive: true });
        for (const t of out.tree ?? []) {
          if (!isSafeRel(t.rel)) throw new RuleFailure("rule-failed", `${spec.id}: remote output ${decl.path} lists an unsafe path ${JSON.stringify(t.rel)}`);
          const file = join(dest, t.rel);
          await mkdir(dirname(file), { recursive: true });
          if (!(await hasDigest(file, t.digest))) await this.fetchBlob(conn, t.digest, t.size, file, `${decl.path}/${t.rel}`);
          if (t.executable) await chmod(file, 0o755);
        }
      } else {
        await mkdir(dirname(dest), { recursive: true });
        if (!(await hasDigest(dest, out.digest))) await this.fetchBlob(conn, out.digest, out.size, dest, decl.path);
      }
    }
  }

  /** One output blob: copied from the local CAS when we already have it, else downloaded. */
  private async fetchBlob(conn: Conn, digest: string, size: number, dest: string, what: string): Promise<void> {
    const local = join(this.env.casDir, digest.slice(0, 2), digest);
    const temp = `${dest}.part-${randomBytes(6).toString("hex")}`;
    try {
      await copyFile(local, temp);
      if ((await sha256File(temp)) === digest) {
        await rename(temp, dest);
        return;
      }
    } catch {
      // not in the local CAS: download it
    }
    await unlink(temp).catch(() => undefined);
    await downloadBlob(conn.sftp, this.remoteBlob(digest), dest, digest, what);
    this.env.logTransfer({ what, digest, size, from: this.name, to: "local", direction: "get" });
  }

  // ---------------------------------------------------------------- resident artifacts

  /** The digests among `blobs` the remote CAS lacks (one remote command). */
  async missing(blobs: readonly { readonly digest: string; readonly size: number }[]): Promise<string[]> {
    if (blobs.length === 0) return [];
    await this.prepare(new AbortController().signal);
    const conn = await this.connection();
    const query = JSON.stringify({ cas: this.casDir, mkdirs: [], blobs: blobs.map((b) => [b.digest, b.size]) });
    const r = await this.exec(conn, `${shq(this.node)} -e ${shq(MISSING_SCRIPT)}`, { stdin: query });
    if (r.code !== 0) throw new Error(`listing the remote CAS ${this.casDir} failed (exit ${r.code ?? r.signal}): ${tailLines(r.stderr, 5)}`);
    return JSON.parse(r.stdout.trim().split("\n").pop() ?? "[]") as string[];
  }

  /** Downloads a resident artifact to `dest`, each blob hash-checked (fetchBlob), logged as `what`. */
  async fetch(what: string, art: ResidentArtifact, dest: string): Promise<void> {
    await this.prepare(new AbortController().signal);
    const conn = await this.connection();
    if (!art.dir) {
      await mkdir(dirname(dest), { recursive: true });
      await this.fetchBlob(conn, art.digest, art.size, dest, what);
      return;
    }
    await mkdir(dest, { recursive: true });
    for (const t of art.tree ?? []) {
      if (!isSafeRel(t.rel)) throw new Error(`${what}: resident tree lists an unsafe path ${JSON.stringify(t.rel)}`);
      const file = join(dest, t.rel);
      await mkdir(dirname(file), { recursive: true });
      await this.fetchBlob(conn, t.digest, t.size, file, `${what}/${t.rel}`);
      if (t.executable) await chmod(file, 0o755);
    }
  }

  private async removeRemote(runDir: string): Promise<void> {
    try {
      const conn = await this.connection();
      await this.exec(conn, `rm -rf ${shq(runDir)}`, {});
    } catch {
      // best effort: a leftover run dir is harmless (cache/remote is scratch space)
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const p = this.connPromise;
    this.connPromise = undefined;
    if (!p) return;
    try {
      const c = await p;
      c.alive = false;
      await c.sftp.end();
    } catch {
      // already gone
    }
  }

  // ---------------------------------------------------------------- connection

  /** The live connection, (re)opened on demand; concurrent callers share one. */
  private async connection(): Promise<Conn> {
    if (this.closed) throw new Error(`host ${this.name} is closed`);
    const p = this.connPromise;
    if (p) {
      try {
        const c = await p;
        if (c.alive) return c;
      } catch {
        // fall through: open a new one
      }
      if (this.connPromise === p) this.connPromise = undefined;
    }
    if (!this.connPromise) {
      const fresh = this.open();
      fresh.catch(() => undefined);
      this.connPromise = fresh;
    }
    return this.connPromise;
  }

  private discard(conn: Conn): void {
    conn.alive = false;
    conn.sftp.end().catch(() => undefined);
  }

  /** Connects for `prepare`, turning every failure into a HostError that says how to fix it. */
  private async connectOrExplain(): Promise<Conn> {
    try {
      return await this.connection();
    } catch (err) {
      if (err instanceof HostError) throw err;
      const code = (err as { code?: string }).code;
      const msg = errorMessage(err);
      const at = `${this.name} (${this.describe})`;
      if (code === "ECONNREFUSED" || /refused/i.test(msg)) {
        throw new HostError(this.name, `cannot connect to ${at}: connection refused; is sshd running there and is port ${this.port} right?`);
      }
      if (/authentication methods failed/i.test(msg)) {
        const how = this.identityPath
          ? `the key ${this.identityPath} (add ${this.identityPath}.pub to ~${this.config.user}/.ssh/authorized_keys there)`
          : `the keys in ssh-agent (ssh-add -l; add the public key to ~${this.config.user}/.ssh/authorized_keys there)`;
        throw new HostError(this.name, `${at} refused ${how}`);
      }
      if (/timed out/i.test(msg)) {
        throw new HostError(this.name, `cannot connect to ${at}: timed out after ${this.readyTimeoutMs} ms; check host/port and the network`);
      }
      throw new HostError(this.name, `cannot connect to ${at}: ${msg}`);
    }
  }

  private async open(): Promise<Conn> {
    const { host, user } = this.config;
    const port = this.port;
    let knownText: string;
    try {
      knownText = await readFile(this.knownHostsPath, "utf8");
    } catch (err) {
      throw new HostError(
        this.name,
        `known_hosts file ${this.knownHostsPath} for ${this.name} cannot be read (${(err as NodeJS.ErrnoException).code}): ` +
          `create it with ssh-keyscan -p ${port} ${host} >> ${this.knownHostsPath} (and compare the fingerprint with ` +
          `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the host)`,
      );
    }
    const entries = parseKnownHosts(knownText);
    const auth = await this.authConfig();
    const algos = knownKeyTypes(entries, host, port).flatMap((t) => HOST_KEY_ALGOS[t] ?? []);
    let refused: string | undefined;
    const conn: Conn = { sftp: undefined as unknown as SftpClient, alive: true };
    const dead = (): void => {
      conn.alive = false;
    };
    // Our own callbacks: the library's defaults print to the console.
    const sftp = new SftpClient(`dagbuild-${this.name}`, { error: dead, end: dead, close: dead });
    (conn as { sftp: SftpClient }).sftp = sftp;
    const client = sshClient(sftp);
    client.setMaxListeners(100);
    client.on("close", dead);
    client.on("end", dead);
    const cfg: ConnectConfig = {
      host,
      port,
      username: user,
      readyTimeout: this.readyTimeoutMs,
      keepaliveInterval: 10_000,
      keepaliveCountMax: 3,
      ...auth,
      ...(algos.length > 0 ? { algorithms: { serverHostKey: algos as never } } : {}),
      hostVerifier: (key: Buffer): boolean => {
        const check = checkHostKey(entries, host, port, key);
        if (check.status === "match") return true;
        const fp = `${keyTypeOf(key)} ${fingerprint(key)}`;
        const name = lookupName(host, port);
        const fix = `ssh-keyscan -p ${port} ${host} >> ${this.knownHostsPath}`;
        if (check.status === "changed") {
          refused =
            `HOST KEY CHANGED for ${this.name} (${name}): the server presented ${fp}, which differs from the key at ` +
            `${this.knownHostsPath} line ${check.lines.join(", ")}. Someone may be intercepting the connection, or the ` +
            `host was reinstalled. Verify the new key with the host's admin, then remove the old line ` +
            `(ssh-keygen -R '${name}' -f ${this.knownHostsPath}) and add the new one (${fix})`;
        } else if (check.status === "revoked") {
          refused = `host key ${fp} of ${this.name} (${name}) is marked @revoked in ${this.knownHostsPath} line ${check.line}: refusing to connect`;
        } else {
          refused =
            `unknown host key for ${this.name} (${name}): ${fp} is not in ${this.knownHostsPath}. dagbuild never ` +
            `accepts keys on first use; add it with ${fix} after checking the fingerprint ` +
            `(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the host)`;
        }
        return false;
      },
    };
    try {
      await sftp.connect(cfg);
    } catch (err) {
      conn.alive = false;
      sftp.end().catch(() => undefined);
      if (refused) throw new HostError(this.name, refused);
      throw err;
    }
    return conn;
  }

  /** Private key from identity_file (OpenSSH format, no passphrase) or the agent; never a password. */
  private async authConfig(): Promise<Partial<ConnectConfig>> {
    if (this.identityPath) {
      let key: Buffer;
      try {
        key = await readFile(this.identityPath);
      } catch (err) {
        throw new HostError(
          this.name,
          `identity_file ${this.identityPath} for ${this.name} cannot be read (${(err as NodeJS.ErrnoException).code}): ` +
            `fix the path in the host config, or drop identity_file to use ssh-agent`,
        );
      }
      const parsed = ssh2.utils.parseKey(key);
      if (parsed instanceof Error) {
        const encrypted = /passphrase|encrypted/i.test(parsed.message);
        throw new HostError(
          this.name,
          encrypted
            ? `identity_file ${this.identityPath} is passphrase-protected; dagbuild never asks for passphrases: ` +
              `load it into ssh-agent (ssh-add ${this.identityPath}) and drop identity_file from the host config`
            : `identity_file ${this.identityPath} is not a usable private key (${parsed.message}): use an OpenSSH key ` +
              `(ssh-keygen -t ed25519 -f ${this.identityPath})`,
        );
      }
      return { privateKey: key };
    }
    const sock = process.env.SSH_AUTH_SOCK;
    if (!sock) {
      throw new HostError(
        this.name,
        `host ${this.name} has no identity_file and SSH_AUTH_SOCK is not set: start ssh-agent and ssh-add your key, ` +
          `or set identity_file: ~/.ssh/id_ed25519 in the host config`,
      );
    }
    return { agent: sock };
  }

  // ---------------------------------------------------------------- exec

  private async acquireChannel(): Promise<void> {
    if (this.channels < MAX_CHANNELS) {
      this.channels++;
      return;
    }
    await new Promise<void>((resolve) => this.channelWaiters.push(resolve));
  }

  private releaseChannel(): void {
    const next = this.channelWaiters.shift();
    if (next) next();
    else this.channels--;
  }

  /**
   * Runs a remote command. With `killable`, the command must print `@@dagbuild-pid $$` first:
   * sshd makes each session its own process group, so aborting kills the group (`kill -- -PID`).
   */
  private async exec(
    conn: Conn,
    command: string,
    opts: {
      stdin?: string;
      onStdout?(s: string): void;
      onStderr?(s: string): void;
      signal?: AbortSignal;
      killable?: boolean;
    },
  ): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
    await this.acquireChannel();
    try {
      return await new Promise((resolvePromise, reject) => {
        sshClient(conn.sftp).exec(command, (err, stream: ClientChannel) => {
          if (err) {
            reject(conn.alive ? err : new ConnectionLostError(`connection to ${this.describe} lost`, err));
            return;
          }
          let stdout = "";
          let stderr = "";
          let code: number | null | undefined;
          let sig: string | null = null;
          let pid: number | undefined;
          let pending = ""; // stdout before the pid line is seen
          const outDec = new StringDecoder("utf8");
          const errDec = new StringDecoder("utf8");
          const onOut = (s: string): void => {
            if (opts.killable && pid === undefined) {
              pending += s;
              const nl = pending.indexOf("\n");
              if (nl < 0) return;
              const m = /^@@dagbuild-pid (\d+)$/.exec(pending.slice(0, nl));
              if (m) pid = Number(m[1]);
              s = m ? pending.slice(nl + 1) : pending;
              pid ??= -1;
              pending = "";
              if (abortRequested) killRemote();
              if (!s) return;
            }
            if (stdout.length < 4_000_000) stdout += s;
            opts.onStdout?.(s);
          };
          const onErr = (s: string): void => {
            if (stderr.length < 4_000_000) stderr += s;
            opts.onStderr?.(s);
          };
          stream.on("data", (b: Buffer) => onOut(outDec.write(b)));
          stream.stderr.on("data", (b: Buffer) => onErr(errDec.write(b)));
          stream.on("exit", (c: number | null, s?: string) => {
            code = c;
            sig = s ?? null;
          });
          let abortRequested = false;
          const killRemote = (): void => {
            // Kill the remote process group (TERM, then KILL), then drop the channel: closing the
            // channel alone leaves a pty-less remote process running until it exits by itself.
            if (pid !== undefined && pid > 0) {
              const kill = `kill -TERM -- -${pid} 2>/dev/null; sleep 2; kill -KILL -- -${pid} 2>/dev/null; true`;
              sshClient(conn.sftp).exec(kill, (e, s2) => {
                if (!e) s2.on("data", () => undefined).on("close", () => undefined);
              });
            }
            setTimeout(() => stream.close(), 100);
          };
          const onAbort = (): void => {
            abortRequested = true;
            // Before the pid line arrives there is nothing to kill yet: onOut kills on arrival.
            if (!opts.killable || pid !== undefined) killRemote();
          };
          if (opts.signal) {
            if (opts.signal.aborted) onAbort();
            else opts.signal.addEventListener("abort", onAbort, { once: true });
          }
          stream.on("close", () => {
            opts.signal?.removeEventListener("abort", onAbort);
            onOut(outDec.end());
            onErr(errDec.end());
            if (code === undefined && !opts.signal?.aborted) {
              reject(new ConnectionLostError(`connection to ${this.describe} lost while running a remote command`));
              return;
            }
            resolvePromise({ code: code ?? null, signal: sig, stdout, stderr });
          });
          if (opts.stdin !== undefined) stream.end(opts.stdin);
          else stream.end();
        });
      });
    } finally {
      this.releaseChannel();
    }
  }
}

// ---------------------------------------------------------------- helpers

function isSafeRel(rel: string): boolean {
  if (rel === "" || posix.isAbsolute(rel) || rel.includes("\\")) return false;
  return rel.split("/").every((seg) => seg !== ".." && seg !== "." && seg !== "");
}

async function hasDigest(file: string, digest: string): Promise<boolean> {
  try {
    if (!(await stat(file)).isFile()) return false;
    return (await sha256File(file)) === digest;
  } catch {
    return false;
  }
}

function tailLines(text: string, n: number): string {
  const lines = text.replace(/\s+$/, "").split("\n");
  return lines.slice(-n).join("\n");
}

function short(d: string | null): string {
  return d ? `${d.slice(0, 12)}…` : "(no package-lock.json)";
}

/** The ssh2 Client under an SFTP client (public in ssh2-sftp-client, missing from its typings). */
function sshClient(sftp: SftpClient): Client {
  return (sftp as unknown as { client: Client }).client;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
