/**
 * replay-week: one week of the SEP gate stream over every instrument (gate-spec sections 2-8).
 *
 * Partition: [mode, week]; rolling weeks form a chain through `state`.
 * Inputs (by name):
 *   candles  this week's candle parquet files, `data/candles/{instrument}/{week}.parquet`
 *            (the instrument is the parent directory's name)
 *   tail     next week's candle files (labels only; absent for the last week: labels past the
 *            data are then marked incomplete)
 *   state    previous week's state JSON (rolling; absent for the first week; ignored in isolation)
 *   profile  the strategy profile YAML (config/echo_strategy.yaml)
 * Params:  mode (rolling | isolation; default the partition's), week_start, week_end (ISO
 *          dates; candles with week_start <= t < week_end are replayed; default the partition's
 *          week and seven days later)
 * Outputs: gates (JSONL, src/sep/records.ts, sorted by instrument then ts_ms), summary (ROC
 *          summary JSON), state (replay state JSON, written in both modes).
 */
import { readFile, writeFile } from "node:fs/promises";
import { basename, dirname, relative } from "node:path";
import { defineRule, oneInput, RuleError, type RuleContext } from "../src/engine/rule.js";
import type { Candle } from "../src/market/candle.js";
import { readCandleFiles, CandleReadError } from "../src/market/candle-store.js";
import { parseIsoDate, formatIsoDate, parseWeekId } from "../src/market/weeks.js";
import { CandleDataError, validateCandles } from "../src/sep/candle-check.js";
import { checkProfileUse, loadProfile, ProfileError } from "../src/sep/profile.js";
import { formatGateLine } from "../src/sep/records.js";
import { stableStringify } from "../src/sep/records.js";
import { formatReplayState, parseReplayState, StateFileError } from "../src/sep/state.js";
import type { ReplayState, RunMode } from "../src/sep/types.js";
import { replayWeek } from "../src/sep/week.js";

const DAY_MS = 86_400_000;

function param(ctx: RuleContext, name: string): string | undefined {
  const v = ctx.params[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw new RuleError(`replay-week: param "${name}" must be a string, got ${JSON.stringify(v)}`);
  return v;
}

function output(ctx: RuleContext, name: string): string {
  const p = ctx.outputs[name];
  if (!p) throw new RuleError(`replay-week: declare an output named "${name}"`);
  return p;
}

/** Reads candle files grouped by instrument (the parent directory name), one DuckDB instance. */
async function readByInstrument(ctx: RuleContext, paths: readonly string[], into: Map<string, Candle[]>): Promise<void> {
  let all: Candle[][];
  try {
    all = await readCandleFiles(paths);
  } catch (e) {
    if (e instanceof CandleReadError) throw new RuleError(`${relative(ctx.root, e.path)}: cannot read candle parquet: ${e.message}`);
    throw e;
  }
  paths.forEach((p, i) => {
    const inst = basename(dirname(p));
    const shown = relative(ctx.root, p);
    const candles = all[i]!;
    try {
      validateCandles(candles, shown);
    } catch (e) {
      if (e instanceof CandleDataError) throw new RuleError(e.message);
      throw e;
    }
    const list = into.get(inst) ?? [];
    if (list.length > 0 && candles.length > 0 && candles[0]!.t <= list[list.length - 1]!.t) {
      throw new RuleError(`${shown}: candles overlap the previous file of ${inst}`);
    }
    for (const k of candles) list.push(k);
    into.set(inst, list);
  });
}

export default defineRule({
  describe: "week of candles (every instrument of the axis) -> gates JSONL, ROC summary, carried state",
  async run(ctx) {
    const mode = (param(ctx, "mode") ?? ctx.partition["mode"]) as RunMode | undefined;
    if (mode !== "rolling" && mode !== "isolation") {
      throw new RuleError(`replay-week: param "mode" must be rolling or isolation, got ${JSON.stringify(mode)}`);
    }
    const weekStart = param(ctx, "week_start") ?? ctx.partition["week"];
    if (weekStart === undefined) throw new RuleError('replay-week: param "week_start" is missing');
    const startMs = parseIsoDate(weekStart) ?? parseWeekId(weekStart);
    if (startMs === null) throw new RuleError(`replay-week: param "week_start": not an ISO date: ${JSON.stringify(weekStart)}`);
    const weekEndParam = param(ctx, "week_end");
    const endMs = weekEndParam === undefined ? startMs + 7 * DAY_MS : parseIsoDate(weekEndParam);
    if (endMs === null) throw new RuleError(`replay-week: param "week_end": not an ISO date: ${JSON.stringify(weekEndParam)}`);
    if (endMs <= startMs) throw new RuleError(`replay-week: week_end ${weekEndParam} is not after week_start ${weekStart}`);

    const profilePath = oneInput(ctx, "profile");
    let profile;
    try {
      profile = await loadProfile(profilePath);
    } catch (e) {
      if (e instanceof ProfileError) throw new RuleError(e.message);
      throw e;
    }

    let state: ReplayState | undefined;
    const statePath = ctx.inputs["state"]?.[0];
    if (mode === "rolling" && statePath !== undefined) {
      try {
        state = parseReplayState(await readFile(statePath, "utf8"), relative(ctx.root, statePath));
      } catch (e) {
        if (e instanceof StateFileError) throw new RuleError(e.message);
        throw e;
      }
    }

    const candles = new Map<string, Candle[]>();
    await readByInstrument(ctx, ctx.inputs["candles"] ?? [], candles);
    if (candles.size === 0) throw new RuleError('replay-week: input "candles" is empty');
    // What the replay does with the profile, against the instruments it replays (issue 12).
    try {
      const shown = relative(ctx.root, profilePath);
      for (const w of checkProfileUse(await readFile(profilePath, "utf8"), shown, [...candles.keys()].sort())) ctx.log(w);
    } catch (e) {
      if (e instanceof ProfileError) throw new RuleError(e.message);
      throw e;
    }
    const tails = new Map<string, Candle[]>();
    await readByInstrument(ctx, ctx.inputs["tail"] ?? [], tails);
    for (const [inst, tail] of tails) {
      const own = candles.get(inst);
      if (!own) continue; // a tail without this week's candles labels nothing
      const lastT = own.length > 0 ? own[own.length - 1]!.t : Number.NEGATIVE_INFINITY;
      for (const k of tail) if (k.t > lastT) own.push(k);
    }

    let out;
    try {
      out = replayWeek({
        candles,
        startMs,
        endMs,
        weekStart: formatIsoDate(startMs),
        weekEnd: formatIsoDate(endMs),
        mode,
        profile,
        state,
      });
    } catch (e) {
      throw new RuleError(`replay-week: ${(e as Error).message}`);
    }
    let text = "";
    for (const g of out.gates) text += `${formatGateLine(g)}\n`;
    await writeFile(output(ctx, "gates"), text);
    await writeFile(output(ctx, "summary"), `${stableStringify(out.summary)}\n`);
    await writeFile(output(ctx, "state"), formatReplayState(out.state));
    ctx.log(`replay-week ${mode} ${formatIsoDate(startMs)}: ${out.gates.length} gates over ${candles.size} instruments`);
  },
});
