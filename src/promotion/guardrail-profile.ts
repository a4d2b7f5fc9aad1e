/**
 * The ML guardrail profile (`output/profiles/ml_guardrail.yaml`, format dagbuild.ml_guardrail,
 * version 1, schema/ml-guardrail.schema.json): what the droplet's gate engine and live stack
 * apply on top of the gates, decided by the backtest comparison's verdict
 * (src/backtest/verdict.ts).
 *
 * - Promoted: `enabled: true`, the model (name + sha256 digest), its ml_score threshold as the
 *   model's backtest chose it on the validation weeks, the hazard guard the backtest ran with.
 * - Otherwise: `enabled: false`, `decision: no promotion`, `strategy: heuristic`, model and
 *   threshold null, and the reasons.
 * Nothing in the profile is a backtest-week number: the backtest enters only through the
 * verdict's yes/no (the DSR gate), so a changed backtest figure that leaves the verdict as it
 * was leaves the profile byte for byte as it was.
 *
 * `guardrailRunOptions` turns a profile into the simulator's guardrail options (the CLI's
 * `--ml-scores F --threshold X --hazard H --hazard-multiplier M`).
 */
import { readFileSync } from "node:fs";
import { isMap, isPair, isScalar, LineCounter, parseDocument, stringify } from "yaml";
import AjvModule from "ajv";
import type { ErrorObject, ValidateFunction } from "ajv";
import type { Verdict } from "../backtest/verdict.js";

/** Format version of ml_guardrail.yaml. */
export const GUARDRAIL_FORMAT_VERSION = 1;

/** The profile, as the schema describes it. */
export interface GuardrailProfile {
  readonly format: "dagbuild.ml_guardrail";
  readonly version: 1;
  readonly enabled: boolean;
  readonly decision: "promoted" | "no promotion";
  readonly strategy: "ml_guardrail" | "heuristic";
  readonly reasons: readonly string[];
  readonly model: { readonly name: string; readonly digest: string } | null;
  readonly threshold: { readonly value: number; readonly chosen_on: "validation"; readonly method: string } | null;
  readonly hazard_guard: { readonly hazard: number | null; readonly hazard_multiplier: number; readonly strategy_profile: { path: string; sha256: string } | null };
  readonly gate: { readonly statistic: "deflated_sharpe_ratio"; readonly level: number; readonly passed: boolean };
  readonly instruments: readonly string[];
  readonly selection: { readonly model_selected_on: "validation" | "backtest" | "none"; readonly backtest_weeks: readonly string[]; readonly comparison: string };
}

/** A bad profile or comparison: `file[:line:col]: message`. */
export class GuardrailError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GuardrailError";
  }
}

/**
 * The profile from a comparison document (comparison.json, format v2); `shown` names it.
 * A promotion whose threshold was not chosen on validation weeks is refused (no promotion).
 */
export function buildGuardrailProfile(doc: Record<string, unknown>, shown: string): GuardrailProfile {
  if (doc["format"] !== "dagbuild.backtest_comparison" || doc["version"] !== 2) throw new GuardrailError(`${shown}: not a dagbuild.backtest_comparison version 2 (got ${JSON.stringify(doc["format"])} version ${JSON.stringify(doc["version"])})`);
  const v = doc["verdict"] as Verdict | undefined;
  if (!v || typeof v.promoted !== "boolean" || typeof v.dsr_level !== "number") throw new GuardrailError(`${shown}: field "verdict": missing or malformed`);
  const c = v.candidate;
  const reasons = [...v.reasons];
  let promoted = v.promoted && c !== null;
  if (promoted && c!.threshold?.chosen_on !== "validation") {
    reasons.push(`the candidate's threshold was chosen on ${JSON.stringify(c!.threshold?.chosen_on ?? null)}, not on validation weeks`);
    promoted = false;
  }
  if (promoted && !/^[0-9a-f]{64}$/.test(c!.model_digest ?? "")) {
    reasons.push(`the candidate ${c!.model} has no sha256 model digest in ${shown}`);
    promoted = false;
  }
  const hg = c?.hazard_guard ?? { hazard: null, hazard_multiplier: 1, strategy_profile: null };
  return {
    format: "dagbuild.ml_guardrail",
    version: GUARDRAIL_FORMAT_VERSION,
    enabled: promoted,
    decision: promoted ? "promoted" : "no promotion",
    strategy: promoted ? "ml_guardrail" : "heuristic",
    reasons: promoted ? [] : reasons,
    model: promoted ? { name: c!.model, digest: c!.model_digest! } : null,
    threshold: promoted ? { value: c!.threshold!.value, chosen_on: "validation", method: c!.threshold!.method } : null,
    hazard_guard: { hazard: hg.hazard, hazard_multiplier: hg.hazard_multiplier, strategy_profile: hg.strategy_profile },
    gate: { statistic: "deflated_sharpe_ratio", level: v.dsr_level, passed: promoted },
    instruments: [...((doc["instruments"] as string[] | undefined) ?? [])].sort(),
    selection: { model_selected_on: c ? c.selected_on : "none", backtest_weeks: [...((doc["weeks"] as string[] | undefined) ?? [])], comparison: shown },
  };
}

const HEADER = [
  `# ML guardrail profile (format dagbuild.ml_guardrail, version ${GUARDRAIL_FORMAT_VERSION}; schema/ml-guardrail.schema.json).`,
  "# Written by dagbuild (rules/ml-guardrail.ts) from the backtest comparison's verdict; do not edit.",
  "# enabled: true only when a model's deflated Sharpe ratio on the backtest weeks reached gate.level",
  "# and its P&L after costs beat both the heuristic and not trading. Then a gate trades only if the",
  "# model's probability of the trade's direction (ml_score for a BUY, 1 - ml_score for a SELL) is",
  "# >= threshold.value (chosen on validation weeks only) and it passes the hazard guard.",
  "# enabled: false keeps the heuristic: the gates alone.",
  "",
].join("\n");

/** The YAML text (header comment, keys in schema order). */
export function formatGuardrailYaml(p: GuardrailProfile): string {
  return HEADER + stringify(p, { lineWidth: 0 });
}

let validator: ValidateFunction | undefined;

function getValidator(): ValidateFunction {
  if (validator) return validator;
  // dist/src/promotion/x.js -> <root>/schema; src/promotion/x.ts -> <root>/schema.
  let schema: unknown;
  for (const u of [new URL("../../../schema/ml-guardrail.schema.json", import.meta.url), new URL("../../schema/ml-guardrail.schema.json", import.meta.url)]) {
    try {
      schema = JSON.parse(readFileSync(u, "utf8"));
      break;
    } catch {
      /* the other layout */
    }
  }
  if (schema === undefined) throw new Error("schema/ml-guardrail.schema.json not found next to the package");
  const Ajv = ((AjvModule as unknown as { default?: unknown }).default ?? AjvModule) as new (o: object) => { compile(s: unknown): ValidateFunction };
  validator = new Ajv({ allErrors: false, strict: false }).compile(schema);
  return validator;
}

function describe(e: ErrorObject): string {
  const where = e.instancePath === "" ? "profile" : e.instancePath.slice(1).replaceAll("/", ".");
  if (e.keyword === "additionalProperties") return `unknown key "${(e.params as { additionalProperty: string }).additionalProperty}" in ${where}`;
  if (e.keyword === "required") return `missing key "${(e.params as { missingProperty: string }).missingProperty}" in ${where}`;
  if (e.keyword === "const") return `field "${where}": must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`;
  if (e.keyword === "enum") return `field "${where}": must be one of ${JSON.stringify((e.params as { allowedValues: unknown }).allowedValues)}`;
  return `field "${where}": ${e.message ?? e.keyword}`;
}

/** Parses and schema-checks profile YAML; errors are `file:line:col: ...` at the offending node. */
export function parseGuardrailProfile(text: string, file: string): GuardrailProfile {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  if (doc.errors.length > 0) {
    const pos = lc.linePos(doc.errors[0]!.pos[0]);
    throw new GuardrailError(`${file}:${pos.line}:${pos.col}: YAML: ${doc.errors[0]!.message.split("\n")[0]}`);
  }
  const data: unknown = doc.toJS();
  const validate = getValidator();
  if (!validate(data)) {
    const errs = validate.errors!;
    // if/then/else and oneOf report their branches first; the leaf error says more.
    const e = errs.find((x) => !["if", "oneOf", "then", "else"].includes(x.keyword)) ?? errs[0]!;
    const path = e.instancePath === "" ? [] : e.instancePath.slice(1).split("/").map((s) => (/^\d+$/.test(s) ? Number(s) : s));
    const node = (path.length ? doc.getIn(path, true) : doc.contents) as { range?: [number, number, number] } | undefined;
    let off = node?.range?.[0] ?? 0;
    // An unknown key: point at the key itself.
    const extra = e.keyword === "additionalProperties" ? (e.params as { additionalProperty: string }).additionalProperty : undefined;
    if (extra !== undefined && isMap(node)) for (const it of node.items) if (isPair(it) && isScalar(it.key) && String(it.key.value) === extra && it.key.range) off = it.key.range[0];
    const pos = lc.linePos(off);
    throw new GuardrailError(`${file}:${pos.line}:${pos.col}: ${describe(e)}`);
  }
  return data as GuardrailProfile;
}

/** The simulator's guardrail options of a profile: no threshold (the heuristic) unless enabled. */
export function guardrailRunOptions(p: GuardrailProfile): { threshold?: number; hazard: number | null; hazardMultiplier: number } {
  return {
    ...(p.enabled && p.threshold ? { threshold: p.threshold.value } : {}),
    hazard: p.hazard_guard.hazard,
    hazardMultiplier: p.hazard_guard.hazard_multiplier,
  };
}
