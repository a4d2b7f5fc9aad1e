/**
 * Siblings and a provisional outcome across a real sshd (127.0.0.1): a shell-rule sweep on an
 * ssh host (jobs: 1) whose trials read their finished siblings' outputs from
 * `DAGBUILD_SIBLINGS` and prune through `DAGBUILD_NOT_FINAL`. The siblings' outputs must be
 * materialized in the remote workdir (the script reads them there), and the not-final reason
 * must come back in the remote result: the second build reruns exactly the pruned trials.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { PROJECT_ROOT, sshdMissing, startSshd, stopAll, type Sshd } from "../helpers/sshd.js";
import { build } from "../helpers/rig.js";
import { readTransfers } from "../../src/engine/transfer-log.js";

const missing = sshdMissing();
const builtCli = existsSync(join(PROJECT_ROOT, "dist/src/cli/commands/exec.js"));
const servers: Sshd[] = [];
let base = "";

/** A trial: score 1 - units/10; below the median of >= 2 finished siblings' scores → pruned. */
const SCRIPT = `import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
const [units, out] = process.argv.slice(2);
const score = 1 - Number(units) / 10;
const sib = JSON.parse(process.env.DAGBUILD_SIBLINGS);
const scores = sib.finished.map((f) => Number(readFileSync(join(f.outputs.model, "score.txt"), "utf8")));
const s = [...scores].sort((a, b) => a - b);
const median = s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
if (scores.length >= sib.options.min_finished && score < median) {
  writeFileSync(join(out, "status.txt"), "pruned\\n");
  writeFileSync(process.env.DAGBUILD_NOT_FINAL, "pruned: " + score + " < median " + median + " of " + scores.length);
} else writeFileSync(join(out, "score.txt"), String(score));
`;

const pipeline = (node: string) => `version: 1
hosts_file: hosts.yaml
axes:
  trial: { grid: { units: [1, 2, 3, 4] } }
targets:
  sweep:
    partition: [trial]
    outputs: { model: "out/sweeps/{trial}/" }
    deps: { script: tools/trial.mjs }
    run: "${node} {deps.script} {trial.units} {out}"
    siblings: { axis: trial, options: { min_finished: 2 } }
    host: gpu
`;

test.before(async () => {
  try {
    if (missing || !builtCli) return;
    base = mkdtempSync(join(tmpdir(), "dagbuild-ssh-siblings-"));
    servers.push(await startSshd());
  } catch (err) {
    console.error("setup failed:", err);
  }
});
test.after(async () => {
  await stopAll(servers);
  if (base) rmSync(base, { recursive: true, force: true });
});

if (missing || !builtCli) {
  console.log(missing ?? "SKIP ssh siblings test: dagbuild exec is not built yet");
  test.skip("siblings over ssh", () => undefined);
} else {
  test("siblings over ssh: shipped to the remote like inputs, not-final comes back, only pruned trials rerun", () => {
    const gpu = servers[0]!;
    const ws = join(base, "ws");
    mkdirSync(join(ws, "tools"), { recursive: true });
    writeFileSync(join(ws, "pipeline.yaml"), pipeline(process.execPath));
    writeFileSync(join(ws, "tools/trial.mjs"), SCRIPT);
    writeFileSync(join(ws, "hosts.yaml"), `hosts:\n  gpu: { transport: ssh, host: "127.0.0.1", port: ${gpu.port}, user: ${gpu.user}, identity_file: "${gpu.userKey}", known_hosts: "${gpu.knownHosts}", workdir: "${gpu.workdir}", node: "${process.execPath}", jobs: 1 }\n`);
    const first = build(ws, ["sweep"]);
    assert.is(first.code, 0, first.stdout + first.stderr);
    const state = (u: number) => (existsSync(join(ws, `out/sweeps/units-${u}/status.txt`)) ? "pruned" : readFileSync(join(ws, `out/sweeps/units-${u}/score.txt`), "utf8"));
    assert.equal([1, 2, 3, 4].map(state), ["0.9", "0.8", "pruned", "pruned"]);
    // The siblings' outputs were made on the remote (its CAS has them): materialized from there
    // into the remote workdir, where the script read them; nothing had to go up but the script.
    assert.is(readFileSync(join(gpu.workdir, "out/sweeps/units-1/score.txt"), "utf8"), "0.9");
    const puts = readTransfers(join(ws, "handoff/transfer_log.md")).filter((t) => t.direction === "put").map((t) => t.what);
    assert.equal(puts, ["tools/trial.mjs"]);
    const second = build(ws, ["sweep"]);
    assert.is(second.code, 0, second.stdout + second.stderr);
    assert.equal(second.executed, ["sweep[trial=units-3]", "sweep[trial=units-4]"]);
    assert.match(second.starts.get("sweep[trial=units-3]")!.reason_text ?? "", /^not-final \(pruned: 0\.7 < median 0\.85\d* of 2\)$/);
  });
}

test.run();
