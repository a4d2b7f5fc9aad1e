/**
 * The retraining cadence (`retrain_every: 4w` on a model target): between retrains, the
 * existing model scores the new week. One decision of the Checker: an action of such a target
 * is **held** when it is stale only because an input changed (`input-changed`: its rule,
 * params, tools, declared outputs and input names are those of its record; not `--force`),
 * its recorded outputs are intact on disk, and the span grew by fewer than N weeks since that
 * record was built, counted from the refreshes of `cache/refresh.json` after the record's
 * `built_at`, and the producers of its inputs kept the rule, params and tools recorded in its
 * record (`upstream`). At least one such refresh is required: an input change that no refresh explains
 * (edited training params upstream, say) rebuilds as usual. A held action keeps its recorded
 * outputs and its state-index line; its consumers read the recorded digests, so they rebuild
 * against the existing model. On the Nth week the hold lapses and the normal reason applies.
 *
 * The planner never runs anything: this reads the state index, the action records, the
 * outputs' stats and the refresh history the Checker was given (src/cli/session.ts).
 */
import type { ActionNode } from "./graph-types.js";
import type { ActionState } from "./cache/state-index.js";
import type { ActionRecord } from "./cache/action-cache.js";
import { formatReason, type KeyMaterial, type Reason } from "./fingerprint.js";
import { canonicalJson } from "./hash.js";
import type { Checker, Decision, OutputLookup } from "./plan.js";

/** A refresh of the span as the cadence counts it (an entry of `cache/refresh.json`). */
export interface RefreshMark {
  /** ISO time of the refresh. */
  readonly at: string;
  /** Weeks it added to the span. */
  readonly weeks: number;
}

/** Why an action is held: its cadence and how far the span moved since its record was built. */
export interface RetrainHold {
  /** `retrain_every` in weeks. */
  readonly every: number;
  /** Weeks added to the span by the refreshes after `builtAt` (fewer than `every`). */
  readonly weeksAdded: number;
  /** How many refreshes that was (at least 1). */
  readonly refreshes: number;
  /** `built_at` of the record whose outputs stay. */
  readonly builtAt: string;
}

/** Weeks of span growth left before the hold lapses and the action retrains. */
export const dueInWeeks = (h: RetrainHold): number => h.every - h.weeksAdded;

/** One-line rendering: `input-changed output/ml_training; retrain due in 2 weeks`. */
export function formatHold(reason: Reason, h: RetrainHold): string {
  const n = dueInWeeks(h);
  return `${formatReason(reason)}; retrain due in ${n} week${n === 1 ? "" : "s"}`;
}

/** The refreshes strictly after `builtAt` (an ISO time) and the weeks they added. */
export function addedSince(history: readonly RefreshMark[], builtAt: string): { refreshes: number; weeks: number } {
  const t = Date.parse(builtAt);
  let refreshes = 0;
  let weeks = 0;
  for (const r of history) {
    // An unparsable time counts as no refresh: it cannot explain anything.
    if (!(Date.parse(r.at) > t) || !Number.isInteger(r.weeks) || r.weeks < 1) continue;
    refreshes++;
    weeks += r.weeks;
  }
  return { refreshes, weeks };
}

/** Whether two key materials differ in their inputs only: same key schema, rule, params, tools, outputs and input names. */
export function onlyInputsDiffer(old: KeyMaterial, cur: KeyMaterial): boolean {
  const fixed = (m: KeyMaterial) => canonicalJson({ v: m.v, rule: m.rule, params: m.params, tools: m.tools, outputs: m.outputs, names: Object.keys(m.inputs).sort() });
  return fixed(old) === fixed(cur);
}

/**
 * The cadence verdict alone: the hold when `every` is set, `cur` differs from the record's
 * material in its inputs only, and the span grew by 1..every-1 weeks since `builtAt`.
 */
export function cadenceHold(every: number | undefined, old: { material: KeyMaterial; built_at: string }, cur: KeyMaterial, history: readonly RefreshMark[]): RetrainHold | undefined {
  if (every === undefined || !onlyInputsDiffer(old.material, cur)) return undefined;
  const added = addedSince(history, old.built_at);
  if (added.refreshes === 0 || added.weeks >= every) return undefined;
  return { every, weeksAdded: added.weeks, refreshes: added.refreshes, builtAt: old.built_at };
}

/**
 * Per dep name, the sorted static digests of the producers of its output inputs (recorded in a
 * `retrain_every` action's record as `upstream`). Source files are not here: their digests are
 * in the key material, compared as they are.
 */
export function upstreamStatics(checker: Checker, node: ActionNode): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const name of Object.keys(node.deps).sort()) {
    const set = new Set<string>();
    for (const d of node.deps[name]!) if (d.kind === "output") set.add(checker.staticDigest(checker.graph.actions.get(d.producer)!));
    out[name] = [...set].sort();
  }
  return out;
}

/**
 * Whether the input change is one a refresh explains: every source input has its recorded
 * digest, and every producer of an output input keeps its recorded rule, params and tools (it
 * only reran on more weeks). An upstream whose rule or params changed (a new label horizon, a
 * feature-builder edit) is not the cadence's to hold. A record without `upstream` holds nothing.
 */
export function upstreamUnchanged(checker: Checker, node: ActionNode, old: ActionRecord, cur: KeyMaterial): boolean {
  if (!old.upstream || canonicalJson(old.upstream) !== canonicalJson(upstreamStatics(checker, node))) return false;
  for (const name of Object.keys(node.deps)) {
    const sources = new Set(node.deps[name]!.filter((d) => d.kind === "source").map((d) => d.path));
    if (sources.size === 0) continue;
    const pick = (m: KeyMaterial) => canonicalJson((m.inputs[name] ?? []).filter(([p]) => sources.has(p)));
    if (pick(old.material) !== pick(cur)) return false;
  }
  return true;
}

/**
 * The Checker's hold decision for `node`, stale by `reason` against its state `prev` (not
 * forced: the caller decided that first), or undefined when it rebuilds as usual. Inputs not
 * known yet (a dry run, an upstream that will run) are input changes like any other.
 */
export function heldDecision(checker: Checker, node: ActionNode, prev: ActionState, reason: Reason, lookup: OutputLookup): (Decision & { status: "held" }) | undefined {
  if (node.retrainEvery === undefined || reason.kind !== "input-changed") return undefined;
  const old = checker.ac.get(prev.k);
  if (!old) return undefined;
  const m = checker.material(node, (p) => lookup(p) ?? { digest: "(pending)", size: 0 });
  if (!("material" in m)) return undefined; // a source vanished: running it reports that
  const hold = cadenceHold(node.retrainEvery, old, m.material, checker.refreshHistory());
  if (!hold || !upstreamUnchanged(checker, node, old, m.material) || !outputsIntact(checker, node, prev) || checker.notFinal(node, prev)) return undefined;
  return { status: "held", key: prev.k, reason, hold };
}

/** Every recorded output is declared and unchanged on disk, and every declared one is recorded. */
function outputsIntact(checker: Checker, node: ActionNode, prev: ActionState): boolean {
  for (const name in node.outputs) if (!prev.o[name]) return false;
  for (const name in prev.o) if (!node.outputs[name] || checker.checkOutput(prev.o[name]!)) return false;
  return true;
}
