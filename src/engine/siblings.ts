/**
 * Siblings: the partitions of one target that differ only in one axis (the trials of a sweep),
 * and what one of them may learn of the others' results (issue 13, pruning).
 *
 *   sweep_lstm:
 *     partition: [lstm_trial]
 *     siblings: { axis: lstm_trial, options: { prune_after: 2, min_finished: 3 } }
 *
 * When such an action starts, the scheduler hands it the recorded outputs of its finished
 * siblings (src/engine/sibling-inputs.ts): shipped like inputs (the ActionSpec's `siblings`,
 * by digest, so an SSH host materializes them too) but outside its key. That is sound only
 * because a rule that lets them change its outcome says so with `ctx.notFinal(reason)`: the
 * outcome is then recorded as provisional (reason `not-final (<reason>)`), rerun on every
 * build and never restored. An outcome that did not depend on them (a trial that was not
 * pruned) is final and cached like any other. `options` go to the rule as
 * `ctx.siblings.options`, also outside the key: they can only change a provisional outcome.
 *
 * This module holds the load-time half (parse, group) and the spec's shape; it never runs anything.
 */
import { join } from "node:path";
import { diag } from "./diagnostics.js";
import type { ActionNode, Diagnostic, Loc } from "./graph-types.js";
import type { ActionSpec, InputFile } from "./hosts/host.js";
import type { RuleSiblings } from "./rule.js";

/** A target's `siblings:` as declared. */
export interface SiblingsDecl {
  /** The axis whose other values make the siblings (one of the target's partition axes). */
  readonly axis: string;
  /** Handed to the rule as `ctx.siblings.options`; never part of a key. */
  readonly options: Readonly<Record<string, unknown>>;
}

/** A node's siblings: the declaration plus the ids of its group. */
export interface NodeSiblings extends SiblingsDecl {
  /**
   * Action ids of the same target with the same values of every other axis, itself included,
   * in declaration order. One array shared by the whole group (no n² lists).
   */
  readonly group: readonly string[];
}

/** One finished sibling as shipped to an executor: its partition and its outputs by name. */
export interface SiblingFiles {
  readonly id: string;
  readonly partition: Readonly<Record<string, string>>;
  readonly outputs: Readonly<Record<string, InputFile>>;
}

/** ActionSpec `siblings`: the finished siblings when the action started (outside the key). */
export interface SpecSiblings {
  readonly axis: string;
  readonly options: Readonly<Record<string, unknown>>;
  /** In declaration order. */
  readonly finished: readonly SiblingFiles[];
}

/**
 * The `siblings:` of a target (schema-checked shape), or undefined. The axis must be one of
 * the target's partition axes; problems are pushed as located diagnostics.
 */
export function parseSiblings(target: string, v: unknown, partition: readonly string[], at: (...p: string[]) => Loc, diags: Diagnostic[]): SiblingsDecl | undefined {
  if (v === undefined) return undefined;
  const d = v as { axis?: unknown; options?: unknown };
  if (typeof d.axis !== "string" || !partition.includes(d.axis)) {
    const known = partition.length ? partition.join(", ") : "none: the target has no partition";
    diags.push(diag("schema", `siblings of \`${target}\`: axis \`${String(d.axis)}\` is not one of the target's partition axes (${known})`, at("siblings", "axis")));
    return undefined;
  }
  return { axis: d.axis, options: Object.freeze({ ...((d.options ?? {}) as Record<string, unknown>) }) };
}

/** Sets `siblings` on every node of a target (its ids in declaration order). */
export function groupSiblings(decl: SiblingsDecl, ids: readonly string[], actions: ReadonlyMap<string, ActionNode>): void {
  const groups = new Map<string, string[]>();
  for (const id of ids) {
    const p = actions.get(id)!.partition;
    const rest = JSON.stringify(Object.keys(p).filter((k) => k !== decl.axis).map((k) => p[k]));
    let g = groups.get(rest);
    if (!g) groups.set(rest, (g = []));
    g.push(id);
  }
  for (const g of groups.values()) {
    const frozen = Object.freeze(g);
    for (const id of g) (actions.get(id) as { siblings?: NodeSiblings }).siblings = { ...decl, group: frozen };
  }
}

/** Every input file an executor must have: the declared inputs, then the siblings' outputs. */
export function shippedInputs(spec: ActionSpec): (readonly InputFile[])[] {
  const lists: (readonly InputFile[])[] = Object.values(spec.inputs);
  for (const s of spec.siblings?.finished ?? []) lists.push(Object.values(s.outputs));
  return lists;
}

/** `ctx.siblings` of a spec's siblings: output paths made absolute under `root`. */
export function ruleSiblings(s: SpecSiblings, root: string): RuleSiblings {
  return {
    axis: s.axis,
    options: s.options,
    finished: s.finished.map((f) => ({ id: f.id, partition: f.partition, outputs: Object.fromEntries(Object.entries(f.outputs).map(([name, file]) => [name, join(root, file.path)])) })),
  };
}
