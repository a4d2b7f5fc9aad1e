/**
 * Schema validation of pipeline files against `schema/pipeline.schema.json`, the single source
 * of truth for the format. Ajv errors are turned into located `schema` diagnostics: the ajv
 * `instancePath` is walked back to the YAML node, so an unknown key points at the key itself.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import type { ErrorObject } from "ajv";
import { diag } from "./diagnostics.js";
import type { Diagnostic } from "./graph-types.js";
import type { DataPath, SourceFile } from "./pipeline.js";

/** Which document shape a file must have. */
export type SchemaKind = "pipeline" | "include" | "hosts";

/** A compiled validator (ajv's calling convention: errors on the function). */
export interface Validator {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}

/** One validator per document shape. */
export type Validators = Readonly<Record<SchemaKind, Validator>>;

const SCHEMA_ID = "https://dagbuild.dev/schema/pipeline.schema.json";
const AJV_OPTIONS = { allErrors: true, discriminator: true, strict: false } as const;

let validators: Promise<Validators> | undefined;

/** The schema file (works from `src/` and from compiled `dist/src/`). */
function schemaFile(): URL {
  for (const rel of ["../../schema/pipeline.schema.json", "../../../schema/pipeline.schema.json"]) {
    const url = new URL(rel, import.meta.url);
    try {
      readFileSync(url, { flag: "r" }).length;
      return url;
    } catch {
      /* try the next layout */
    }
  }
  throw new Error("dagbuild: schema/pipeline.schema.json not found next to the engine");
}

/**
 * The validators, compiled once per schema version. Compiling with ajv costs ~130 ms (import +
 * code generation), more than a whole no-op build of a small pipeline, so the generated code is
 * kept as an ES module under `dist/.schema-cache/<hash of schema + ajv version>.mjs` and later
 * runs import it without loading ajv at all. Any problem with the cache (read-only install)
 * falls back to compiling in memory.
 */
export function schemaValidators(): Promise<Validators> {
  validators ??= loadValidators();
  return validators;
}

async function loadValidators(): Promise<Validators> {
  const url = schemaFile();
  const text = readFileSync(url, "utf8");
  const require = createRequire(import.meta.url);
  const ajvVersion = (JSON.parse(readFileSync(require.resolve("ajv/package.json"), "utf8")) as { version: string }).version;
  const hash = createHash("sha256").update(`${ajvVersion}\0${text}`).digest("hex").slice(0, 16);
  const cache = new URL(`../../.schema-cache/validators-${hash}.mjs`, import.meta.url);
  try {
    return (await import(cache.href)) as Validators;
  } catch {
    /* not generated yet */
  }
  const { Ajv } = await import("ajv");
  const schema = JSON.parse(text) as object;
  try {
    const standalone = (await import("ajv/dist/standalone/index.js")).default as unknown as {
      default: (ajv: unknown, refs: Record<string, string>) => string;
    };
    const ajv = new Ajv({ ...AJV_OPTIONS, code: { source: true, esm: true } });
    ajv.addSchema(schema);
    let code = standalone.default(ajv, {
      pipeline: SCHEMA_ID,
      include: `${SCHEMA_ID}#/$defs/includeFile`,
      hosts: `${SCHEMA_ID}#/$defs/hostsFile`,
    });
    // ajv's ESM output still `require`s its runtime helpers: import them by absolute URL.
    const imports: string[] = [];
    code = code.replace(/require\("([^"]+)"\)/g, (_m, spec: string) => {
      const name = `__rt${imports.length}`;
      imports.push(`import ${name} from ${JSON.stringify(pathToFileURL(require.resolve(spec)).href)};`);
      return name;
    });
    code = code.replace(/^"use strict";/, "");
    const dir = new URL("./", cache);
    mkdirSync(dir, { recursive: true });
    const tmp = new URL(`${cache.href}.${process.pid}.tmp`);
    writeFileSync(tmp, `${imports.join("\n")}\n${code}\n`);
    renameSync(tmp, cache); // atomic: concurrent loads never import a half-written file
    return (await import(cache.href)) as Validators;
  } catch {
    const ajv = new Ajv(AJV_OPTIONS);
    ajv.addSchema(schema);
    return {
      pipeline: ajv.getSchema(SCHEMA_ID)!,
      include: ajv.getSchema(`${SCHEMA_ID}#/$defs/includeFile`)!,
      hosts: ajv.getSchema(`${SCHEMA_ID}#/$defs/hostsFile`)!,
    };
  }
}

/**
 * Validates one parsed file and pushes located diagnostics. Returns the data paths of the
 * errors (empty when valid), so the loader can skip just the broken targets.
 */
export function validateSource(v: Validators, src: SourceFile, kind: SchemaKind, diags: Diagnostic[]): DataPath[] {
  const validate = v[kind];
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
  // Errors about a key name (ajv sets `propertyName`) are summed up by their propertyNames
  // error, which names the key; keep their reason for its message.
  const nameReasons = new Map<string, ErrorObject>();
  for (const e of errors) {
    const pn = (e as { propertyName?: string }).propertyName;
    if (pn !== undefined) {
      if (e.keyword !== "propertyNames") nameReasons.set(`${e.instancePath}/${pn}`, e);
      continue;
    }
    if (e.keyword === "propertyNames") {
      const why = nameReasons.get(`${e.instancePath}/${String(e.params.propertyName)}`);
      if (why) e.params = { ...e.params, why };
    }
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
      return { message: `${where(path)} must be ${PATTERNS[String(p.pattern)] ?? `a string matching ${String(p.pattern)}`}` };
    case "propertyNames": {
      const why = p.why as ErrorObject | undefined;
      const need =
        why?.keyword === "pattern"
          ? `: it must be ${PATTERNS[String(why.params.pattern)] ?? `a string matching ${String(why.params.pattern)}`}`
          : why?.keyword === "not"
            ? ": `deps` and `out` are reserved (shell rules use {deps} and {out})"
            : "";
      return { message: `invalid name \`${String(p.propertyName)}\` in ${where(path)}${need}`, at: [...path, String(p.propertyName)], key: true };
    }
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

/** What the schema's patterns mean, for messages (keyed by the pattern as written there). */
const PATTERNS: Record<string, string> = {
  "^[A-Za-z_][A-Za-z0-9_]*$": "an identifier (letters, digits and _, not starting with a digit)",
  "^[A-Za-z0-9_][A-Za-z0-9_.-]*$": "a name of letters, digits, _ . and - (not starting with . or -)",
  "^(?!\\.+$)[^,=\\[\\]{}/\\\\\\s*?]+$": "a partition value: no spaces or any of , = [ ] { } / \\ * ?, and not . or ..",
  "^\\d{4}-\\d{2}-\\d{2}$": "a date YYYY-MM-DD",
  "\\.ts$": "a path to a .ts module",
  "^[1-9][0-9]*w$": "a number of weeks like 4w",
};

function article(t: string): string {
  const words = t.split(",").join(" or ");
  return /^[aeiou]/.test(words) ? `an ${words}` : `a ${words}`;
}
