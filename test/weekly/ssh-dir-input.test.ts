/**
 * A dep on a whole directory output reaches an SSH host as the directory's files (every file,
 * content and executable bit), not as the tree-manifest blob its digest names. The directory
 * is made on one sshd host (`droplet`) and read on another (`gpu`); the consumer lists every
 * file with its sha256 and mode, and the list must equal the one made from the local copy.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readTransfers } from "../../src/engine/transfer-log.js";
import { PROJECT_ROOT, sshdMissing, startSshd, stopAll, type Sshd } from "../helpers/sshd.js";

const missing = sshdMissing();
const servers: Sshd[] = [];
let base = "";

const LIST = "cd {deps} && find . -type f | LC_ALL=C sort | while read -r f; do echo \"$(stat -c %a \"$f\") $(sha256sum < \"$f\" | cut -c1-64) $f\"; done > {out}";
const PIPELINE = `version: 1
hosts_file: hosts.yaml
default: [listing]
targets:
  gen:
    outputs: { d: out/tree/ }
    deps: { seed: raw/seed.txt }
    run: "mkdir -p {out}/sub/deeper && cp {deps} {out}/a.txt && seq 1 5000 > {out}/sub/numbers.txt && printf '#!/bin/sh\\\\necho hi\\\\n' > {out}/sub/deeper/run.sh && chmod 755 {out}/sub/deeper/run.sh && if grep -q v1 {deps}; then echo old > {out}/sub/old.txt; fi"
    host: droplet
  listing:
    outputs: { l: out/listing.txt }
    deps: { tree: out/tree/ }
    run: '${LIST}'
    host: gpu
`;

function dagbuild(ws: string, ...args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [join(PROJECT_ROOT, "bin/dagbuild"), ...args], { cwd: ws, encoding: "utf8", timeout: 120_000, env: { ...process.env, NO_COLOR: "1", SSH_AUTH_SOCK: "" } });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}

test.before(async () => {
  if (missing) return;
  base = mkdtempSync(join(tmpdir(), "dagbuild-dirinput-"));
  servers.push(await startSshd(), await startSshd());
});
test.after(async () => {
  await stopAll(servers);
  if (base) rmSync(base, { recursive: true, force: true });
});

if (missing) {
  console.log(missing);
  test.skip("a directory output crosses to an ssh host as its files", () => undefined);
} else {
  test("a directory output crosses to an ssh host as its files", () => {
    const [droplet, gpu] = servers as [Sshd, Sshd];
    const one = (s: Sshd) => `{ transport: ssh, host: "127.0.0.1", port: ${s.port}, user: ${s.user}, identity_file: "${s.userKey}", known_hosts: "${s.knownHosts}", workdir: "${s.workdir}", node: "${process.execPath}" }`;
    const ws = join(base, "ws");
    mkdirSync(join(ws, "raw"), { recursive: true });
    writeFileSync(join(ws, "pipeline.yaml"), PIPELINE);
    writeFileSync(join(ws, "hosts.yaml"), `hosts:\n  droplet: ${one(droplet)}\n  gpu: ${one(gpu)}\n`);
    writeFileSync(join(ws, "raw/seed.txt"), "seed v1\n");
    const r = dagbuild(ws);
    assert.is(r.code, 0, r.out);
    // The same listing made here, from the directory as it came back to this machine.
    const local = spawnSync("bash", ["-c", LIST.replace("{deps}", "out/tree").replace(" > {out}", "")], { cwd: ws, encoding: "utf8" }).stdout;
    const remote = readFileSync(join(ws, "out/listing.txt"), "utf8");
    assert.is(remote, local);
    assert.is(remote.trim().split("\n").length, 4);
    assert.match(remote, /^755 [0-9a-f]{64} \.\/sub\/deeper\/run\.sh$/m);
    const puts = readTransfers(join(ws, "handoff/transfer_log.md")).filter((t) => t.direction === "put" && t.to === "gpu").map((t) => t.what).sort();
    assert.equal(puts, ["out/tree/a.txt", "out/tree/sub/deeper/run.sh", "out/tree/sub/numbers.txt", "out/tree/sub/old.txt"]);
    // One file changes and one is gone: only the changed file goes up again, and the host's
    // copy of the directory no longer has the one that is gone.
    writeFileSync(join(ws, "raw/seed.txt"), "seed v2\n");
    const n = readTransfers(join(ws, "handoff/transfer_log.md")).length;
    const r2 = dagbuild(ws);
    assert.is(r2.code, 0, r2.out);
    const again = readTransfers(join(ws, "handoff/transfer_log.md")).slice(n).filter((t) => t.direction === "put" && t.to === "gpu").map((t) => t.what);
    assert.equal(again, ["out/tree/a.txt"]);
    const local2 = spawnSync("bash", ["-c", LIST.replace("{deps}", "out/tree").replace(" > {out}", "")], { cwd: ws, encoding: "utf8" }).stdout;
    assert.is(readFileSync(join(ws, "out/listing.txt"), "utf8"), local2);
    assert.not.match(local2, "old.txt");
  });
}

test.run();
