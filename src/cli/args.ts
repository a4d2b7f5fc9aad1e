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
    switch (flag) {
      case "-C":
      case "--dir":
        o.dir = value();
        break;
      case "-f":
      case "--pipeline":
        o.pipeline = value();
        break;
      case "--host": {
        const v = value();
        const m = /^([^=]+)=(local)$/.exec(v);
        if (!m) throw new UsageError(`--host expects NAME=local, got "${v}"`);
        o.hostOverrides[m[1]!] = m[2]!;
        break;
      }
      case "--set": {
        const v = value();
        const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(v);
        if (!m) throw new UsageError(`--set expects NAME=VALUE (a var of the pipeline), got "${v}"`);
        o.varOverrides[m[1]!] = m[2]!;
        break;
      }
      case "-j":
      case "--jobs": {
        const v = value();
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) throw new UsageError(`-j expects a positive integer, got "${v}"`);
        o.jobs = n;
        break;
      }
      case "-k":
      case "--keep-going":
        o.keepGoing = true;
        break;
      case "--force":
        o.force.push(value());
        break;
      case "--json":
        o.json = true;
        break;
      case "-n":
      case "--dry-run":
        o.dryRun = true;
        break;
      case "--progress":
        o.progress = value() as CommonOptions["progress"];
        break;
      default:
        if (/^-j\d+$/.test(a)) {
          o.jobs = Number(a.slice(2));
        } else if (a.startsWith("-") && a.length > 1) {
          const name = flag.replace(/^-+/, "");
          const kind = extraFlags[name];
          if (!kind) throw new UsageError(`unknown option ${flag}`);
          o.extra[name] = kind === "bool" ? "true" : value();
        } else o.positional.push(a);
    }
  }
  return o;
}
