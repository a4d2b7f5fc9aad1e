/**
 * Typed reads of rule params with errors that name the param (shared by the corpus, ML and
 * bundle rules).
 */
import { RuleError } from "../engine/rule.js";

type Params = Readonly<Record<string, unknown>>;

/** A required non-empty string param. */
export function requireString(p: Params, name: string): string {
  const v = p[name];
  if (typeof v !== "string" || v === "") throw new RuleError(`param "${name}" must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

/** An optional string param. */
export function optionalString(p: Params, name: string, dflt: string): string {
  return p[name] === undefined ? dflt : requireString(p, name);
}

/** An optional boolean param (YAML true/false). */
export function optionalBool(p: Params, name: string, dflt: boolean): boolean {
  const v = p[name];
  if (v === undefined) return dflt;
  if (typeof v !== "boolean") throw new RuleError(`param "${name}" must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** An optional number param. */
export function optionalNumber(p: Params, name: string, dflt: number): number {
  const v = p[name];
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isFinite(v)) throw new RuleError(`param "${name}" must be a number, got ${JSON.stringify(v)}`);
  return v;
}

/** An optional list of strings (a single string is a list of one). */
export function optionalStringList(p: Params, name: string, dflt: readonly string[]): string[] {
  const v = p[name];
  if (v === undefined) return [...dflt];
  const list = Array.isArray(v) ? v : [v];
  if (!list.every((x) => typeof x === "string" || typeof x === "number")) throw new RuleError(`param "${name}" must be a list of strings`);
  return list.map(String);
}

/** An optional list of numbers. */
export function optionalNumberList(p: Params, name: string, dflt: readonly number[]): number[] {
  const v = p[name];
  if (v === undefined) return [...dflt];
  const list = Array.isArray(v) ? v : [v];
  if (!list.every((x) => typeof x === "number" && Number.isFinite(x))) throw new RuleError(`param "${name}" must be a list of numbers`);
  return list as number[];
}
