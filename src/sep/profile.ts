/**
 * Strategy profile loading: YAML (config/echo_strategy.yaml), validated with ajv against
 * schema/profile.schema.json. Unknown keys and bad values are errors located at
 * `file:line:col` of the offending YAML node (via the yaml package's node ranges).
 * Keys left out take the legacy defaults (DEFAULT_PROFILE). The same file may carry the
 * backtest simulator's settings (gate-spec section 11: `global`, `instruments`, the defect
 * switches), read by `parseSimProfile`; the replay ignores them.
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
    case "anyOf":
      return where.endsWith("session")
        ? `${where}: expected "HH:MM,HH:MM", {start: "HH:MM", end: "HH:MM"} or {open: "HH:MM", close: "HH:MM"} (UTC)`
        : `${where}: ${e.message ?? e.keyword}`;
    case "const":
      return `${where}: must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`;
    default:
      return `${where}: ${e.message ?? e.keyword}`;
  }
}

/** Parses and validates profile YAML text against the schema; returns the plain data. */
function validateProfileText(text: string, file: string): Record<string, unknown> {
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
    // An anyOf (a session's three forms) is reported as a whole, not as its first branch's miss.
    const e = validate.errors!.find((x) => x.keyword === "anyOf") ?? validate.errors![0]!;
    const pos = lc.linePos(offsetOf(doc, e));
    throw new ProfileError(file, pos.line, pos.col, describe(e));
  }
  return data as Record<string, unknown>;
}

/** Parses and validates profile YAML text; `file` labels errors. */
export function parseProfile(text: string, file: string): Profile {
  const d = validateProfileText(text, file) as Partial<Profile>;
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

/** A profile file's text; an unreadable file is a ProfileError at 1:1. */
async function readProfileText(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    throw new ProfileError(path, 1, 1, `cannot read profile: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Reads, parses and validates a profile file. */
export async function loadProfile(path: string): Promise<Profile> {
  return parseProfile(await readProfileText(path), path);
}

/** The range the calibrator clamps `hazard_percentile` into (calibrator.ts). */
const PERCENTILE_RANGE = [0.05, 0.99] as const;
/** The majors a shared profile may name even when a pipeline replays fewer of them. */
const MAJORS = ["AUD_USD", "EUR_USD", "GBP_USD", "NZD_USD", "USD_CAD", "USD_CHF", "USD_JPY"];

/**
 * Checks a parsed profile against what a replay will do with it, located at the YAML node:
 * - a `hazard_max` entry for an instrument that is neither replayed (`instruments`) nor one of
 *   the majors is a ProfileError (a typo would otherwise be ignored silently);
 * - a major that is not replayed, and a `hazard_percentile` outside [0.05, 0.99] (the
 *   calibrator clamps it), are warnings that say what happens.
 */
export function checkProfileUse(text: string, file: string, instruments: readonly string[]): string[] {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  const pos = (path: (string | number)[], key: boolean): { line: number; col: number } => {
    let off = 0;
    const parent = doc.getIn(path.slice(0, -1), true);
    if (key && isMap(parent)) {
      for (const item of parent.items) if (isPair(item) && isScalar(item.key) && String(item.key.value) === String(path.at(-1)) && item.key.range) off = item.key.range[0];
    } else off = (doc.getIn(path, true) as { range?: [number, number, number] } | undefined)?.range?.[0] ?? 0;
    return lc.linePos(off);
  };
  const at = (path: (string | number)[], key: boolean): string => {
    const p = pos(path, key);
    return `${file}:${p.line}:${p.col}`;
  };
  const data = (doc.toJS() ?? {}) as Record<string, unknown>;
  const warnings: string[] = [];
  const p = data.hazard_percentile;
  if (typeof p === "number" && (p < PERCENTILE_RANGE[0] || p > PERCENTILE_RANGE[1])) {
    const used = Math.min(PERCENTILE_RANGE[1], Math.max(PERCENTILE_RANGE[0], p));
    warnings.push(`${at(["hazard_percentile"], false)}: warning: hazard_percentile ${p} is used as ${used} (the calibrator clamps it to [${PERCENTILE_RANGE.join(", ")}])`);
  }
  const caps = data.hazard_max;
  if (caps && typeof caps === "object" && !Array.isArray(caps)) {
    for (const name of Object.keys(caps)) {
      if (instruments.includes(name)) continue;
      const where = at(["hazard_max", name], true);
      if (!MAJORS.includes(name)) {
        const p = pos(["hazard_max", name], true);
        throw new ProfileError(file, p.line, p.col, `hazard_max: unknown instrument "${name}" (replayed: ${instruments.join(", ") || "none"})`);
      }
      warnings.push(`${where}: warning: hazard_max.${name} is ignored: ${name} is not replayed (${instruments.join(", ")})`);
    }
  }
  return warnings;
}

// ---------------------------------------------------------------------------------------------
// Backtest simulator settings (gate-spec section 11): `global`, `instruments` and the switches

/** A session window `[start, end)` in UTC minutes of the day (wrapping when start > end). */
export interface SimSession {
  readonly startMin: number;
  readonly endMin: number;
  /** As written, normalised to "HH:MM,HH:MM". */
  readonly text: string;
}

/** Guard thresholds by name (gate-spec section 11; none shipped). */
export type SimGuards = Readonly<Record<string, number>>;

/** `global`: what an unlisted instrument uses, and the regime fallbacks of listed ones. */
export interface SimGlobal {
  readonly regime_filter?: readonly string[];
  readonly min_regime_confidence?: number;
  readonly hazard_max?: number;
  readonly guard_thresholds: SimGuards;
  readonly semantic_filter: readonly string[];
  /** Replaced by the backtest's min_reps (read, never used: legacy files carry it). */
  readonly min_repetitions?: number;
}

/** One `instruments` entry. */
export interface SimInstrument {
  readonly session?: SimSession;
  readonly regime_filter?: readonly string[];
  readonly min_regime_confidence?: number;
  readonly hazard_max?: number;
  readonly guards: SimGuards;
  readonly semantic_filter: readonly string[];
}

/**
 * The simulator part of a profile. Each defect switch defaults to the legacy behaviour:
 *   hold_expiry       legacy | every_minute (expired sub-trades also close on not-ready minutes)
 *   exposure_clamp    legacy | notional (clip entries to the notional room under 25 x NAV)
 *   cross_conversion  legacy | usd (convert a cross's quote currency with usd_rates)
 */
export interface SimProfile {
  readonly global: SimGlobal;
  readonly instruments: Readonly<Record<string, SimInstrument>>;
  readonly hold_expiry: "legacy" | "every_minute";
  readonly exposure_clamp: "legacy" | "notional";
  readonly cross_conversion: "legacy" | "usd";
  readonly usd_rates: Readonly<Record<string, number>>;
}

function hhmm(s: string): number {
  const [h, m] = s.split(":");
  return Number(h) * 60 + Number(m);
}

/** A schema-valid session value as minutes of the day. */
function sessionOf(v: unknown): SimSession {
  let a: string, b: string;
  if (typeof v === "string") [a, b] = v.split(",") as [string, string];
  else {
    const o = v as Record<string, string>;
    a = o["start"] ?? o["open"]!;
    b = o["end"] ?? o["close"]!;
  }
  return { startMin: hhmm(a), endMin: hhmm(b), text: `${a},${b}` };
}

/** Parses and validates a profile's simulator settings; `file` labels errors. */
export function parseSimProfile(text: string, file: string): SimProfile {
  const d = validateProfileText(text, file);
  const g = (d["global"] ?? {}) as Record<string, unknown>;
  const insts = (d["instruments"] ?? {}) as Record<string, Record<string, unknown>>;
  const instruments: Record<string, SimInstrument> = {};
  for (const name of Object.keys(insts).sort()) {
    const e = insts[name] ?? {};
    instruments[name] = {
      ...(e["session"] !== undefined ? { session: sessionOf(e["session"]) } : {}),
      ...(e["regime_filter"] !== undefined ? { regime_filter: [...(e["regime_filter"] as string[])] } : {}),
      ...(e["min_regime_confidence"] !== undefined ? { min_regime_confidence: e["min_regime_confidence"] as number } : {}),
      ...(e["hazard_max"] !== undefined ? { hazard_max: e["hazard_max"] as number } : {}),
      guards: { ...((e["guards"] ?? {}) as Record<string, number>) },
      semantic_filter: [...((e["semantic_filter"] ?? []) as string[])],
    };
  }
  return {
    global: {
      ...(g["regime_filter"] !== undefined ? { regime_filter: [...(g["regime_filter"] as string[])] } : {}),
      ...(g["min_regime_confidence"] !== undefined ? { min_regime_confidence: g["min_regime_confidence"] as number } : {}),
      ...(g["hazard_max"] !== undefined ? { hazard_max: g["hazard_max"] as number } : {}),
      ...(g["min_repetitions"] !== undefined ? { min_repetitions: g["min_repetitions"] as number } : {}),
      guard_thresholds: { ...((g["guard_thresholds"] ?? {}) as Record<string, number>) },
      semantic_filter: [...((g["semantic_filter"] ?? []) as string[])],
    },
    instruments,
    hold_expiry: (d["hold_expiry"] as SimProfile["hold_expiry"] | undefined) ?? "legacy",
    exposure_clamp: (d["exposure_clamp"] as SimProfile["exposure_clamp"] | undefined) ?? "legacy",
    cross_conversion: (d["cross_conversion"] as SimProfile["cross_conversion"] | undefined) ?? "legacy",
    usd_rates: { ...((d["usd_rates"] ?? {}) as Record<string, number>) },
  };
}

/** Reads, parses and validates a profile file's simulator settings. */
export async function loadSimProfile(path: string): Promise<SimProfile> {
  return parseSimProfile(await readProfileText(path), path);
}
