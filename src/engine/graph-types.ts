/**
 * The typed hand-off between the three phases:
 *   load + validate (pipeline.ts, schema.ts, graph.ts)  →  Graph
 *   plan (plan.ts: reasons, never runs anything)         →  Plan
 *   execute (scheduler.ts + hosts/)                      →  events
 */
import type { NodeSiblings } from "./siblings.js";

/** A source location (1-based line and column), kept from the yaml node ranges. */
export interface Loc {
  readonly file: string; // workspace-relative path of the YAML file
  readonly line: number;
  readonly col: number;
}

/** The closed set of load/graph error kinds. */
export type DiagnosticKind =
  | "yaml-syntax"
  | "schema"
  | "include-missing"
  | "duplicate-target"
  | "duplicate-output"
  | "cycle"
  | "missing-source"
  | "unknown-target"
  | "unknown-rule"
  | "unknown-host"
  | "unknown-tool"
  | "unknown-variable"
  | "unknown-axis"
  | "params-file"
  | "param-value"
  | "invalid-utf8";

/** An expected error found while loading; rendered in one place (diagnostics.ts). */
export interface Diagnostic {
  readonly kind: DiagnosticKind;
  readonly message: string;
  readonly loc?: Loc;
  /** Extra lines, e.g. each step of a cycle with its location. */
  readonly notes?: readonly { message: string; loc?: Loc }[];
}

/** How an action is run. Module paths are workspace-relative `.ts` sources (e.g. rules/x.ts). */
export type RuleRef =
  | { readonly kind: "module"; readonly module: string }
  | { readonly kind: "shell"; readonly command: string };

/** One resolved dependency file. */
export type DepRef =
  | { readonly kind: "output"; readonly path: string; readonly producer: string }
  | { readonly kind: "source"; readonly path: string };

/** A declared output: workspace-relative path; `dir` when declared with a trailing slash. */
export interface OutputDecl {
  readonly path: string;
  readonly dir: boolean;
}

/** Transport settings of a host. Secrets are never stored here (key *paths* only). */
export type HostConfig =
  | { readonly transport: "local"; readonly resources?: Readonly<Record<string, number>>; readonly jobs?: number }
  | {
      readonly transport: "ssh";
      readonly host: string;
      readonly port?: number;
      readonly user: string;
      readonly identity_file?: string; // private key path; absent = SSH agent
      readonly known_hosts: string;
      readonly workdir: string; // remote workspace (a dagbuild checkout)
      readonly node?: string; // remote node binary
      readonly retries?: number; // reconnect attempts per action when the connection drops (default 3)
      readonly resources?: Readonly<Record<string, number>>;
      readonly jobs?: number;
    };

/** One partition of one target: the unit of caching and scheduling. */
export interface ActionNode {
  /** `target` or `target[axis=value,...]` with axes in declaration order. */
  readonly id: string;
  readonly target: string;
  readonly partition: Readonly<Record<string, string>>;
  readonly describe?: string;
  readonly rule: RuleRef;
  /** Fully resolved params (templates substituted, params_file keys merged). */
  readonly params: Readonly<Record<string, unknown>>;
  /** Named deps (list form: "0", "1", ...), each resolved to files, sorted by path. */
  readonly deps: Readonly<Record<string, readonly DepRef[]>>;
  /** Named outputs (list form: "0", "1", ...). */
  readonly outputs: Readonly<Record<string, OutputDecl>>;
  readonly host: string;
  readonly resources: Readonly<Record<string, number>>;
  /** Declared tools with their resolved version strings. */
  readonly tools: Readonly<Record<string, string>>;
  /**
   * `final_after` (ms since the epoch): outputs of a run that started before it are provisional
   * and rebuilt on every build (reason `not-final`); absent = final once built.
   */
  readonly finalAfter?: number;
  /** `verify:` of the target: what `dagbuild verify` accepts as reproduced (never part of a key). */
  readonly verify?: VerifySettings;
  /**
   * `retrain_every` in weeks: between retrains an input change brought by `dagbuild refresh`
   * holds the action on its recorded outputs (src/engine/retrain-hold.ts; never part of a key).
   */
  readonly retrainEvery?: number;
  /** `siblings:` of the target with this node's group (src/engine/siblings.ts; never part of a key). */
  readonly siblings?: NodeSiblings;
  /** Where the target is declared. */
  readonly loc: Loc;
}

/** A target's `verify:` block: numeric tolerance (numpy allclose) and JSON fields to ignore. */
export interface VerifySettings {
  readonly rtol?: number;
  readonly atol?: number;
  /** Dotted JSON key paths (array indices skipped) whose values may differ between runs. */
  readonly ignore?: readonly string[];
}

/** The validated, expanded pipeline. */
export interface Graph {
  /** Absolute workspace root (directory of the pipeline file). */
  readonly root: string;
  /** Workspace-relative path of the pipeline file. */
  readonly pipelineFile: string;
  /** Every action, keyed by id. */
  readonly actions: ReadonlyMap<string, ActionNode>;
  /** Action ids in a topological order (deps first); ties broken by declaration order. */
  readonly order: readonly string[];
  /** Output path → producing action id (directory outputs without the trailing slash). */
  readonly producers: ReadonlyMap<string, string>;
  /** Target name → its action ids. */
  readonly targets: ReadonlyMap<string, readonly string[]>;
  /** What a bare `dagbuild` builds (target names or output paths, as written). */
  readonly defaults: readonly string[];
  readonly hosts: Readonly<Record<string, HostConfig>>;
  /** Every var after `--set` overrides (name → value as written). */
  readonly vars?: ReadonlyMap<string, string>;
  /** The `--set` overrides this load applied. */
  readonly varOverrides?: Readonly<Record<string, string>>;
}

/** Loading either yields a graph or every diagnostic found (never only the first). */
export type LoadResult = { ok: true; graph: Graph } | { ok: false; diagnostics: Diagnostic[] };
