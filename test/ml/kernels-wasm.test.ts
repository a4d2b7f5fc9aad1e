/**
 * The kernel contract (kernel-contract.ts) on the WebAssembly build (native/nn.wasm), and that
 * the committed native/nn.wasm is what scripts/build-wasm.mjs makes from today's sources
 * (skipped without clang and wasm-ld).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadKernels } from "../../src/ml/nn/kernels.js";
import { defineKernelContract, defineWorkers } from "./kernel-contract.js";

defineKernelContract(test, "wasm", () => loadKernels("wasm"));
defineWorkers(test, "wasm", true);

const root = fileURLToPath(new URL("../../../", import.meta.url));
const clang = spawnSync("clang", ["--print-targets"], { encoding: "utf8" });
const haveTools = clang.status === 0 && /wasm32/.test(clang.stdout) && spawnSync("wasm-ld", ["--version"]).status === 0;
const upToDate = "native/nn.wasm is the build of the current native/nn/ sources (rebuild: node scripts/build-wasm.mjs)";
if (!haveTools) {
  process.stdout.write("SKIP no clang with a wasm32 target and wasm-ld: native/nn.wasm not compared with its sources\n");
  test.skip(upToDate);
} else
  test(upToDate, () => {
    const dir = mkdtempSync(join(tmpdir(), "dagbuild-wasm-"));
    try {
      const out = join(dir, "nn.wasm");
      const r = spawnSync(process.execPath, [join(root, "scripts/build-wasm.mjs"), "--out", out], { encoding: "utf8" });
      assert.is(r.status, 0, r.stderr);
      assert.ok(readFileSync(out).equals(readFileSync(join(root, "native/nn.wasm"))), "native/nn.wasm differs from a fresh build: rebuild and commit it");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

test.run();
