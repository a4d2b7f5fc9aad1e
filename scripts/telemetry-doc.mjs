#!/usr/bin/env node
// Refreshes the committed docs/telemetry_schema.md from src/corpus/columns.ts (no data values;
// builds write output/telemetry_schema.md instead). Needs `npx tsc -p .` first.
//   node scripts/telemetry-doc.mjs           rewrite the doc
//   node scripts/telemetry-doc.mjs --check   exit 1 when the committed doc is stale
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { renderSchemaDoc, SCHEMA_DOC_PATH } from "../dist/src/corpus/telemetry-doc.js";

const path = fileURLToPath(new URL(`../${SCHEMA_DOC_PATH}`, import.meta.url));
const want = renderSchemaDoc();
let have = "";
try {
  have = readFileSync(path, "utf8");
} catch {}
if (process.argv.includes("--check")) {
  if (have !== want) {
    process.stderr.write(`${SCHEMA_DOC_PATH} is stale: run npm run docs:telemetry\n`);
    process.exit(1);
  }
  process.stdout.write(`${SCHEMA_DOC_PATH} is up to date\n`);
} else {
  writeFileSync(path, want);
  process.stdout.write(`${have === want ? "unchanged" : "wrote"} ${SCHEMA_DOC_PATH}\n`);
}
