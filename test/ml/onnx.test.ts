/**
 * ONNX export (src/ml/onnx/export.ts) scored by ONNX Runtime (src/ml/onnx/score.ts) against the
 * TensorFlow.js reference, for every model kind, with perturbed weights so a gate-order or
 * layout mistake shows; deterministic bytes; metadata; and, where /usr/bin/python3 has the
 * `onnx` module, onnx.checker.check_model(full_check=True) on every exported file.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as tfAll from "@tensorflow/tfjs";
import { initParams, type ModelConfig } from "../../src/ml/nn/config.js";
import { referenceForward, type Tf } from "../../src/ml/nn/tfjs-reference.js";
import { exportOnnx, onnxMetadata, OnnxExportError, ONNX_FORMAT_VERSION } from "../../src/ml/onnx/export.js";
import { createScorer, OnnxScoreError } from "../../src/ml/onnx/score.js";
import { perturbedParams, randomData } from "./nn-fixtures.js";

const tf = tfAll as unknown as Tf;
const PY = "/usr/bin/python3";
const dir = mkdtempSync(join(tmpdir(), "onnx-test-"));
const written: string[] = [];

const pyOnnx = spawnSync(PY, ["-c", "import onnx; print(onnx.__version__)"], { encoding: "utf8" });
const havePyOnnx = pyOnnx.status === 0;
if (!havePyOnnx) console.log(`SKIP onnx.checker tests: ${PY} has no onnx module (apt-get install -y python3-onnx)`);

const rec = (kind: "lstm" | "gru", layers: 1 | 2, magnitude: boolean, units = 4, seq_len = 5, n_features = 3): ModelConfig => ({ kind, seq_len, n_features, units, layers, magnitude });
const tr = (pos: "learned" | "sinusoidal", pool: "last" | "mean", magnitude: boolean, layers = 2, d_model = 6, heads = 3): ModelConfig => ({
  kind: "transformer",
  seq_len: 5,
  n_features: 3,
  d_model,
  heads,
  layers,
  ff: 7,
  pos,
  pool,
  magnitude,
});

const CONFIGS: Record<string, ModelConfig> = {
  "lstm 1 layer": rec("lstm", 1, false),
  "lstm 1 layer + mag": rec("lstm", 1, true),
  "lstm 2 layers": rec("lstm", 2, false),
  "lstm 2 layers + mag": rec("lstm", 2, true, 3),
  "gru 1 layer": rec("gru", 1, false),
  "gru 1 layer + mag": rec("gru", 1, true),
  "gru 2 layers": rec("gru", 2, false, 5),
  "gru 2 layers + mag": rec("gru", 2, true),
  "transformer learned/last": tr("learned", "last", false),
  "transformer learned/mean + mag": tr("learned", "mean", true),
  "transformer sinusoidal/last + mag": tr("sinusoidal", "last", true, 1),
  "transformer sinusoidal/mean": tr("sinusoidal", "mean", false, 2, 4, 1),
  // The benchmark shapes (issue 10), so accumulated float32 error is checked at full size.
  "lstm bench shape": rec("lstm", 1, true, 64, 64, 16),
  "gru bench shape": rec("gru", 2, false, 64, 64, 16),
  "transformer bench shape": { kind: "transformer", seq_len: 64, n_features: 16, d_model: 64, heads: 4, layers: 2, ff: 128, pos: "sinusoidal", pool: "last", magnitude: true },
};

/** Within 1e-5 relative, with an absolute floor of 2e-6 for values near zero. */
function closeArrays(got: Float32Array, want: Float32Array, what: string): number {
  assert.is(got.length, want.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    const tol = 2e-6 + 1e-5 * Math.abs(want[i]!);
    worst = Math.max(worst, d / tol);
    assert.ok(d <= tol, `${what}[${i}]: ONNX Runtime ${got[i]}, reference ${want[i]} (|diff| ${d} > ${tol})`);
  }
  return worst;
}

test.before(async () => {
  tf.env().set("IS_TEST", true); // no "install tfjs-node" banner in the test output
  await tf.setBackend("cpu");
});

test.after(() => {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch (e) {
    console.error("after hook failed:", e);
  }
});

for (const [name, c] of Object.entries(CONFIGS)) {
  test(`${name}: ONNX Runtime equals the TensorFlow.js reference within 1e-5`, async () => {
    const big = c.seq_len >= 64;
    const seeds = big ? [1] : [1, 2, 3];
    const n = big ? 4 : 6;
    for (const seed of seeds) {
      // Seed 1 also runs the plain initial weights (zero biases, forget bias 1).
      const params = seed === 1 && !big ? initParams(c, seed) : perturbedParams(c, seed);
      const bytes = exportOnnx(c, params, { model_digest: `test-${seed}` });
      const file = join(dir, `${name.replace(/[^a-z0-9]+/g, "_")}_${seed}.onnx`);
      writeFileSync(file, bytes);
      written.push(file);
      const { X } = randomData(c, n, seed + 50);
      const scorer = await createScorer(file);
      try {
        const got = await scorer.score(X, n, c.seq_len, c.n_features);
        const want = referenceForward(tf, c, params, X, n);
        closeArrays(got.logit, want.sign, `seed ${seed} logit`);
        closeArrays(got.sign, Float32Array.from(want.sign, (z) => 1 / (1 + Math.exp(-z))), `seed ${seed} probability`);
        if (c.magnitude) closeArrays(got.mag!, want.mag!, `seed ${seed} magnitude`);
        else assert.is(got.mag, undefined);
        // Batching does not change the answer.
        const small = await createScorer(bytes, { batch: 4 });
        const again = await small.score(X, n, c.seq_len, c.n_features);
        await small.close();
        assert.equal(Array.from(again.logit), Array.from(got.logit));
      } finally {
        await scorer.close();
      }
    }
  });
}

test("the same model gives the same bytes; meta and weights change them; metadata round-trips", () => {
  const c = CONFIGS["lstm 2 layers + mag"]!;
  const p = perturbedParams(c, 4);
  const a = exportOnnx(c, p, { model_digest: "d1", inputs: "i1" });
  const b = exportOnnx(c, p.slice(), { inputs: "i1", model_digest: "d1" });
  assert.equal(Buffer.from(a).toString("hex"), Buffer.from(b).toString("hex"));
  assert.not.equal(Buffer.from(exportOnnx(c, p, { model_digest: "d2", inputs: "i1" })).toString("hex"), Buffer.from(a).toString("hex"));
  const q = p.slice();
  q[0]! += 1e-3;
  assert.not.equal(Buffer.from(exportOnnx(c, q, { model_digest: "d1", inputs: "i1" })).toString("hex"), Buffer.from(a).toString("hex"));
  const meta = onnxMetadata(a);
  assert.equal(Object.keys(meta), ["dagbuild.model_config", "dagbuild.onnx_format", "inputs", "model_digest"]);
  assert.is(meta["dagbuild.onnx_format"], String(ONNX_FORMAT_VERSION));
  assert.equal(JSON.parse(meta["dagbuild.model_config"]!), c);
  assert.is(meta.model_digest, "d1");
});

test("magScale: the magnitude output is the head's times the scale, recorded in the metadata", async () => {
  const c = CONFIGS["gru 1 layer + mag"]!;
  const params = perturbedParams(c, 8);
  const { X } = randomData(c, 5, 9);
  const bytes = exportOnnx(c, params, {}, { magScale: 2.5 });
  assert.is(onnxMetadata(bytes)["dagbuild.magnitude_scale"], "2.5");
  const file = join(dir, "gru_mag_scaled.onnx");
  writeFileSync(file, bytes);
  written.push(file);
  const s = await createScorer(bytes);
  const got = await s.score(X, 5, c.seq_len, c.n_features);
  await s.close();
  const want = referenceForward(tf, c, params, X, 5);
  closeArrays(got.mag!, Float32Array.from(want.mag!, (m) => m * 2.5), "scaled magnitude");
  closeArrays(got.logit, want.sign, "logit unchanged");
  assert.throws(() => exportOnnx(c, params, {}, { magScale: 0 }), /magScale must be a positive/);
});

test("bad exports and unloadable models are typed errors that say what is wrong", async () => {
  const c = CONFIGS["gru 1 layer"]!;
  assert.throws(() => exportOnnx(c, new Float32Array(3)), (e: unknown) => e instanceof OnnxExportError && /flatParams has 3 floats/.test((e as Error).message));
  assert.throws(() => exportOnnx(c, initParams(c, 1), { "dagbuild.onnx_format": "9" }), /reserved/);
  try {
    await createScorer(Uint8Array.from([1, 2, 3, 4]));
    assert.unreachable("garbage bytes loaded");
  } catch (e) {
    assert.instance(e, OnnxScoreError);
  }
  const s = await createScorer(exportOnnx(c, initParams(c, 1)));
  try {
    await s.score(new Float32Array(10), 1, c.seq_len, c.n_features);
    assert.unreachable("short X scored");
  } catch (e) {
    assert.instance(e, OnnxScoreError);
    assert.match((e as Error).message, /X has 10 floats/);
  } finally {
    await s.close();
  }
});

(havePyOnnx ? test : test.skip)("onnx.checker.check_model(full_check=True) passes on every exported file", () => {
  assert.ok(written.length >= Object.keys(CONFIGS).length, `${written.length} files written`);
  const script = [
    "import json, sys, onnx",
    "paths = json.loads(sys.stdin.read())",
    "for p in paths:",
    "    onnx.checker.check_model(p, full_check=True)",
    "    m = onnx.load(p)",
    "    assert m.opset_import[0].version == 17, p",
    "print('checked', len(paths))",
  ].join("\n");
  const r = spawnSync(PY, ["-c", script], { input: JSON.stringify(written), encoding: "utf8" });
  assert.is(r.status, 0, `onnx.checker failed:\n${r.stderr}`);
  assert.match(r.stdout, new RegExp(`checked ${written.length}`));
});

test.run();
