/**
 * One week of the gate stream over all instruments (pure): replays each instrument's candles
 * in [start, end) with its carried state, labels with candles up to end + 360 min, and returns
 * the gates (sorted by instrument, then ts_ms), the ROC summary and the next state. The week
 * rule is this plus file I/O, so tests can check the rolling chain without DuckDB.
 */
import type { Candle } from "../market/candle.js";
import type { GateRecord } from "./records.js";
import { replayInstrument } from "./replay.js";
import { rocSummary, type RocSummary } from "./roc-summary.js";
import { MAX_HORIZON_MIN, type Profile, type ReplayState, type RunMode } from "./types.js";
import { emptyReplayState } from "./state.js";

/** Inputs of one week. */
export interface WeekInput {
  /** Candles per instrument (sorted, unique t); may extend past the week (the label tail). */
  candles: ReadonlyMap<string, readonly Candle[]>;
  /** Week bounds in ms: replay candles with start <= t < end. */
  startMs: number;
  endMs: number;
  /** ISO dates, only for the summary. */
  weekStart: string;
  weekEnd: string;
  mode: RunMode;
  profile: Profile;
  /** Previous week's state (rolling); ignored in isolation mode. */
  state: ReplayState | undefined;
}

/** Outputs of one week. */
export interface WeekOutput {
  gates: GateRecord[];
  summary: RocSummary;
  state: ReplayState;
}

/** Replays one week over every instrument. */
export function replayWeek(input: WeekInput): WeekOutput {
  const carried = input.mode === "rolling" ? input.state?.instruments ?? {} : {};
  const next = emptyReplayState();
  // Instruments absent this week keep their state (rolling): a quiet week must not reset them.
  for (const [k, v] of Object.entries(carried)) next.instruments[k] = v;
  const gates: GateRecord[] = [];
  const labelEnd = input.endMs + MAX_HORIZON_MIN * 60_000;
  for (const inst of [...input.candles.keys()].sort()) {
    const all = input.candles.get(inst)!;
    const week: Candle[] = [];
    const tail: Candle[] = [];
    let beyond = false;
    for (const k of all) {
      if (k.t >= input.startMs && k.t < input.endMs) week.push(k);
      else if (k.t >= input.endMs && k.t <= labelEnd) tail.push(k);
      else if (k.t > labelEnd && !beyond) {
        // One candle past the label window: never used as a close (close_asof(x) takes open
        // times <= x <= labelEnd), it only shows the data goes on, so a late-Friday label over
        // a holiday gap is complete (Friday's close) rather than marked missing.
        tail.push(k);
        beyond = true;
      }
    }
    const r = replayInstrument(week, tail, input.profile, carried[inst], { instrument: inst, runMode: input.mode });
    next.instruments[inst] = r.state;
    for (const g of r.gates) gates.push(g);
  }
  return {
    gates,
    summary: rocSummary(gates, { mode: input.mode, week_start: input.weekStart, week_end: input.weekEnd }),
    state: next, // formatReplayState writes the keys sorted
  };
}
