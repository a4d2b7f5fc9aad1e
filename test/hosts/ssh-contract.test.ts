/**
 * The Host contract, run for the ssh host against a real sshd on 127.0.0.1: once with the
 * stub remote (protocol double) and once with the real `dagbuild exec` when it is built.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import { createSshHost } from "../../src/engine/hosts/ssh.js";
import { PROJECT_ROOT, sshdMissing, startSshd, stopAll, type WorkdirKind } from "../helpers/sshd.js";
import { hostContract } from "./host-contract.js";
import { STUB_SCRIPT, recordingEnv, sshConfig } from "./ssh-fixture.js";

const missing = sshdMissing();

function contractOver(label: string, workdir: WorkdirKind): void {
  hostContract(label, async (workspace) => {
    const server = await startSshd({ workdir });
    const host = await createSshHost("droplet", sshConfig(server), recordingEnv(workspace), { retryBaseMs: 100 });
    return {
      host,
      cleanup: async () => {
        await host.close();
        await stopAll([server]);
      },
    };
  });
}

if (missing) {
  console.log(missing);
  test.skip("ssh host contract", () => undefined);
  test.run();
} else {
  contractOver("ssh host (stub remote exec)", { kind: "stub", script: STUB_SCRIPT });
  if (existsSync(join(PROJECT_ROOT, "dist/src/cli/commands/exec.js"))) {
    contractOver("ssh host (real dagbuild exec)", { kind: "project" });
  } else {
    console.log("SKIP ssh host contract with the real remote: dagbuild exec is not built yet (src/cli/commands/exec.ts)");
  }
}
