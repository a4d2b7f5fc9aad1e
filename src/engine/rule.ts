/**
 * The rule API: what a step module under `rules/` exports.
 *
 * A rule module's default export is `defineRule({...})`. The engine runs it in a child process
 * (`dagbuild exec`, the same entry point a remote host uses), so a rule may use the CPU freely
 * and may keep module-level state only for the duration of one action.
 *
 * Contract:
 * - Read inputs only from `ctx.inputs` (absolute paths of the declared deps). Anything else a
 *   rule reads is invisible to the fingerprint and breaks incremental builds.
 * - Write outputs only to `ctx.outputs` (absolute temporary paths). The engine hashes them and
 *   moves them into place atomically after `run` resolves; a throw discards them.
 * - Be deterministic: the same inputs and params must give byte-identical outputs (sorted keys,
 *   fixed seeds, no wall-clock time in outputs), or early cutoff and `verify` stop working.
 * - Throw `RuleError` for expected failures (bad input data): its message is shown as is.
 */
export interface RuleContext {
  /** Workspace root (absolute): the directory holding pipeline.yaml. */
  readonly root: string;
  /** Target name as declared in the pipeline, e.g. `gates`. */
  readonly target: string;
  /** This action's partition values, e.g. `{ mode: "rolling", week: "2025-05-12" }`. */
  readonly partition: Readonly<Record<string, string>>;
  /** Resolved params (templates substituted, params-file keys merged). */
  readonly params: Readonly<Record<string, unknown>>;
  /**
   * Declared deps, by name, as sorted absolute paths. A list-form `deps:` is exposed under
   * the names "0", "1", ...; every input is also under `"*"`.
   */
  readonly inputs: Readonly<Record<string, readonly string[]>>;
  /**
   * Declared outputs, by name, as absolute temporary paths to write. A list-form `outputs:`
   * is exposed under "0", "1", ... Directory outputs (declared with a trailing `/`) are
   * created empty before `run`.
   */
  readonly outputs: Readonly<Record<string, string>>;
  /** Appends a line to this action's log (cache/logs/). */
  log(line: string): void;
  /**
   * A progress line (one epoch of a training, say): appended to the log like `log`, and shown
   * live by the build's progress display. Optional so hand-made contexts (tests) may omit it.
   */
  progress?(line: string): void;
  /**
   * This action's own environment (`CUDA_VISIBLE_DEVICES` for the gpu tokens it holds), not in
   * the key. Read it here, never from process.env: module rules run in worker threads of one
   * process, which share the process environment (a native library sees the process's).
   * Shell rules get it in their environment; `DAGBUILD_ISOLATION=process` applies it to the
   * rule process's environment too. Optional so hand-made contexts (tests) may omit it.
   */
  readonly env?: Readonly<Record<string, string>>;
  /** Aborted on Ctrl-C or when the build stops; long loops should check it. */
  readonly signal: AbortSignal;
  /**
   * A target with `siblings:` (docs/pipeline-format.md "Siblings"): the finished siblings'
   * outputs when this action started. NOT part of the key: a rule whose outcome they change
   * must call `notFinal`. Absent for other targets (and in hand-made contexts).
   */
  readonly siblings?: RuleSiblings;
  /**
   * Says this outcome is provisional (it depends on more than the key: a pruned trial lost to
   * its siblings): the engine records it as not final (reason `not-final (<reason>)`), runs it
   * again on every build and never restores it. Optional so hand-made contexts may omit it.
   */
  notFinal?(reason: string): void;
}

/** `ctx.siblings`: the finished partitions of this target that differ only in `axis`. */
export interface RuleSiblings {
  readonly axis: string;
  /** The target's `siblings.options`, as written. */
  readonly options: Readonly<Record<string, unknown>>;
  /** In declaration order: each sibling's partition and its outputs by name (absolute paths). */
  readonly finished: readonly { readonly id: string; readonly partition: Readonly<Record<string, string>>; readonly outputs: Readonly<Record<string, string>> }[];
}

/** A build step. */
export interface Rule {
  /** One line for `dagbuild graph` and the docs. */
  readonly describe?: string;
  run(ctx: RuleContext): Promise<void> | void;
}

/** Identity helper that gives rule modules their type. */
export function defineRule(rule: Rule): Rule {
  return rule;
}

/** An expected failure inside a rule (bad data, missing column): shown without a stack. */
export class RuleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RuleError";
  }
}

/** First path of a named input; throws a RuleError naming the input when it is absent. */
export function oneInput(ctx: RuleContext, name: string): string {
  const list = ctx.inputs[name];
  if (!list || list.length === 0) throw new RuleError(`rule input "${name}" is missing`);
  return list[0]!;
}
