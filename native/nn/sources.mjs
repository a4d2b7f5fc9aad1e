#!/usr/bin/env node
// Prints the C sources of the kernel build, space-separated, relative to native/: every
// native/nn/*.c in name order, without the N-API glue when given --wasm. binding.gyp expands it
// (<!@(...)) and scripts/build-wasm.mjs imports nnSources(), so a new kernel file needs no edit.
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const dir = dirname(fileURLToPath(import.meta.url));

/** native/nn/*.c (sorted), as "nn/<file>"; the N-API glue (napi.c) only for the addon. */
export function nnSources(wasm) {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".c") && !(wasm && f === "napi.c"))
    .sort()
    .map((f) => join("nn", f));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.stdout.write(nnSources(process.argv.includes("--wasm")).join(" ") + "\n");
