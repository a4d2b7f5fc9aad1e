/**
 * Strategy profile loading: YAML (config/echo_strategy.yaml), validated with ajv against
 * schema/profile.schema.json. Unknown keys and bad values are errors located at
 * `file:line:col` of the offending YAML node (via the yaml package's node ranges).
 * Keys left out take the legacy defaults (DEFAULT_PROFILE).
 */
import { readFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document } from "yaml";
import AjvModule from "ajv";
import type { ErrorObject, ValidateFunction } from "ajv";
import { REGIME_LABELS, type Profile } from "./types.js";

/** The legacy defaults (also written out in config/echo_strategy.yaml). */
export const DEFAULT_PROFILE: Profile = Object.freeze({
  version: 1,
  hazard_percentile: 0.95,
  hazard_max: Object.freeze({}),
  admit_regimes: Object.freeze([...REGIME_LABELS]),
  min_confidence: 0,
  signature_retention_minutes: 60,
  lambda_scale: 1,
  regime_normalization: "legacy",
}) as Profile;

/** A bad profile: `file:line:col: message`. */
export class ProfileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly col: number,
    detail: string,
  ) {
    super(`${file}:${line}:${col}: ${detail}`);
    this.name = "ProfileError";
  }
}

let validator: ValidateFunction | undefined;

function getValidator(): ValidateFunction {
  if (validator) return validator;
  // dist/src/sep/profile.js -> <root>/schema; src/sep/profile.ts -> <root>/schema (ts-node style).
  const candidates = [
    new URL("../../../schema/profile.schema.json", import.meta.url),
    new URL("../../schema/profile.schema.json", import.meta.url),
  ];
  let schema: unknown;
  for (const u of candidates) {
    try {
      schema = JSON.parse(readFileSync(u, "utf8"));
      break;
    } catch {
      /* try the next layout */
    }
  }
  if (schema === undefined) throw new Error("schema/profile.schema.json not found next to the package");
  const Ajv = ((AjvModule as unknown as { default?: unknown }).default ?? AjvModule) as new (o: object) => {
    compile(s: unknown): ValidateFunction;
  };
  validator = new Ajv({ allErrors: false, strict: true }).compile(schema);
  return validator;
}

/** YAML path segments of an ajv instancePath ("/a/0/b~1c" -> ["a", 0, "b/c"]). */
function pathOf(instancePath: string): (string | number)[] {
  if (instancePath === "") return [];
  return instancePath
    .slice(1)
    .split("/")
    .map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** Offset of the node an ajv error is about (the key node for unknown/bad keys). */
function offsetOf(doc: Document, e: ErrorObject): number {
  const path = pathOf(e.instancePath);
  const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
  const keyName =
    e.propertyName !== undefined
      ? e.propertyName
      : e.keyword === "additionalProperties"
      ? (e.params as { additionalProperty: string }).additionalProperty
      : e.keyword === "propertyNames"
        ? (e.params as { propertyName: string }).propertyName
        : undefined;
  const container = path.length === 0 ? doc.contents : node;
  if (keyName !== undefined && isMap(container)) {
    for (const item of container.items) {
      if (isPair(item) && isScalar(item.key) && String(item.key.value) === keyName && item.key.range) {
        return item.key.range[0];
      }
    }
  }
  const n = path.length === 0 ? (doc.contents as { range?: [number, number, number] } | null) : node;
  return n?.range?.[0] ?? 0;
}

function describe(e: ErrorObject): string {
  const where = e.instancePath === "" ? "profile" : e.instancePath.slice(1).replaceAll("/", ".");
  if (e.propertyName !== undefined) return `bad key "${e.propertyName}" in ${where}: ${e.message ?? e.keyword}`;
  switch (e.keyword) {
    case "additionalProperties":
      return `unknown key "${(e.params as { additionalProperty: string }).additionalProperty}" in ${where}`;
    case "propertyNames":
      return `bad key "${(e.params as { propertyName: string }).propertyName}" in ${where}: expected an instrument like EUR_USD`;
    case "required":
      return `missing key "${(e.params as { missingProperty: string }).missingProperty}" in ${where}`;
    case "enum":
      return `${where}: must be one of ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`;
    case "const":
      return `${where}: must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`;
    default:
      return `${where}: ${e.message ?? e.keyword}`;
  }
}

/** Parses and validates profile YAML text; `file` labels errors. */
export function parseProfile(text: string, file: string): Profile {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  if (doc.errors.length > 0) {
    const err = doc.errors[0]!;
    const pos = lc.linePos(err.pos[0]);
    throw new ProfileError(file, pos.line, pos.col, `YAML: ${err.message.split("\n")[0]}`);
  }
  const data: unknown = doc.toJS();
  if (data === null || data === undefined) throw new ProfileError(file, 1, 1, "empty profile (expected a mapping with version: 1)");
  const validate = getValidator();
  if (!validate(data)) {
    const e = validate.errors![0]!;
    const pos = lc.linePos(offsetOf(doc, e));
    throw new ProfileError(file, pos.line, pos.col, describe(e));
  }
  const d = data as Partial<Profile>;
  return {
    version: 1,
    hazard_percentile: d.hazard_percentile ?? DEFAULT_PROFILE.hazard_percentile,
    hazard_max: { ...(d.hazard_max ?? {}) },
    admit_regimes: [...(d.admit_regimes ?? DEFAULT_PROFILE.admit_regimes)],
    min_confidence: d.min_confidence ?? DEFAULT_PROFILE.min_confidence,
    signature_retention_minutes: d.signature_retention_minutes ?? DEFAULT_PROFILE.signature_retention_minutes,
    lambda_scale: d.lambda_scale ?? DEFAULT_PROFILE.lambda_scale,
    regime_normalization: d.regime_normalization ?? DEFAULT_PROFILE.regime_normalization,
  };
}

/** Reads, parses and validates a profile file. */
export async function loadProfile(path: string): Promise<Profile> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new ProfileError(path, 1, 1, `cannot read profile: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseProfile(text, path);
}
