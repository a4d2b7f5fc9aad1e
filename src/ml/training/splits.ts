/**
 * Walk-forward splits by week for the Stage 2 training data: train, then validation, then
 * test, in time order, never by random rows (neighbouring gates share 48 of their 64 candles).
 * A backtest span may be named; it must lie inside the test weeks (outside the training and
 * validation weeks, and scored: the models score the validation and test weeks only).
 */

/** The three model splits, in time order. */
export type SplitName = "train" | "validation" | "test";
export const SPLIT_NAMES: readonly SplitName[] = ["train", "validation", "test"];

/** A record with one entry per split, keyed in SPLIT_NAMES order; `k` is the split's index. */
export function perSplit<T>(f: (s: SplitName, k: number) => T): Record<SplitName, T> {
  return Object.fromEntries(SPLIT_NAMES.map((s, k) => [s, f(s, k)])) as Record<SplitName, T>;
}

/** The weeks (Monday ISO dates) of each split, plus the backtest weeks. */
export interface WeekSplits {
  readonly train: readonly string[];
  readonly validation: readonly string[];
  readonly test: readonly string[];
  readonly backtest: readonly string[];
}

/** How the user asked for the split (exactly one way). */
export type SplitSpec =
  | { readonly by: "fraction"; readonly train: number; readonly validation: number }
  | { readonly by: "count"; readonly train?: number; readonly validation: number; readonly test?: number }
  | { readonly by: "span"; readonly train: readonly [string, string]; readonly validation: readonly [string, string]; readonly test: readonly [string, string] };

/** A split that cannot be made from these weeks, or a backtest span that overlaps. */
export class SplitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SplitError";
  }
}

function inSpan(w: string, span: readonly [string, string]): boolean {
  return w >= span[0] && w <= span[1];
}

/** Assigns the sorted distinct weeks to splits per `spec`; the backtest span defaults to the test weeks. */
export function makeSplits(weeks: readonly string[], spec: SplitSpec, backtest?: readonly [string, string]): WeekSplits {
  const w = [...new Set(weeks)].sort();
  let train: string[], validation: string[], test: string[];
  if (spec.by === "span") {
    train = w.filter((x) => inSpan(x, spec.train));
    validation = w.filter((x) => inSpan(x, spec.validation));
    test = w.filter((x) => inSpan(x, spec.test));
    if (!(spec.train[1] < spec.validation[0] && spec.validation[1] < spec.test[0]))
      throw new SplitError(`split spans must be in time order without overlap: train ${spec.train.join("..")}, validation ${spec.validation.join("..")}, test ${spec.test.join("..")}`);
  } else {
    let nTrain: number, nVal: number, nTest: number;
    if (spec.by === "fraction") {
      if (!(spec.train > 0 && spec.validation > 0 && spec.train + spec.validation < 1))
        throw new SplitError(`split fractions must be > 0 and leave a test share: train ${spec.train}, validation ${spec.validation}`);
      nTrain = Math.max(1, Math.min(w.length - 2, Math.round(w.length * spec.train)));
      nVal = Math.max(1, Math.min(w.length - nTrain - 1, Math.round(w.length * (spec.train + spec.validation)) - nTrain));
      nTest = w.length - nTrain - nVal;
    } else {
      // No train count: the last validation + test weeks are those splits, the rest trains.
      nVal = spec.validation;
      nTrain = spec.train ?? w.length - nVal - (spec.test ?? 0);
      nTest = spec.test ?? w.length - nTrain - nVal;
      if (nTrain < 1) throw new SplitError(`split asks for ${nVal} validation and ${spec.test} test weeks, the data has ${w.length}: no week left to train on`);
      if (nTrain + nVal + nTest > w.length) throw new SplitError(`split asks for ${nTrain}+${nVal}+${nTest} weeks, the data has ${w.length}`);
    }
    train = w.slice(0, nTrain);
    validation = w.slice(nTrain, nTrain + nVal);
    test = w.slice(nTrain + nVal, nTrain + nVal + nTest);
  }
  for (const [k, list] of [["train", train], ["validation", validation], ["test", test]] as const) {
    if (list.length === 0) throw new SplitError(`the ${k} split has no weeks (data has ${w.length} weeks: ${w[0] ?? "-"}..${w[w.length - 1] ?? "-"})`);
  }
  const bt = backtest ? w.filter((x) => inSpan(x, backtest)) : test;
  const fitted = new Set([...train, ...validation]);
  const overlap = bt.filter((x) => fitted.has(x));
  if (overlap.length) throw new SplitError(`backtest span ${backtest?.join("..")} overlaps the training or validation weeks: ${overlap.join(", ")}`);
  // Only the split rows are written and scored (ml-scores): a backtest week in no split would
  // have no scores, and every model variant would sit flat through it while the heuristic trades.
  const tested = new Set(test);
  const unscored = bt.filter((x) => !tested.has(x));
  if (unscored.length)
    throw new SplitError(`backtest span ${backtest?.join("..")} has weeks outside the test split (${test[0]}..${test[test.length - 1]}): ${unscored.join(", ")}; the models score only validation and test weeks, so widen the test split or shorten backtest_span`);
  return { train, validation, test, backtest: bt };
}

/** Epoch ms of a week id (Monday 00:00 UTC). */
export function weekStartMs(week: string): number {
  return Date.parse(`${week}T00:00:00Z`);
}

/**
 * Per split, the time from which a label reaches into a later split: the start of the next
 * split's first week (test has none). A row of split k is purged when ts + horizon + embargo
 * reaches that time.
 */
export function purgeLimits(s: WeekSplits): Record<SplitName, number> {
  return { train: weekStartMs(s.validation[0]!), validation: weekStartMs(s.test[0]!), test: Infinity };
}
