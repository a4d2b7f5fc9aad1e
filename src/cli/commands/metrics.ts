/**
 * `dagbuild metrics [targets...] [--sort COL] [--asc] [--columns A,B] [--only-changed] [--json]`
 * `dagbuild metrics diff [REV] [targets...] [...same flags]`
 *
 * One table of every model's and sweep trial's metrics with their params (src/ml/sweeps/
 * metrics-table.ts), sorted by a metric (default val_auc, best first); `diff` puts each value
 * next to the one of an earlier build: REV `@prev` (default: each action's previous action
 * record in cache/ac), `@<ISO time>` (the last record before it) or a git revision. Reads
 * files and records only: it never builds, hashes or takes the workspace lock.
 */
import { parseArgs, UsageError } from "../args.js";
import { openSession } from "../session.js";
import { resolveArgs } from "../../engine/select.js";
import {
  chooseColumns, collectRows, DEFAULT_METRICS, diffLines, earlierValues, formatTable, jsonRows, metricsTable,
  METRICS_JSON_VERSION, MetricsRevError, sortRows, type Stores,
} from "../../ml/sweeps/metrics-table.js";

const FLAGS = { sort: "value", asc: "bool", columns: "value", "only-changed": "bool" } as const;

export async function run(argv: string[]): Promise<number> {
  const o = parseArgs(argv, FLAGS);
  const isDiff = o.positional[0] === "diff";
  const words = isDiff ? o.positional.slice(1) : o.positional;
  const s = await openSession(o);
  if (typeof s === "number") return s;
  // diff: the first word is REV unless it names a target (then REV is @prev).
  let rev = "@prev";
  let targets = words;
  if (isDiff && words.length && resolveArgs(s.graph, [words[0]!]).unknown.length) [rev, ...targets] = words as [string, ...string[]];
  let ids: string[] | undefined;
  if (targets.length) {
    const r = resolveArgs(s.graph, targets);
    if (r.unknown.length) {
      process.stderr.write(`dagbuild metrics: unknown target ${r.unknown.map((u) => `"${u}"`).join(", ")}\n`);
      return 2;
    }
    ids = r.roots;
  }
  const stores: Stores = { root: s.graph.root, ac: s.paths.ac, cas: s.paths.cas, logs: s.paths.logs, state: s.checker.state };
  const columns = o.extra.columns?.split(",").map((c) => c.trim()).filter(Boolean);
  const onlyChanged = o.extra["only-changed"] === "true";
  const sortKey = o.extra.sort ?? "val_auc";
  if (!sortKey) throw new UsageError("--sort needs a column name");
  const rows = sortRows(collectRows(s.graph, stores, ids), sortKey, o.extra.asc === "true" ? true : undefined);

  if (!isDiff) {
    const cols = chooseColumns(rows, columns, onlyChanged);
    if (o.json) process.stdout.write(JSON.stringify({ version: METRICS_JSON_VERSION, sort: sortKey, columns: cols, rows: jsonRows(rows, cols) }, null, 2) + "\n");
    else if (rows.length === 0) process.stdout.write("no model metrics (no metrics.json under the selected targets' outputs)\n");
    else process.stdout.write(metricsTable(rows, cols));
    return 0;
  }
  let earlier;
  try {
    earlier = earlierValues(rows, rev, stores);
  } catch (e) {
    if (!(e instanceof MetricsRevError)) throw e;
    process.stderr.write(`dagbuild metrics diff: ${e.message}\n`);
    return 2;
  }
  const lines = diffLines(rows, earlier, columns?.length ? columns : DEFAULT_METRICS, onlyChanged);
  if (o.json) {
    const from = Object.fromEntries([...earlier].map(([id, e]) => [id, e.from]));
    process.stdout.write(JSON.stringify({ version: METRICS_JSON_VERSION, rev, from, lines }, null, 2) + "\n");
    return 0;
  }
  if (lines.length === 0) {
    process.stdout.write(`no ${onlyChanged ? "changed " : ""}metrics against ${rev}\n`);
    return 0;
  }
  process.stdout.write(formatTable(["model", "column", "old", "new", "change"], lines.map((l) => [l.id, l.column, l.old, l.new, l.change])));
  return 0;
}
