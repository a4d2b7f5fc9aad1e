/**
 * Median pruning of sweep trials (issue 13), like Optuna's MedianPruner: after epoch k, a trial
 * whose validation AUC is below the median of its finished siblings' validation AUC at epoch k
 * stops. Fewer than `min_finished` siblings with an epoch k → no pruning (MedianPruner's
 * n_startup_trials). The siblings come from the engine (`ctx.siblings`, a target's
 * `siblings:`), outside the trial's key; a pruned outcome therefore depends on which siblings
 * had finished, i.e. on completion order (-j), and the rule marks it not final.
 *
 * Settings, from the target's `siblings.options`:
 *   prune_after   k: the epoch after which a trial is compared (integer >= 1; absent = no pruning)
 *   min_finished  the fewest finished siblings with an epoch k to compare against (default 3)
 *   same          keys whose values a sibling must share to count (e.g. [horizon, seq_len]):
 *                 AUCs on another label horizon or window are not the same task's, so a
 *                 trial is compared only with its own group (read from the sibling's config.json)
 *
 * A sibling counts when its model directory has metrics.json (it finished training: not a
 * recorded failure, not pruned itself) and its train_log.jsonl has epoch k with a finite AUC
 * (one that stopped early, by patience, before epoch k does not count).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { EpochLog } from "../nn/trainer.js";

/** Resolved pruning settings. */
export interface PruneSettings {
  readonly afterEpochs: number;
  readonly minFinished: number;
  /** Keys a counted sibling shares with this trial (config.json top level: horizon, seq_len). */
  readonly same: readonly string[];
}

/** Bad `siblings.options`: the message names the field. */
export class PruneSettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PruneSettingsError";
  }
}

const KNOWN = ["min_finished", "prune_after", "same"];

/** The settings of `siblings.options`, or undefined when they do not ask for pruning. */
export function pruneSettings(options: Readonly<Record<string, unknown>> | undefined): PruneSettings | undefined {
  if (!options) return undefined;
  for (const k of Object.keys(options)) if (!KNOWN.includes(k)) throw new PruneSettingsError(`siblings.options.${k}: unknown (known: ${KNOWN.join(", ")})`);
  const after = options.prune_after;
  if (after === undefined) return undefined;
  const int = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 1;
  if (!int(after)) throw new PruneSettingsError(`siblings.options.prune_after: must be an integer >= 1 (an epoch), got ${JSON.stringify(after)}`);
  const min = options.min_finished ?? 3;
  if (!int(min)) throw new PruneSettingsError(`siblings.options.min_finished: must be an integer >= 1, got ${JSON.stringify(min)}`);
  const same = options.same ?? [];
  if (!Array.isArray(same) || !same.every((k) => typeof k === "string" && k !== ""))
    throw new PruneSettingsError(`siblings.options.same: must be a list of param names, got ${JSON.stringify(same)}`);
  return { afterEpochs: after as number, minFinished: min as number, same: same as string[] };
}

/** Whether the sibling model in `dir` has `values` (config.json top-level keys); an unreadable config does not count. */
export function sameGroup(dir: string, values: Readonly<Record<string, unknown>>): boolean {
  const keys = Object.keys(values);
  if (keys.length === 0) return true;
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
  } catch {
    return false;
  }
  return keys.every((k) => JSON.stringify(c[k]) === JSON.stringify(values[k]));
}

/** The median of a non-empty list (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A sibling's validation AUC at `epoch`, when it counts (see the header). */
export function siblingAucAt(dir: string, epoch: number): number | undefined {
  const log = join(dir, "train_log.jsonl");
  if (!existsSync(join(dir, "metrics.json")) || existsSync(join(dir, "status.json")) || !existsSync(log)) return undefined;
  for (const line of readFileSync(log, "utf8").split("\n")) {
    if (!line.trim()) continue;
    let e: Partial<EpochLog>;
    try {
      e = JSON.parse(line) as Partial<EpochLog>;
    } catch {
      return undefined; // not a train log this code wrote: the sibling does not count
    }
    if (e.epoch === epoch) return typeof e.val_auc === "number" && Number.isFinite(e.val_auc) ? e.val_auc : undefined;
  }
  return undefined;
}

/** The bar a trial must reach at epoch k: the median and whom it came from. */
export interface PruneBar {
  readonly epoch: number;
  readonly median: number;
  /** The siblings that counted (ids), in the order given. */
  readonly from: readonly string[];
}

/** The bar of `settings` over the finished siblings (id → model directory), or undefined: too few to prune. */
export function pruneBar(settings: PruneSettings, siblings: readonly { id: string; dir: string }[], group: Readonly<Record<string, unknown>> = {}): PruneBar | undefined {
  const from: string[] = [];
  const aucs: number[] = [];
  for (const s of siblings) {
    if (!sameGroup(s.dir, group)) continue;
    const auc = siblingAucAt(s.dir, settings.afterEpochs);
    if (auc === undefined) continue;
    from.push(s.id);
    aucs.push(auc);
  }
  if (aucs.length < settings.minFinished) return undefined;
  return { epoch: settings.afterEpochs, median: median(aucs), from };
}

/** Thrown from the epoch hook to stop a trial that lost to the bar; carries the epochs run. */
export class TrialPruned extends Error {
  constructor(
    readonly bar: PruneBar,
    readonly epochs: readonly EpochLog[],
  ) {
    const last = epochs[epochs.length - 1]!;
    super(`pruned: validation AUC ${last.val_auc.toFixed(4)} < median ${bar.median.toFixed(4)} of ${bar.from.length} finished trials at epoch ${bar.epoch}`);
    this.name = "TrialPruned";
  }
}

/**
 * An epoch hook that records the epochs and throws TrialPruned after epoch `bar.epoch` when
 * the AUC is below the bar (a NaN AUC, one class in validation, is never pruned).
 */
export function pruningHook(bar: PruneBar): (e: EpochLog) => void {
  const epochs: EpochLog[] = [];
  return (e) => {
    epochs.push(e);
    if (e.epoch === bar.epoch && e.val_auc < bar.median) throw new TrialPruned(bar, epochs);
  };
}
