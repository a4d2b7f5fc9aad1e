#!/usr/bin/env node
// Builds the optional native addons of native/binding.gyp with npm's own node-gyp (run from
// `prepare`): stat_stamps.node, the helper of the no-op fast path, and nn.node, the training
// kernels (native/nn/). Both are optional: when there is no compiler, no Node headers or no
// node-gyp, this says so and exits 0; the fast path then compares stats in JavaScript and the
// kernels run from the committed WebAssembly build (native/nn.wasm).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const native = join(dirname(fileURLToPath(import.meta.url)), "..", "native");
const candidates = [
  process.env.npm_config_node_gyp, // set by npm for lifecycle scripts
  join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"),
].filter((p) => p && existsSync(p));
if (process.env.DAGBUILD_NO_NATIVE === "1" || candidates.length === 0) {
  process.stderr.write("build-native: skipped (no node-gyp); the no-op check stats files from JavaScript, the kernels run as wasm\n");
  process.exit(0);
}
// The running Node's own headers, when installed beside it: node-gyp must not download them.
const prefix = join(dirname(process.execPath), "..");
const nodedir = process.env.npm_config_nodedir || (existsSync(join(prefix, "include", "node", "node_api.h")) ? prefix : undefined);
const args = [candidates[0], "rebuild", "--loglevel=error", ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
const r = spawnSync(process.execPath, args, { cwd: native, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8", timeout: 120_000 });
if (r.status !== 0) {
  const why = `${r.stderr ?? ""}${r.stdout ?? ""}`.trim().split("\n").slice(-3).join(" | ");
  process.stderr.write(`build-native: not built (${why || r.error?.message || `exit ${r.status}`}); the no-op check stats files from JavaScript, the kernels run as wasm\n`);
}
process.exit(0);
