/**
 * The scheduler's half of `siblings:` (src/engine/siblings.ts): which siblings of an action are
 * finished when it starts, and their recorded outputs as InputFiles (digests from the state
 * index, directory trees from the action records), so every host ships them like inputs.
 *
 * Finished = settled this build (or outside this build's request) with a final record whose
 * outputs are on disk as recorded. A provisional sibling (a pruned trial, or a `final_after`
 * one still open) is not finished: its result is itself a guess.
 */
import type { ActionNode } from "./graph-types.js";
import type { ActionSpec, InputFile } from "./hosts/host.js";
import type { Checker } from "./plan.js";
import type { ActionState, OutputState } from "./cache/state-index.js";
import type { SiblingFiles } from "./siblings.js";

/**
 * `spec` with the finished siblings of `node` (unchanged for a target without `siblings:`).
 * `settled(id)`: whether the scheduler is done with that sibling in this build (true for one
 * outside the build's request).
 */
export function withSiblings(spec: ActionSpec, node: ActionNode, checker: Checker, settled: (id: string) => boolean): ActionSpec {
  const s = node.siblings;
  if (!s) return spec;
  const finished: SiblingFiles[] = [];
  for (const id of s.group) {
    if (id === node.id || !settled(id)) continue;
    const files = finishedOutputs(id, checker);
    if (files) finished.push({ id, partition: checker.graph.actions.get(id)!.partition, outputs: files });
  }
  return { ...spec, siblings: { axis: s.axis, options: s.options, finished } };
}

/**
 * Each record's answer, once: a state object is replaced whenever its action records again, so
 * a sweep of n trials checks each sibling's outputs once per record, not n times.
 */
const memo = new WeakMap<object, Record<string, InputFile> | null>();

/** The recorded outputs of a finished sibling, or undefined when it is not finished. */
function finishedOutputs(id: string, checker: Checker): Record<string, InputFile> | undefined {
  const st = checker.state.actions.get(id);
  if (!st) return undefined;
  let got = memo.get(st);
  if (got === undefined) memo.set(st, (got = checkedOutputs(id, st, checker) ?? null));
  return got ?? undefined;
}

/** The outputs of a final record, if every one is on disk as recorded. */
function checkedOutputs(id: string, st: ActionState, checker: Checker): Record<string, InputFile> | undefined {
  if (checker.notFinal(checker.graph.actions.get(id)!, st)) return undefined;
  const out: Record<string, InputFile> = {};
  for (const [name, o] of Object.entries(st.o)) {
    if (checker.checkOutput(o)) return undefined; // changed on disk since: not its recorded result
    const tree = o.t ? checker.recordedTree(id, o.p, o.d) : undefined;
    if (o.t && !tree) return undefined;
    out[name] = { path: o.p, digest: o.d, size: o.z, ...(tree ? { tree } : {}) };
  }
  return out;
}

