/**
 * Replay state file (`output/gates/{mode}/state_{start}_{end}.json`, REPLAY_STATE_VERSION 1):
 *   {"instruments": {"EUR_USD": {"calibrator": [sorted hazards <= 2048],
 *                                "last_ts_ms": 1753..., "repetitions": {"c0.03..": [ts_ms..]}}},
 *    "version": 1}
 * Keys sorted. Rolling mode reads the previous week's file and writes this week's; isolation
 * mode writes one too (for a symmetric graph) but never reads one.
 */
import { stableStringify } from "./records.js";
import { REPLAY_STATE_VERSION, type InstrumentState, type ReplayState } from "./types.js";

/** A bad state file: names the file and the field. */
export class StateFileError extends Error {
  constructor(
    readonly file: string,
    readonly field: string,
    detail: string,
  ) {
    super(`${file}: field "${field}": ${detail}`);
    this.name = "StateFileError";
  }
}

/** An empty state. */
export function emptyReplayState(): ReplayState {
  return { version: REPLAY_STATE_VERSION, instruments: {} };
}

/** Serialises a state (sorted keys, trailing newline). */
export function formatReplayState(state: ReplayState): string {
  return `${stableStringify(state)}\n`;
}

/** Parses and checks a state file's text. */
export function parseReplayState(text: string, file: string): ReplayState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new StateFileError(file, "(file)", `not valid JSON: ${(e as Error).message}`);
  }
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
  if (!isObj(raw)) throw new StateFileError(file, "(file)", "expected a JSON object");
  if (raw["version"] !== REPLAY_STATE_VERSION) {
    throw new StateFileError(file, "version", `expected ${REPLAY_STATE_VERSION}, got ${JSON.stringify(raw["version"])}`);
  }
  const insts = raw["instruments"];
  if (!isObj(insts)) throw new StateFileError(file, "instruments", "expected an object");
  const out: Record<string, InstrumentState> = {};
  for (const [name, v] of Object.entries(insts)) {
    const at = `instruments.${name}`;
    if (!isObj(v)) throw new StateFileError(file, at, "expected an object");
    const cal = v["calibrator"];
    if (!Array.isArray(cal) || cal.some((x) => typeof x !== "number" || !Number.isFinite(x))) {
      throw new StateFileError(file, `${at}.calibrator`, "expected an array of numbers");
    }
    for (let i = 1; i < cal.length; i++) {
      if ((cal[i - 1] as number) > (cal[i] as number)) throw new StateFileError(file, `${at}.calibrator[${i}]`, "list is not sorted");
    }
    const reps = v["repetitions"];
    if (!isObj(reps)) throw new StateFileError(file, `${at}.repetitions`, "expected an object");
    const repOut: Record<string, number[]> = {};
    for (const [sig, q] of Object.entries(reps)) {
      if (!Array.isArray(q) || q.some((x) => !Number.isInteger(x))) {
        throw new StateFileError(file, `${at}.repetitions.${sig}`, "expected an array of integer ts_ms");
      }
      repOut[sig] = q as number[];
    }
    const last = v["last_ts_ms"];
    if (last !== null && !Number.isInteger(last)) throw new StateFileError(file, `${at}.last_ts_ms`, "expected an integer or null");
    out[name] = { calibrator: cal as number[], repetitions: repOut, last_ts_ms: last as number | null };
  }
  return { version: REPLAY_STATE_VERSION, instruments: out };
}
