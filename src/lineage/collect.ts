/**
 * Lineage: the chain of recorded actions that produced an artifact, joined up from what the
 * workspace already holds (the state index, the action records, the loaded graph). Nothing
 * is run, hashed or written: an input's producer is found by path in the graph, and the
 * producer's record is the one the state index names now. When that record's output digest is
 * not the digest the consumer was built from, the link is marked `superseded` (the producer
 * was rebuilt since: the consumer is stale) instead of being silently joined, unless the
 * consumer is held by its `retrain_every` cadence (then it says so: `held`).
 *
 * Format version 1 (`--json`): `{ version, artifact, roots, depth, actions: [...], truncated }`,
 * actions in breadth-first order from the roots, each once.
 */
import type { Graph } from "../engine/graph-types.js";
import type { StateIndex } from "../engine/cache/state-index.js";
import type { ActionCache, ActionRecord } from "../engine/cache/action-cache.js";
import type { RetrainHold } from "../engine/retrain-hold.js";

export const LINEAGE_VERSION = 1;

/** One input of a recorded action, with where it came from. */
export interface LineageInput {
  /** The dep name it was declared under. */
  readonly name: string;
  readonly path: string;
  /** The digest the action was built from (from its record). */
  readonly digest: string;
  /** The producing action (absent for a source file). */
  readonly producer?: string;
  /** The producer's partition (axis → value), e.g. `{ instrument: "EUR_USD", candle_week: "2025-05-12" }`. */
  readonly partition?: Readonly<Record<string, string>>;
  /** The producer's current record no longer has this digest for the path: it was rebuilt since. */
  readonly superseded?: boolean;
}

/** One action in the chain. `status` says whether a record backs it. */
export interface LineageAction {
  readonly id: string;
  readonly target: string;
  readonly partition: Readonly<Record<string, string>>;
  readonly status: "recorded" | "never-built" | "record-missing";
  readonly key?: string;
  readonly rule?: { readonly kind: string; readonly module?: string; readonly command?: string; readonly hash: string };
  readonly params?: Readonly<Record<string, unknown>>;
  readonly tools?: Readonly<Record<string, string>>;
  readonly host?: string;
  readonly duration_ms?: number;
  readonly built_at?: string;
  readonly outputs: readonly { readonly name: string; readonly path: string; readonly digest: string; readonly size: number; readonly dir: boolean }[];
  readonly inputs: readonly LineageInput[];
  /** Axis → sorted distinct values over every produced input: the input partitions at a glance. */
  readonly input_partitions: Readonly<Record<string, readonly string[]>>;
  /** Producers of its inputs (distinct, in input order): the edges of the chain. */
  readonly parents: readonly string[];
  /** 0 for the artifact's producer, 1 for its parents, ... */
  readonly depth: number;
  /** Held by its `retrain_every` cadence: its superseded inputs are expected, it is not stale. */
  readonly held?: RetrainHold;
}

export interface Lineage {
  readonly version: typeof LINEAGE_VERSION;
  readonly artifact: string;
  readonly roots: readonly string[];
  /** The `--depth` limit (undefined = unlimited). */
  readonly depth?: number;
  readonly actions: readonly LineageAction[];
  /** Some parents were not followed because of `--depth`. */
  readonly truncated: boolean;
}

/** What lineage reads: the graph and the workspace's records. */
export interface LineageSources {
  readonly graph: Graph;
  readonly state: StateIndex;
  readonly ac: ActionCache;
  /** Whether the Checker holds an action by its retraining cadence (absent: never asked). */
  readonly held?: (id: string) => RetrainHold | undefined;
}

/** The producer of `path`: itself an output, or a file inside a directory output. */
export function producerOf(graph: Graph, path: string): string | undefined {
  const exact = graph.producers.get(path);
  if (exact) return exact;
  for (let i = path.lastIndexOf("/"); i > 0; i = path.lastIndexOf("/", i - 1)) {
    const p = graph.producers.get(path.slice(0, i));
    if (p) return p;
  }
  return undefined;
}

/** The digest the producer's current record holds for `path` (a directory output for a path inside it). */
function currentDigest(src: LineageSources, producer: string, path: string): string | undefined {
  const st = src.state.actions.get(producer);
  if (!st) return undefined;
  for (const o of Object.values(st.o)) if (o.p === path || path.startsWith(`${o.p}/`)) return o.d;
  return undefined;
}

function describeAction(src: LineageSources, id: string, depth: number): LineageAction {
  const node = src.graph.actions.get(id)!;
  const st = src.state.actions.get(id);
  const rec: ActionRecord | undefined = st ? src.ac.get(st.k) : undefined;
  const base = { id, target: node.target, partition: node.partition, depth };
  if (!st || !rec) {
    // Without a record the declared deps are all we know: follow them, with no digests.
    const parents = [...new Set(Object.values(node.deps).flatMap((ds) => ds.flatMap((d) => (d.kind === "output" ? [d.producer] : []))))];
    return { ...base, status: st ? "record-missing" : "never-built", outputs: [], inputs: [], input_partitions: {}, parents };
  }
  const inputs: LineageInput[] = [];
  const axes = new Map<string, Set<string>>();
  for (const name of Object.keys(rec.material.inputs).sort()) {
    for (const [path, digest] of rec.material.inputs[name]!) {
      const producer = producerOf(src.graph, path);
      if (!producer) {
        inputs.push({ name, path, digest });
        continue;
      }
      const partition = src.graph.actions.get(producer)!.partition;
      for (const [axis, value] of Object.entries(partition)) {
        let set = axes.get(axis);
        if (!set) axes.set(axis, (set = new Set()));
        set.add(value);
      }
      const now = currentDigest(src, producer, path);
      inputs.push({ name, path, digest, producer, partition, ...(now !== digest ? { superseded: true } : {}) });
    }
  }
  const input_partitions: Record<string, string[]> = {};
  for (const axis of [...axes.keys()].sort()) input_partitions[axis] = [...axes.get(axis)!].sort();
  const rule = rec.material.rule;
  const held = src.held?.(id);
  return {
    ...base,
    ...(held ? { held } : {}),
    status: "recorded",
    key: rec.key,
    rule: { kind: rule.kind, ...(rule.kind === "module" ? { module: rule.module } : { command: rule.command }), hash: rule.hash },
    params: rec.material.params,
    tools: rec.material.tools,
    host: rec.host,
    duration_ms: rec.duration_ms,
    built_at: rec.built_at,
    outputs: Object.keys(rec.outputs)
      .sort()
      .map((name) => {
        const o = rec.outputs[name]!;
        return { name, path: o.path, digest: o.digest, size: o.size, dir: o.dir };
      }),
    inputs,
    input_partitions,
    parents: [...new Set(inputs.flatMap((i) => (i.producer ? [i.producer] : [])))],
  };
}

/**
 * The lineage of the actions `roots` (the producers of `artifact`), breadth first, each action
 * once however many consumers share it; `depth` 0 = the roots only.
 */
export function collectLineage(src: LineageSources, artifact: string, roots: readonly string[], depth?: number): Lineage {
  const seen = new Set<string>(roots);
  const actions: LineageAction[] = [];
  let frontier = [...roots];
  let truncated = false;
  for (let d = 0; frontier.length; d++) {
    const next: string[] = [];
    for (const id of frontier) {
      const a = describeAction(src, id, d);
      actions.push(a);
      if (depth !== undefined && d >= depth) {
        if (a.parents.length) truncated = true;
        continue;
      }
      for (const p of a.parents) {
        if (seen.has(p)) continue;
        seen.add(p);
        next.push(p);
      }
    }
    frontier = next;
  }
  return { version: LINEAGE_VERSION, artifact, roots, ...(depth !== undefined ? { depth } : {}), actions, truncated };
}
