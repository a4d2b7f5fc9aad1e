/**
 * The kernel contract (kernel-contract.ts) on the native addon, skipped when it is not built;
 * plus the agreement of the native and wasm builds on the same inputs.
 */
import { test } from "uvu";
import { loadKernels, nativeKernelsAvailable } from "../../src/ml/nn/kernels.js";
import { defineAgreement, defineKernelContract, defineWorkers } from "./kernel-contract.js";

const native = nativeKernelsAvailable();
if (!native) process.stdout.write("SKIP native kernels not built (scripts/build-native.mjs): contract and native/wasm agreement skipped\n");
defineKernelContract(test, "native", native ? () => loadKernels("native") : null);
defineAgreement(test, native ? () => [loadKernels("native"), loadKernels("wasm")] : null);
defineWorkers(test, "native", native);
test.run();
