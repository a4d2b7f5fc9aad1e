/**
 * CLI entry: dispatches `dagbuild <command>` to a module under `src/cli/commands/`, loaded
 * lazily so `dagbuild --version` does not pay for DuckDB, TensorFlow or ssh2.
 * Anything that is not a known command is a build target (`dagbuild output/ml_models/lstm`).
 */
import { readFileSync } from "node:fs";
import type { BuildHint } from "./fast-noop.js";
import { takesValue, UsageError } from "./args.js";

/** Each command module exports `run(argv): Promise<number>` (the exit code); build also takes the fast path's hint. */
export type CommandModule = { run(argv: string[], hint?: BuildHint): Promise<number> };

const COMMANDS: Record<string, string> = {
  build: "./commands/build.js",
  exec: "./commands/exec.js",
  explain: "./commands/explain.js",
  status: "./commands/status.js",
  graph: "./commands/graph.js",
  clean: "./commands/clean.js",
  gc: "./commands/gc.js",
  verify: "./commands/verify.js",
  lineage: "./commands/lineage.js",
  refresh: "./commands/refresh.js",
  replay: "./commands/replay.js",
  backtest: "./commands/backtest.js",
  "check-gates": "./commands/check-gates.js",
  "host-check": "./commands/host-check.js",
  metrics: "./commands/metrics.js",
};

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8"));
  return pkg.version as string;
}

export async function main(argv: string[]): Promise<number> {
  // `dagbuild -n | head`: a closed pipe ends the output, not the process with a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
  const first = argv[0];
  if (first === "--version" || first === "-V") {
    process.stdout.write(`dagbuild ${version()}\n`);
    return 0;
  }
  if (first === "--help" || first === "-h" || first === "help") {
    process.stdout.write(HELP);
    return 0;
  }
  // The command is the first word that is not an option (`dagbuild -C DIR explain X`).
  const at = commandIndex(argv);
  const word = at < 0 ? undefined : argv[at];
  const isCommand = word !== undefined && Object.hasOwn(COMMANDS, word);
  const name = isCommand ? word : "build";
  const rest = isCommand ? [...argv.slice(0, at), ...argv.slice(at + 1)] : argv;
  let hint: BuildHint | undefined;
  if (name === "build") {
    // Most builds in a loop are no-ops: answer those from the no-op manifest, by stats alone.
    const fast = await (await import("./fast-noop.js")).fastNoop(rest);
    if (fast && "code" in fast) return fast.code;
    hint = fast;
  }
  try {
    const mod = (await import(COMMANDS[name]!)) as CommandModule;
    return await mod.run(rest, hint);
  } catch (e) {
    // Every command parses flags through args.ts: a bad one is a message and exit 2, not a trace.
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`dagbuild${isCommand && name !== "build" ? ` ${name}` : ""}: ${e.message}\n`);
    return 2;
  } finally {
    hint?.release(); // the build released it already unless it stopped early
  }
}

/** Index of the first word that is neither an option nor an option's value (-1 if none). */
function commandIndex(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") return i + 1 < argv.length ? i + 1 : -1;
    if (!a.startsWith("-") || a === "-") return i;
    if (takesValue(a)) i++; // args.ts's option table says which take a value
  }
  return -1;
}

const HELP = `usage: dagbuild [options] [targets...]      build targets (default: the pipeline's default)
       dagbuild -n|--dry-run [--json] [targets...]
       dagbuild explain <target>
       dagbuild status [targets...]
       dagbuild metrics [targets...] [--sort COL] [--asc] [--columns A,B] [--only-changed] [--json]
       dagbuild metrics diff [REV] [targets...]   (REV: @prev, @<ISO time> or a git revision)
       dagbuild graph [--format dot|mermaid|json]
       dagbuild clean | gc [--max-size SIZE] [--max-age DAYS]
       dagbuild verify [--rebuild] [--on HOST] [--json] [targets...]
       dagbuild lineage <path> [--depth N] [--json | --openlineage]
       dagbuild refresh [--weeks N] [-n] [--json] [targets...]
       dagbuild replay --candles FILE --instrument X [--profile P] [--mode M] --out FILE
       dagbuild backtest --candles F --gates F --instrument I --start T --end T [--profile P] [--ml-scores F --threshold X] --out DIR
       dagbuild check-gates --redis URL --threshold SECONDS [--instruments A,B] [--json]
options: -j N, --keep-going, --force <target>, --json, --host NAME=local, --set VAR=VALUE, -C DIR, --pipeline FILE
`;
