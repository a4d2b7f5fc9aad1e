/**
 * Canonical JSON for reports: object keys sorted at every level, fixed indentation, trailing
 * newline, so a report's bytes depend only on its content.
 */

/** Serializes `value` with sorted keys (arrays keep their order). */
export function canonicalJson(value: unknown, indent = 2): string {
  return (
    JSON.stringify(
      value,
      (_k, v) =>
        v && typeof v === "object" && !Array.isArray(v)
          ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]))
          : v,
      indent,
    ) + "\n"
  );
}
