/**
 * Test helpers for the corpus suite: a hand-made RuleContext in a temp workspace, and a guard
 * timeout for anything that could hang (uvu has none).
 */
import { mkdtempSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Rule, RuleContext } from "../../src/engine/rule.js";
import { withTimeout } from "../helpers/timeout.js";

/** A fresh temp workspace. */
export function tempRoot(tag: string): string {
  return mkdtempSync(join(tmpdir(), `dagbuild-${tag}-`));
}

/** Runs a rule with inputs/outputs given as workspace-relative paths; returns the log lines. */
export async function runRule(
  rule: Rule,
  root: string,
  spec: {
    inputs: Record<string, string[]>;
    outputs: Record<string, string>;
    params?: Record<string, unknown>;
    partition?: Record<string, string>;
  },
): Promise<string[]> {
  const lines: string[] = [];
  const outputs: Record<string, string> = {};
  for (const [k, rel] of Object.entries(spec.outputs)) {
    const abs = join(root, rel.replace(/\/$/, ""));
    if (rel.endsWith("/")) mkdirSync(abs, { recursive: true });
    else mkdirSync(dirname(abs), { recursive: true });
    outputs[k] = abs;
  }
  const inputs: Record<string, string[]> = {};
  const all: string[] = [];
  for (const [k, list] of Object.entries(spec.inputs)) {
    inputs[k] = list.map((p) => join(root, p)).sort();
    all.push(...inputs[k]!);
  }
  inputs["*"] = all.sort();
  const ctx: RuleContext = {
    root,
    target: "test",
    partition: spec.partition ?? {},
    params: spec.params ?? {},
    inputs,
    outputs,
    log: (l) => lines.push(l),
    signal: new AbortController().signal,
  };
  await withTimeout(Promise.resolve(rule.run(ctx)), 120_000, "rule run");
  return lines;
}

/** Rejects when `p` takes longer than `ms`. */
