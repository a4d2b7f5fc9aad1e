/**
 * What a load + freshness check consulted besides the state index: the files it read (with
 * their stamp just before the read), the stat and existence probes it made, the directories it
 * listed and the tool commands it ran. The no-op manifest (cache/noop-manifest.ts) turns this
 * into stamps, so a later build can prove "nothing changed" by stats alone, like ninja.
 *
 * The load phase reports through `loggingLoadIO`/`loggingRunner` (wrappers of its injected
 * side effects); RuleHasher reports the rule sources it hashes.
 */
import type { LoadIO } from "./load-io.js";
import type { CommandRunner } from "./tool-versions.js";
import { sha256 } from "./hash.js";
import { statSync } from "node:fs";
import type { ProbeKind, Stamp } from "./cache/noop-manifest.js";
import { stampOf } from "./cache/stat-stamps.js";

/** A file as it was just before it was read: its stamp, and when that was taken (ms). */
export interface SeenFile {
  readonly stamp: Stamp;
  readonly at: number;
}

export class ReadLog {
  /**
   * Absolute path → its stamp just before it was read (null: it did not exist). The writer
   * trusts a file only if its stamp is unchanged at the end, so no content is hashed twice.
   */
  readonly reads = new Map<string, SeenFile | null>();
  /** Absolute path → what a stat probe saw ("any": an existence probe found something). */
  readonly kinds = new Map<string, ProbeKind>();
  /** Absolute directory path → sha256 of its sorted entry names. */
  readonly listings = new Map<string, string>();
  /** Tool version command → its output (only successful ones: a failure fails the load). */
  readonly commands = new Map<string, string>();

  /** Call just before reading `abs`. */
  read(abs: string): void {
    const st = statSync(abs, { throwIfNoEntry: false });
    this.reads.set(abs, st?.isFile() ? { stamp: stampOf(st), at: Date.now() } : null);
  }

  probe(abs: string, kind: ProbeKind): void {
    this.kinds.set(abs, kind);
  }

  listed(abs: string, names: readonly string[]): void {
    this.listings.set(abs, listingDigest(names));
  }
}

/** Digest of a directory listing, independent of the order readdir returned it in. */
export function listingDigest(names: readonly string[]): string {
  return sha256([...names].sort().join("\n"));
}

/** The load phase's file-system access, logged. */
export function loggingLoadIO(io: LoadIO, log: ReadLog): LoadIO {
  return {
    readFile(abs) {
      log.read(abs);
      return io.readFile(abs);
    },
    stat(abs) {
      const k = io.stat(abs);
      log.probe(abs, k ?? null);
      return k;
    },
    readdir(abs) {
      const names = io.readdir(abs);
      log.listed(abs, names);
      return names;
    },
  };
}

/** Tool version commands, logged with their output. */
export function loggingRunner(runner: CommandRunner, log: ReadLog): CommandRunner {
  return {
    async run(command, cwd) {
      const r = await runner.run(command, cwd);
      if (r.ok) log.commands.set(command, r.stdout);
      return r;
    },
  };
}
