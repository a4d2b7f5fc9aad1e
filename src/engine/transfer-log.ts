/**
 * `handoff/transfer_log.md`: one Markdown table row per completed transfer (what moved, its
 * digest and size, from which host to which, when). Appended by the engine / ssh host through
 * `appendTransfer`; build rules never write it (it is not an action output, and its `when`
 * column is wall-clock time, which build outputs must not contain).
 *
 * File layout (format version 1):
 *   <!-- dagbuild transfer log, format version 1 ... -->
 *   # Transfer log
 *   | when (UTC) | what | sha256 | bytes | from | to | direction |
 *   |---|---|---|---|---|---|---|
 *   | 2025-11-10T12:00:00Z | output/ml_corpus_X.tgz | 3f... | 1234 | droplet | gpu | put |
 */
import { appendFileSync, mkdirSync, openSync, closeSync, writeSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import type { TransferEntry } from "./hosts/host.js";

/** Format version written in the first line. */
export const TRANSFER_LOG_FORMAT_VERSION = 1;

const FIRST_LINE = `<!-- dagbuild transfer log, format version ${TRANSFER_LOG_FORMAT_VERSION}; one row per completed transfer, appended by dagbuild (src/engine/transfer-log.ts). Do not edit rows. -->`;
const HEADER = [
  FIRST_LINE,
  "# Transfer log",
  "",
  "| when (UTC) | what | sha256 | bytes | from | to | direction |",
  "|---|---|---|---|---|---|---|",
  "",
].join("\n");

/** A log row: the engine's TransferEntry plus when it completed. */
export interface TransferRecord extends TransferEntry {
  /** ISO 8601 UTC time the transfer completed. */
  readonly when: string;
}

function cell(field: string, v: string): string {
  if (/[|\n\r]/.test(v)) throw new Error(`transfer log: ${field} contains "|" or a newline: ${JSON.stringify(v)}`);
  return v;
}

/** Renders one table row (validated: no cell may break the table). */
export function formatTransfer(r: TransferRecord): string {
  if (!/^[0-9a-f]{64}$/.test(r.digest)) throw new Error(`transfer log: digest must be sha256 hex, got ${JSON.stringify(r.digest)}`);
  if (!Number.isInteger(r.size) || r.size < 0) throw new Error(`transfer log: bad size ${r.size}`);
  if (Number.isNaN(Date.parse(r.when))) throw new Error(`transfer log: bad time ${JSON.stringify(r.when)}`);
  return `| ${cell("when", r.when)} | ${cell("what", r.what)} | ${r.digest} | ${r.size} | ${cell("from", r.from)} | ${cell("to", r.to)} | ${r.direction} |\n`;
}

/**
 * Appends one row, creating the file with its header first if needed. Rows go in with a single
 * O_APPEND write, so concurrent appenders interleave whole rows. Throws if an existing file is
 * not a version-1 transfer log.
 */
export function appendTransfer(path: string, r: TransferRecord): void {
  const row = formatTransfer(r);
  mkdirSync(dirname(path), { recursive: true });
  try {
    const fd = openSync(path, "wx");
    try {
      writeSync(fd, HEADER);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    const first = readFileSync(path, "utf8").split("\n", 1)[0];
    if (first !== FIRST_LINE) throw new Error(`${path}:1: not a dagbuild transfer log v${TRANSFER_LOG_FORMAT_VERSION}`);
  }
  appendFileSync(path, row);
}

/** Reads the rows back (for status reports and tests). */
export function readTransfers(path: string): TransferRecord[] {
  const lines = readFileSync(path, "utf8").split("\n");
  if (lines[0] !== FIRST_LINE) throw new Error(`${path}:1: not a dagbuild transfer log v${TRANSFER_LOG_FORMAT_VERSION}`);
  const out: TransferRecord[] = [];
  lines.forEach((l, i) => {
    if (!l.startsWith("| ") || l.startsWith("| when") ) return;
    const c = l.split("|").slice(1, -1).map((s) => s.trim());
    if (c.length !== 7) throw new Error(`${path}:${i + 1}: expected 7 cells, got ${c.length}`);
    const direction = c[6] === "put" || c[6] === "get" ? c[6] : undefined;
    if (!direction) throw new Error(`${path}:${i + 1}: direction must be put or get`);
    out.push({ when: c[0]!, what: c[1]!, digest: c[2]!, size: Number(c[3]), from: c[4]!, to: c[5]!, direction });
  });
  return out;
}
