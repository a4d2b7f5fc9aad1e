/**
 * The sweep ledger: one line per trial of a model's sweep, read from the trial directories
 * (`output/ml_models/sweeps/<model>/<trial>/`), and the choice of the best trial.
 *
 * ledger.jsonl (format dagbuild.sweep_ledger, version 1): a header line, then one line per
 * trial in trial-id order:
 *   {"kind":"header","format":"dagbuild.sweep_ledger","version":1,"model":"lstm",
 *    "trials_tried":12,"ok":11,"failed":1,"pruned":0,"selection":{"metric":"validation.model.auc","best":"<id>"|null},
 *    "swept":["layers","lr","units"]}
 *   {"kind":"trial","trial":"<id>","status":"ok"|"failed"|"pruned","params":{...},
 *    "metrics":{"val_auc":..,"val_log_loss":..,"test_auc":..,...}|null,"duration_s":..,"backend":..,"host":..,"error"?:..}
 *   (a pruned trial: metrics of the epochs it ran, "error" = why it was pruned)
 *
 * `duration_s` is the training time (metrics.json `training.seconds`; the action's whole
 * duration is in its action record, which `dagbuild metrics` reads), `host` the engine host
 * the ledger's params name. Status `pruned` is read from a status.json that says so (rules/
 * ml-model.ts with pruning on, docs/pipeline-format.md "Siblings"): its `metrics` are those of
 * the epochs it ran (val_auc at the pruning epoch, epochs_run, the median it lost to), its
 * `error` says why it stopped; a pruned trial is never the best. The ledger of a sweep with
 * pruned trials is as provisional as they are: which trials prune depends on completion order.
 *
 * `trials_tried` counts every trial with an outcome (ok, failed or pruned): the number a
 * deflated Sharpe ratio corrects for. A trial's status comes from its directory: metrics.json
 * = ok; status.json (rules/ml-model.ts `on_failure: record`) = its status (failed). A trial
 * whose action failed has no directory and no line: the engine does not run the ledger until
 * every trial has an outcome (see docs/pipeline-format.md, Sweeps).
 *
 * Selection uses validation metrics only: the highest validation AUC, ties broken by the
 * lower validation log loss, then the trial id.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";

/** Format version of ledger.jsonl. */
export const LEDGER_VERSION = 1;

/** A trial's outcome. */
export type TrialStatus = "ok" | "failed" | "pruned";

/** One trial line. */
export interface LedgerTrial {
  readonly kind: "trial";
  readonly trial: string;
  readonly status: TrialStatus;
  readonly params: Readonly<Record<string, unknown>>;
  readonly metrics: Readonly<Record<string, number>> | null;
  readonly duration_s: number | null;
  readonly backend: string | null;
  readonly host: string | null;
  readonly error?: string;
}

/** The header line. */
export interface LedgerHeader {
  readonly kind: "header";
  readonly format: "dagbuild.sweep_ledger";
  readonly version: number;
  readonly model: string;
  readonly trials_tried: number;
  readonly ok: number;
  readonly failed: number;
  readonly pruned: number;
  readonly selection: { readonly metric: "validation.model.auc"; readonly best: string | null };
  readonly swept: readonly string[];
}

/** A model directory or a trial directory that cannot be read as one. */
export class SweepError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SweepError";
  }
}

type Json = Record<string, unknown>;

function readJson(path: string): Json {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Json;
  } catch (e) {
    throw new SweepError(`${path}: ${(e as Error).message}`);
  }
}

const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
/** The value at a dotted `path` of parsed JSON (undefined where any step is missing). */
export const at = (o: unknown, path: string): unknown => path.split(".").reduce<unknown>((x, k) => (x && typeof x === "object" ? (x as Json)[k] : undefined), o);

/** The metric columns taken from a dagbuild.ml_metrics file, by short name → path. */
export const METRIC_PATHS: Readonly<Record<string, string>> = {
  val_auc: "validation.model.auc",
  val_log_loss: "validation.model.log_loss",
  val_brier: "validation.model.brier",
  val_accuracy: "validation.model.accuracy",
  test_auc: "test.model.auc",
  test_log_loss: "test.model.log_loss",
  test_brier: "test.model.brier",
  test_accuracy: "test.model.accuracy",
  best_epoch: "training.best_epoch",
  epochs_run: "training.epochs_run",
};

/** The short metrics of a parsed metrics.json (absent ones left out). */
export function shortMetrics(m: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, p] of Object.entries(METRIC_PATHS)) {
    const v = num(at(m, p));
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/**
 * A model's params as config.json records them, flat: the architecture (less what the data
 * decides) and the training settings, the names the model params use.
 */
export function configParams(config: unknown): Record<string, unknown> {
  const arch = (at(config, "architecture") ?? {}) as Json;
  const tr = (at(config, "training") ?? {}) as Json;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(arch)) if (k !== "n_features" && k !== "kind" && k !== "magnitude") out[k] = v;
  if (typeof arch.kind === "string") out.model = arch.kind;
  if (typeof arch.magnitude === "boolean") out.task = arch.magnitude ? "both" : "sign";
  for (const k of ["seed", "epochs", "patience", "batch", "lr", "backend", "max_train_samples"]) if (tr[k] !== undefined) out[k] = tr[k];
  // The training data's label horizon (config.json `horizon`): a sweep over horizons lists it.
  if (typeof at(config, "horizon") === "number") out.horizon = at(config, "horizon");
  return Object.fromEntries(Object.keys(out).sort().map((k) => [k, out[k]]));
}

/** The finite numbers of a flat object, keys sorted. */
function numbersOf(o: Json): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(o).sort()) {
    const v = num(o[k]);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** One trial directory → its ledger line. `host` is the engine host the trials ran on. */
export function readTrial(dir: string, host: string | null): LedgerTrial {
  const trial = basename(dir.replace(/\/+$/, ""));
  const status = join(dir, "status.json");
  if (existsSync(status)) {
    const s = readJson(status);
    const st = s.status;
    if (s.format !== "dagbuild.trial_status" || (st !== "failed" && st !== "pruned")) throw new SweepError(`${status}: not a dagbuild.trial_status file with status failed or pruned`);
    // A pruned trial keeps the metrics of the epochs it ran (status.json `metrics`, short names).
    const metrics = st === "pruned" && s.metrics && typeof s.metrics === "object" ? numbersOf(s.metrics as Json) : null;
    return { kind: "trial", trial, status: st, params: (s.params ?? {}) as Json, metrics, duration_s: null, backend: null, host, error: String(s.error ?? "") };
  }
  const mfile = join(dir, "metrics.json");
  if (!existsSync(mfile)) throw new SweepError(`${dir}: neither metrics.json nor status.json: not a trial directory`);
  const m = readJson(mfile);
  const cfg = existsSync(join(dir, "config.json")) ? readJson(join(dir, "config.json")) : {};
  return {
    kind: "trial", trial, status: "ok",
    params: configParams(cfg),
    metrics: shortMetrics(m),
    duration_s: num(at(m, "training.seconds")) ?? null,
    backend: typeof at(m, "training.backend") === "string" ? (at(m, "training.backend") as string) : null,
    host,
  };
}

/** The best ok trial by validation AUC (ties: lower validation log loss, then id), or null. */
export function bestTrial(trials: readonly LedgerTrial[]): LedgerTrial | null {
  let best: LedgerTrial | null = null;
  const key = (t: LedgerTrial) => [t.metrics?.val_auc ?? -Infinity, -(t.metrics?.val_log_loss ?? Infinity)] as const;
  for (const t of trials) {
    if (t.status !== "ok" || t.metrics?.val_auc === undefined) continue;
    if (!best) {
      best = t;
      continue;
    }
    const [a1, a2] = key(t);
    const [b1, b2] = key(best);
    if (a1 > b1 || (a1 === b1 && (a2 > b2 || (a2 === b2 && t.trial < best.trial)))) best = t;
  }
  return best;
}

/**
 * The params whose values differ between the trials that have them (the swept ones), sorted.
 * A failed trial lists the params it was given, an ok one every resolved default as well: a
 * key only one side has is not swept.
 */
export function sweptKeys(trials: readonly LedgerTrial[]): string[] {
  const keys = new Set(trials.flatMap((t) => Object.keys(t.params)));
  return [...keys].filter((k) => new Set(trials.filter((t) => k in t.params).map((t) => JSON.stringify(t.params[k]))).size > 1).sort();
}

/** The ledger of `model` from its trial directories: header and lines, in trial-id order. */
export function buildLedger(model: string, dirs: readonly string[], host: string | null): { header: LedgerHeader; trials: LedgerTrial[] } {
  const trials = dirs.map((d) => readTrial(d, host)).sort((a, b) => (a.trial < b.trial ? -1 : a.trial > b.trial ? 1 : 0));
  const count = (s: TrialStatus) => trials.filter((t) => t.status === s).length;
  const header: LedgerHeader = {
    kind: "header", format: "dagbuild.sweep_ledger", version: LEDGER_VERSION, model,
    trials_tried: trials.length, ok: count("ok"), failed: count("failed"), pruned: count("pruned"),
    selection: { metric: "validation.model.auc", best: bestTrial(trials)?.trial ?? null },
    swept: sweptKeys(trials),
  };
  return { header, trials };
}

/** ledger.jsonl text: one JSON object a line (keys in a fixed order). */
export function formatLedger(l: { header: LedgerHeader; trials: readonly LedgerTrial[] }): string {
  return [l.header, ...l.trials].map((x) => JSON.stringify(x)).join("\n") + "\n";
}

/** Parses ledger.jsonl; throws a SweepError naming the file and line. */
export function parseLedger(text: string, file: string): { header: LedgerHeader; trials: LedgerTrial[] } {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const rows = lines.map((l, i) => {
    try {
      return JSON.parse(l) as Json;
    } catch (e) {
      throw new SweepError(`${file}:${i + 1}: ${(e as Error).message}`);
    }
  });
  const header = rows[0] as unknown as LedgerHeader | undefined;
  if (!header || header.kind !== "header" || header.format !== "dagbuild.sweep_ledger") throw new SweepError(`${file}:1: not a dagbuild.sweep_ledger header`);
  if (header.version !== LEDGER_VERSION) throw new SweepError(`${file}:1: ledger version ${header.version}, this dagbuild reads ${LEDGER_VERSION}`);
  return { header, trials: rows.slice(1) as unknown as LedgerTrial[] };
}
