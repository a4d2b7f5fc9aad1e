/**
 * The modelling report: what Stage 2 learned, as Markdown (`ML_Modeling_Report_{span_end}.md`)
 * and as a self-contained HTML page (`report/index.html`, inline SVG plots, no scripts and no
 * external resources, so it opens anywhere and headless Chromium checks it as-is).
 *
 * It reads only what the builds wrote: features.json (splits, counts), each model's
 * metrics.json and plots, and, when given, the backtest comparison. Report format version 1.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";

/** Version of the report's layout. */
export const REPORT_FORMAT_VERSION = 1;

/** One model's inputs to the report. */
export interface ReportModel {
  readonly name: string;
  readonly metrics: ModelMetricsView;
  readonly calibrationSvg: string;
  readonly learningCurveSvg: string;
}

/** The parts of metrics.json the report shows. */
export interface ModelMetricsView {
  readonly kind: string;
  readonly threshold: { value: number | null; chosen_on: string };
  readonly validation: { model: { auc: number | null } };
  readonly test: {
    model: { auc: number | null; auc_ci95: readonly (number | null)[]; log_loss: number | null; brier: number | null; ece: number | null; accuracy: number | null; n: number };
    hazard_heuristic: { auc: number | null };
    vs_hazard: { delta: number | null; delta_ci95: readonly (number | null)[] };
    vs_base_rate: { delta: number | null; delta_ci95: readonly (number | null)[] };
  };
  readonly verdict: { beats_hazard_on_test: boolean; beats_base_rate_on_test: boolean; summary: string };
  readonly training: { seconds: number; samples_per_s: number; backend: string; threads: number };
}

/** The training data summary the report shows (from features.json). */
export interface DataView {
  readonly params: { horizon: number; run_mode: readonly string[]; stride: number; seq_lengths: readonly number[] };
  readonly splits: { train: readonly string[]; validation: readonly string[]; test: readonly string[]; backtest: readonly string[] };
  readonly counts: { rows: Record<string, number>; purged_rows: Record<string, number>; dropped_incomplete_label: number };
  readonly class_balance: Record<string, { positive_rate: number | null }>;
  readonly features: readonly { name: string }[];
  readonly dropped_features: readonly { name: string; why: string }[];
  readonly inputs: Record<string, { sha256: string }>;
}

/** Loads a model directory's report inputs. */
export async function loadReportModel(dir: string, name: string): Promise<ReportModel> {
  const read = (f: string) => readFile(join(dir, f), "utf8");
  return { name, metrics: JSON.parse(await read("metrics.json")) as ModelMetricsView, calibrationSvg: await read("calibration.svg"), learningCurveSvg: await read("learning_curve.svg") };
}

const fmt = (v: number | null | undefined, d = 3) => (v === null || v === undefined || !Number.isFinite(v) ? "n/a" : v.toFixed(d));
const ci = (c: readonly (number | null)[]) => `[${fmt(c[0])}, ${fmt(c[1])}]`;
const span = (w: readonly string[]) => (w.length ? `${w[0]} .. ${w[w.length - 1]} (${w.length} week${w.length === 1 ? "" : "s"})` : "none");

function modelRows(models: readonly ReportModel[]): string[][] {
  return models.map(({ name, metrics: m }) => [
    name, m.kind, fmt(m.validation.model.auc), `${fmt(m.test.model.auc)} ${ci(m.test.model.auc_ci95)}`, fmt(m.test.hazard_heuristic.auc),
    `${fmt(m.test.vs_hazard.delta)} ${ci(m.test.vs_hazard.delta_ci95)}`, fmt(m.test.model.log_loss), fmt(m.test.model.brier), fmt(m.test.model.ece),
    m.verdict.beats_hazard_on_test ? "beats the heuristic" : m.verdict.beats_base_rate_on_test ? "beats the base rate only" : "no edge",
    `${m.training.backend} x${m.training.threads}, ${fmt(m.training.seconds, 1)} s`,
  ]);
}

const HEAD = ["model", "kind", "val AUC", "test AUC [95% CI]", "hazard AUC", "AUC vs hazard [95% CI]", "log loss", "Brier", "ECE", "verdict", "training"];

/** The verdict in one sentence: does any model beat the gate heuristic out of sample? */
export function headline(models: readonly ReportModel[]): string {
  const winners = models.filter((m) => m.metrics.verdict.beats_hazard_on_test).map((m) => m.name);
  return winners.length
    ? `${winners.join(", ")} beat${winners.length === 1 ? "s" : ""} the hazard heuristic on the test weeks (the lower end of the AUC-margin interval is above 0).`
    : "No model beats the hazard heuristic on the test weeks: no edge (a result, not a failure).";
}

/** The report as Markdown. */
export function renderMarkdown(title: string, data: DataView, models: readonly ReportModel[], backtests: string | null): string {
  const table = (head: string[], rows: string[][]) => [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
  return [
    `# ${title}`,
    "",
    `<!-- dagbuild modelling report, format version ${REPORT_FORMAT_VERSION}; generated from the build's outputs -->`,
    "",
    `**${headline(models)}**`,
    "",
    "## Data",
    "",
    `- Label: sign of the ${data.params.horizon}-minute forward return; run modes ${data.params.run_mode.join(", ")}; windows ${data.params.seq_lengths.join(", ")} gates (training stride ${data.params.stride}).`,
    `- Train ${span(data.splits.train)}; validation ${span(data.splits.validation)}; test ${span(data.splits.test)}; backtest ${span(data.splits.backtest)}.`,
    `- Rows: ${["train", "validation", "test"].map((s) => `${s} ${data.counts.rows[s]} (${data.counts.purged_rows[s]} purged, positive rate ${fmt(data.class_balance[s]?.positive_rate ?? null)})`).join("; ")}; ${data.counts.dropped_incomplete_label} dropped for incomplete labels.`,
    `- ${data.features.length} features; dropped: ${data.dropped_features.map((d) => `${d.name} (${d.why})`).join(", ") || "none"}.`,
    "- Integrity: feature choice, vocabularies and the normaliser were fitted on training rows; early stopping, the decision threshold and the heuristic's calibrator on validation weeks; every test number is out of sample.",
    "",
    "## Models (test weeks)",
    "",
    table(HEAD, modelRows(models)),
    "",
    ...models.flatMap((m) => [`### ${m.name}`, "", m.metrics.verdict.summary, "", `Plots: \`report/${m.name}.calibration.svg\`, \`report/${m.name}.learning_curve.svg\`.`, ""]),
    "## Backtests",
    "",
    backtests ?? "Not part of this build.",
    "",
    "## Inputs",
    "",
    ...Object.entries(data.inputs).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `- \`${k}\`: sha256 \`${v.sha256}\``),
    "",
  ].join("\n");
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** The report as one self-contained HTML page (inline SVG, no script, no external resources). */
export function renderHtml(title: string, markdownSummary: { data: DataView; headline: string }, models: readonly ReportModel[], backtests: string | null): string {
  const rows = modelRows(models).map((r) => `<tr data-model="${esc(r[0]!)}">${r.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`).join("\n");
  const d = markdownSummary.data;
  const sections = models
    .map((m) => `<section class="model" id="model-${esc(m.name)}"><h3>${esc(m.name)}</h3><p>${esc(m.metrics.verdict.summary)}</p><div class="plots">${m.calibrationSvg}${m.learningCurveSvg}</div></section>`)
    .join("\n");
  return `<!doctype html>
<!-- dagbuild modelling report, format version ${REPORT_FORMAT_VERSION} -->
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}.plots svg{max-width:48%;height:auto;margin-right:1%}</style>
</head><body>
<h1>${esc(title)}</h1>
<p id="headline"><strong>${esc(markdownSummary.headline)}</strong></p>
<h2>Data</h2>
<ul id="data"><li>Train ${esc(span(d.splits.train))}</li><li>Validation ${esc(span(d.splits.validation))}</li><li>Test ${esc(span(d.splits.test))}</li><li>Backtest ${esc(span(d.splits.backtest))}</li><li>${d.features.length} features, label: sign of the ${d.params.horizon}-minute forward return</li></ul>
<h2>Models (test weeks)</h2>
<table id="models"><thead><tr>${HEAD.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>
${rows}
</tbody></table>
${sections}
<h2>Backtests</h2>
<pre id="backtests">${esc(backtests ?? "Not part of this build.")}</pre>
</body></html>
`;
}
