/**
 * `dagbuild replay`: replays one candle file of one instrument into gate JSONL with the same
 * code path as the week rule (src/sep/replay.ts).
 *
 *   dagbuild replay --candles FILE --instrument X [--profile P] [--mode rolling|isolation]
 *                   [--state-in FILE] [--state-out FILE] --out FILE
 *
 * FILE is OANDA candle JSON (see src/sep/candle-json.ts; gzipped or not) or a candle parquet (src/market).
 * The whole file is replayed (no week cut); labels use the file's own candles, so the last
 * hours are marked incomplete. `--state-in` continues a rolling chain (ignored in isolation).
 * Exit 0 on success, 2 on bad usage or bad input (a located message on stderr).
 */
import { readFile } from "node:fs/promises";
import { readCandleFile } from "../../market/candle-file.js";
import { CandleDataError } from "../../sep/candle-check.js";
import { checkProfileUse, DEFAULT_PROFILE, loadProfile, ProfileError } from "../../sep/profile.js";
import { formatGateLine } from "../../sep/records.js";
import { replayInstrument } from "../../sep/replay.js";
import { formatReplayState, parseReplayState, StateFileError } from "../../sep/state.js";
import { REPLAY_STATE_VERSION, type ReplayState, type RunMode } from "../../sep/types.js";
import type { Candle } from "../../market/candle.js";
import { writeAtomic } from "../../io/write-atomic.js";

const USAGE =
  "usage: dagbuild replay --candles FILE --instrument X [--profile P] [--mode rolling|isolation] " +
  "[--state-in FILE] [--state-out FILE] --out FILE\n";

class UsageError extends Error {}

function parseArgs(argv: string[]): Record<string, string> {
  const known = new Set(["candles", "instrument", "profile", "mode", "out", "state-in", "state-out"]);
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m || !known.has(m[1]!)) throw new UsageError(`unknown argument ${JSON.stringify(a)}`);
    const v = m[2] ?? argv[++i];
    if (v === undefined) throw new UsageError(`--${m[1]} needs a value`);
    out[m[1]!] = v;
  }
  return out;
}

export async function run(argv: string[]): Promise<number> {
  try {
    if (argv.includes("--help") || argv.includes("-h")) {
      process.stdout.write(USAGE);
      return 0;
    }
    const a = parseArgs(argv);
    for (const req of ["candles", "instrument", "out"]) if (!a[req]) throw new UsageError(`--${req} is required`);
    const mode = (a["mode"] ?? "isolation") as RunMode;
    if (mode !== "rolling" && mode !== "isolation") throw new UsageError(`--mode must be rolling or isolation, got ${JSON.stringify(mode)}`);
    if (!/^[A-Z]{3}_[A-Z]{3}$/.test(a["instrument"]!)) throw new UsageError(`--instrument must look like EUR_USD, got ${JSON.stringify(a["instrument"])}`);
    const inst = a["instrument"]!;
    const profile = a["profile"] ? await loadProfile(a["profile"]) : DEFAULT_PROFILE;
    // Clamped percentiles and caps for other instruments are said, not applied silently.
    if (a["profile"]) for (const w of checkProfileUse(await readFile(a["profile"], "utf8"), a["profile"], [a["instrument"]!])) process.stderr.write(`${w}\n`);
    const candles = await readCandleFile(a["candles"]!);
    let carried;
    let others: ReplayState["instruments"] = {};
    if (a["state-in"] && mode === "rolling") {
      const st = parseReplayState(await readFile(a["state-in"], "utf8"), a["state-in"]);
      carried = st.instruments[inst];
      others = { ...st.instruments }; // other instruments pass through unchanged
    }
    const res = replayInstrument(candles, [], profile, carried, { instrument: inst, runMode: mode });
    let text = "";
    for (const g of res.gates) text += `${formatGateLine(g)}\n`;
    await writeAtomic(a["out"]!, text);
    if (a["state-out"]) {
      await writeAtomic(a["state-out"], formatReplayState({ version: REPLAY_STATE_VERSION, instruments: { ...others, [inst]: res.state } }));
    }
    process.stderr.write(`dagbuild replay: ${res.gates.length} gates from ${candles.length} candles -> ${a["out"]}\n`);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`dagbuild replay: ${e.message}\n${USAGE}`);
      return 2;
    }
    if (e instanceof CandleDataError || e instanceof ProfileError || e instanceof StateFileError) {
      process.stderr.write(`dagbuild replay: ${e.message}\n`);
      return 2;
    }
    if ((e as NodeJS.ErrnoException).code !== undefined) {
      process.stderr.write(`dagbuild replay: ${(e as Error).message}\n`);
      return 2;
    }
    throw e;
  }
}
