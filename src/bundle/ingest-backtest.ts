/**
 * The backtest members of an ingested bundle (./backtest-members.ts): read from the bundle's
 * BUNDLE_INDEX.json (version 2, section `backtest`) once every member is verified, recorded in
 * INGEST.json `backtest` (IngestedBacktest: the section plus each carried file's digest and
 * size), and located again by the backtest rule (findIngestedBacktest), which re-hashes them.
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { sha256File } from "./manifest.js";
import { IngestError } from "./ingest-error.js";
import { BACKTEST_DIR, type BacktestIndex } from "./backtest-members.js";
import { INGEST_FILE, readIngestRecord, type IngestedFile } from "./ingest.js";

/** INGEST.json `backtest`: the bundle's section and the carried files, verified. */
export interface IngestedBacktest extends BacktestIndex {
  readonly files: readonly IngestedFile[];
}

const INDEX_FILE = "BUNDLE_INDEX.json";
const isWeek = (x: unknown): x is string => typeof x === "string" && /^\d{4}-\d{2}-\d{2}$/.test(x);
const isWeekList = (x: unknown): x is string[] => Array.isArray(x) && x.every(isWeek);

function bad(bundleName: string, what: string): IngestError {
  return new IngestError(`archive ${bundleName}: ${INDEX_FILE} field "backtest"${what}`, { kind: "bad-record", member: INDEX_FILE });
}

/** Checks the shape of a `backtest` section; every path must lie under backtest/. */
function checkSection(b: Partial<BacktestIndex>, bundleName: string): BacktestIndex {
  if (typeof b.mode !== "string" || !/^[A-Za-z0-9_-]+$/.test(b.mode)) throw bad(bundleName, `.mode: expected a run mode, got ${JSON.stringify(b.mode)}`);
  if (!isWeekList(b.weeks) || !isWeekList(b.validation_weeks)) throw bad(bundleName, ".weeks / .validation_weeks: expected lists of week ids (YYYY-MM-DD)");
  if (!Array.isArray(b.instruments) || !b.instruments.every((x) => typeof x === "string")) throw bad(bundleName, ".instruments: expected a list of instruments");
  if (!b.gates || typeof b.gates !== "object" || !Array.isArray(b.candles)) throw bad(bundleName, ".gates / .candles: expected a week map and a list of paths");
  const paths = [...Object.values(b.gates), ...b.candles];
  const off = paths.find((p) => typeof p !== "string" || !p.startsWith(`${BACKTEST_DIR}/`) || p.split("/").includes(".."));
  if (off !== undefined) throw bad(bundleName, `: path ${JSON.stringify(off)} is not under ${BACKTEST_DIR}/`);
  return b as BacktestIndex;
}

/**
 * The `backtest` section of the verified members' BUNDLE_INDEX.json (in `dir`), with the files
 * it names; null for a bundle without one (index version 1, or `backtest: null`). A path the
 * section names that is no verified member is refused.
 */
export async function backtestOfIndex(dir: string, files: readonly IngestedFile[], bundleName: string): Promise<IngestedBacktest | null> {
  if (!files.some((f) => f.path === INDEX_FILE)) return null;
  let doc: { version?: unknown; backtest?: Partial<BacktestIndex> | null };
  try {
    doc = JSON.parse(await readFile(join(dir, INDEX_FILE), "utf8"));
  } catch (e) {
    throw new IngestError(`archive ${bundleName}: ${INDEX_FILE} is not JSON (${(e as Error).message})`, { kind: "bad-record", member: INDEX_FILE });
  }
  if (doc.backtest === undefined || doc.backtest === null) return null;
  const section = checkSection(doc.backtest, bundleName);
  const byPath = new Map(files.map((f) => [f.path, f]));
  const carried = [...Object.values(section.gates), ...section.candles].sort();
  const missing = carried.find((p) => !byPath.has(p));
  if (missing) throw new IngestError(`archive ${bundleName}: ${INDEX_FILE} field "backtest" names ${missing}, which is no member of the bundle`, { kind: "missing-member", member: missing });
  return { ...section, files: carried.map((p) => byPath.get(p)!) };
}

/** The backtest files of an ingest directory, by absolute path, re-hashed against INGEST.json. */
export interface BacktestSources {
  readonly backtest: IngestedBacktest;
  /** Week → gate file. */
  readonly gates: ReadonlyMap<string, string>;
  readonly candles: readonly string[];
  /** INGEST.json's path, for messages. */
  readonly record: string;
}

/**
 * Locates the backtest members of an ingest directory (INGEST.json `backtest`), checking each
 * file's size and digest against the record. Throws IngestError when the ingest carries none.
 */
export async function findIngestedBacktest(dir: string): Promise<BacktestSources> {
  const rec = await readIngestRecord(dir);
  const record = join(dir, INGEST_FILE);
  const bt = (rec as { backtest?: IngestedBacktest | null }).backtest;
  if (!bt) {
    throw new IngestError(`${record}: the ingested bundle ${rec.bundle.name} carries no backtest gates and candles (field "backtest" is ${bt === null ? "null" : "missing"}: rebuild the bundle with backtest_weeks, targets/stage1.yaml)`, {
      kind: "missing-member",
      member: BACKTEST_DIR,
    });
  }
  for (const f of bt.files) {
    const p = join(dir, f.path);
    const st = await stat(p).catch(() => null);
    const actual = st?.isFile() && st.size === f.bytes ? await sha256File(p) : null;
    if (actual !== f.sha256) {
      throw new IngestError(`${p}: ${st ? `does not match ${record} (sha256 ${f.sha256}, ${f.bytes} bytes)` : "missing"} (re-run the ingest)`, { kind: st ? "member-mismatch" : "missing-member", member: f.path });
    }
  }
  return { backtest: bt, gates: new Map(Object.entries(bt.gates).map(([w, p]) => [w, join(dir, p)])), candles: bt.candles.map((p) => join(dir, p)), record };
}
