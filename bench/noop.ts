/**
 * No-op build benchmark: dagbuild against ninja on the same synthetic pipeline, in the same run.
 *
 * For each size N it generates, in a temp dir, a pipeline shaped like the real one — per
 * (instrument, week) a `candles` action and a `gates` action chained on the previous week's
 * state, a per-week fan-in `agg` over every instrument and one `report` over every week — plus
 * the equivalent `build.ninja`. Both tools build everything once; then it times, in turns
 * (median of several runs), the no-op build (`ninja` vs bare `dagbuild`, which answers from
 * its no-op manifest), the same with the full check forced (`DAGBUILD_FULL_CHECK=1`: load,
 * plan and decide every action), the dry run (`ninja -n` vs `dagbuild -n`), the build after
 * one output was deleted (ninja reruns it; dagbuild decides only what depends on it, from the
 * manifest's list of what moved, and restores it), and the in-process `loadGraph` alone, and
 * prints a table with the ratios.
 *
 *   npx tsc -p . && node dist/bench/noop.js [--sizes 1000,10000] [--runs 5] [--keep] [--no-ninja]
 *        [--load-only] [--build-timeout 600]
 *
 * 100k actions is opt-in (`--sizes 1000,10000,100000`): its first dagbuild build runs 100k
 * actions (~90/s measured on a 2-core box, so ~18 min) and gives up after --build-timeout;
 * `--load-only` times loadGraph against ninja's no-op without building with dagbuild.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadGraph } from "../src/engine/graph.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url)); // dist/bench/ → repo root
const DAGBUILD = join(REPO, "bin", "dagbuild");

interface Args {
  sizes: number[];
  runs: number;
  keep: boolean;
  loadOnly: boolean;
  /** Skip ninja (iterating on dagbuild alone; no ratios). */
  noNinja: boolean;
  /** Seconds allowed for dagbuild's first (full) build before giving up on that size. */
  buildTimeout: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { sizes: [1000, 10000], runs: 5, keep: false, loadOnly: false, noNinja: false, buildTimeout: 600 };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    if (v === "--sizes") a.sizes = argv[++i]!.split(",").map(Number);
    else if (v === "--runs") a.runs = Number(argv[++i]);
    else if (v === "--keep") a.keep = true;
    else if (v === "--no-ninja") a.noNinja = true;
    else if (v === "--load-only") a.loadOnly = true; // skip dagbuild builds: loadGraph vs ninja only
    else if (v === "--build-timeout") a.buildTimeout = Number(argv[++i]);
    else throw new Error(`unknown argument ${v}`);
  }
  return a;
}

/** Shape for N actions: 2·I·W + W + 1 ≈ N with W ≤ 50 weeks. */
function shape(n: number): { instruments: number; weeks: number } {
  const weeks = Math.max(2, Math.min(50, Math.round(Math.sqrt(n / 8))));
  const instruments = Math.max(1, Math.round((n - weeks - 1) / (2 * weeks)));
  return { instruments, weeks };
}

const MONDAY0 = Date.UTC(2024, 0, 1); // a Monday
const day = (t: number) => new Date(t).toISOString().slice(0, 10);

/** The rule: concatenates every input into every output (same code in .ts and .js). */
const COPY_RULE = `import { readFileSync, writeFileSync } from "node:fs";
export default {
  describe: "concatenate inputs into each output",
  run(ctx) {
    const body = (ctx.inputs["*"] ?? []).map((p) => readFileSync(p, "utf8").slice(0, 64)).join("");
    for (const out of Object.values(ctx.outputs)) writeFileSync(out, body + ctx.target + "\\n");
  },
};
`;

/** Writes the workspace: pipeline.yaml, rules/copy.{ts,js}, src/seed.txt, build.ninja. */
function generate(dir: string, n: number): { actions: number } {
  const { instruments, weeks } = shape(n);
  const insts = Array.from({ length: instruments }, (_, i) => `I${String(i).padStart(4, "0")}`);
  const ws = Array.from({ length: weeks }, (_, k) => day(MONDAY0 + k * 7 * 86_400_000));
  mkdirSync(join(dir, "rules"), { recursive: true });
  mkdirSync(join(dir, "src"), { recursive: true });
  writeFileSync(join(dir, "rules/copy.ts"), COPY_RULE);
  writeFileSync(join(dir, "rules/copy.js"), COPY_RULE);
  writeFileSync(join(dir, "src/seed.txt"), "seed\n");
  writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
  writeFileSync(
    join(dir, "pipeline.yaml"),
    [
      "version: 1",
      "default: [report]",
      "axes:",
      `  inst: [${insts.join(", ")}]`,
      `  week: { span: [${ws[0]}, ${ws[ws.length - 1]}], step: week }`,
      "targets:",
      "  candles:",
      "    partition: [inst, week]",
      '    outputs: ["data/candles/{inst}/{week}.txt"]',
      "    deps: [src/seed.txt]",
      "    rule: rules/copy.ts",
      "  gates:",
      "    partition: [inst, week]",
      "    outputs:",
      '      gates: "out/gates/{inst}/{week}.txt"',
      '      state: "out/state/{inst}/{week}.txt"',
      "    deps:",
      '      candles: "data/candles/{inst}/{week}.txt"',
      '      state: "out/state/{inst}/{week-1}.txt"',
      "    rule: rules/copy.ts",
      "  agg:",
      "    partition: [week]",
      '    outputs: ["out/agg/{week}.txt"]',
      '    deps: ["out/gates/{inst}/{week}.txt"]',
      "    rule: rules/copy.ts",
      "  report:",
      "    outputs: [out/report.txt]",
      '    deps: ["out/agg/{week}.txt"]',
      "    rule: rules/copy.ts",
      "",
    ].join("\n"),
  );
  // The same graph for ninja, edge for edge.
  const lines: string[] = ["rule cat", "  command = cat $in | tee $out > /dev/null", ""];
  for (const i of insts) {
    for (let k = 0; k < ws.length; k++) {
      const w = ws[k]!;
      lines.push(`build data/candles/${i}/${w}.txt: cat src/seed.txt`);
      const prev = k > 0 ? ` out/state/${i}/${ws[k - 1]}.txt` : "";
      lines.push(`build out/gates/${i}/${w}.txt out/state/${i}/${w}.txt: cat data/candles/${i}/${w}.txt${prev}`);
    }
  }
  for (const w of ws) lines.push(`build out/agg/${w}.txt: cat ${insts.map((i) => `out/gates/${i}/${w}.txt`).join(" ")}`);
  lines.push(`build out/report.txt: cat ${ws.map((w) => `out/agg/${w}.txt`).join(" ")}`);
  lines.push("default out/report.txt", "");
  writeFileSync(join(dir, "build.ninja"), lines.join("\n"));
  return { actions: 2 * instruments * weeks + weeks + 1 };
}

/** Runs a command in `cwd`; returns wall seconds. Throws with its output when it fails. */
function timed(cmd: string, args: string[], cwd: string, timeoutMs = 3_600_000, env: Record<string, string | undefined> = {}): number {
  const t0 = process.hrtime.bigint();
  const merged: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1", ...env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete merged[k];
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", maxBuffer: 1 << 30, timeout: timeoutMs, env: merged });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (exit ${r.status}, ${r.signal ?? ""}):\n${(r.stdout ?? "").slice(-2000)}${(r.stderr ?? "").slice(-2000)}`);
  }
  return s;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Medians of `runs` timings of each command, taken in turns (a b c a b c ...) after one warm-up
 * each, so a noisy neighbour slows every tool alike instead of whichever ran during it.
 */
function interleaved(runs: number, fs: (() => number)[]): number[] {
  for (const f of fs) f(); // warm the page cache
  const xs = fs.map(() => [] as number[]);
  for (let k = 0; k < runs; k++) fs.forEach((f, j) => xs[j]!.push(f()));
  return xs.map(median);
}

async function timeLoad(dir: string, runs: number): Promise<number> {
  const xs: number[] = [];
  for (let k = 0; k <= runs; k++) {
    const t0 = process.hrtime.bigint();
    const r = await loadGraph(dir);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (!r.ok) throw new Error(`generated pipeline did not load: ${r.diagnostics.map((d) => d.message).join("; ")}`);
    if (k > 0) xs.push(s); // the first run pays for module loading and JIT warm-up
  }
  return median(xs);
}

/** dagbuild / ninja, or "-" when ninja was skipped. */
const ratio = (ours: number, theirs: number) => (Number.isNaN(theirs) ? "-" : (ours / theirs).toFixed(2));
const fmt = (s: number) => (Number.isNaN(s) ? "-" : s < 1 ? `${(s * 1000).toFixed(0)} ms` : `${s.toFixed(2)} s`);

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const rows: string[][] = [];
  const node = process.execPath;
  for (const n of args.sizes) {
    const top = mkdtempSync(join(tmpdir(), `dagbuild-noop-${n}-`));
    // Two identical trees: each tool owns its outputs, so neither sees the other's writes.
    const ninjaDir = join(top, "ninja");
    const dir = join(top, "dagbuild");
    try {
      mkdirSync(ninjaDir);
      mkdirSync(dir);
      generate(ninjaDir, n);
      const { actions } = generate(dir, n);
      process.stderr.write(`[${actions} actions] ${top}\n`);
      const ninjaFull = args.noNinja ? NaN : timed("ninja", [], ninjaDir); // default -j for both tools
      process.stderr.write(`  ninja full build ${fmt(ninjaFull)}\n`);
      const load = await timeLoad(dir, args.runs);
      const skip = () => NaN;
      if (args.loadOnly) {
        const [ninjaNoop] = interleaved(args.runs, [args.noNinja ? skip : () => timed("ninja", [], ninjaDir)]);
        rows.push([String(actions), "loadGraph (in-process)", fmt(ninjaNoop!), fmt(load), ratio(load, ninjaNoop!)]);
      } else {
        let full: number;
        try {
          full = timed(node, [DAGBUILD], dir, args.buildTimeout * 1000);
        } catch (e) {
          // Reported, not hidden: without a complete first build there is no no-op to time.
          process.stderr.write(`  dagbuild first build did not finish: ${(e as Error).message.split("\n")[0]}\n`);
          rows.push([String(actions), "first build", fmt(ninjaFull), `> ${args.buildTimeout} s`, "-"]);
          continue;
        }
        process.stderr.write(`  dagbuild full build ${fmt(full)}\n`);
        const fullCheck = { DAGBUILD_FULL_CHECK: "1" }; // without the no-op manifest: load, plan, decide all
        // Node parses the whole NODE_EXTRA_CA_CERTS bundle at startup, before any of our code
        // (about 40 ms on a machine that sets it): shown apart, so it is not mistaken for ours.
        const ca = process.env.NODE_EXTRA_CA_CERTS !== undefined;
        const noCa = { NODE_EXTRA_CA_CERTS: undefined };
        // Incremental: one output deleted (untimed), then the build that brings it back. ninja
        // reruns its command; dagbuild restores it from the cache after deciding what moved.
        const gone = (d: string) => rmSync(join(d, "out", "report.txt"));
        const [ninjaNoop, noop, noopFull, ninjaDry, dry, nodeStart, noopNoCa, nodeStartNoCa, ninjaOne, one, oneFull] = interleaved(args.runs, [
          args.noNinja ? skip : () => timed("ninja", [], ninjaDir),
          () => timed(node, [DAGBUILD], dir),
          () => timed(node, [DAGBUILD], dir, undefined, fullCheck),
          args.noNinja ? skip : () => timed("ninja", ["-n"], ninjaDir),
          () => timed(node, [DAGBUILD, "-n"], dir),
          () => timed(node, ["-e", "0"], dir),
          ca ? () => timed(node, [DAGBUILD], dir, undefined, noCa) : skip,
          ca ? () => timed(node, ["-e", "0"], dir, undefined, noCa) : skip,
          args.noNinja ? skip : () => (gone(ninjaDir), timed("ninja", [], ninjaDir)),
          () => (gone(dir), timed(node, [DAGBUILD], dir)),
          () => (gone(dir), timed(node, [DAGBUILD], dir, undefined, fullCheck)),
        ]) as number[] as [number, number, number, number, number, number, number, number, number, number, number];
        rows.push([String(actions), "node -e 0 (Node's own start)", fmt(ninjaNoop), fmt(nodeStart), ratio(nodeStart, ninjaNoop)]);
        rows.push([String(actions), "loadGraph (in-process)", fmt(ninjaNoop), fmt(load), ratio(load, ninjaNoop)]);
        rows.push([String(actions), "no-op build", fmt(ninjaNoop), fmt(noop), ratio(noop, ninjaNoop)]);
        if (ca) {
          rows.push([String(actions), "node -e 0, no NODE_EXTRA_CA_CERTS", fmt(ninjaNoop), fmt(nodeStartNoCa), ratio(nodeStartNoCa, ninjaNoop)]);
          rows.push([String(actions), "no-op build, no NODE_EXTRA_CA_CERTS", fmt(ninjaNoop), fmt(noopNoCa), ratio(noopNoCa, ninjaNoop)]);
        }
        rows.push([String(actions), "no-op, full check", fmt(ninjaNoop), fmt(noopFull), ratio(noopFull, ninjaNoop)]);
        rows.push([String(actions), "dry run (-n)", fmt(ninjaDry), fmt(dry), ratio(dry, ninjaDry)]);
        rows.push([String(actions), "one output deleted", fmt(ninjaOne), fmt(one), ratio(one, ninjaOne)]);
        rows.push([String(actions), "one output deleted, full check", fmt(ninjaOne), fmt(oneFull), ratio(oneFull, ninjaOne)]);
        rows.push([String(actions), "first build", fmt(ninjaFull), fmt(full), ratio(full, ninjaFull)]);
      }
    } finally {
      if (!args.keep) rmSync(top, { recursive: true, force: true });
    }
  }
  const head = ["actions", "measure", "ninja", "dagbuild", "ratio"];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((x, c) => (c < 2 ? x.padEnd(widths[c]!) : x.padStart(widths[c]!))).join("  ");
  process.stdout.write(`${line(head)}\n${widths.map((w) => "-".repeat(w)).join("  ")}\n${rows.map(line).join("\n")}\n`);
  process.stdout.write(
    `(median of ${args.runs} runs in turns after one warm-up each; ratio = dagbuild / ninja; "no-op build" answers from the\n` +
      ` no-op manifest, "full check" sets DAGBUILD_FULL_CHECK=1; node ${process.version}, ninja ${ninjaVersion()})\n`,
  );
}

function ninjaVersion(): string {
  return spawnSync("ninja", ["--version"], { encoding: "utf8" }).stdout.trim();
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
