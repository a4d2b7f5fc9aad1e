/**
 * Sweep axes: a grid or a seeded random search over params, expanded at load time into an
 * ordinary partition axis whose ids are derived from the param values (issue 13).
 *
 *   axes:
 *     lstm_trial: { grid: { units: [8, 16], lr: [0.001, 0.003] } }
 *     gru_trial:  { random: { n: 12, seed: 1, space: { units: [8, 16, 32], lr: { log_uniform: [0.0003, 0.01] } } } }
 *
 * A trial's id is a pure function of its values (keys sorted): `lr-0.001_units-8`. So a grown
 * grid keeps the ids (and the cached outputs) of its old trials, and reordering keys or values
 * changes nothing. Ids too long for a path, or with values that cannot appear in a partition
 * id, become `t-<12 hex of the sha256 of the values>`. A random search draws trial i from a
 * mulberry32 stream seeded by `seed`, so raising `n` keeps the first trials; continuous draws
 * are rounded to 4 significant digits (the value the rule sees is the rounded one).
 *
 * `{axis.KEY}` gives a trial's value of KEY to templates; a param that is exactly one such
 * reference keeps the value's JSON type (templates.ts `Slot.typed`). `partition: [axis.KEY]`
 * partitions a target by KEY's distinct values (partitions.ts `partitionAxis`): the training
 * data each horizon of a sweep needs, built once and read by every trial with that horizon.
 */
import { createHash } from "node:crypto";
import { diag } from "./diagnostics.js";
import type { Diagnostic } from "./graph-types.js";
import type { SourceFile } from "./pipeline.js";
import { mulberry32 } from "./prng.js";

/** A sweep value: a JSON scalar. */
export type SweepValue = string | number | boolean;

/** An expanded sweep: trial ids in order and each key's value per trial. */
export interface ExpandedSweep {
  readonly kind: "grid" | "random";
  readonly ids: readonly string[];
  /** key → value of trial i (keys sorted). */
  readonly values: ReadonlyMap<string, readonly SweepValue[]>;
}

/** Template props an axis already has: a sweep key may not shadow them. */
const RESERVED = new Set(["start", "end", "first", "last", "span", "params"]);
/** Longest readable id; longer ones are hashed. */
const MAX_ID = 96;
/** Characters a partition id cannot hold (docs/pipeline-format.md "Names and values"). */
export const BAD_ID_CHARS = /[\s,=[\]{}/\\*?]/;
/** A random search gives up after this many draws per requested trial (duplicates). */
const DRAWS_PER_TRIAL = 100;

/** True for an `axes:` value that declares a sweep (`{grid: ...}` or `{random: ...}`). */
export function isSweepDecl(v: unknown): v is { grid: unknown } | { random: unknown } {
  return typeof v === "object" && v !== null && !Array.isArray(v) && ("grid" in v || "random" in v);
}

/** The id of one trial from its values (keys in any order). */
export function trialId(values: Readonly<Record<string, SweepValue>>): string {
  const keys = Object.keys(values).sort();
  const readable = keys.map((k) => `${k}-${String(values[k])}`).join("_");
  if (readable.length <= MAX_ID && !BAD_ID_CHARS.test(readable) && readable !== "." && readable !== "..") return readable;
  const canon = JSON.stringify(keys.map((k) => [k, values[k]]));
  return `t-${createHash("sha256").update(canon).digest("hex").slice(0, 12)}`;
}

const isScalar = (v: unknown): v is SweepValue => typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v));

/** One dimension of a random space: draws a value from u ∈ [0, 1). */
type Dim = (u: number) => SweepValue;

/**
 * Expands the sweep declared at `axes.<name>` of `src`. Problems are pushed as located
 * `schema` diagnostics; the result is undefined when there are any.
 */
export function expandSweep(src: SourceFile, name: string, decl: Record<string, unknown>, diags: Diagnostic[]): ExpandedSweep | undefined {
  const before = diags.length;
  const at = (...p: (string | number)[]) => src.loc(["axes", name, ...p]);
  const keyAt = (...p: (string | number)[]) => src.loc(["axes", name, ...p], true);
  const checkKey = (k: string, path: (string | number)[]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) diags.push(diag("schema", `sweep \`${name}\`: key \`${k}\` is not an identifier (templates name it as \`{${name}.KEY}\`)`, keyAt(...path)));
    else if (RESERVED.has(k)) diags.push(diag("schema", `sweep \`${name}\`: key \`${k}\` is reserved (axis properties: ${[...RESERVED].join(", ")})`, keyAt(...path)));
  };
  if ("grid" in decl && "random" in decl) {
    diags.push(diag("schema", `sweep \`${name}\` declares both \`grid\` and \`random\`; keep one`, keyAt("random")));
    return undefined;
  }
  const rows: Record<string, SweepValue>[] = [];
  let kind: "grid" | "random";
  let keys: string[];
  if ("grid" in decl) {
    kind = "grid";
    const grid = decl.grid;
    if (typeof grid !== "object" || grid === null || Array.isArray(grid) || Object.keys(grid).length === 0) {
      diags.push(diag("schema", `sweep \`${name}\`: \`grid\` must map each param to a non-empty list of values`, at("grid")));
      return undefined;
    }
    keys = Object.keys(grid).sort();
    const lists: SweepValue[][] = [];
    for (const k of keys) {
      checkKey(k, ["grid", k]);
      const vs = (grid as Record<string, unknown>)[k];
      if (!Array.isArray(vs) || vs.length === 0) {
        diags.push(diag("schema", `sweep \`${name}\`: grid \`${k}\` must be a non-empty list of values`, at("grid", k)));
        continue;
      }
      const seen = new Set<string>();
      vs.forEach((v, i) => {
        if (!isScalar(v)) diags.push(diag("schema", `sweep \`${name}\`: grid \`${k}\`[${i}] must be a string, a finite number or a boolean`, at("grid", k, i)));
        else if (seen.has(JSON.stringify(v))) diags.push(diag("schema", `sweep \`${name}\`: grid \`${k}\` lists ${JSON.stringify(v)} twice`, at("grid", k, i)));
        seen.add(JSON.stringify(v));
      });
      lists.push(vs as SweepValue[]);
    }
    if (diags.length > before) return undefined;
    // Cartesian product, first key outermost (keys sorted, so declaration order is irrelevant).
    const idx = keys.map(() => 0);
    for (;;) {
      rows.push(Object.fromEntries(keys.map((k, j) => [k, lists[j]![idx[j]!]!])));
      let j = keys.length - 1;
      while (j >= 0 && ++idx[j]! >= lists[j]!.length) idx[j--] = 0;
      if (j < 0) break;
    }
  } else {
    kind = "random";
    const r = decl.random as Record<string, unknown> | undefined;
    if (typeof r !== "object" || r === null || Array.isArray(r)) {
      diags.push(diag("schema", `sweep \`${name}\`: \`random\` must be { n, seed, space }`, at("random")));
      return undefined;
    }
    const n = r.n;
    const seed = r.seed;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 100_000) diags.push(diag("schema", `sweep \`${name}\`: random.n must be an integer in 1..100000, got ${JSON.stringify(n)}`, at("random", ...(n === undefined ? [] : ["n"]))));
    if (typeof seed !== "number" || !Number.isInteger(seed) || seed < 0) diags.push(diag("schema", `sweep \`${name}\`: random.seed must be an integer >= 0 (the search is reproducible), got ${JSON.stringify(seed)}`, at("random", ...(seed === undefined ? [] : ["seed"]))));
    const space = r.space;
    if (typeof space !== "object" || space === null || Array.isArray(space) || Object.keys(space).length === 0) {
      diags.push(diag("schema", `sweep \`${name}\`: random.space must map each param to a list (a choice) or { uniform | log_uniform | int: [lo, hi] }`, at("random", ...(space === undefined ? [] : ["space"]))));
      return undefined;
    }
    keys = Object.keys(space).sort();
    const dims: Dim[] = [];
    for (const k of keys) {
      checkKey(k, ["random", "space", k]);
      const d = dimension(name, k, (space as Record<string, unknown>)[k], (...p) => at("random", "space", k, ...p), diags);
      if (d) dims.push(d);
    }
    for (const k of Object.keys(r)) if (!["n", "seed", "space"].includes(k)) diags.push(diag("schema", `sweep \`${name}\`: unknown key random.${k} (n, seed, space)`, keyAt("random", k)));
    if (diags.length > before) return undefined;
    const rand = mulberry32(seed as number);
    const seen = new Set<string>();
    for (let draws = 0; rows.length < (n as number) && draws < (n as number) * DRAWS_PER_TRIAL; draws++) {
      const row = Object.fromEntries(keys.map((k, j) => [k, dims[j]!(rand())]));
      const c = JSON.stringify(row);
      if (seen.has(c)) continue; // a duplicate trial would be the same partition
      seen.add(c);
      rows.push(row);
    }
    if (rows.length < (n as number)) {
      diags.push(diag("schema", `sweep \`${name}\`: the space has only ${rows.length} distinct trials, fewer than random.n = ${n}`, at("random", "n")));
      return undefined;
    }
  }
  const ids = rows.map(trialId);
  const first = new Map<string, number>();
  ids.forEach((id, i) => {
    const j = first.get(id);
    if (j !== undefined) diags.push(diag("schema", `sweep \`${name}\`: trials ${JSON.stringify(rows[j])} and ${JSON.stringify(rows[i])} get the same id \`${id}\` (values that print alike, like 1 and "1")`, at()));
    else first.set(id, i);
  });
  if (diags.length > before) return undefined;
  return { kind, ids, values: new Map(keys.map((k) => [k, rows.map((row) => row[k]!)])) };
}

/** One random-space dimension, or undefined (with a diagnostic). */
function dimension(name: string, key: string, spec: unknown, at: (...p: (string | number)[]) => ReturnType<SourceFile["loc"]>, diags: Diagnostic[]): Dim | undefined {
  const bad = (msg: string, ...p: (string | number)[]) => {
    diags.push(diag("schema", `sweep \`${name}\`: space \`${key}\` ${msg}`, at(...p)));
    return undefined;
  };
  if (Array.isArray(spec)) {
    if (spec.length === 0) return bad("must list at least one value");
    for (let i = 0; i < spec.length; i++) if (!isScalar(spec[i])) return bad("values must be strings, finite numbers or booleans", i);
    const vs = spec as SweepValue[];
    return (u) => vs[Math.min(vs.length - 1, Math.floor(u * vs.length))]!;
  }
  if (typeof spec !== "object" || spec === null) return bad("must be a list (a choice) or { uniform | log_uniform | int: [lo, hi] }");
  const forms = Object.keys(spec);
  if (forms.length !== 1 || !["uniform", "log_uniform", "int"].includes(forms[0]!)) return bad(`must have exactly one of uniform, log_uniform, int (got ${forms.join(", ") || "none"})`);
  const form = forms[0]!;
  const range = (spec as Record<string, unknown>)[form];
  if (!Array.isArray(range) || range.length !== 2 || !range.every((x) => typeof x === "number" && Number.isFinite(x))) return bad(`${form} must be [lo, hi] (two finite numbers)`, form);
  const [lo, hi] = range as [number, number];
  if (!(lo < hi)) return bad(`${form}: lo (${lo}) must be below hi (${hi})`, form);
  const round4 = (x: number) => Number(x.toPrecision(4));
  if (form === "uniform") return (u) => round4(lo + u * (hi - lo));
  if (form === "log_uniform") {
    if (lo <= 0) return bad(`log_uniform: lo must be > 0, got ${lo}`, form);
    return (u) => round4(Math.exp(Math.log(lo) + u * (Math.log(hi) - Math.log(lo))));
  }
  if (!Number.isInteger(lo) || !Number.isInteger(hi)) return bad(`int: bounds must be integers`, form);
  return (u) => lo + Math.min(hi - lo, Math.floor(u * (hi - lo + 1)));
}
