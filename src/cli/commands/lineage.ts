/**
 * `dagbuild lineage <path|target|action> [--depth N] [--json | --openlineage]`: the chain of
 * recorded actions that produced an artifact: per action its params, rule digest, host,
 * duration and exact inputs (paths, digests, producing partitions). Reads the state index,
 * the action records and the loaded graph only (and, for a `retrain_every` target, the
 * Checker's decision whether its cadence holds it): runs nothing, takes no lock.
 */
import { basename } from "node:path";
import { parseArgs, UsageError } from "../args.js";
import { openSession } from "../session.js";
import { resolveArgs } from "../../engine/select.js";
import { collectLineage, producerOf } from "../../lineage/collect.js";
import { openLineageEvents, renderTree } from "../../lineage/render.js";
import { dirAware } from "../../engine/plan.js";
import type { Session } from "../session.js";
import type { RetrainHold } from "../../engine/retrain-hold.js";

export async function run(argv: string[]): Promise<number> {
  const o = parseArgs(argv, { depth: "value", openlineage: "bool" });
  if (o.positional.length !== 1) throw new UsageError("usage: dagbuild lineage <path|target|action> [--depth N] [--json | --openlineage]");
  let depth: number | undefined;
  if (o.extra.depth !== undefined) {
    depth = Number(o.extra.depth);
    if (!Number.isInteger(depth) || depth < 0) throw new UsageError(`--depth expects a non-negative integer, got "${o.extra.depth}"`);
  }
  const s = await openSession(o);
  if (typeof s === "number") return s;
  const artifact = o.positional[0]!.replace(/^\.\//, "").replace(/\/+$/, "");
  const byPath = producerOf(s.graph, artifact);
  const roots = byPath ? [byPath] : resolveArgs(s.graph, [artifact]).roots;
  if (!roots.length) {
    process.stderr.write(`dagbuild lineage: "${artifact}" is no output, target or action of ${s.graph.pipelineFile}\n`);
    return 2;
  }
  const l = collectLineage({ graph: s.graph, state: s.checker.state, ac: s.checker.ac, held: heldBy(s) }, artifact, roots, depth);
  if (o.extra.openlineage === "true") {
    for (const e of openLineageEvents(l, basename(s.graph.root))) process.stdout.write(JSON.stringify(e) + "\n");
  } else if (o.json) process.stdout.write(JSON.stringify(l, null, 2) + "\n");
  else process.stdout.write(renderTree(l));
  return l.actions.every((a) => a.status === "recorded") ? 0 : 1;
}

/** The hold of a `retrain_every` action against the recorded outputs of its inputs (undefined: not held). */
function heldBy(s: Session): (id: string) => RetrainHold | undefined {
  const lookup = dirAware(s.graph, (path) => {
    const producer = s.graph.producers.get(path);
    return producer ? s.checker.recordedOutput(producer, path) : undefined;
  });
  return (id) => {
    const node = s.graph.actions.get(id);
    if (node?.retrainEvery === undefined || !s.checker.state.actions.has(id)) return undefined;
    const d = s.checker.decide(node, lookup);
    return d.status === "held" ? d.hold : undefined;
  };
}
