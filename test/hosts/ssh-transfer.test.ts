/**
 * What moves and how: only missing input digests are uploaded, outputs come back verified,
 * a corrupt remote blob is caught, dropped connections are retried with reconnects, and when
 * the host stays down the action fails cleanly with nothing partial anywhere.
 * Uses the stub remote (stub-dagbuild.ts) so the remote side is fully controlled.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Host, InputFile } from "../../src/engine/hosts/host.js";
import { createSshHost } from "../../src/engine/hosts/ssh.js";
import { sshdMissing, startSshd, stopAll, type Sshd } from "../helpers/sshd.js";
import { listFiles, runWithLog, shellSpec, writeInput } from "./host-contract.js";
import { STUB_SCRIPT, recordingEnv, sshConfig, type RecordingEnv } from "./ssh-fixture.js";

const missing = sshdMissing();
const servers: Sshd[] = [];
let ws = "";
let n = 0;

test.before(async () => {
  try {
    ws = mkdtempSync(join(tmpdir(), "dagbuild-transfer-"));
  } catch (err) {
    console.error("setup failed:", err);
  }
});
test.after(async () => {
  try {
    await stopAll(servers);
    if (ws) rmSync(ws, { recursive: true, force: true });
  } catch (err) {
    console.error("cleanup failed:", err);
  }
});

async function fresh(retries = 3): Promise<{ server: Sshd; host: Host; env: RecordingEnv }> {
  const server = await startSshd({ workdir: { kind: "stub", script: STUB_SCRIPT } });
  servers.push(server);
  const env = recordingEnv(ws);
  const host = await createSshHost("gpu", sshConfig(server, { retries }), env, { retryBaseMs: 100 });
  return { server, host, env };
}

function staging(): string {
  const d = join(ws, "staging", String(++n));
  mkdirSync(d, { recursive: true });
  return d;
}

const sha = (b: Buffer | string): string => createHash("sha256").update(b).digest("hex");
const remoteBlob = (s: Sshd, d: string): string => join(s.workdir, "cache/cas", d.slice(0, 2), d);

/** Resolves when a file whose name contains `.part-` appears under `dir` (polled), then calls `then`. */
function whenPartAppears(dir: string, then: () => void | Promise<void>, timeoutMs = 20_000): Promise<boolean> {
  const started = Date.now();
  return new Promise((resolve) => {
    const tick = async (): Promise<void> => {
      const hit = listFiles(dir).some((f) => f.includes(".part-"));
      if (hit) {
        await then();
        return resolve(true);
      }
      if (Date.now() - started > timeoutMs) return resolve(false);
      setTimeout(tick, 2);
    };
    void tick();
  });
}

const BIG = 96 * 1024 * 1024;

if (missing) {
  console.log(missing);
  test.skip("ssh transfers", () => undefined);
} else {
  test("uploads only the digests the remote lacks; outputs come back logged as gets", async () => {
    const { server, host, env } = await fresh();
    try {
      const a = writeInput(ws, "in/a.txt", "alpha\n");
      const b = writeInput(ws, "in/b.txt", "bravo\n");
      const c = writeInput(ws, "in/c.txt", "charlie\n");
      // A directory input: one entry shares its content (digest) with a.txt.
      writeInput(ws, "in/dir/x.txt", "alpha\n");
      const y = writeInput(ws, "in/dir/y.txt", "yankee\n");
      const dirInput: InputFile = {
        path: "in/dir", digest: sha("tree"), size: 13,
        tree: [
          { rel: "x.txt", digest: a.digest, size: a.size, executable: false },
          { rel: "y.txt", digest: y.digest, size: y.size, executable: false },
        ],
      };
      const s1 = staging();
      const r1 = await runWithLog(host, shellSpec("cat1", "cat {deps} > {out.o}", { o: "out/one.txt" }, { a: [a], b: [b] }), s1);
      assert.equal(r1.result, { ok: true }, r1.log);
      assert.is(readFileSync(join(s1, "out/one.txt"), "utf8"), "alpha\nbravo\n");
      const puts1 = env.transfers.filter((t) => t.direction === "put").map((t) => t.what).sort();
      assert.equal(puts1, ["in/a.txt", "in/b.txt"]);
      const gets1 = env.transfers.filter((t) => t.direction === "get");
      assert.equal(gets1.map((t) => [t.what, t.from, t.to, t.digest]), [["out/one.txt", "gpu", "local", sha("alpha\nbravo\n")]]);
      assert.ok(existsSync(remoteBlob(server, a.digest)) && existsSync(remoteBlob(server, b.digest)));

      env.transfers.length = 0;
      const s2 = staging();
      const spec2 = shellSpec("cat2", "cat in/a.txt in/c.txt in/dir/y.txt > {out.o}", { o: "out/two.txt" }, { a: [a], c: [c], d: [dirInput] });
      const r2 = await runWithLog(host, spec2, s2);
      assert.equal(r2.result, { ok: true }, r2.log);
      assert.equal(env.transfers.filter((t) => t.direction === "put").map((t) => t.what).sort(), ["in/c.txt", "in/dir/y.txt"]);
      assert.is(readFileSync(join(s2, "out/two.txt"), "utf8"), "alpha\ncharlie\nyankee\n");

      // An output the local CAS already holds is not downloaded again.
      const outDigest = sha("alpha\ncharlie\nyankee\n");
      mkdirSync(join(env.casDir, outDigest.slice(0, 2)), { recursive: true });
      writeFileSync(join(env.casDir, outDigest.slice(0, 2), outDigest), "alpha\ncharlie\nyankee\n");
      env.transfers.length = 0;
      const s3 = staging();
      const r3 = await runWithLog(host, { ...spec2, id: "cat2-again" }, s3);
      assert.equal(r3.result, { ok: true });
      assert.equal(env.transfers, [], "nothing moved: inputs on the remote, output in the local CAS");
      assert.is(readFileSync(join(s3, "out/two.txt"), "utf8"), "alpha\ncharlie\nyankee\n");
    } finally {
      await host.close();
    }
  });

  test("partial uploads an hour old are swept from the remote CAS when the host is prepared; recent ones stay", async () => {
    const { server, host } = await fresh();
    try {
      const dir = join(server.workdir, "cache/cas/ab");
      mkdirSync(dir, { recursive: true });
      const stale = join(dir, "ab12.part-deadbeef0001");
      const live = join(dir, "ab12.part-deadbeef0002");
      const blob = join(dir, "ab12");
      for (const f of [stale, live, blob]) writeFileSync(f, "partial");
      const old = (Date.now() - 2 * 3600_000) / 1000;
      utimesSync(stale, old, old);
      utimesSync(blob, old, old);
      await host.prepare(new AbortController().signal);
      assert.is(existsSync(stale), false, "an abandoned part file is removed");
      assert.is(existsSync(live), true, "a part file written recently may belong to a running upload");
      assert.is(existsSync(blob), true, "blobs are never swept");
    } finally {
      await host.close();
    }
  });

  test("a corrupt remote output blob is a digest-mismatch, and nothing lands in staging", async () => {
    const { server, host } = await fresh();
    try {
      const spec = shellSpec("make", "echo payload > {out.o}", { o: "out/p.txt" });
      assert.equal((await runWithLog(host, spec, staging())).result, { ok: true });
      const d = sha("payload\n");
      writeFileSync(remoteBlob(server, d), "tampered\n"); // the stub keeps existing blobs, as a CAS does
      const s = staging();
      const { result } = await runWithLog(host, spec, s);
      assert.is(result.ok, false);
      if (!result.ok) {
        assert.is(result.kind, "digest-mismatch");
        assert.match(result.message, remoteBlob(server, d));
        assert.match(result.message, sha("tampered\n"));
      }
      assert.equal(listFiles(s), []);
    } finally {
      await host.close();
    }
  });

  test("an input that changed since it was hashed is refused before upload", async () => {
    const { host } = await fresh();
    try {
      const a = writeInput(ws, "in/changing.txt", "v1\n");
      writeFileSync(join(ws, "in/changing.txt"), "v2\n");
      const { result } = await runWithLog(host, shellSpec("chg", "cat {deps} > {out.o}", { o: "out/c.txt" }, { a: [a] }), staging());
      assert.is(result.ok, false);
      if (!result.ok) {
        assert.is(result.kind, "transfer-failed");
        assert.match(result.message, "in/changing.txt changed since it was hashed");
      }
    } finally {
      await host.close();
    }
  });

  test("connection dropped mid-upload: reconnects, retries and succeeds", async () => {
    const { server, host, env } = await fresh();
    try {
      const big = Buffer.alloc(BIG, 7);
      const input = writeInput(ws, "in/big.bin", big);
      const casSub = join(server.workdir, "cache/cas", input.digest.slice(0, 2));
      const spec = shellSpec("bigsum", "wc -c < {deps} > {out.o}", { o: "out/size.txt" }, { big: [input] });
      const killed = whenPartAppears(casSub, () => server.killConnections());
      const { result, log } = await runWithLog(host, spec, staging());
      assert.ok(await killed, "the upload was interrupted");
      assert.equal(result, { ok: true }, log);
      assert.ok(env.notes.some((m) => /connection to .* lost .* retry 1\/3/.test(m)), env.notes.join("\n"));
      assert.is(statSync(remoteBlob(server, input.digest)).size, BIG);
      assert.equal(readdirSync(casSub).filter((f) => f.includes(".part-")).length <= 1, true);
    } finally {
      await host.close();
    }
  });

  test("connection dropped mid-download: fetched again, the rule is not rerun", async () => {
    const { server, host } = await fresh();
    try {
      const counter = join(ws, "runs.txt");
      const s = staging();
      const spec = shellSpec("bigout", `echo run >> ${counter}; head -c ${BIG} /dev/zero > {out.o}`, { o: "out/big.bin" });
      const killed = whenPartAppears(join(s, "out"), () => server.killConnections());
      const { result, log } = await runWithLog(host, spec, s);
      assert.ok(await killed, "the download was interrupted");
      assert.equal(result, { ok: true }, log);
      assert.equal(listFiles(s), ["out/big.bin"], "no leftover temp files");
      assert.is(statSync(join(s, "out/big.bin")).size, BIG);
      assert.is(readFileSync(counter, "utf8"), "run\n");
    } finally {
      await host.close();
    }
  });

  test("host gone mid-upload: retries up to the limit, then transfer-failed, nothing partial", async () => {
    const { server, host, env } = await fresh(2);
    try {
      const big = Buffer.alloc(BIG, 9);
      const input = writeInput(ws, "in/big2.bin", big);
      const casSub = join(server.workdir, "cache/cas", input.digest.slice(0, 2));
      const s = staging();
      const spec = shellSpec("doomed", "wc -c < {deps} > {out.o}", { o: "out/size.txt" }, { big: [input] });
      const stopped = whenPartAppears(casSub, () => server.stop());
      const started = Date.now();
      const { result } = await runWithLog(host, spec, s);
      assert.ok(await stopped, "the upload was interrupted");
      assert.is(result.ok, false);
      if (!result.ok) {
        assert.is(result.kind, "transfer-failed");
        assert.match(result.message, "lost the connection to gpu");
        assert.match(result.message, "2 reconnect attempt(s) failed");
      }
      assert.equal(env.notes.filter((m) => /retry \d\/2/.test(m)).length, 2, env.notes.join("\n"));
      assert.ok(Date.now() - started >= 300, "backed off 100 + 200 ms");
      assert.not.ok(existsSync(remoteBlob(server, input.digest)), "no blob under the digest name");
      assert.equal(listFiles(s), []);
    } finally {
      await host.close();
    }
  });
}

test.run();
