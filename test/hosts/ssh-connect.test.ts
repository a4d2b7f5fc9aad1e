/**
 * Connecting and `prepare`: host key checking, authentication and the remote checkout checks,
 * each failure a HostError that names what is wrong and how to fix it.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { HostError } from "../../src/engine/hosts/host.js";
import { createSshHost, type SshHostOptions } from "../../src/engine/hosts/ssh.js";
import { makeWorkdir, sshdMissing, startSshd, stopAll, type Sshd } from "../helpers/sshd.js";
import { withTimeout } from "../helpers/timeout.js";
import { hostFacts } from "../../src/engine/host-facts.js";
import { STUB_SCRIPT, recordingEnv, sshConfig } from "./ssh-fixture.js";

const missing = sshdMissing();
let server: Sshd | undefined;
let scratch = "";
const secrets: string[] = [];

test.before(async () => {
  try {
    if (missing) return;
    server = await startSshd({ workdir: { kind: "stub", script: STUB_SCRIPT } });
    scratch = mkdtempSync(join(tmpdir(), "dagbuild-connect-"));
    // Key material that must never show up in a message.
    secrets.push(readFileSync(server.userKey, "utf8").split("\n")[2]!.slice(0, 40));
  } catch (err) {
    console.error("setup failed:", err);
  }
});
test.after(async () => {
  try {
    await stopAll([server]);
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  } catch (err) {
    console.error("cleanup failed:", err);
  }
});

/** prepare() against the harness server with config overrides; returns the HostError message or "ok". */
async function prepareWith(over: Record<string, unknown>, opts: SshHostOptions = {}): Promise<string> {
  const host = await createSshHost("gpu", sshConfig(server!, over), recordingEnv(scratch), { retryBaseMs: 50, ...opts });
  try {
    await withTimeout(host.prepare(new AbortController().signal), 20_000, "prepare");
    return "ok";
  } catch (err) {
    assert.instance(err, HostError, `expected a HostError, got ${String(err)}`);
    const msg = (err as HostError).message;
    for (const s of secrets) assert.not.ok(msg.includes(s), "private key material in an error message");
    return msg;
  } finally {
    await host.close();
  }
}

function file(name: string, text: string): string {
  const p = join(scratch, name);
  writeFileSync(p, text);
  return p;
}

if (missing) {
  console.log(missing);
  test.skip("ssh connect and prepare", () => undefined);
} else {
  test("connects with key auth and a matching host key; remote version and lockfile match", async () => {
    assert.is(await prepareWith({}), "ok");
  });

  test("accepts a hashed known_hosts (ssh-keygen -H)", async () => {
    const kh = file("known_hashed", readFileSync(server!.knownHosts, "utf8"));
    execFileSync("ssh-keygen", ["-q", "-H", "-f", kh], { stdio: "pipe" });
    assert.not.match(readFileSync(kh, "utf8"), "127.0.0.1");
    assert.is(await prepareWith({ known_hosts: kh }), "ok");
  });

  test("unknown host key is refused with the ssh-keyscan fix", async () => {
    const kh = file("known_other", `[127.0.0.1]:${server!.port + 1} ${server!.hostKeyPub}\n`);
    const msg = await prepareWith({ known_hosts: kh });
    assert.match(msg, "unknown host key for gpu");
    assert.match(msg, `[127.0.0.1]:${server!.port}`);
    assert.match(msg, `ssh-keyscan -p ${server!.port} 127.0.0.1 >> ${kh}`);
  });

  test("a changed host key is refused loudly, naming the known_hosts line", async () => {
    const other = join(scratch, "other_host_key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
    const pub = readFileSync(`${other}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
    const kh = file("known_changed", `# old key\n[127.0.0.1]:${server!.port} ${pub}\n`);
    const msg = await prepareWith({ known_hosts: kh });
    assert.match(msg, "HOST KEY CHANGED for gpu");
    assert.match(msg, `${kh} line 2`);
    assert.match(msg, "ssh-keygen -R");
  });

  test("a missing known_hosts file says how to create it", async () => {
    const msg = await prepareWith({ known_hosts: join(scratch, "nope") });
    assert.match(msg, `known_hosts file ${join(scratch, "nope")}`);
    assert.match(msg, `ssh-keyscan -p ${server!.port} 127.0.0.1`);
  });

  test("a key the server does not accept is named", async () => {
    const key = join(scratch, "stranger");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
    const msg = await prepareWith({ identity_file: key });
    assert.match(msg, `refused the key ${key}`);
    assert.match(msg, "authorized_keys");
  });

  test("a passphrase-protected key points to ssh-agent; the passphrase is never needed or shown", async () => {
    const key = join(scratch, "locked");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "s3cret-pass", "-f", key]);
    const msg = await prepareWith({ identity_file: key });
    assert.match(msg, "passphrase-protected");
    assert.match(msg, `ssh-add ${key}`);
    assert.not.match(msg, "s3cret-pass");
  });

  test("no identity_file and no agent is a clear error", async () => {
    const saved = process.env.SSH_AUTH_SOCK;
    delete process.env.SSH_AUTH_SOCK;
    try {
      const msg = await prepareWith({ identity_file: undefined });
      assert.match(msg, "SSH_AUTH_SOCK is not set");
    } finally {
      if (saved !== undefined) process.env.SSH_AUTH_SOCK = saved;
    }
  });

  test("nothing listening: connection refused, port named", async () => {
    const msg = await prepareWith({ port: 1 });
    assert.match(msg, "connection refused");
    assert.match(msg, "127.0.0.1:1");
  });

  test("missing remote dagbuild: clone the project there and run npm ci", async () => {
    const wd = join(scratch, "empty-workdir");
    makeWorkdir(wd, { kind: "empty" });
    const msg = await prepareWith({ workdir: wd });
    assert.match(msg, `remote dagbuild not found at ${wd}/bin/dagbuild`);
    assert.match(msg, "clone the project there and run npm ci");
  });

  test("missing workdir is named", async () => {
    const msg = await prepareWith({ workdir: join(scratch, "no-such-dir") });
    assert.match(msg, `workdir ${join(scratch, "no-such-dir")} does not exist on gpu`);
  });

  test("remote node missing: set node: in the host config", async () => {
    const msg = await prepareWith({ node: "/nonexistent/bin/node" });
    assert.match(msg, "node not found on gpu");
    assert.match(msg, "/nonexistent/bin/node");
  });

  test("version mismatch names both versions and the fix", async () => {
    const wd = join(scratch, "old-checkout");
    mkdirSync(wd);
    makeWorkdir(wd, { kind: "stub", script: STUB_SCRIPT, packageVersion: "0.0.1-old" });
    const msg = await prepareWith({ workdir: wd });
    assert.match(msg, `is version 0.0.1-old, local is ${hostFacts().version}`);
    assert.match(msg, "git pull && npm ci");
  });

  test("lockfile mismatch is refused", async () => {
    const wd = join(scratch, "other-lock");
    makeWorkdir(wd, { kind: "stub", script: STUB_SCRIPT });
    rmSync(join(wd, "package-lock.json"));
    writeFileSync(join(wd, "package-lock.json"), "{}\n");
    const msg = await prepareWith({ workdir: wd });
    assert.match(msg, "package-lock.json");
    assert.match(msg, "differs from the local one");
  });

  test("run() on an unusable host is a host-unavailable value, not a throw", async () => {
    const host = await createSshHost("gpu", sshConfig(server!, { port: 1 }), recordingEnv(scratch));
    try {
      const r = await withTimeout(
        host.run(
          { version: 1, id: "x", target: "x", partition: {}, rule: { kind: "shell", command: "true" }, params: {}, inputs: {}, outputs: {} },
          join(scratch, "staging-x"),
          { log: () => undefined, signal: new AbortController().signal },
        ),
        20_000,
        "run",
      );
      assert.is(r.ok, false);
      if (!r.ok) {
        assert.is(r.kind, "host-unavailable");
        assert.match(r.message, "connection refused");
      }
    } finally {
      await host.close();
    }
  });
}

test.run();
