/**
 * Schema validation of pipeline files against `schema/pipeline.schema.json`, the single source
 * of truth for the format. Ajv errors are turned into located `schema` diagnostics: the ajv
 * `instancePath` is walked back to the YAML node, so an unknown key points at the key itself.
 */
import { readFileSync } from "node:fs";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { diag } from "./diagnostics.js";
import type { Diagnostic } from "./graph-types.js";
import type { DataPath, SourceFile } from "./pipeline.js";

/** Which document shape a file must have. */
export type SchemaKind = "pipeline" | "include" | "hosts";

const SCHEMA_ID = "https://dagbuild.dev/schema/pipeline.schema.json";

let validators: Record<SchemaKind, ValidateFunction> | undefined;

/** Loads the JSON schema from the repo (works from `src/` and from compiled `dist/src/`). */
function loadSchema(): object {
  for (const rel of ["../../schema/pipeline.schema.json", "../../../schema/pipeline.schema.json"]) {
    try {
      return JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as object;
    } catch {
      /* try the next layout */
    }
  }
  throw new Error("dagbuild: schema/pipeline.schema.json not found next to the engine");
}

function compiled(): Record<SchemaKind, ValidateFunction> {
  if (!validators) {
    // allErrors: every problem in one run; discriminator: `transport` picks the host branch so
    // errors name the real problem instead of "must match exactly one schema".
    const ajv = new Ajv({ allErrors: true, discriminator: true, strict: false });
    ajv.addSchema(loadSchema());
    validators = {
      pipeline: ajv.getSchema(SCHEMA_ID)!,
      include: ajv.getSchema(`${SCHEMA_ID}#/$defs/includeFile`)!,
      hosts: ajv.getSchema(`${SCHEMA_ID}#/$defs/hostsFile`)!,
    };
  }
  return validators;
}

/**
 * Validates one parsed file and pushes located diagnostics. Returns the data paths of the
 * errors (empty when valid), so the loader can skip just the broken targets.
 */
export function validateSource(src: SourceFile, kind: SchemaKind, diags: Diagnostic[]): DataPath[] {
  const validate = compiled()[kind];
  const data = src.data ?? {};
  if (validate(data)) return [];
  const paths: DataPath[] = [];
  for (const e of selectErrors(validate.errors ?? [])) {
    const path = pointerToPath(e.instancePath);
    const { message, at, key } = describe(e, path);
    diags.push(diag("schema", message, src.loc(at ?? path, key === true)));
    paths.push(path);
  }
  return paths;
}

/**
 * Ajv reports every failing branch of a `oneOf`; keep the errors that explain the problem:
 * drop a `oneOf` summary when a deeper error exists under the same path, drop branch errors
 * of "wrong type" when another branch got further, and de-duplicate.
 */
function selectErrors(errors: readonly ErrorObject[]): ErrorObject[] {
  const byPath = new Map<string, ErrorObject[]>();
  for (const e of errors) {
    const list = byPath.get(e.instancePath) ?? [];
    list.push(e);
    byPath.set(e.instancePath, list);
  }
  const paths = [...byPath.keys()];
  const out: ErrorObject[] = [];
  const seen = new Set<string>();
  for (const [p, list] of byPath) {
    const deeper = paths.some((q) => q !== p && q.startsWith(p + "/"));
    let keep = list.filter((e) => e.keyword !== "oneOf" && e.keyword !== "anyOf" && e.keyword !== "if");
    if (deeper) keep = keep.filter((e) => e.keyword !== "type" && e.keyword !== "const" && e.keyword !== "enum");
    if (keep.length === 0 && !deeper) {
      // Only union summaries here: fall back to the first branch's type errors, merged.
      const types = list.filter((e) => e.keyword === "type").map((e) => String(e.params.type));
      if (types.length > 0) {
        keep = [{ ...list[0]!, keyword: "type", params: { type: [...new Set(types)].join(" or ") } }];
      } else keep = list.slice(0, 1);
    }
    // Several missing keys of one map make one error.
    const required = keep.filter((e) => e.keyword === "required");
    if (required.length > 1) {
      const names = [...new Set(required.map((e) => String(e.params.missingProperty)))];
      keep = [...keep.filter((e) => e.keyword !== "required"), { ...required[0]!, params: { missingProperty: names.join(",") } }];
    }
    for (const e of keep) {
      const k = `${e.instancePath}|${e.keyword}|${JSON.stringify(e.params)}`;
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(e);
    }
  }
  return out;
}

function pointerToPath(ptr: string): (string | number)[] {
  if (ptr === "") return [];
  return ptr
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function where(path: DataPath): string {
  return path.length === 0 ? "top level" : `\`${path.join(".")}\``;
}

/** Message of one error, and the node to point at when it is not the instance itself. */
function describe(e: ErrorObject, path: DataPath): { message: string; at?: DataPath; key?: boolean } {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case "additionalProperties": {
      const key = String(p.additionalProperty);
      return { message: `unknown key \`${key}\` in ${where(path)}`, at: [...path, key], key: true };
    }
    case "required": {
      const keys = String(p.missingProperty).split(",");
      const list = keys.map((k) => `\`${k}\``).join(", ");
      return { message: `${where(path)} is missing required key${keys.length > 1 ? "s" : ""} ${list}` };
    }
    case "type":
      return { message: `${where(path)} must be ${article(String(p.type))}` };
    case "const":
      return { message: `${where(path)} must be ${JSON.stringify(p.allowedValue)}` };
    case "enum":
      return { message: `${where(path)} must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}` };
    case "pattern":
      return { message: `${where(path)} has an invalid value (must match ${String(p.pattern)})` };
    case "propertyNames":
      return { message: `invalid name \`${String(p.propertyName)}\` in ${where(path)}`, at: [...path, String(p.propertyName)], key: true };
    case "discriminator":
      return {
        message: `${where(path)}: \`transport\` must be "local" or "ssh"`,
        at: p.tagValue === undefined ? path : [...path, "transport"],
      };
    case "not":
      return { message: `${where(path)} uses a reserved name` };
    default:
      return { message: `${where(path)} ${e.message ?? "is invalid"}` };
  }
}

function article(t: string): string {
  const words = t.split(",").join(" or ");
  return /^[aeiou]/.test(words) ? `an ${words}` : `a ${words}`;
}
