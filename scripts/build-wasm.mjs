#!/usr/bin/env node
// Builds native/nn.wasm, the WebAssembly SIMD build of the training kernels (native/nn/*.c
// without the N-API glue; contract in docs/nn-engine.md), with Debian's clang and wasm-ld:
//   node scripts/build-wasm.mjs             rebuild native/nn.wasm (exit 1 when the compile fails)
//   node scripts/build-wasm.mjs --prepare   as run by `prepare`: quiet, never fails the install, and
//                                           writes native/build/nn.wasm (ignored; preferred by the
//                                           loader), so an install never rewrites the tracked file
//   node scripts/build-wasm.mjs --out FILE  writes FILE instead (the up-to-date test compares it)
// native/nn.wasm is GENERATED but committed, so installs without clang still get the kernels:
// rebuild and commit it whenever native/nn/ changes. Without clang (or wasm-ld) this skips and
// exits 0, keeping the committed file; so does a failed compile under --prepare (the file is
// written to a temporary name and renamed, so a failure never leaves it half written).
// DAGBUILD_NO_WASM_BUILD=1 skips it too. Memory ops (zeroing loops) lower to bulk-memory
// instructions (-mbulk-memory), as there is no libc memset/memcpy to call.
// The module exports its memory (growable; the caller grows it once to its arena size),
// __heap_base (first free byte after data and stack) and nn_kernel_count / nn_kernel_name /
// nn_call from dispatch.c. Stack: 1 MiB (the GEMM packs a 64 KiB panel on it at most).
// -ffp-contract=off as in the native build (binding.gyp): the two builds give the same bits.
import { spawnSync } from "node:child_process";
import { mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { nnSources } from "../native/nn/sources.mjs";

const native = join(dirname(fileURLToPath(import.meta.url)), "..", "native");
const clang = process.env.CLANG || "clang";
const prepare = process.argv.includes("--prepare");
const outArg = process.argv.indexOf("--out");
const out = outArg > 0 ? process.argv[outArg + 1] : prepare ? join(native, "build", "nn.wasm") : join(native, "nn.wasm");
const tmp = `${out}.tmp`;
const quiet = prepare;

function skip(why) {
  if (!quiet) process.stderr.write(`build-wasm: skipped (${why}); native/nn.wasm stays as committed\n`);
  process.exit(0);
}

if (process.env.DAGBUILD_NO_WASM_BUILD === "1") skip("DAGBUILD_NO_WASM_BUILD=1");
const probe = spawnSync(clang, ["--print-targets"], { encoding: "utf8" });
if (probe.status !== 0 || !/wasm32/.test(probe.stdout)) skip(`no ${clang} with a wasm32 target`);
if (spawnSync("wasm-ld", ["--version"], { encoding: "utf8" }).status !== 0) skip("no wasm-ld");

mkdirSync(dirname(out), { recursive: true });
const args = [
  "--target=wasm32", "-O3", "-msimd128", "-mbulk-memory", "-nostdlib", "-std=gnu11", "-ffp-contract=off", "-fno-math-errno",
  "-Wall", "-Wno-unused-function",
  "-Wl,--no-entry", "-Wl,--export-dynamic", "-Wl,--export=__heap_base",
  "-Wl,--export=nn_kernel_count", "-Wl,--export=nn_kernel_name", "-Wl,--export=nn_call",
  "-Wl,-z,stack-size=1048576", "-Wl,--max-memory=4294967296", "-Wl,--strip-debug",
  "-o", tmp, ...nnSources(true),
];
const r = spawnSync(clang, args, { cwd: native, encoding: "utf8", timeout: 120_000 });
if (r.status !== 0) {
  rmSync(tmp, { force: true });
  process.stderr.write(`build-wasm: failed${prepare ? " (native/nn.wasm stays as committed)" : ""}\n${r.stderr}${r.stdout}`);
  process.exit(prepare ? 0 : 1); // broken sources fail a rebuild, never an install
}
renameSync(tmp, out);
if (r.stderr.trim()) process.stderr.write(r.stderr);
if (!quiet) process.stderr.write(`build-wasm: ${out} written\n`);
