/**
 * Resident artifacts (docs/hosts.md): through the CLI on one real sshd host `gpu`, a chain
 * a -> b -> c and a directory output gen -> c, all on gpu, building c. What only gpu reads stays
 * in gpu's CAS: not downloaded (transfer log), absent from the workspace; the consumer still gets
 * every file. Then: a second build is a no-op; naming a's output fetches it without running a; a
 * new local consumer of b fetches b; a resident blob deleted on gpu makes its producer rerun with
 * `output-missing ... (not on gpu)` in the next build that needs it; a rerun output that is
 * resident again removes the workspace copy the engine recorded, never a file it did not; with
 * the host down, a build that needs nothing from it still runs.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readTransfers } from "../../src/engine/transfer-log.js";
import { PROJECT_ROOT, sshdMissing, startSshd, stopAll, type Sshd } from "../helpers/sshd.js";

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const missing = sshdMissing();
const servers: Sshd[] = [];
let base = "";

const PIPELINE = `version: 1
hosts_file: hosts.yaml
default: [c]
targets:
  a:
    outputs: { a: data/a.txt }
    deps: { in: raw/in.txt }
    run: "tr a-z A-Z < {deps} > {out}"
    host: gpu
  b:
    outputs: { b: data/b.txt }
    deps: { a: data/a.txt }
    run: "cat {deps} {deps} > {out}"
    host: gpu
  gen:
    outputs: { d: data/gen/ }
    deps: { in: raw/in.txt }
    run: "mkdir -p {out}/sub && cp {deps} {out}/x.txt && seq 1 300 > {out}/sub/n.txt"
    host: gpu
  c:
    outputs: { c: output/c.txt }
    deps: { b: data/b.txt, gen: data/gen/, note: raw/note.txt }
    run: "cat {deps.b} {deps.gen}/x.txt {deps.gen}/sub/n.txt {deps.note} > {out}"
    host: gpu
`;

const LOCAL_D = `  d:
    outputs: { d: output/d.txt }
    deps: { b: data/b.txt, extra: raw/d.txt }
    run: "wc -c < {deps.b} > {out}"
`;

function dagbuild(ws: string, ...args: string[]): { code: number | null; out: string; events: Json[] } {
  const r = spawnSync(process.execPath, [join(PROJECT_ROOT, "bin/dagbuild"), ...args], {
    cwd: ws,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: "1", SSH_AUTH_SOCK: "" },
  });
  const events = r.stdout.split("\n").filter((l) => l.startsWith("{")).flatMap((l) => {
    try {
      return [JSON.parse(l)];
    } catch {
      return [];
    }
  });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}`, events };
}

const startedIds = (events: Json[]) => events.filter((e) => e.type === "action-start").map((e) => e.id as string).sort();
const rows = (ws: string) => (existsSync(join(ws, "handoff/transfer_log.md")) ? readTransfers(join(ws, "handoff/transfer_log.md")) : []);
const sha = (s: string) => createHash("sha256").update(s).digest("hex");

test.before(async () => {
  if (missing) return;
  base = mkdtempSync(join(tmpdir(), "dagbuild-resident-"));
  servers.push(await startSshd());
});
test.after(async () => {
  await stopAll(servers);
  if (base) rmSync(base, { recursive: true, force: true });
});

if (missing) {
  console.log(missing);
  test.skip("resident artifacts", () => undefined);
} else {
  test("outputs only gpu reads stay on gpu; fetched when needed here; rebuilt when gone", async () => {
    const gpu = servers[0]!;
    const ws = join(base, "ws");
    mkdirSync(join(ws, "raw"), { recursive: true });
    writeFileSync(join(ws, "pipeline.yaml"), PIPELINE);
    const host = `{ transport: ssh, host: "127.0.0.1", port: ${gpu.port}, user: ${gpu.user}, identity_file: "${gpu.userKey}", known_hosts: "${gpu.knownHosts}", workdir: "${gpu.workdir}", node: "${process.execPath}" }`;
    writeFileSync(join(ws, "hosts.yaml"), `hosts:\n  gpu: ${host}\n`);
    writeFileSync(join(ws, "raw/in.txt"), "alpha\nbravo\n");
    writeFileSync(join(ws, "raw/note.txt"), "note v1\n");
    writeFileSync(join(ws, "raw/d.txt"), "d v1\n");
    const numbers = Array.from({ length: 300 }, (_, i) => `${i + 1}\n`).join("");

    // 1. Build c: only the goal comes back; a, b and gen stay on gpu.
    const r1 = dagbuild(ws, "--json");
    assert.is(r1.code, 0, r1.out);
    assert.equal(startedIds(r1.events), ["a", "b", "c", "gen"]);
    assert.is(readFileSync(join(ws, "output/c.txt"), "utf8"), `ALPHA\nBRAVO\nALPHA\nBRAVO\nalpha\nbravo\n${numbers}note v1\n`, "c read every file of the resident directory");
    for (const p of ["data/a.txt", "data/b.txt", "data/gen"]) assert.not.ok(existsSync(join(ws, p)), `${p} is not in the workspace`);
    const first = rows(ws);
    const gets = first.filter((t) => t.direction === "get");
    assert.equal(gets.map((t) => `${t.what} ${t.from}->${t.to}`), ["output/c.txt gpu->local"]);
    assert.is(gets.reduce((s, t) => s + t.size, 0), readFileSync(join(ws, "output/c.txt")).length, "bytes back = the goal's bytes");
    // Each input goes up once, also when a and gen start together and both list it missing.
    assert.equal(first.filter((t) => t.direction === "put").map((t) => t.what).sort(), ["raw/in.txt", "raw/note.txt"]);

    // The dry run and status say where the resident artifacts live.
    const dry = dagbuild(ws, "-n", "--json");
    const planned = JSON.parse(dry.out.slice(0, dry.out.lastIndexOf("}") + 1)) as Json;
    assert.equal(planned.resident.map((r: Json) => `${r.path}@${r.host}:${r.fetch}`).sort(), ["data/a.txt@gpu:false", "data/b.txt@gpu:false", "data/gen@gpu:false"]);
    const st = dagbuild(ws, "status");
    assert.match(st.out, /data\/b\.txt\s+@gpu/);

    // 2. Nothing changed: nothing runs, nothing moves.
    const r2 = dagbuild(ws, "--json");
    assert.is(r2.code, 0, r2.out);
    assert.equal(startedIds(r2.events), []);
    assert.is(rows(ws).length, first.length);

    // 3. a's output as a goal: fetched from gpu (checked), a does not run.
    const r3 = dagbuild(ws, "--json", "data/a.txt");
    assert.is(r3.code, 0, r3.out);
    assert.equal(startedIds(r3.events), []);
    assert.is(readFileSync(join(ws, "data/a.txt"), "utf8"), "ALPHA\nBRAVO\n");
    assert.equal(rows(ws).slice(first.length).map((t) => `${t.direction} ${t.what} ${t.from}->${t.to} ${t.size}`), ["get data/a.txt gpu->local 12"]);
    const again = dagbuild(ws, "--json", "data/a.txt");
    assert.equal(startedIds(again.events), [], again.out);

    // 4. A new local consumer of b: b is fetched, not rebuilt; d runs here.
    appendFileSync(join(ws, "pipeline.yaml"), LOCAL_D);
    const n4 = rows(ws).length;
    const r4 = dagbuild(ws, "--json", "d");
    assert.is(r4.code, 0, r4.out);
    assert.equal(startedIds(r4.events), ["d"]);
    assert.is(readFileSync(join(ws, "data/b.txt"), "utf8"), "ALPHA\nBRAVO\nALPHA\nBRAVO\n");
    assert.is(readFileSync(join(ws, "output/d.txt"), "utf8").trim(), "24");
    assert.equal(rows(ws).slice(n4).map((t) => `${t.direction} ${t.what}`), ["get data/b.txt"]);

    // 5. A resident blob deleted on gpu: the next build that needs it reruns gen, saying why.
    const blob = join(gpu.workdir, "cache/cas", sha(numbers).slice(0, 2), sha(numbers));
    assert.ok(existsSync(blob), "gen's file is in gpu's CAS");
    rmSync(blob);
    writeFileSync(join(ws, "raw/note.txt"), "note v2\n");
    const r5 = dagbuild(ws, "--json");
    assert.is(r5.code, 0, r5.out);
    assert.equal(startedIds(r5.events), ["c", "gen"]);
    const why = r5.events.find((e) => e.type === "action-start" && e.id === "gen").reason;
    assert.equal(why, { kind: "output-missing", path: "data/gen", on: "gpu" });
    assert.ok(existsSync(blob), "the rerun put it back");
    assert.is(readFileSync(join(ws, "output/c.txt"), "utf8"), `ALPHA\nBRAVO\nALPHA\nBRAVO\nalpha\nbravo\n${numbers}note v2\n`);
    assert.not.ok(existsSync(join(ws, "data/gen")), "gen is still resident");
    const r6 = dagbuild(ws, "--json");
    assert.equal(startedIds(r6.events), [], r6.out);

    // 6. A new input: a reruns and stays resident, so the copy fetched in 3 (recorded as a's
    // output: the old version) is removed; b comes back (d reads it here); a file the engine never
    // recorded, at the path of the resident directory, is left alone.
    writeFileSync(join(ws, "data/gen"), "mine\n");
    writeFileSync(join(ws, "raw/in.txt"), "charlie\n");
    const r7 = dagbuild(ws, "--json");
    assert.is(r7.code, 0, r7.out);
    assert.equal(startedIds(r7.events), ["a", "b", "c", "gen"]);
    assert.not.ok(existsSync(join(ws, "data/a.txt")), "no stale copy of a");
    assert.is(readFileSync(join(ws, "data/b.txt"), "utf8"), "CHARLIE\nCHARLIE\n");
    assert.is(readFileSync(join(ws, "data/gen"), "utf8"), "mine\n", "the user's file is untouched");
    assert.is(readFileSync(join(ws, "output/c.txt"), "utf8"), `CHARLIE\nCHARLIE\ncharlie\n${numbers}note v2\n`);

    // 7. gpu is down and a build needs nothing from it (d is local, b is here): a stays known
    // by its record (not rebuilt, which would fail), d runs.
    await gpu.stop();
    writeFileSync(join(ws, "raw/d.txt"), "d v2\n");
    const r8 = dagbuild(ws, "--json", "d");
    assert.is(r8.code, 0, r8.out);
    assert.equal(startedIds(r8.events), ["d"]);
    assert.match(r8.out, "resident outputs on gpu cannot be checked or fetched");
  });
}

test.run();
