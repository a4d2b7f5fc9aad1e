// config.json's reader for the scorer (src/ml/models/formats.ts): what it accepts, and that
// every refusal names the file and the field.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MODEL_CONFIG_VERSION, ModelConfigError, readModelConfig } from "../../src/ml/models/formats.js";

const root = mkdtempSync(join(tmpdir(), "model-config-"));
let n = 0;
function dirWith(config: unknown): string {
  const d = join(root, String(n++));
  mkdirSync(d);
  writeFileSync(join(d, "config.json"), typeof config === "string" ? config : JSON.stringify(config));
  return d;
}
const base = { format: "dagbuild.ml_model", version: MODEL_CONFIG_VERSION, features: ["a", "b"] };

test("a sequence model's and the GBM's config.json", async () => {
  assert.equal(await readModelConfig(dirWith({ ...base, architecture: { kind: "lstm", seq_len: 16, units: 8 } })), { kind: "lstm", seqLen: 16, features: ["a", "b"] });
  assert.equal(await readModelConfig(dirWith({ ...base, architecture: { kind: "xgboost", rounds: 10 } })), { kind: "xgboost", features: ["a", "b"] });
});

test("refusals name the file and the field", async () => {
  const cases: [unknown, RegExp][] = [
    ["{not json", /config\.json: cannot read/],
    [{ ...base, version: MODEL_CONFIG_VERSION + 1, architecture: { kind: "lstm", seq_len: 4 } }, /config\.json: format "dagbuild\.ml_model" version 2, expected dagbuild\.ml_model version 1/],
    [{ ...base, format: undefined, architecture: { kind: "lstm", seq_len: 4 } }, /config\.json: format undefined/],
    [{ ...base, architecture: {} }, /config\.json: field "architecture\.kind"/],
    [{ ...base, features: [1], architecture: { kind: "gru", seq_len: 4 } }, /config\.json: field "features"/],
    [{ ...base, architecture: { kind: "gru", seq_len: 0 } }, /config\.json: field "architecture\.seq_len"/],
  ];
  for (const [config, re] of cases) {
    const d = dirWith(config);
    try {
      await readModelConfig(d);
      assert.unreachable(`accepted ${JSON.stringify(config)}`);
    } catch (e) {
      assert.instance(e, ModelConfigError);
      assert.match((e as Error).message, re);
      assert.ok((e as Error).message.startsWith(join(d, "config.json")), (e as Error).message);
    }
  }
  const missing = join(root, "none");
  await readModelConfig(missing).then(
    () => assert.unreachable("read a missing file"),
    (e: Error) => assert.match(e.message, new RegExp(`${join(missing, "config.json")}: cannot read \\(ENOENT\\)`)),
  );
});

test.after(() => rmSync(root, { recursive: true, force: true }));
test.run();
