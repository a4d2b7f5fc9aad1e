/**
 * known_hosts matching, checked against files written by OpenSSH's own tools (ssh-keygen -H for
 * hashed entries) so the HMAC and format handling are not tested against themselves.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { checkHostKey, fingerprint, hostMatches, knownKeyTypes, parseKnownHosts } from "../../src/engine/hosts/known-hosts.js";

const dir = mkdtempSync(join(tmpdir(), "dagbuild-kh-"));
function keygen(name: string): { line: string; blob: Buffer; file: string } {
  const file = join(dir, name);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", file]);
  const line = readFileSync(`${file}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
  return { line, blob: Buffer.from(line.split(" ")[1]!, "base64"), file };
}
const a = keygen("a");
const b = keygen("b");

test.after(() => {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // temp dir
  }
});

test("non-standard ports match only [host]:port, port 22 only the bare host", () => {
  assert.ok(hostMatches("[127.0.0.1]:2222", "127.0.0.1", 2222));
  assert.not.ok(hostMatches("[127.0.0.1]:2222", "127.0.0.1", 2223));
  assert.not.ok(hostMatches("127.0.0.1", "127.0.0.1", 2222));
  assert.ok(hostMatches("gpu.lan,127.0.0.1", "127.0.0.1", 22));
  assert.ok(hostMatches("*.lan", "GPU.lan", 22), "case-insensitive wildcard");
  assert.not.ok(hostMatches("*.lan,!gpu.lan", "gpu.lan", 22), "negation vetoes");
});

test("hashed entries written by ssh-keygen -H are matched", () => {
  const file = join(dir, "known_hashed");
  writeFileSync(file, `[127.0.0.1]:2222 ${a.line}\ndroplet.example ${b.line}\n`);
  execFileSync("ssh-keygen", ["-q", "-H", "-f", file], { stdio: "pipe" });
  const text = readFileSync(file, "utf8");
  assert.not.match(text, "127.0.0.1", "ssh-keygen hashed the names");
  const entries = parseKnownHosts(text);
  assert.is(entries.length, 2);
  assert.equal(checkHostKey(entries, "127.0.0.1", 2222, a.blob).status, "match");
  assert.equal(checkHostKey(entries, "droplet.example", 22, b.blob).status, "match");
  assert.equal(checkHostKey(entries, "127.0.0.1", 2223, a.blob).status, "unknown");
});

test("a different key of the same type is 'changed', an unlisted host 'unknown'", () => {
  const entries = parseKnownHosts(`# comment\n\n[127.0.0.1]:2222 ${a.line}\n`);
  const changed = checkHostKey(entries, "127.0.0.1", 2222, b.blob);
  assert.equal(changed, { status: "changed", lines: [3] });
  assert.equal(checkHostKey(entries, "10.0.0.1", 2222, a.blob), { status: "unknown" });
  assert.equal(knownKeyTypes(entries, "127.0.0.1", 2222), ["ssh-ed25519"]);
});

test("@revoked wins over a matching line; @cert-authority and garbage lines are ignored", () => {
  const text = `h ${a.line}\n@revoked * ${a.line}\n@cert-authority * ${b.line}\nnot a valid line\n[h]:23 ssh-ed25519 AAAAnotbase64key\n`;
  const entries = parseKnownHosts(text);
  assert.is(entries.length, 3);
  assert.equal(checkHostKey(entries, "h", 22, a.blob).status, "revoked");
  assert.equal(checkHostKey(entries, "h", 22, b.blob).status, "changed", "a @cert-authority line does not make its key acceptable");
});

test("fingerprint equals ssh-keygen -lf", () => {
  const out = execFileSync("ssh-keygen", ["-lf", `${a.file}.pub`], { encoding: "utf8" });
  assert.is(out.split(" ")[1], fingerprint(a.blob));
});

test.run();
