/**
 * Test harness: real OpenSSH `sshd` servers on 127.0.0.1, one per call, each with its own
 * temp dir (ed25519 host key, user key, authorized_keys, known_hosts) and its own remote
 * "workdir" (a dagbuild checkout made of symlinks into this project, since both sides are
 * this machine). Key-only auth; the client checks the host key against the generated known_hosts.
 *
 * Every server is stopped by PID (with its per-connection children) in `stop()` and, as a
 * safety net, when the test process exits.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { withTimeout } from "./timeout.js";

export const SSHD = "/usr/sbin/sshd";

/** The dagbuild checkout these tests run from (dist/test/helpers → three levels up). */
export const PROJECT_ROOT = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");

/** A SKIP line when sshd cannot be used here, else undefined. */
export function sshdMissing(): string | undefined {
  if (!existsSync(SSHD)) return `SKIP remote-host tests: ${SSHD} not installed (apt-get install -y openssh-server)`;
  return undefined;
}

/** How the server's remote workdir is made. */
export type WorkdirKind =
  /** symlinks to the real project (bin, dist, package.json, package-lock.json, node_modules, rules, src) */
  | { readonly kind: "project" }
  /** like project, but bin/dagbuild runs `script` (a test double of the remote side) */
  | { readonly kind: "stub"; readonly script: string; readonly packageVersion?: string }
  /** an empty directory (no dagbuild there) */
  | { readonly kind: "empty" };

/** A running sshd. */
export interface Sshd {
  readonly host: "127.0.0.1";
  readonly port: number;
  readonly user: string;
  /** Temp dir holding keys, config, logs (and the workdir). */
  readonly dir: string;
  /** Private user key (OpenSSH format, no passphrase). */
  readonly userKey: string;
  /** known_hosts with `[127.0.0.1]:port` and the host key. */
  readonly knownHosts: string;
  /** The host public key line (`ssh-ed25519 AAAA...`). */
  readonly hostKeyPub: string;
  /** Remote workdir (absolute). */
  readonly workdir: string;
  readonly pid: number;
  /** sshd's stderr so far (for failure messages). */
  log(): string;
  /** Kills the per-connection sshd processes (drops every session) but keeps listening. */
  killConnections(): void;
  /** Stops the server and its connections; idempotent. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;


function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** PIDs of every descendant of `pid` (from /proc), deepest last. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      // process exited while we looked
    }
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

function killQuiet(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Creates a remote workdir of the given kind at `workdir` (also usable for extra workdirs on one server). */
export function makeWorkdir(workdir: string, kind: WorkdirKind): void {
  mkdirSync(workdir, { recursive: true });
  if (kind.kind === "empty") return;
  for (const name of ["bin", "dist", "package.json", "package-lock.json", "node_modules", "rules", "src"]) {
    const target = join(PROJECT_ROOT, name);
    if (!existsSync(target)) continue;
    if (kind.kind === "stub" && (name === "bin" || (name === "package.json" && kind.packageVersion))) continue;
    symlinkSync(target, join(workdir, name));
  }
  if (kind.kind === "stub") {
    mkdirSync(join(workdir, "bin"));
    writeFileSync(
      join(workdir, "bin", "dagbuild"),
      `#!/usr/bin/env node\nimport(${JSON.stringify(kind.script)}).then((m) => m.main(process.argv.slice(2))).then((c) => { process.exitCode = c; });\n`,
      { mode: 0o755 },
    );
    if (kind.packageVersion) {
      const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8"));
      pkg.version = kind.packageVersion;
      writeFileSync(join(workdir, "package.json"), JSON.stringify(pkg, null, 2));
    }
  }
}

/** Starts an sshd on 127.0.0.1 with fresh keys; rejects (with sshd's log) if it does not come up in 10 s. */
export async function startSshd(opts: { workdir?: WorkdirKind } = {}): Promise<Sshd> {
  const dir = mkdtempSync(join(tmpdir(), "dagbuild-sshd-"));
  const user = userInfo().username;
  mkdirSync("/run/sshd", { recursive: true }); // privilege-separation dir sshd insists on
  const hostKey = join(dir, "ssh_host_ed25519_key");
  const userKey = join(dir, "id_ed25519");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "dagbuild-test-host", "-f", hostKey]);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "dagbuild-test-user", "-f", userKey]);
  writeFileSync(join(dir, "authorized_keys"), readFileSync(`${userKey}.pub`), { mode: 0o600 });
  const port = await freePort();
  const hostKeyPub = readFileSync(`${hostKey}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
  const knownHosts = join(dir, "known_hosts");
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostKeyPub}\n`);
  const workdir = join(dir, "workdir");
  makeWorkdir(workdir, opts.workdir ?? { kind: "project" });
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "UsePAM no",
      "StrictModes no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PubkeyAuthentication yes",
      "PermitRootLogin prohibit-password",
      "Subsystem sftp internal-sftp",
      "MaxStartups 50",
      "LogLevel INFO",
      // bash run by sshd sources ~/.bashrc; on machines whose .bashrc runs `pyenv init`, a
      // remote command killed by a fault test can leave pyenv's rehash lock behind, and every
      // later session would wait 60 s for it. One second, then pyenv gives up and goes on.
      "SetEnv PYENV_REHASH_TIMEOUT=1",
      "",
    ].join("\n"),
  );
  const child = spawn(SSHD, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
  running.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on("exit", () => {
      for (const c of running) {
        if (c.pid) for (const d of descendants(c.pid)) killQuiet(d, "SIGKILL");
        c.kill("SIGKILL");
      }
    });
  }
  let log = "";
  let exited = false;
  child.on("exit", () => {
    exited = true;
    running.delete(child);
  });
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      child.stderr!.on("data", (b: Buffer) => {
        log += b.toString();
        if (/Server listening on 127\.0\.0\.1 port/.test(log)) resolve();
      });
      child.on("exit", (code) => reject(new Error(`sshd exited (${code}) before listening:\n${log}`)));
      child.on("error", reject);
    }),
    10_000,
    `sshd on port ${port} to start`,
  ).catch((err) => {
    child.kill("SIGKILL");
    throw err;
  });
  const pid = child.pid!;
  const server: Sshd = {
    host: "127.0.0.1",
    port,
    user,
    dir,
    userKey,
    knownHosts,
    hostKeyPub,
    workdir,
    pid,
    log: () => log,
    killConnections() {
      for (const d of descendants(pid).reverse()) killQuiet(d, "SIGKILL");
    },
    async stop() {
      if (exited) return;
      const kids = descendants(pid);
      killQuiet(pid, "SIGTERM");
      for (const d of kids.reverse()) killQuiet(d, "SIGKILL");
      await withTimeout(
        new Promise<void>((resolve) => (exited ? resolve() : child.once("exit", () => resolve()))),
        3000,
        "sshd to exit",
      ).catch(() => killQuiet(pid, "SIGKILL"));
    },
  };
  return server;
}

/** Stops the servers and removes their temp dirs, never throwing (uvu ignores hook errors). */
export async function stopAll(servers: readonly (Sshd | undefined)[]): Promise<void> {
  for (const s of servers) {
    if (!s) continue;
    try {
      await s.stop();
      rmSync(s.dir, { recursive: true, force: true });
    } catch (err) {
      console.error(`stopping sshd ${s.port}: ${String(err)}`);
    }
  }
}
