/**
 * The TensorFlow.js reference (src/ml/nn/tfjs-reference.ts) against the documented semantics:
 * tiny LSTM and GRU cases written out by hand, a float64 scalar-loop implementation of every
 * model kind (test/ml/nn-f64.ts) for the forward pass, and gradients against central finite
 * differences (float64 on that implementation, tight; float32 on tfjs itself, loose).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as tfAll from "@tensorflow/tfjs";
import { initParams, paramLayout, type ModelConfig } from "../../src/ml/nn/config.js";
import { loadTfjs, referenceForward, referenceLossAndGrads, referenceTrain, type Tf } from "../../src/ml/nn/tfjs-reference.js";
import { dropoutKey } from "../../src/ml/nn/dropout.js";
import { forward64, loss64 } from "./nn-f64.js";
import { perturbedParams, randomData, rng } from "./nn-fixtures.js";

const tf = tfAll as unknown as Tf;

const CONFIGS: Record<string, ModelConfig> = {
  "lstm 1 layer": { kind: "lstm", seq_len: 5, n_features: 3, units: 4, layers: 1, magnitude: false },
  "lstm 2 layers + mag": { kind: "lstm", seq_len: 4, n_features: 3, units: 3, layers: 2, magnitude: true },
  "gru 1 layer + mag": { kind: "gru", seq_len: 5, n_features: 3, units: 4, layers: 1, magnitude: true },
  "gru 2 layers": { kind: "gru", seq_len: 4, n_features: 2, units: 3, layers: 2, magnitude: false },
  "transformer learned/last": { kind: "transformer", seq_len: 4, n_features: 3, d_model: 4, heads: 2, layers: 2, ff: 6, pos: "learned", pool: "last", magnitude: false },
  "transformer sinusoidal/mean + mag": { kind: "transformer", seq_len: 5, n_features: 2, d_model: 6, heads: 3, layers: 1, ff: 5, pos: "sinusoidal", pool: "mean", magnitude: true },
};

function close(actual: number, expected: number, rel: number, abs: number, what: string): void {
  const tol = abs + rel * Math.abs(expected);
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: got ${actual}, expected ${expected} (|diff| ${Math.abs(actual - expected)} > ${tol})`);
}

test.before(async () => {
  tf.env().set("IS_TEST", true); // no "install tfjs-node" banner in the test output
  await tf.setBackend("cpu");
});

const sig = (v: number) => 1 / (1 + Math.exp(-v));

test("LSTM, 1 unit, 1 feature, 2 steps, computed by hand (gate order i, f, c, o)", () => {
  const c: ModelConfig = { kind: "lstm", seq_len: 2, n_features: 1, units: 1, layers: 1, magnitude: false };
  // Every parameter distinct, so a swapped gate changes the answer.
  const [ai, af, ac, ao] = [0.5, -0.4, 0.9, 0.3];
  const [ri, rf, rc, ro] = [0.7, 0.2, -0.6, 1.1];
  const [bi, bf, bc, bo] = [0.1, 1.0, -0.2, 0.05];
  const [w, hb] = [1.5, -0.25];
  const flat = Float32Array.from([ai, af, ac, ao, ri, rf, rc, ro, bi, bf, bc, bo, w, hb]);
  assert.is(paramLayout(c).total, flat.length);
  const [x1, x2] = [0.8, -1.3];
  const i1 = sig(ai * x1 + bi), f1 = sig(af * x1 + bf), g1 = Math.tanh(ac * x1 + bc), o1 = sig(ao * x1 + bo);
  void f1; // c0 = 0, so the first forget gate multiplies zero
  const c1 = i1 * g1;
  const h1 = o1 * Math.tanh(c1);
  const i2 = sig(ai * x2 + ri * h1 + bi), f2 = sig(af * x2 + rf * h1 + bf), g2 = Math.tanh(ac * x2 + rc * h1 + bc), o2 = sig(ao * x2 + ro * h1 + bo);
  const c2 = f2 * c1 + i2 * g2;
  const h2 = o2 * Math.tanh(c2);
  const expected = w * h2 + hb;
  const out = referenceForward(tf, c, flat, Float32Array.from([x1, x2]), 1);
  close(out.sign[0]!, expected, 1e-6, 1e-7, "logit");
  close(forward64(c, flat, [x1, x2], 1).sign[0]!, expected, 1e-6, 1e-7, "float64 helper logit");
});

test("GRU, 1 unit, 1 feature, 2 steps, computed by hand (z, r, h; reset after the recurrent matmul)", () => {
  const c: ModelConfig = { kind: "gru", seq_len: 2, n_features: 1, units: 1, layers: 1, magnitude: true };
  const [kz, kr, kh] = [0.6, -0.8, 1.2];
  const [rz, rr, rh] = [0.4, 0.9, -0.7];
  const [bz, br, bh] = [0.1, -0.3, 0.2]; // input bias (row 0)
  const [cz, cr, ch] = [-0.15, 0.25, 0.35]; // recurrent bias (row 1)
  const [w, hb, wm, mb] = [1.3, 0.2, -0.9, 0.4];
  const flat = Float32Array.from([kz, kr, kh, rz, rr, rh, bz, br, bh, cz, cr, ch, w, hb, wm, mb]);
  assert.is(paramLayout(c).total, flat.length);
  const [x1, x2] = [-0.5, 1.1];
  const stepH = (x: number, h: number) => {
    const z = sig(kz * x + bz + rz * h + cz);
    const r = sig(kr * x + br + rr * h + cr);
    const hh = Math.tanh(kh * x + bh + r * (rh * h + ch));
    return z * h + (1 - z) * hh;
  };
  const h2 = stepH(x2, stepH(x1, 0));
  const out = referenceForward(tf, c, flat, Float32Array.from([x1, x2]), 1);
  close(out.sign[0]!, w * h2 + hb, 1e-6, 1e-7, "logit");
  close(out.mag![0]!, wm * h2 + mb, 1e-6, 1e-7, "magnitude");
});

test("transformer, D 2, 1 head, 2 steps: LayerNorm of two values is ±1, so the output is computed by hand", () => {
  // With D = 2, LN(a, b) = ±(a−b)/2/sqrt((a−b)²/4 + ε)·γ + β: nearly (sign(a−b), −sign(a−b)).
  // Zero attention/FF weights isolate proj, positions, final LN, pooling and the head.
  const c: ModelConfig = { kind: "transformer", seq_len: 2, n_features: 1, d_model: 2, heads: 1, layers: 1, ff: 1, pos: "learned", pool: "mean", magnitude: false };
  const layout = paramLayout(c);
  const flat = new Float32Array(layout.total);
  const set = (name: string, v: number[]) => flat.set(v, layout.offsets.get(name)!);
  set("proj.kernel", [1.0, -0.5]);
  set("proj.bias", [0.2, 0.1]);
  set("pos.embedding", [0.0, 0.3, -0.4, 0.0]);
  set("enc0.attn.bo", [0.05, -0.05]); // attention output = bo (weights 0)
  set("enc0.ff2.bias", [0.1, 0.0]); // FF output = b2
  set("final_ln.gamma", [2.0, 0.5]);
  set("final_ln.beta", [0.1, -0.2]);
  set("head_sign.kernel", [0.7, -1.1]);
  set("head_sign.bias", [0.3]);
  const X = [0.6, -0.9];
  const ln2 = (a: number, b: number) => {
    const m = (a + b) / 2;
    const s = Math.sqrt(((a - m) ** 2 + (b - m) ** 2) / 2 + 1e-5);
    return [((a - m) / s) * 2.0 + 0.1, ((b - m) / s) * 0.5 - 0.2];
  };
  const tok = [0, 1].map((t) => {
    const a = X[t]! * 1.0 + 0.2 + [0.0, -0.4][t]! + 0.05 + 0.1;
    const b = X[t]! * -0.5 + 0.1 + [0.3, 0.0][t]! - 0.05 + 0.0;
    return ln2(a, b);
  });
  const pooled = [(tok[0]![0]! + tok[1]![0]!) / 2, (tok[0]![1]! + tok[1]![1]!) / 2];
  const expected = pooled[0]! * 0.7 + pooled[1]! * -1.1 + 0.3;
  close(referenceForward(tf, c, flat, Float32Array.from(X), 1).sign[0]!, expected, 1e-5, 1e-6, "logit");
  close(forward64(c, flat, X, 1).sign[0]!, expected, 1e-6, 1e-7, "float64 helper logit (float32 parameters)");
});

for (const [name, c] of Object.entries(CONFIGS)) {
  test(`${name}: tfjs forward equals the float64 implementation within 1e-5`, () => {
    const n = 3;
    for (const seed of [1, 2]) {
      const flat = perturbedParams(c, seed);
      const { X } = randomData(c, n, seed + 100);
      const got = referenceForward(tf, c, flat, X, n);
      const want = forward64(c, flat, X, n);
      for (let i = 0; i < n; i++) {
        close(got.sign[i]!, want.sign[i]!, 1e-5, 1e-6, `seed ${seed} sample ${i} logit`);
        if (c.magnitude) close(got.mag![i]!, want.mag[i]!, 1e-5, 1e-6, `seed ${seed} sample ${i} magnitude`);
      }
      assert.is(got.mag === undefined, !c.magnitude);
    }
  });

  test(`${name}: gradients equal float64 central differences`, () => {
    const n = 3;
    const flat = perturbedParams(c, 11);
    const { X, ySign, yMag } = randomData(c, n, 12);
    const mk = c.magnitude ? "mse" : "huber";
    const opts = { magnitudeLoss: mk, magnitudeWeight: 0.7 } as const;
    const { loss, grads } = referenceLossAndGrads(tf, c, flat, X, ySign, yMag, opts);
    const p64 = Float64Array.from(flat);
    close(loss, loss64(c, p64, X, ySign, yMag, mk, 0.7), 1e-5, 1e-6, "loss");
    const eps = 1e-6;
    let worst = 0;
    for (let j = 0; j < p64.length; j++) {
      const keep = p64[j]!;
      p64[j] = keep + eps;
      const up = loss64(c, p64, X, ySign, yMag, mk, 0.7);
      p64[j] = keep - eps;
      const down = loss64(c, p64, X, ySign, yMag, mk, 0.7);
      p64[j] = keep;
      const fd = (up - down) / (2 * eps);
      worst = Math.max(worst, Math.abs(grads[j]! - fd) / (1e-4 + Math.abs(fd)));
      close(grads[j]!, fd, 1e-3, 2e-5, `d loss / d ${paramName(c, j)}`);
    }
    assert.ok(worst < 1e-2);
  });
}

/** Dropout variants: training mode under a fixed mask against the float64 implementation under the same mask. */
const DROPOUT_CONFIGS: Record<string, ModelConfig> = {
  "lstm 2 layers + mag, dropout 0.3": { ...CONFIGS["lstm 2 layers + mag"]!, dropout: 0.3 },
  "gru 2 layers, dropout 0.4": { ...CONFIGS["gru 2 layers"]!, dropout: 0.4 },
  "transformer learned/last, dropout 0.25": { ...CONFIGS["transformer learned/last"]!, dropout: 0.25 },
  "transformer sinusoidal/mean + mag, dropout 0.3": { ...CONFIGS["transformer sinusoidal/mean + mag"]!, dropout: 0.3 },
};
const MASK = { key: dropoutKey(9, 1, 4), first: 2 };

for (const [name, c] of Object.entries(DROPOUT_CONFIGS)) {
  test(`${name}: training-mode loss and gradients equal float64 central differences under the same mask; evaluation ignores it`, () => {
    const n = 3;
    const flat = perturbedParams(c, 13);
    const { X, ySign, yMag } = randomData(c, n, 14);
    const mk = c.magnitude ? "mse" : "huber";
    const { loss, grads } = referenceLossAndGrads(tf, c, flat, X, ySign, yMag, { magnitudeLoss: mk, magnitudeWeight: 0.7, mask: MASK });
    const p64 = Float64Array.from(flat);
    const f64 = (q: Float64Array) => loss64(c, q, X, ySign, yMag, mk, 0.7, MASK);
    close(loss, f64(p64), 1e-5, 1e-6, "loss");
    assert.ok(Math.abs(f64(p64) - loss64(c, p64, X, ySign, yMag, mk, 0.7)) > 1e-4, "the mask changes the training loss");
    const eps = 1e-6;
    for (let j = 0; j < p64.length; j++) {
      const keep = p64[j]!;
      p64[j] = keep + eps;
      const up = f64(p64);
      p64[j] = keep - eps;
      const down = f64(p64);
      p64[j] = keep;
      close(grads[j]!, (up - down) / (2 * eps), 1e-3, 2e-5, `d loss / d ${paramName(c, j)}`);
    }
    // Evaluation mode: no mask, the model without dropout.
    const got = referenceForward(tf, c, flat, X, n);
    const want = forward64({ ...c, dropout: undefined }, flat, X, n);
    for (let i = 0; i < n; i++) close(got.sign[i]!, want.sign[i]!, 1e-5, 1e-6, `eval logit ${i}`);
  });
}

test("magnitude loss: Huber uses both branches; MSE differs; the weight scales it", () => {
  const c = CONFIGS["gru 1 layer + mag"]!;
  const flat = perturbedParams(c, 5);
  const { X, ySign, yMag } = randomData(c, 4, 6);
  const h = referenceLossAndGrads(tf, c, flat, X, ySign, yMag, { magnitudeLoss: "huber" }).loss;
  const m = referenceLossAndGrads(tf, c, flat, X, ySign, yMag, { magnitudeLoss: "mse" }).loss;
  const m0 = referenceLossAndGrads(tf, c, flat, X, ySign, yMag, { magnitudeLoss: "mse", magnitudeWeight: 0 }).loss;
  close(h, loss64(c, flat, X, ySign, yMag, "huber", 0.5), 1e-5, 1e-6, "huber loss");
  close(m, loss64(c, flat, X, ySign, yMag, "mse", 0.5), 1e-5, 1e-6, "mse loss");
  close(m0, loss64(c, flat, X, ySign, yMag, "mse", 0), 1e-5, 1e-6, "weight 0 leaves the BCE");
  assert.ok(Math.abs(h - m) > 1e-3, "Huber and MSE differ on targets beyond δ");
});

test("float32 central differences of tfjs's own loss agree with its gradients (loose)", () => {
  const c: ModelConfig = { kind: "lstm", seq_len: 6, n_features: 4, units: 5, layers: 2, magnitude: true };
  const flat = perturbedParams(c, 21);
  const { X, ySign, yMag } = randomData(c, 8, 22);
  const { grads } = referenceLossAndGrads(tf, c, flat, X, ySign, yMag);
  const r = rng(23);
  const eps = 1e-2;
  for (let k = 0; k < 25; k++) {
    const j = Math.floor(r() * flat.length);
    const p = flat.slice();
    p[j]! += eps;
    const up = referenceLossAndGrads(tf, c, p, X, ySign, yMag).loss;
    p[j]! -= 2 * eps;
    const down = referenceLossAndGrads(tf, c, p, X, ySign, yMag).loss;
    close(grads[j]!, (up - down) / (2 * eps), 2e-2, 2e-4, `d loss / d ${paramName(c, j)}`);
  }
});

test("referenceTrain: Adam lowers the loss on a learnable task and is deterministic", () => {
  const c: ModelConfig = { kind: "gru", seq_len: 4, n_features: 2, units: 4, layers: 1, magnitude: false };
  const r = rng(31);
  const n = 64;
  const X = Float32Array.from({ length: n * 8 }, () => 2 * r() - 1);
  // Label: the sign of the last step's first feature.
  const ySign = Float32Array.from({ length: n }, (_, i) => (X[i * 8 + 6]! > 0 ? 1 : 0));
  const run = () => referenceTrain(tf, c, initParams(c, 3), { X, ySign, n }, { epochs: 8, batchSize: 16, learningRate: 0.03, shuffleSeed: 9 });
  const a = run();
  const b = run();
  assert.ok(a.epochLosses.at(-1)! < a.epochLosses[0]! * 0.8, `loss fell: ${a.epochLosses.join(", ")}`);
  assert.equal(Array.from(a.params), Array.from(b.params));
  assert.is(a.backend, "cpu");
  assert.ok(a.samplesPerSec > 0);
  // The trained parameters are the ones referenceLossAndGrads scores.
  const after = referenceLossAndGrads(tf, c, a.params, X, ySign, null).loss;
  assert.ok(after < a.epochLosses[0]!);
});

test("referenceTrain takes the trainer's batches (seeded running shuffle, maxTrainSamples) and textbook Adam steps", () => {
  const c: ModelConfig = { kind: "lstm", seq_len: 3, n_features: 2, units: 3, layers: 1, magnitude: true };
  const n = 12;
  const { X, ySign, yMag } = randomData(c, n, 51);
  const init = perturbedParams(c, 52);
  const [lr, b1, b2, eps, seed, batch, perEpoch, epochs] = [0.01, 0.9, 0.999, 1e-8, 7, 5, 10, 2];
  const got = referenceTrain(tf, c, init, { X, ySign, yMag, n }, { epochs, batchSize: batch, learningRate: lr, shuffleSeed: seed, maxTrainSamples: perEpoch });
  // By hand: trainer.ts's order (one running Fisher-Yates shuffle, mulberry32(seed ^ 0x5eed)).
  const rand = rng(seed ^ 0x5eed);
  const order = Array.from({ length: n }, (_, i) => i);
  const p = Float64Array.from(init);
  const m = new Float64Array(p.length);
  const v = new Float64Array(p.length);
  const per = c.seq_len * c.n_features;
  let t = 0;
  for (let e = 0; e < epochs; e++) {
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (let at = 0; at < perEpoch; at += batch) {
      const idx = order.slice(at, Math.min(at + batch, perEpoch));
      const xb = new Float32Array(idx.length * per);
      idx.forEach((s, k) => xb.set(X.subarray(s * per, (s + 1) * per), k * per));
      const g = referenceLossAndGrads(tf, c, Float32Array.from(p), xb, Float32Array.from(idx, (s) => ySign[s]!), Float32Array.from(idx, (s) => yMag[s]!)).grads;
      t++;
      for (let k = 0; k < p.length; k++) {
        m[k] = b1 * m[k]! + (1 - b1) * g[k]!;
        v[k] = b2 * v[k]! + (1 - b2) * g[k]! ** 2;
        p[k]! -= (lr * (m[k]! / (1 - b1 ** t))) / (Math.sqrt(v[k]! / (1 - b2 ** t)) + eps);
      }
    }
  }
  assert.is(t, 4);
  for (let k = 0; k < p.length; k++) close(got.params[k]!, p[k]!, 1e-4, 2e-6, `${paramName(c, k)} after ${t} steps`);
  // And the steps moved the weights (a no-op trainer would pass nothing above with lr this large).
  assert.ok(Math.abs(got.params[0]! - init[0]!) > 1e-3);
});

test("loadTfjs: without tfjs-node-gpu, falls back and says why", async () => {
  const cpu = await loadTfjs("cpu");
  assert.is(cpu.backend, "cpu");
  assert.equal(cpu.fallbacks, []);
  const auto = await loadTfjs("auto");
  assert.ok(["tensorflow", "wasm", "cpu"].includes(auto.backend), auto.backend);
  if (auto.backend !== "tensorflow") assert.match(auto.fallbacks[0]!, /tfjs-node-gpu/);
  await tf.setBackend("cpu");
});

test("the wasm backend gives the same forward pass and gradients (within float32 tolerance)", async () => {
  const w = await loadTfjs("wasm");
  try {
    if (w.backend !== "wasm") {
      console.log(`SKIP tfjs wasm backend check: ${w.fallbacks.join("; ")}`);
      return;
    }
    for (const name of ["lstm 2 layers + mag", "gru 1 layer + mag", "transformer sinusoidal/mean + mag"]) {
      const c = CONFIGS[name]!;
      const flat = perturbedParams(c, 41);
      const { X, ySign, yMag } = randomData(c, 3, 42);
      const fw = referenceForward(w.tf, c, flat, X, 3);
      const want = forward64(c, flat, X, 3);
      for (let i = 0; i < 3; i++) close(fw.sign[i]!, want.sign[i]!, 1e-5, 1e-6, `${name} wasm logit ${i}`);
      const gw = referenceLossAndGrads(w.tf, c, flat, X, ySign, yMag).grads;
      await tf.setBackend("cpu");
      const gc = referenceLossAndGrads(tf, c, flat, X, ySign, yMag).grads;
      await tf.setBackend("wasm");
      for (let j = 0; j < gc.length; j++) close(gw[j]!, gc[j]!, 1e-4, 1e-6, `${name} wasm d loss / d ${paramName(c, j)}`);
    }
  } finally {
    await tf.setBackend("cpu");
  }
});

test("bad inputs are errors that say what is wrong", () => {
  const c = CONFIGS["lstm 1 layer"]!;
  assert.throws(() => referenceForward(tf, c, new Float32Array(3), new Float32Array(15), 1), /parameter vector has 3 floats/);
  assert.throws(() => referenceForward(tf, c, initParams(c, 1), new Float32Array(14), 1), /X has 14 floats/);
  const m = CONFIGS["gru 1 layer + mag"]!;
  assert.throws(() => referenceLossAndGrads(tf, m, initParams(m, 1), new Float32Array(15), Float32Array.of(1), null), /magnitude targets/);
});

function paramName(c: ModelConfig, j: number): string {
  const layout = paramLayout(c);
  let best = "";
  for (const s of layout.specs) if (layout.offsets.get(s.name)! <= j) best = `${s.name}[${j - layout.offsets.get(s.name)!}]`;
  return best;
}

test.run();
