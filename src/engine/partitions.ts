/**
 * Partition axes and the expansion of a target over them.
 *
 * An axis is a list of values or a span of weeks. Week partitions start on Monday 00:00 UTC
 * and end on the next Monday (exclusive), so `{week.end}` of one week is `{week.start}` of the
 * next one. Values are kept as parallel arrays (`ids`, `starts`, `ends`) so templates can pick
 * the array once when compiled and index it per partition without allocating.
 */
import { diag } from "./diagnostics.js";
import type { Diagnostic, Loc } from "./graph-types.js";
import type { SourceFile } from "./pipeline.js";
import { BAD_ID_CHARS, expandSweep, isSweepDecl, type SweepValue } from "./sweeps.js";

/** A declared partition axis with its values in order. */
export interface Axis {
  readonly name: string;
  readonly kind: "list" | "week" | "sweep";
  /** Partition ids, as they appear in action ids and `{axis}`. */
  readonly ids: readonly string[];
  /** Week axes: the Monday starting / the Monday ending each week (ISO dates). */
  readonly starts?: readonly string[];
  readonly ends?: readonly string[];
  /** Sweep axes: each param's value per trial, JSON-typed (`{axis.KEY}`; src/engine/sweeps.ts). */
  readonly values?: ReadonlyMap<string, readonly SweepValue[]>;
  /** A projection (`partition: [SWEEP.KEY]`): the sweep axis and key whose distinct values these are. */
  readonly projection?: { readonly of: Axis; readonly key: string };
  /** Where the axis is declared (its key). */
  readonly loc: Loc;
}

const DAY_MS = 86_400_000;

/** Parses `YYYY-MM-DD` as a UTC midnight timestamp; undefined for impossible dates. */
function parseDate(s: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return undefined;
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return isoDate(t) === s ? t : undefined;
}

/**
 * `YYYY-MM-DD` (midnight UTC) or `YYYY-MM-DDTHH:MM[:SS[.sss]]Z` → ms since the epoch (the
 * values `final_after` accepts); undefined for anything else, impossible dates included.
 */
export function parseUtcTime(text: string): number | undefined {
  const m = /^(\d{4}-\d{2}-\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?Z)?$/.exec(text.trim());
  const day = m ? parseDate(m[1]!) : undefined;
  if (day === undefined) return undefined;
  const [h, mi, s] = [m![2], m![3], m![4]].map((x) => (x === undefined ? 0 : Number(x)));
  if (h! > 23 || mi! > 59 || s! > 59) return undefined;
  const ms = m![5] === undefined ? 0 : Number(m![5].padEnd(3, "0")); // ".5" is 500 ms
  return day + ((h! * 60 + mi!) * 60 + s!) * 1000 + ms;
}

/** `YYYY-MM-DD` of a UTC timestamp. */
export function isoDate(t: number): string {
  return new Date(t).toISOString().slice(0, 10);
}

/** ISO-8601 week id (`2025-W20`) of the week starting on the Monday `t`. */
export function isoWeekId(monday: number): string {
  // The ISO year of a week is the year of its Thursday.
  const thursday = new Date(monday + 3 * DAY_MS);
  const year = thursday.getUTCFullYear();
  const week = Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / (7 * DAY_MS)) + 1;
  return `${year}-W${String(week).padStart(2, "0")}`;
}

/**
 * Builds the axes of `axes:`, pushing located diagnostics for bad spans (an impossible date,
 * a bound that is not a Monday, an end before the start). Bad axes are left out.
 */
export function buildAxes(src: SourceFile, decl: Record<string, unknown>, diags: Diagnostic[]): Map<string, Axis> {
  const axes = new Map<string, Axis>();
  for (const [name, value] of Object.entries(decl)) {
    const loc = src.loc(["axes", name], true);
    if (Array.isArray(value)) {
      const ids = value.map(String);
      const seen = new Set<string>();
      let ok = true;
      ids.forEach((id, i) => {
        if (seen.has(id)) {
          diags.push(diag("schema", `axis \`${name}\` lists \`${id}\` twice`, src.loc(["axes", name, i])));
          ok = false;
        }
        seen.add(id);
      });
      if (ok) axes.set(name, { name, kind: "list", ids, loc });
      continue;
    }
    if (isSweepDecl(value)) {
      const sw = expandSweep(src, name, value as Record<string, unknown>, diags);
      if (sw) axes.set(name, { name, kind: "sweep", ids: sw.ids, values: sw.values, loc });
      continue;
    }
    const span = value as { span: [string, string]; format?: "date" | "iso" };
    const bounds: number[] = [];
    span.span.forEach((s, i) => {
      const at = src.loc(["axes", name, "span", i]);
      const t = parseDate(s);
      if (t === undefined) {
        diags.push(diag("schema", `\`${s}\` is not a valid date (YYYY-MM-DD)`, at));
      } else if (new Date(t).getUTCDay() !== 1) {
        const back = (new Date(t).getUTCDay() + 6) % 7;
        diags.push(
          diag(
            "schema",
            `week span ${i === 0 ? "start" : "end"} ${s} is not a Monday (weeks start Monday 00:00 UTC); ` +
              `the Monday before is ${isoDate(t - back * DAY_MS)}`,
            at,
          ),
        );
      } else bounds.push(t);
    });
    if (bounds.length !== 2) continue;
    const [first, last] = bounds as [number, number];
    if (last < first) {
      diags.push(diag("schema", `week span ends (${span.span[1]}) before it starts (${span.span[0]})`, src.loc(["axes", name, "span", 1])));
      continue;
    }
    const ids: string[] = [];
    const starts: string[] = [];
    const ends: string[] = [];
    for (let t = first; t <= last; t += 7 * DAY_MS) {
      const start = isoDate(t);
      starts.push(start);
      ends.push(isoDate(t + 7 * DAY_MS));
      ids.push(span.format === "iso" ? isoWeekId(t) : start);
    }
    axes.set(name, { name, kind: "week", ids, starts, ends, loc });
  }
  return axes;
}

const projections = new WeakMap<Axis, Map<string, Axis | string>>();

/**
 * The axis a `partition:` entry names: a declared axis, or `SWEEP.KEY`, the distinct values of
 * KEY among the trials of sweep axis SWEEP, in first-trial order (issue 13). A target
 * partitioned by a projection (a sweep's training data per horizon) has one action per value,
 * and `{SWEEP.KEY}` in its templates is that value (templates.ts), so each trial's
 * `{SWEEP.KEY}` dep names one of its outputs and a value added to the sweep adds its partition.
 * The projection is made once per axis and key: every target partitioned by it shares the
 * same Axis, as they share a declared one. Returns undefined for an unknown axis and a message
 * for a projection that cannot be one.
 */
export function partitionAxis(entry: string, axes: ReadonlyMap<string, Axis>): Axis | string | undefined {
  const dot = entry.indexOf(".");
  if (dot < 0) return axes.get(entry);
  const [name, key] = [entry.slice(0, dot), entry.slice(dot + 1)];
  const of = axes.get(name);
  if (!of) return undefined;
  let memo = projections.get(of);
  if (!memo) projections.set(of, (memo = new Map()));
  let p = memo.get(key);
  if (p === undefined) memo.set(key, (p = projectSweep(of, key)));
  return p;
}

/** The projection of sweep axis `of` on `key`, or why there is none. */
function projectSweep(of: Axis, key: string): Axis | string {
  if (of.kind !== "sweep") return `\`${of.name}.${key}\`: \`${of.name}\` is a ${of.kind} axis; only a sweep axis has keys to project on`;
  const all = of.values!.get(key);
  if (!all) return `\`${of.name}.${key}\`: sweep axis \`${of.name}\` has no param \`${key}\` (params: ${[...of.values!.keys()].join(", ")})`;
  const values: SweepValue[] = [];
  const seen = new Map<string, SweepValue>();
  for (const v of all) {
    const id = String(v);
    const prev = seen.get(id);
    if (prev === undefined) {
      if (BAD_ID_CHARS.test(id) || /^\.+$/.test(id)) return `\`${of.name}.${key}\`: value ${JSON.stringify(v)} cannot be a partition id (no spaces or any of , = [ ] { } / \\ * ?, not . or ..)`;
      seen.set(id, v);
      values.push(v);
    } else if (prev !== v) return `\`${of.name}.${key}\`: values ${JSON.stringify(prev)} and ${JSON.stringify(v)} print alike, so they cannot be told apart as partitions`;
  }
  return { name: `${of.name}.${key}`, kind: "list", ids: values.map(String), values: new Map([[key, values]]), projection: { of, key }, loc: of.loc };
}

/**
 * Calls `fn` once per partition of the product of `axes` (first axis outermost), with the
 * value indexes. The index array is reused between calls: copy it to keep it.
 */
export function forEachPartition(axes: readonly Axis[], fn: (idx: Int32Array) => void): void {
  const n = axes.length;
  const idx = new Int32Array(n);
  if (n === 0) {
    fn(idx);
    return;
  }
  for (const a of axes) if (a.ids.length === 0) return;
  for (;;) {
    fn(idx);
    let k = n - 1;
    while (k >= 0) {
      idx[k]!++;
      if (idx[k]! < axes[k]!.ids.length) break;
      idx[k] = 0;
      k--;
    }
    if (k < 0) return;
  }
}


/** `target` or `target[axis=value,...]`, axes in the target's partition order. */
export function actionId(target: string, axes: readonly Axis[], idx: ArrayLike<number>): string {
  if (axes.length === 0) return target;
  let s = target + "[";
  for (let i = 0; i < axes.length; i++) {
    if (i > 0) s += ",";
    s += axes[i]!.name + "=" + axes[i]!.ids[idx[i]!]!;
  }
  return s + "]";
}
