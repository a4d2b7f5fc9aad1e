/**
 * The host interface: where an action runs. `local` spawns `dagbuild exec` as a child process;
 * `ssh` ships inputs by digest to a remote CAS and runs `dagbuild exec` there.
 * Either way the host leaves the outputs under `staging/<output path>` on this machine; the
 * engine then hashes them, stores them in the CAS and moves them into place atomically.
 */
import type { RuleRef } from "../graph-types.js";
import type { Artifact } from "../cache/cas.js";
import type { SpecSiblings } from "../siblings.js";

/** A file of a directory input or output, relative to the directory. */
export interface TreeEntry {
  readonly rel: string;
  readonly digest: string;
  readonly size: number;
  readonly executable: boolean;
}

/** One input file as the executor sees it: the digest it must have. */
export interface InputFile {
  readonly path: string; // workspace-relative
  readonly digest: string; // sha256 hex (for a directory: the tree digest)
  readonly size: number;
  readonly tree?: readonly TreeEntry[]; // set for directory inputs
}

/**
 * A serialized action: everything `dagbuild exec` needs, with no reference to the pipeline
 * file (executors never parse pipelines). Format version 1.
 */
export interface ActionSpec {
  readonly version: 1;
  readonly id: string;
  readonly target: string;
  readonly partition: Readonly<Record<string, string>>;
  readonly rule: RuleRef;
  readonly params: Readonly<Record<string, unknown>>;
  readonly inputs: Readonly<Record<string, readonly InputFile[]>>;
  readonly outputs: Readonly<Record<string, { readonly path: string; readonly dir: boolean }>>;
  /**
   * Environment of this one action, outside the key: `CUDA_VISIBLE_DEVICES` from the gpu
   * tokens it holds (src/engine/device-tokens.ts). Absent when there is none.
   */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * The finished siblings' outputs (a target with `siblings:`; src/engine/siblings.ts), outside
   * the key: shipped like inputs, shown to the rule as `ctx.siblings`. Absent otherwise.
   */
  readonly siblings?: SpecSiblings;
}

/** Streams and cancellation for one action. */
export interface ActionIO {
  /** Log output of the action (stdout and stderr interleaved). */
  log(chunk: string): void;
  /** A rule's progress line (RuleContext.progress), already in the log; hosts that cannot relay it live leave it there. */
  progress?(line: string): void;
  readonly signal: AbortSignal;
  /**
   * Told the digests of the staged outputs, by output name, when the host already verified
   * them while staging (a remote host hashes every file it fetches): commit does not hash again.
   */
  verified?(outputs: Readonly<Record<string, Artifact>>): void;
  /**
   * Outputs (by name) to leave in the host's own CAS instead of staging them here (resident
   * artifacts, docs/hosts.md). A host that cannot (local) ignores it and stages every output;
   * one that honours it reports their digests through `verified` all the same.
   */
  keep?: ReadonlySet<string>;
}

/** Outcome of running an action on a host; expected failures are values, not throws. */
export type HostResult =
  /** `notFinal`: the rule's `ctx.notFinal(reason)`: record the outcome as provisional. */
  | { readonly ok: true; readonly notFinal?: string }
  | {
      readonly ok: false;
      readonly kind: "rule-failed" | "cancelled" | "transfer-failed" | "host-unavailable" | "digest-mismatch";
      readonly message: string;
    };

/** A place to run actions. */
export interface Host {
  readonly name: string;
  /** e.g. "local" or "ssh user@127.0.0.1:2222". */
  readonly describe: string;
  /** Checked once before the first action (remote version and lockfile). Throws HostError. */
  prepare(signal: AbortSignal): Promise<void>;
  /** Runs the action; on success every declared output exists under `staging`. */
  run(spec: ActionSpec, staging: string, io: ActionIO): Promise<HostResult>;
  /** Releases connections. */
  close(): Promise<void>;
  /**
   * Hosts with a CAS of their own (ssh): the digests among `blobs` that it does not hold (or
   * holds with another size). Connection failures throw.
   */
  missing?(blobs: readonly { readonly digest: string; readonly size: number }[]): Promise<string[]>;
  /**
   * Hosts with a CAS of their own (ssh): downloads a resident artifact (a file, or a directory
   * tree file by file) to `dest` on this machine, every blob checked against its digest and
   * logged as a transfer of `what`. Throws when a blob is missing or corrupt there.
   */
  fetch?(what: string, art: ResidentArtifact, dest: string): Promise<void>;
}

/** What is known of an artifact left on a host: enough to fetch and check it. */
export interface ResidentArtifact {
  readonly digest: string;
  readonly size: number;
  readonly dir: boolean;
  readonly tree?: readonly TreeEntry[];
}

/** A host that cannot be used at all (unreachable, wrong version): message says how to fix. */
export class HostError extends Error {
  constructor(
    readonly host: string,
    message: string,
  ) {
    super(message);
    this.name = "HostError";
  }
}

/** One line of `handoff/transfer_log.md` (and a `transfer` event): what moved where. */
export interface TransferEntry {
  readonly what: string; // workspace-relative path (or a blob description)
  readonly digest: string;
  readonly size: number;
  readonly from: string; // host name ("local" for this machine)
  readonly to: string;
  readonly direction: "put" | "get";
}

/** What the engine gives a host implementation when it creates one. */
export interface HostEnv {
  /** Absolute workspace root on this machine. */
  readonly root: string;
  /** Absolute path of the local CAS (`cache/cas`): blobs at `<cas>/<d[0..2]>/<d>`. */
  readonly casDir: string;
  /** Records a completed transfer (appended to the transfer log by the engine). */
  logTransfer(entry: TransferEntry): void;
  /** Progress/diagnostic lines (rendered by the active logger). */
  note(message: string): void;
}
