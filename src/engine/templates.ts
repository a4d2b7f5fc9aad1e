/**
 * Templates: `{name}` substitutions in paths, params and shell commands.
 *
 * A template is parsed once (`parseTemplate`), bound once per target (`bindTemplate`: names
 * resolved to vars, the target's partition axes, whole-axis values or free axes), and then
 * evaluated per partition (`evaluate`) by indexing precomputed value arrays, so expansion
 * does no string parsing or lookups per action.
 *
 * Grammar inside braces: `name`, `name+N`, `name-N`, `name.prop`, `name-N.prop`, where name is
 * an identifier; whole-axis props take `.start`/`.end` too (`{week.last.end}`). Braces around anything else (`{a,b}`, `${ print }`) are literal text, and
 * `{{` / `}}` are escaped braces.
 */
import type { Axis } from "./partitions.js";

/** A `{...}` reference as written. */
export interface Ref {
  readonly name: string;
  readonly shift: number;
  readonly prop?: string;
  /** The text between the braces, for messages. */
  readonly raw: string;
}

/** A parsed template: literal strings and references, in order. */
export interface Template {
  readonly raw: string;
  readonly parts: readonly (string | Ref)[];
}

const REF = /^([A-Za-z_][A-Za-z0-9_]*)(?:([+-])(\d+))?(?:\.([A-Za-z_][A-Za-z0-9_]*(?:\.(?:start|end))?))?$/;

/** Parses a template string. Never fails: unparseable braces are literal. */
export function parseTemplate(raw: string): Template {
  const parts: (string | Ref)[] = [];
  let lit = "";
  let i = 0;
  while (i < raw.length) {
    const ch = raw[i]!;
    if (ch === "{" && raw[i + 1] === "{") {
      lit += "{";
      i += 2;
      continue;
    }
    if (ch === "}" && raw[i + 1] === "}") {
      lit += "}";
      i += 2;
      continue;
    }
    if (ch === "{") {
      const end = raw.indexOf("}", i + 1);
      const body = end < 0 ? "" : raw.slice(i + 1, end);
      const m = REF.exec(body);
      if (m) {
        if (lit) parts.push(lit);
        lit = "";
        const shift = m[2] ? (m[2] === "-" ? -1 : 1) * Number(m[3]) : 0;
        parts.push(m[4] !== undefined ? { name: m[1]!, shift, prop: m[4], raw: body } : { name: m[1]!, shift, raw: body });
        i = end + 1;
        continue;
      }
    }
    lit += ch;
    i++;
  }
  if (lit) parts.push(lit);
  return { raw, parts };
}

/** Where a template is used: decides which references are allowed. */
export type Usage = "dep" | "output" | "param" | "run" | "describe";

/** What names mean while binding the templates of one target. */
export interface Scope {
  readonly vars: ReadonlyMap<string, string>;
  readonly axes: ReadonlyMap<string, Axis>;
  /** The target's partition axes, in order: slot i of the index vector. */
  readonly partition: readonly Axis[];
  /** Shell rules: the dep and output names `{deps.NAME}` / `{out.NAME}` may use. */
  readonly runNames?: { readonly deps: ReadonlySet<string>; readonly out: ReadonlySet<string> };
}

/** A per-partition slot: `vals[idx[slot] + shift]`, out of range = dropped. */
export interface Slot {
  readonly slot: number;
  readonly shift: number;
  readonly vals: readonly string[];
  /** Sweep params (`{trial.units}`): the JSON-typed values behind `vals`, for whole-value params. */
  readonly typed?: readonly unknown[];
}

/** A template bound to one target: literal strings and slots. */
export interface Bound {
  readonly parts: readonly (string | Slot)[];
  /** Set when the template does not depend on the partition. */
  readonly constant?: string;
  /** Axes not in the target's partition (deps only): slots `partition.length + i`. */
  readonly free: readonly Axis[];
  /**
   * The template with every slot replaced by `X`. Axis values contain no `/`, no glob
   * characters and are never `.` or `..` (schema), so a path property of the skeleton
   * (already normalized, not a glob) holds for every partition and is checked once.
   */
  readonly skeleton: string;
}

/**
 * Resolves every reference of `t` for one target. Problems are returned as messages (the
 * caller locates them as `unknown-variable`); the result is undefined when there are any.
 * A var whose value contains references is expanded as a template in the same scope
 * (`expanding`: the vars being expanded, to refuse cycles).
 */
export function bindTemplate(t: Template, scope: Scope, usage: Usage, errors: string[], expanding?: readonly string[]): Bound | undefined {
  const parts: (string | Slot)[] = [];
  const free: Axis[] = [];
  const addFree = (axis: Axis): number => {
    const f = free.indexOf(axis);
    return f < 0 ? free.push(axis) - 1 : f;
  };
  const before = errors.length;
  const push = (s: string) => {
    const last = parts[parts.length - 1];
    if (typeof last === "string") parts[parts.length - 1] = last + s;
    else parts.push(s);
  };
  for (const p of t.parts) {
    if (typeof p === "string") {
      push(p);
      continue;
    }
    if (usage === "run" && (p.name === "deps" || p.name === "out") && p.shift === 0) {
      // Filled in by the shell executor with the resolved paths; kept as written.
      const names = p.name === "deps" ? scope.runNames?.deps : scope.runNames?.out;
      if (p.prop !== undefined && names && !names.has(p.prop)) {
        errors.push(`\`{${p.raw}}\`: the target has no ${p.name === "deps" ? "dep" : "output"} named \`${p.prop}\``);
      }
      push(`{${p.raw}}`);
      continue;
    }
    const axis = scope.axes.get(p.name);
    if (!axis) {
      const v = scope.vars.get(p.name);
      if (v === undefined) {
        errors.push(`unknown template variable \`{${p.raw}}\`: \`${p.name}\` is neither a var nor an axis`);
      } else if (p.shift !== 0 || p.prop !== undefined) {
        errors.push(`\`{${p.raw}}\`: \`${p.name}\` is a var; shifts and \`.${p.prop ?? "prop"}\` apply to axes only`);
      } else if (!v.includes("{")) push(v);
      else {
        // A var's value is itself a template, bound in the using target's scope, so
        // `files: broker/{instrument}_M1.csv.gz` names one file per instrument.
        const chain = [...(expanding ?? []), p.name];
        if (expanding?.includes(p.name)) {
          errors.push(`var \`${p.name}\` refers to itself (${chain.join(" -> ")})`);
          continue;
        }
        const inner = bindTemplate(parseTemplate(v), scope, usage, errors, chain);
        if (!inner) continue;
        for (const q of inner.parts) {
          if (typeof q === "string") push(q);
          else parts.push(q.slot >= scope.partition.length ? { ...q, slot: scope.partition.length + addFree(inner.free[q.slot - scope.partition.length]!) } : q);
        }
      }
      continue;
    }
    // Whole-axis values are constants, usable anywhere.
    if (p.prop === "first" || p.prop === "last" || p.prop === "span") {
      if (p.shift !== 0) {
        errors.push(`\`{${p.raw}}\`: \`.${p.prop}\` is a whole-axis value and cannot be shifted`);
        continue;
      }
      if (p.prop === "span") {
        if (axis.kind !== "week") {
          errors.push(`\`{${p.raw}}\`: \`.span\` needs a week axis; \`${axis.name}\` is a list`);
          continue;
        }
        push(`${axis.starts![0]}_${axis.ends![axis.ends!.length - 1]}`);
      } else push(p.prop === "first" ? axis.ids[0]! : axis.ids[axis.ids.length - 1]!);
      continue;
    }
    // `{week.first.start}`, `{week.last.end}`: the dates bounding the whole span.
    const whole = /^(first|last)\.(start|end)$/.exec(p.prop ?? "");
    if (whole) {
      if (p.shift !== 0 || axis.kind !== "week") {
        errors.push(`\`{${p.raw}}\`: \`.${p.prop}\` is a whole-span date of a week axis and cannot be shifted`);
        continue;
      }
      const list = whole[2] === "start" ? axis.starts! : axis.ends!;
      push(whole[1] === "first" ? list[0]! : list[list.length - 1]!);
      continue;
    }
    let vals: readonly string[];
    let typed: readonly unknown[] | undefined;
    // `{trial.KEY}` in a target partitioned by the projection `trial.KEY` is that partition's value.
    const proj = p.prop === undefined ? undefined : projectionOf(scope.partition, axis, p.prop);
    if (p.prop === undefined) vals = axis.ids;
    else if (proj) {
      typed = proj.values!.get(p.prop)!;
      vals = proj.ids;
    } else if (axis.kind === "sweep") {
      typed = axis.values!.get(p.prop);
      if (!typed) {
        errors.push(`\`{${p.raw}}\`: sweep axis \`${axis.name}\` has no param \`${p.prop}\` (params: ${[...axis.values!.keys()].join(", ")})`);
        continue;
      }
      vals = sweepStrings(typed);
    } else if (p.prop === "start" || p.prop === "end") {
      if (axis.kind !== "week") {
        errors.push(`\`{${p.raw}}\`: \`.${p.prop}\` needs a week axis; \`${axis.name}\` is a list`);
        continue;
      }
      vals = p.prop === "start" ? axis.starts! : axis.ends!;
    } else {
      errors.push(`\`{${p.raw}}\`: unknown property \`.${p.prop}\` (start, end, first, last, span, first.start, last.end)`);
      continue;
    }
    let slot = scope.partition.indexOf(proj ?? axis);
    if (slot < 0) {
      if (usage !== "dep") {
        errors.push(
          `\`{${p.raw}}\`: axis \`${axis.name}\` is not in this target's partition ` +
            `[${scope.partition.map((a) => a.name).join(", ")}]` +
            ` (only a dep may name other axes: it then depends on every value)`,
        );
        continue;
      }
      if (p.shift !== 0) {
        errors.push(`\`{${p.raw}}\`: axis \`${axis.name}\` is not in this target's partition, so it cannot be shifted`);
        continue;
      }
      slot = scope.partition.length + addFree(axis);
    }
    if (p.shift !== 0 && usage !== "dep") {
      errors.push(`\`{${p.raw}}\`: shifted partitions are only allowed in deps`);
      continue;
    }
    parts.push(typed ? { slot, shift: p.shift, vals, typed } : { slot, shift: p.shift, vals });
  }
  if (errors.length > before) return undefined;
  const skeleton = parts.map((p) => (typeof p === "string" ? p : "X")).join("");
  if (parts.length === 0) return { parts, constant: "", free, skeleton };
  if (parts.length === 1 && typeof parts[0] === "string") return { parts, constant: parts[0], free, skeleton };
  return { parts, free, skeleton };
}

/** The projection of sweep axis `of` on `key` among a target's partition axes, if there is one. */
function projectionOf(partition: readonly Axis[], of: Axis, key: string): Axis | undefined {
  return partition.find((a) => a.projection?.of === of && a.projection.key === key);
}

const sweepText = new WeakMap<readonly unknown[], readonly string[]>();
/** A sweep param's values as template text, computed once per axis and key. */
function sweepStrings(typed: readonly unknown[]): readonly string[] {
  let s = sweepText.get(typed);
  if (!s) sweepText.set(typed, (s = typed.map(String)));
  return s;
}

/** The slot of a template that is exactly one sweep-param reference (its value keeps its JSON type). */
export function typedSlot(b: Bound): (Slot & { readonly typed: readonly unknown[] }) | undefined {
  const p = b.parts.length === 1 ? b.parts[0] : undefined;
  return typeof p === "object" && p.typed ? (p as Slot & { readonly typed: readonly unknown[] }) : undefined;
}

/** Substitutes one partition; undefined when a shift leaves the axis range. */
export function evaluate(b: Bound, idx: ArrayLike<number>): string | undefined {
  if (b.constant !== undefined) return b.constant;
  let s = "";
  const parts = b.parts;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (typeof p === "string") s += p;
    else {
      const v = p.vals[idx[p.slot]! + p.shift];
      if (v === undefined) return undefined;
      s += v;
    }
  }
  return s;
}

