/** The kernel contract (kernel-contract.ts) on the WebAssembly build (native/nn.wasm). */
import { test } from "uvu";
import { loadKernels } from "../../src/ml/nn/kernels.js";
import { defineKernelContract, defineWorkers } from "./kernel-contract.js";

defineKernelContract(test, "wasm", () => loadKernels("wasm"));
defineWorkers(test, "wasm", true);
test.run();
