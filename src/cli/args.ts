/**
 * Command-line options shared by the build-like commands. A tiny parser: flags are few and
 * fixed, and a usage error must name the offending argument.
 */
export interface CommonOptions {
  dir: string;
  pipeline: string;
  hostOverrides: Record<string, string>;
  /** `--set NAME=VALUE` (repeatable): var overrides for this run, like `snakemake --config`. */
  varOverrides: Record<string, string>;
  jobs: number;
  keepGoing: boolean;
  force: string[];
  json: boolean;
  dryRun: boolean;
  progress: "auto" | "tty" | "plain";
  positional: string[];
  /** Extra flags a command declared (name → value, "true" for booleans). */
  extra: Record<string, string>;
}

export class UsageError extends Error {}

/** One common option: its spellings and what it sets (a value option reads the next word or `--flag=V`). */
interface OptionSpec {
  readonly names: readonly string[];
  readonly value: boolean;
  readonly apply: (o: CommonOptions, v: string) => void;
}

/**
 * The common options, the one table both `parseArgs` and the command dispatcher (main.ts,
 * which must skip an option's value to find the command word) read.
 */
const COMMON_OPTIONS: readonly OptionSpec[] = [
  { names: ["-C", "--dir"], value: true, apply: (o, v) => (o.dir = v) },
  { names: ["-f", "--pipeline"], value: true, apply: (o, v) => (o.pipeline = v) },
  {
    names: ["--host"],
    value: true,
    apply: (o, v) => {
      const m = /^([^=]+)=(local)$/.exec(v);
      if (!m) throw new UsageError(`--host expects NAME=local, got "${v}"`);
      o.hostOverrides[m[1]!] = m[2]!;
    },
  },
  {
    names: ["--set"],
    value: true,
    apply: (o, v) => {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(v);
      if (!m) throw new UsageError(`--set expects NAME=VALUE (a var of the pipeline), got "${v}"`);
      o.varOverrides[m[1]!] = m[2]!;
    },
  },
  {
    names: ["-j", "--jobs"],
    value: true,
    apply: (o, v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new UsageError(`-j expects a positive integer, got "${v}"`);
      o.jobs = n;
    },
  },
  { names: ["-k", "--keep-going"], value: false, apply: (o) => (o.keepGoing = true) },
  { names: ["--force"], value: true, apply: (o, v) => o.force.push(v) },
  { names: ["--json"], value: false, apply: (o) => (o.json = true) },
  { names: ["-n", "--dry-run"], value: false, apply: (o) => (o.dryRun = true) },
  { names: ["--progress"], value: true, apply: (o, v) => (o.progress = v as CommonOptions["progress"]) },
];

const OPTION_BY_NAME: ReadonlyMap<string, OptionSpec> = new Map(COMMON_OPTIONS.flatMap((s) => s.names.map((n) => [n, s] as const)));

/** Whether `word` is a common option that takes the next word as its value (`-C DIR`). */
export function takesValue(word: string): boolean {
  return OPTION_BY_NAME.get(word)?.value === true;
}

export function parseArgs(argv: readonly string[], extraFlags: Record<string, "bool" | "value"> = {}): CommonOptions {
  const o: CommonOptions = {
    dir: process.cwd(),
    pipeline: "pipeline.yaml",
    hostOverrides: {},
    varOverrides: {},
    jobs: Math.max(1, Number(process.env.DAGBUILD_JOBS) || (globalThis.navigator?.hardwareConcurrency ?? 2)),
    keepGoing: false,
    force: [],
    json: false,
    dryRun: false,
    progress: "auto",
    positional: [],
    extra: {},
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith("--") && a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    const spec = OPTION_BY_NAME.get(flag);
    if (spec) spec.apply(o, spec.value ? value() : "true");
    else if (/^-j\d+$/.test(a)) {
      o.jobs = Number(a.slice(2));
    } else if (a.startsWith("-") && a.length > 1) {
      const name = flag.replace(/^-+/, "");
      const kind = extraFlags[name];
      if (!kind) throw new UsageError(`unknown option ${flag}`);
      o.extra[name] = kind === "bool" ? "true" : value();
    } else o.positional.push(a);
  }
  return o;
}
