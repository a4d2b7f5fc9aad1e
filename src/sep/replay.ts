/**
 * Replay of one instrument's candles into gates (spec sections 2-8), the pure core shared by
 * the week rule (`rules/replay-week.ts`) and `dagbuild replay`.
 *
 * Per series: statistics (ATR, medians) over exactly the replayed candles, one codec byte per
 * candle. Per window (start = 0, 16, ...): structure metrics, canonical features and regime,
 * then the stateful part in time order (calibrator threshold, admission, repetitions) and the
 * forward-return labels. The stateful part is an `InstrumentState` that rolling mode carries
 * from week to week; isolation mode always starts fresh.
 */
import type { Candle } from "../market/candle.js";
import { admissionReasons } from "./admission.js";
import { HazardCalibrator } from "./calibrator.js";
import { bitsB64, codecMeta, encodeSeries, STRIDE, WINDOW, windowAtrMean } from "./codec.js";
import { forwardLabels, labelSeries, rocPrevPct } from "./labels.js";
import { MetricsEngine, publish } from "./metrics.js";
import { directionOf, GATE_RECORD_VERSION, type GateRecord } from "./records.js";
import { canonicalFeatures, regimeInfo, windowMeanClose } from "./regime.js";
import { RepetitionTracker } from "./repetitions.js";
import { computeSeriesStats, toColumns } from "./series-stats.js";
import type { InstrumentState, Profile, RunMode } from "./types.js";

/** Who is replayed and how the records are labelled. */
export interface ReplayOptions {
  instrument: string;
  runMode: RunMode;
  /** `source` field of the records (default "replay"). */
  source?: string;
}

/** Gates of one replay and the state to carry into the next (rolling mode). */
export interface ReplayResult {
  gates: GateRecord[];
  state: InstrumentState;
}

/** A fresh per-instrument state. */
export function emptyInstrumentState(): InstrumentState {
  return { calibrator: [], repetitions: {}, last_ts_ms: null };
}

/**
 * Replays `candles` (sorted, strictly increasing t; validate first) of one instrument.
 * `labelTail` = candles after the replayed ones, used only for forward-return labels.
 * `state` = carried state (rolling); ignored in isolation mode.
 */
export function replayInstrument(
  candles: readonly Candle[],
  labelTail: readonly Candle[],
  profile: Profile,
  state: InstrumentState | undefined,
  opts: ReplayOptions,
): ReplayResult {
  const carried = opts.runMode === "rolling" && state !== undefined ? state : emptyInstrumentState();
  const cols = toColumns(candles);
  const n = cols.n;
  if (labelTail.length > 0 && n > 0 && !(labelTail[0]!.t > cols.t[n - 1]!)) {
    throw new Error(`${opts.instrument}: label tail starts at ${labelTail[0]!.t}, not after the last replayed candle`);
  }
  if (carried.last_ts_ms !== null && n > 0 && cols.t[n - 1]! <= carried.last_ts_ms) {
    throw new Error(
      `${opts.instrument}: carried state ends at ${new Date(carried.last_ts_ms).toISOString()}, ` +
        `after these candles (rolling weeks must be replayed in order)`,
    );
  }
  const stats = computeSeriesStats(cols);
  const bytes = encodeSeries(cols, stats);
  const labels = labelSeries(cols.t, cols.c, labelTail);

  const calibrator = new HazardCalibrator(carried.calibrator);
  const reps = new RepetitionTracker(carried.repetitions);
  const retentionMs = profile.signature_retention_minutes * 60_000;
  const hazardMax = profile.hazard_max[opts.instrument];
  const engine = new MetricsEngine();
  const scratch = new Float64Array(WINDOW - 1);
  const source = opts.source ?? "replay";
  const gates: GateRecord[] = [];
  let lastTs = carried.last_ts_ms;

  for (let start = 0; start + WINDOW <= n; start += STRIDE) {
    const end = start + WINDOW - 1;
    const tsMs = cols.t[end]!;
    const structure = publish(engine.raw(bytes, start));
    const atrMean = windowAtrMean(stats.atr, start);
    const features = canonicalFeatures(cols, stats, start, atrMean, scratch);
    const regime = regimeInfo(
      features,
      profile.regime_normalization,
      profile.regime_normalization === "price" ? windowMeanClose(cols, start) : 1,
    );
    const hazard = structure.hazard;
    const threshold = calibrator.update(hazard, profile.hazard_percentile, hazardMax);
    const reasons = admissionReasons(
      { hazard, threshold, label: regime.label, confidence: regime.confidence },
      profile,
    );
    const repetitions = reps.push(structure.signature, tsMs, retentionMs);
    const priceClose = cols.c[end]!;
    const lab = forwardLabels(labels, tsMs, priceClose, end);
    gates.push({
      record_version: GATE_RECORD_VERSION,
      instrument: opts.instrument,
      ts_ms: tsMs,
      ts: new Date(tsMs).toISOString(),
      hazard,
      lambda: hazard * profile.lambda_scale,
      hazard_threshold: threshold,
      admit: reasons.length === 0,
      reasons,
      regime,
      regime_confidence: regime.confidence,
      coherence: structure.coherence,
      stability: structure.stability,
      entropy: structure.entropy,
      repetitions,
      signature: structure.signature,
      structure,
      components: { bits_b64: bitsB64(bytes, start), codec_meta: codecMeta(atrMean, stats) },
      direction: directionOf(regime.label),
      source,
      run_mode: opts.runMode,
      price_close: priceClose,
      roc_prev_pct: rocPrevPct(priceClose, end > 0 ? cols.c[end - 1] : undefined),
      roc_forward_pct: lab.roc_forward_pct,
      label_complete: lab.label_complete,
      label_complete_h: lab.label_complete_h,
    });
    lastTs = tsMs;
  }
  return {
    gates,
    state: {
      calibrator: calibrator.values.slice(),
      repetitions: reps.toJSON(lastTs, retentionMs),
      last_ts_ms: lastTs,
    },
  };
}
