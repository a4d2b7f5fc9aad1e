/**
 * Renders a Lineage: as a text tree (each action once; a shared ancestor met again is a
 * one-line reference to where it was printed) and as OpenLineage run events (one COMPLETE
 * RunEvent per recorded action, spec 2-0-2).
 */
import { createHash } from "node:crypto";
import type { Lineage, LineageAction, LineageInput } from "./collect.js";

const short = (d?: string) => (d ? d.slice(0, 12) : "(none)");

function seconds(ms?: number): string {
  if (ms === undefined) return "?";
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function partitionText(p: Readonly<Record<string, string>>): string {
  return Object.entries(p)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

function inputLine(i: LineageInput, held: boolean): string {
  const why = held ? "rebuilt since; this action is held by its retrain_every cadence" : "rebuilt since, this action is stale";
  const from = i.producer ? `  <- ${i.producer}${i.superseded ? ` (SUPERSEDED: ${why})` : ""}` : "  (source)";
  return `${i.name}: ${i.path}  ${short(i.digest)}${from}`;
}

/** Axis values as a short list: all of them when few, else first..last (n values). */
function valuesText(values: readonly string[]): string {
  return values.length <= 4 ? values.join(", ") : `${values[0]} .. ${values[values.length - 1]} (${values.length} values)`;
}

function detailLines(a: LineageAction): string[] {
  if (a.status !== "recorded") return [a.status === "never-built" ? "never built in this workspace" : "the state index names a key with no action record (cache/ac was trimmed?)"];
  const rule = a.rule!;
  const lines = [
    `rule: ${rule.kind === "module" ? rule.module : `run: ${rule.command}`}  (rule digest ${short(rule.hash)})`,
    `key: ${short(a.key)}  host: ${a.host}  duration: ${seconds(a.duration_ms)}  built: ${a.built_at}`,
    `params: ${JSON.stringify(a.params)}`,
  ];
  if (a.tools && Object.keys(a.tools).length) lines.push(`tools: ${Object.entries(a.tools).map(([k, v]) => `${k} ${v}`).join(", ")}`);
  for (const o of a.outputs) lines.push(`out ${o.name}: ${o.path}${o.dir ? "/" : ""}  ${short(o.digest)}  ${o.size} bytes`);
  const parts = Object.entries(a.input_partitions);
  if (parts.length) lines.push(`input partitions: ${parts.map(([axis, vs]) => `${axis}: ${valuesText(vs)}`).join("; ")}`);
  if (a.held) lines.push(`held: retrain_every ${a.held.every}w, ${a.held.weeksAdded} week${a.held.weeksAdded === 1 ? "" : "s"} added since this record was built; retrain due in ${a.held.every - a.held.weeksAdded} week${a.held.every - a.held.weeksAdded === 1 ? "" : "s"} (its inputs are those it was built from)`);
  for (const i of a.inputs) lines.push(`in ${inputLine(i, a.held !== undefined)}`);
  return lines;
}

/** The text tree: roots first, parents indented under their consumer. */
export function renderTree(l: Lineage): string {
  const byId = new Map(l.actions.map((a) => [a.id, a]));
  const printed = new Set<string>();
  const out: string[] = [`lineage of ${l.artifact}`];
  const walk = (id: string, prefix: string, last: boolean, top: boolean): void => {
    const a = byId.get(id);
    const branch = top ? "" : last ? "└─ " : "├─ ";
    const cont = top ? "" : last ? "   " : "│  ";
    if (!a) {
      out.push(`${prefix}${branch}${id}  (beyond --depth)`);
      return;
    }
    if (printed.has(id)) {
      out.push(`${prefix}${branch}${id}  (shown above)`);
      return;
    }
    printed.add(id);
    out.push(`${prefix}${branch}${id}${a.status === "recorded" ? "" : `  [${a.status}]`}`);
    const inner = prefix + cont;
    const kids = a.parents;
    for (const line of detailLines(a)) out.push(`${inner}${kids.length ? "│ " : "  "} ${line}`);
    kids.forEach((k, i) => walk(k, inner, i === kids.length - 1, false));
  };
  for (const r of l.roots) walk(r, "", true, true);
  if (l.truncated) out.push(`(chain cut at --depth ${l.depth})`);
  return out.join("\n") + "\n";
}

/** A stable UUID (version-4 layout) from an action key: the same run always has the same runId. */
export function runIdOf(key: string): string {
  const h = createHash("sha256").update(`dagbuild-run:${key}`).digest("hex");
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const PRODUCER = "https://github.com/dagbuild/dagbuild";
const SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
const FACET_SCHEMA = "https://openlineage.io/spec/facets/1-0-0/";

/**
 * One OpenLineage COMPLETE RunEvent per recorded action (namespace `dagbuild://<workspace>`
 * for jobs, `file` for datasets). Content digests ride in a custom `dagbuild_digest` dataset
 * facet; the rule, params, host and duration in a `dagbuild` run facet.
 */
export function openLineageEvents(l: Lineage, workspace: string): object[] {
  const ns = `dagbuild://${workspace}`;
  const events: object[] = [];
  for (const a of l.actions) {
    if (a.status !== "recorded") continue;
    const dataset = (path: string, digest: string) => ({
      namespace: "file",
      name: `${workspace}/${path}`,
      facets: { dagbuild_digest: { _producer: PRODUCER, _schemaURL: `${FACET_SCHEMA}DatasetFacet.json`, sha256: digest } },
    });
    events.push({
      eventType: "COMPLETE",
      eventTime: a.built_at,
      producer: PRODUCER,
      schemaURL: SCHEMA,
      run: {
        runId: runIdOf(a.key!),
        facets: {
          dagbuild: {
            _producer: PRODUCER,
            _schemaURL: `${FACET_SCHEMA}RunFacet.json`,
            key: a.key,
            rule: a.rule,
            params: a.params,
            host: a.host,
            duration_ms: a.duration_ms,
            partition: a.partition,
          },
        },
      },
      job: { namespace: ns, name: a.id },
      inputs: a.inputs.map((i) => dataset(i.path, i.digest)),
      outputs: a.outputs.map((o) => dataset(o.dir ? `${o.path}/` : o.path, o.digest)),
    });
  }
  return events;
}
