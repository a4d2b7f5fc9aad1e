#!/usr/bin/env node
// Test driver: runs every compiled uvu file (dist/test/**/*.test.js) in its own Node process
// (isolation: each file may start servers and change cwd), up to 4 at a time (TEST_JOBS), then
// prints one summary line `N passed, N failed[, N skipped]` that CI reads. Fails when no test ran.
// Usage: node test/run.mjs [substring filter...]
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { availableParallelism } from "node:os";

const root = new URL("..", import.meta.url).pathname;
const dir = join(root, "dist", "test");
const filters = process.argv.slice(2);

function walk(d) {
  let out = [];
  for (const name of readdirSync(d).sort()) {
    const p = join(d, name);
    if (statSync(p).isDirectory()) out = out.concat(walk(p));
    else if (name.endsWith(".test.js")) out.push(p);
  }
  return out;
}

const files = walk(dir).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
const jobs = Math.max(1, Math.min(Number(process.env.TEST_JOBS ?? availableParallelism()), 4));
let passed = 0, failed = 0, skipped = 0, crashed = 0;
const queue = [...files];

function runOne(file) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { cwd: root, env: { ...process.env, FORCE_COLOR: "0" } });
    let out = "";
    child.stdout.on("data", (b) => (out += b));
    child.stderr.on("data", (b) => (out += b));
    child.on("close", (code) => {
      const num = (label) => Number((out.match(new RegExp(`${label}:\\s+(\\d+)`)) ?? [])[1] ?? NaN);
      const total = num("Total"), ok = num("Passed"), skip = num("Skipped");
      const name = relative(root, file);
      if (Number.isNaN(total)) {
        crashed++; failed++;
        process.stdout.write(`\n✘ ${name} crashed (exit ${code})\n${out}\n`);
      } else {
        // uvu's Total counts the tests that ran: skipped ones are not in it.
        passed += ok; skipped += skip; failed += total - ok;
        const bad = total - ok > 0 || code !== 0;
        if (bad && total - ok === 0) failed++;
        process.stdout.write(`${bad ? "✘" : "✔"} ${name}: ${ok}/${total}${skip ? ` (${skip} skipped)` : ""}\n`);
        if (bad || process.env.TEST_VERBOSE) process.stdout.write(out + "\n");
        else for (const line of out.split("\n")) if (/^SKIP\b/.test(line)) process.stdout.write(`  ${line}\n`);
      }
      resolve();
    });
  });
}

async function worker() {
  while (queue.length) await runOne(queue.shift());
}
await Promise.all(Array.from({ length: jobs }, worker));
process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}\n`);
if (passed + failed === 0) {
  process.stdout.write("no test ran\n");
  process.exit(1);
}
process.exit(failed > 0 ? 1 : 0);
