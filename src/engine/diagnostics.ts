/**
 * Diagnostics: the one place load/graph errors are built and rendered.
 *
 * Every expected load failure is a `Diagnostic` value (a closed union of kinds, see
 * graph-types.ts); loaders collect them and never throw for user mistakes. Rendering is
 * `file:line:col: error[kind]: message` followed by indented notes, the format compilers use
 * so editors and terminals can jump to the location.
 */
import type { Diagnostic, DiagnosticKind, Loc } from "./graph-types.js";

/** Options of `renderDiagnostics`. */
export interface RenderOptions {
  /** ANSI colours (callers decide from `isTTY` / `NO_COLOR`). */
  readonly color?: boolean;
}

/** Builds a diagnostic; `notes` are extra lines such as the other location of a duplicate. */
export function diag(
  kind: DiagnosticKind,
  message: string,
  loc?: Loc,
  notes?: readonly { message: string; loc?: Loc }[],
): Diagnostic {
  const d: { kind: DiagnosticKind; message: string; loc?: Loc; notes?: readonly { message: string; loc?: Loc }[] } = {
    kind,
    message,
  };
  if (loc) d.loc = loc;
  if (notes && notes.length > 0) d.notes = notes;
  return d;
}

/** `file:line:col`, the prefix of every located line. */
export function formatLoc(loc: Loc): string {
  return `${loc.file}:${loc.line}:${loc.col}`;
}

/**
 * Sorts diagnostics by location (file, line, column) so the output is stable whatever order
 * the checks ran in; unlocated ones (e.g. a bad `--host` flag) come first.
 */
export function sortDiagnostics(diags: readonly Diagnostic[]): Diagnostic[] {
  return diags
    .map((d, i) => ({ d, i }))
    .sort((a, b) => {
      const la = a.d.loc;
      const lb = b.d.loc;
      if (!la || !lb) return (la ? 1 : 0) - (lb ? 1 : 0) || a.i - b.i;
      if (la.file !== lb.file) return la.file < lb.file ? -1 : 1;
      return la.line - lb.line || la.col - lb.col || a.i - b.i;
    })
    .map((x) => x.d);
}

/** Renders diagnostics, one block each, ending with a count line. */
export function renderDiagnostics(diags: readonly Diagnostic[], opts: RenderOptions = {}): string {
  const c = opts.color === true;
  const bold = (s: string) => (c ? `\x1b[1m${s}\x1b[22m` : s);
  const red = (s: string) => (c ? `\x1b[31m${s}\x1b[39m` : s);
  const cyan = (s: string) => (c ? `\x1b[36m${s}\x1b[39m` : s);
  let out = "";
  for (const d of diags) {
    const where = d.loc ? `${bold(formatLoc(d.loc))}: ` : "";
    out += `${where}${red(bold(`error[${d.kind}]`))}: ${d.message}\n`;
    for (const n of d.notes ?? []) {
      const nwhere = n.loc ? `${formatLoc(n.loc)}: ` : "";
      out += `  ${nwhere}${cyan("note")}: ${n.message}\n`;
    }
  }
  if (diags.length > 0) {
    out += `${diags.length} error${diags.length === 1 ? "" : "s"}; nothing was run\n`;
  }
  return out;
}
