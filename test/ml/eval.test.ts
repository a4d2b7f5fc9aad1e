/**
 * Stage 2 evaluation metrics on hand-checkable cases: AUC and its bootstrap interval, log
 * loss, Brier, ECE, threshold metrics, regression errors, the baselines and the paired AUC
 * comparison.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  EvalInputError, baseRateBaseline, bootstrapAucSamples, calibration, chooseThreshold, compareAuc, evaluateBinary,
  fitHazardCalibrator, hazardBaseline, hazardProbabilities, positiveRate, regression, resampleIndices,
} from "../../src/ml/eval.js";
import { rocAuc, youdenThreshold } from "../../src/ml/metrics.js";

/** A seeded uniform source for test data (independent of the module's PRNG). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

function close(a: number | null, b: number, eps = 1e-6, msg = ""): void {
  assert.ok(a !== null && Math.abs(a - b) <= eps, `${msg} expected ${b}, got ${a}`);
}

test("perfect ranking: AUC 1 and interval [1, 1]; reversed: AUC 0 and [0, 0]", () => {
  const p = Float64Array.from([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]);
  const y = Uint8Array.from([0, 0, 0, 1, 1, 1]);
  const e = evaluateBinary(p, y, { threshold: 0.5, seed: 1, bootstrap: 200 });
  assert.is(e.auc, 1);
  assert.equal(e.auc_ci95, [1, 1]);
  assert.ok(e.bootstrap > 150 && e.bootstrap <= 200, `resamples with both classes: ${e.bootstrap}`);
  assert.is(e.n, 6);
  assert.is(e.positives, 3);
  const r = evaluateBinary(p.map((v) => 1 - v), y, { threshold: 0.5, seed: 1, bootstrap: 200 });
  assert.is(r.auc, 0);
  assert.equal(r.auc_ci95, [0, 0]);
});

test("random scores on random labels: AUC near 0.5, the interval holds 0.5 and has the analytic width", () => {
  const rnd = lcg(7);
  const n = 4000;
  const p = Float64Array.from({ length: n }, () => rnd());
  const y = Uint8Array.from({ length: n }, () => (rnd() < 0.4 ? 1 : 0));
  const e = evaluateBinary(p, y, { threshold: 0.5, seed: 3 });
  assert.ok(Math.abs(e.auc! - 0.5) < 0.03, `auc ${e.auc}`);
  const [lo, hi] = e.auc_ci95 as [number, number];
  assert.ok(lo < 0.5 && 0.5 < hi, `ci [${lo}, ${hi}]`);
  assert.ok(lo < e.auc! && e.auc! < hi);
  // Under no signal the AUC's standard error is sqrt((P + N + 1) / (12 P N)) (Mann-Whitney).
  const P = e.positives, N = n - P;
  const se = Math.sqrt((P + N + 1) / (12 * P * N));
  const width = hi - lo;
  assert.ok(Math.abs(width / (2 * 1.96 * se) - 1) < 0.15, `width ${width} vs analytic ${2 * 1.96 * se}`);
});

test("the bootstrap is deterministic for a seed and changes with it", () => {
  const rnd = lcg(11);
  const p = Float64Array.from({ length: 500 }, () => rnd());
  const y = Uint8Array.from(p, (v) => (rnd() < v ? 1 : 0));
  const a = evaluateBinary(p, y, { threshold: 0.5, seed: 42, bootstrap: 300 });
  const b = evaluateBinary(Float32Array.from(p), Float32Array.from(y), { threshold: 0.5, seed: 42, bootstrap: 300 });
  const c = evaluateBinary(p, y, { threshold: 0.5, seed: 43, bootstrap: 300 });
  assert.equal(JSON.stringify(a.auc_ci95), JSON.stringify(evaluateBinary(p, y, { threshold: 0.5, seed: 42, bootstrap: 300 }).auc_ci95));
  assert.is(a.auc, rocAuc(p, y) === null ? null : Math.round(rocAuc(p, y) * 1e6) / 1e6);
  assert.is.not(JSON.stringify(a.auc_ci95), JSON.stringify(c.auc_ci95));
  // Float32 inputs rank the same way, so the interval is the same.
  assert.equal(a.auc_ci95, b.auc_ci95);
});

test("each resample's tallied AUC equals rocAuc on the explicit resample, ties included", () => {
  const rnd = lcg(5);
  const n = 300;
  const s = Float64Array.from({ length: n }, () => Math.floor(rnd() * 12) / 12); // heavy ties
  const y = Uint8Array.from(s, (v) => (rnd() < 0.3 + 0.4 * v ? 1 : 0));
  const B = 5;
  const [aucs] = bootstrapAucSamples([s], y, B, 9);
  const next = resampleIndices(n, 9);
  const idx = new Uint32Array(n);
  for (let b = 0; b < B; b++) {
    next(idx);
    const rs = Array.from(idx, (i) => s[i]!), ry = Array.from(idx, (i) => y[i]!);
    close(aucs![b]!, rocAuc(rs, ry), 1e-12, `resample ${b}`);
  }
});

test("1000 resamples of 20,000 rows take well under a few seconds", () => {
  const rnd = lcg(3);
  const n = 20000;
  const p = Float64Array.from({ length: n }, () => rnd());
  const y = Uint8Array.from(p, (v) => (rnd() < v ? 1 : 0));
  const t0 = performance.now();
  const e = evaluateBinary(p, y, { threshold: 0.5, seed: 1 });
  const ms = performance.now() - t0;
  assert.is(e.bootstrap, 1000);
  assert.ok(ms < 3000, `${ms.toFixed(0)} ms`);
});

test("log loss (clipped) and Brier against hand computations", () => {
  const e = evaluateBinary([0.8, 0.4], [1, 0], { threshold: 0.5, seed: 1, bootstrap: 0 });
  close(e.log_loss, -(Math.log(0.8) + Math.log(0.6)) / 2);
  close(e.brier, (0.2 ** 2 + 0.4 ** 2) / 2); // 0.1
  assert.equal(e.auc_ci95, [null, null]);
  // A confident miss is charged -ln(1e-7), not infinity.
  const c = evaluateBinary([0, 1], [1, 0], { threshold: 0.5, seed: 1, bootstrap: 0 });
  close(c.log_loss, -Math.log(1e-7));
  close(c.brier, 1);
});

test("ECE: zero for perfectly calibrated bins, the weighted gap otherwise; 15 bins with counts", () => {
  const p: number[] = [], y: number[] = [];
  for (let i = 0; i < 10; i++) { p.push(0.3); y.push(i < 3 ? 1 : 0); }
  for (let i = 0; i < 20; i++) { p.push(0.75); y.push(i < 15 ? 1 : 0); }
  const e = evaluateBinary(p, y, { threshold: 0.5, seed: 1, bootstrap: 0 });
  assert.is(e.ece, 0);
  assert.is(e.calibration_bins.length, 15);
  const filled = e.calibration_bins.filter((b) => b.count > 0);
  assert.equal(filled.map((b) => [b.count, b.mean_pred, b.frac_pos]), [[10, 0.3, 0.3], [20, 0.75, 0.75]]);
  assert.is(e.calibration_bins.reduce((s, b) => s + b.count, 0), 30);
  assert.is(e.calibration_bins[14]!.hi, 1);
  assert.is(e.calibration_bins[0]!.mean_pred, null);
  // Predicting 0.9 on rows that are 50% positive: ECE = |0.9 - 0.5|; p = 1 lands in the last bin.
  const m = calibration([0.9, 0.9, 1, 1], [1, 0, 1, 0]);
  close(m.ece, (2 / 4) * 0.4 + (2 / 4) * 0.5);
  assert.is(m.bins[13]!.count, 2);
  assert.is(m.bins[14]!.count, 2);
});

test("accuracy, precision and recall at the threshold (>= counts as positive)", () => {
  const p = [0.9, 0.8, 0.6, 0.55, 0.4, 0.2];
  const y = [1, 0, 1, 0, 1, 0];
  const e = evaluateBinary(p, y, { threshold: 0.55, seed: 1, bootstrap: 0 });
  // predicted positive: 0.9 (tp), 0.8 (fp), 0.6 (tp), 0.55 (fp); negative: 0.4 (fn), 0.2 (tn)
  close(e.precision, 2 / 4);
  close(e.recall, 2 / 3);
  close(e.accuracy, 3 / 6);
  assert.is(e.threshold, 0.55);
});

test("chooseThreshold is Youden's J on the given rows", () => {
  const p = [0.9, 0.8, 0.6, 0.55, 0.4, 0.2];
  const y = [1, 1, 0, 1, 0, 0];
  assert.is(chooseThreshold(p, y), youdenThreshold(p, y));
  assert.is(chooseThreshold(p, y), 0.55); // TPR 1, FPR 1/3
});

test("regression: MAE and RMSE by hand", () => {
  const r = regression(Float32Array.from([1, 2, 3]), Float32Array.from([1, 4, 0]));
  assert.equal(r, { mae: Math.round((5 / 3) * 1e6) / 1e6, rmse: Math.round(Math.sqrt(13 / 3) * 1e6) / 1e6, n: 3 });
});

test("bad inputs are refused with the field named", () => {
  assert.throws(() => evaluateBinary([0.5], [2], { threshold: 0.5, seed: 1 }), (e: unknown) => e instanceof EvalInputError && /label 0 is 2/.test(e.message));
  assert.throws(() => evaluateBinary([0.5, NaN], [1, 0], { threshold: 0.5, seed: 1 }), /probability 1 is NaN/);
  assert.throws(() => evaluateBinary([1.5], [1], { threshold: 0.5, seed: 1 }), /outside \[0, 1\]/);
  assert.throws(() => compareAuc([0.1], [0.2, 0.3], [1], 1), /1 model and 2 baseline/);
});

/** A market-like set: the label depends on a signal and (weakly, negatively) on a hazard. */
function synthetic(seed: number, n: number, signal: number) {
  const rnd = lcg(seed);
  const hazard = new Float64Array(n), model = new Float64Array(n), y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    hazard[i] = rnd();
    const x = rnd() - 0.5;
    const logit = signal * 6 * x - 1.0 * (hazard[i]! - 0.5);
    y[i] = rnd() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
    model[i] = 1 / (1 + Math.exp(-(signal * 6 * x - 1.0 * (hazard[i]! - 0.5))));
  }
  return { hazard, model, y };
}

test("hazard baseline: calibrator fitted on validation, monotone, AUC of -hazard; applied unchanged to test", () => {
  const val = synthetic(1, 3000, 1), tst = synthetic(2, 3000, 1);
  const c = fitHazardCalibrator(val.hazard, val.y);
  assert.ok(c.a > 0, `slope ${c.a}`);
  const probs = hazardProbabilities(Float64Array.from([0.9, 0.5, 0.1]), c);
  assert.ok(probs[0]! < probs[1]! && probs[1]! < probs[2]!, "lower hazard, higher probability");
  // The fit is calibrated in the large on its own rows (a logistic fit matches the mean).
  const pv = hazardProbabilities(val.hazard, c);
  close(pv.reduce((s, v) => s + v, 0) / pv.length, positiveRate(val.y), 1e-6, "mean probability");
  const h = hazardBaseline({ validation: val, test: tst }, { seed: 4, bootstrap: 100 });
  assert.equal(Object.keys(h.splits), ["test", "validation"]);
  close(h.splits.test!.auc, rocAuc(tst.hazard.map((v) => -v), tst.y), 1e-6, "test auc");
  assert.is(h.threshold, chooseThreshold(pv, val.y));
  // Refitting on the test rows would give a different map: the baseline did not see them.
  const ct = fitHazardCalibrator(tst.hazard, tst.y);
  assert.is.not(ct.b, c.b);
  assert.equal(h.fitted, c);
});

test("hazard calibrator falls back to the base rate when validation contradicts the heuristic", () => {
  const hz = Float64Array.from({ length: 200 }, (_, i) => i / 200);
  const y = Uint8Array.from(hz, (v, i) => (v > 0.5 || i % 7 === 0 ? 1 : 0)); // higher hazard, more positives
  const c = fitHazardCalibrator(hz, y);
  assert.is(c.a, 0);
  close(hazardProbabilities([0.2], c)[0]!, positiveRate(y), 1e-9);
});

test("base rate: AUC 0.5 with interval [0.5, 0.5], the constant's log loss and Brier, majority-class accuracy", () => {
  const y = Uint8Array.from([1, 1, 1, 0, 0, 1, 0, 1, 1, 0]); // 60% positive
  const rate = 0.55;
  const b = baseRateBaseline(rate, { test: { y } }, { seed: 1, bootstrap: 100 });
  const t = b.splits.test!;
  assert.is(t.auc, 0.5);
  assert.equal(t.auc_ci95, [0.5, 0.5]);
  close(t.log_loss, -(0.6 * Math.log(0.55) + 0.4 * Math.log(0.45)));
  close(t.brier, 0.6 * 0.45 ** 2 + 0.4 * 0.55 ** 2);
  close(t.accuracy, 0.6); // predicts positive everywhere (training majority)
  assert.throws(() => baseRateBaseline(1.2, { test: { y } }, { seed: 1 }), /1.2 is not in \[0, 1\]/);
});

test("compareAuc: a paired delta whose interval excludes 0 for a real edge and holds 0 for none", () => {
  const s = synthetic(3, 4000, 1);
  const negHaz = s.hazard.map((v) => -v);
  const c = compareAuc(s.model, negHaz, s.y, 7);
  close(c.delta, rocAuc(s.model, s.y) - rocAuc(negHaz, s.y), 2e-6);
  const [lo, hi] = c.delta_ci95 as [number, number];
  assert.ok(lo > 0 && lo < c.delta! && c.delta! < hi, `[${lo}, ${hi}] around ${c.delta}`);
  // The same scoring against itself: delta 0 on every resample.
  const z = compareAuc(s.model, s.model, s.y, 7, 100);
  assert.equal([z.delta, ...z.delta_ci95], [0, 0, 0]);
  // Paired is tighter than the two independent intervals would suggest.
  const em = evaluateBinary(s.model, s.y, { threshold: 0.5, seed: 7 });
  const eh = evaluateBinary(hazardProbabilities(s.hazard, fitHazardCalibrator(s.hazard, s.y)), s.y, { threshold: 0.5, seed: 7, rankScore: negHaz });
  const indep = Math.hypot(em.auc_ci95[1]! - em.auc_ci95[0]!, eh.auc_ci95[1]! - eh.auc_ci95[0]!);
  assert.ok(hi - lo < indep, `paired width ${hi - lo} vs independent ${indep}`);
  // No signal: the model is noise, the delta's interval holds 0.
  const rnd = lcg(8);
  const noise = Float64Array.from({ length: 4000 }, () => rnd());
  const noise2 = Float64Array.from({ length: 4000 }, () => rnd());
  const n0 = compareAuc(noise, noise2, s.y, 7);
  assert.ok(n0.delta_ci95[0]! < 0 && 0 < n0.delta_ci95[1]!, `[${n0.delta_ci95}]`);
});

test("a block bootstrap draws whole blocks, and copies of a row widen the interval to the truth", () => {
  const next = resampleIndices(6, 3, [0, 0, 1, 1, 2, 2]);
  for (let r = 0; r < 20; r++) {
    const drawn = Array.from(next(new Uint32Array(6)));
    assert.is(drawn.length, 6);
    for (let k = 0; k < drawn.length; k += 2) assert.is(drawn[k + 1], drawn[k]! + 1, "a block's rows come together");
  }
  // 200 independent rows, each repeated 20 times (as overlapping windows repeat one outcome):
  // a row bootstrap sees 4,000 "independent" rows; blocks see the 200 there are.
  let seed = 5;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const base = Array.from({ length: 200 }, () => { const y = rand() < 0.5 ? 1 : 0; return { y, s: y * 0.3 + rand() }; });
  const y = base.flatMap((b) => Array(20).fill(b.y)), sc = base.flatMap((b) => Array(20).fill(b.s));
  const blocks = base.flatMap((_, i) => Array(20).fill(i));
  const rows = evaluateBinary(sc.map(() => 0.5), y, { threshold: 0.5, seed: 1, bootstrap: 300, rankScore: sc });
  const blk = evaluateBinary(sc.map(() => 0.5), y, { threshold: 0.5, seed: 1, bootstrap: 300, rankScore: sc, blocks });
  const once = evaluateBinary(base.map(() => 0.5), base.map((b) => b.y), { threshold: 0.5, seed: 1, bootstrap: 300, rankScore: base.map((b) => b.s) });
  const width = (e: { auc_ci95: readonly (number | null)[] }) => e.auc_ci95[1]! - e.auc_ci95[0]!;
  assert.ok(width(blk) > 3 * width(rows), `block ${width(blk)} vs row ${width(rows)}`);
  assert.ok(Math.abs(width(blk) - width(once)) < 0.35 * width(once), `block ${width(blk)} vs the 200 rows alone ${width(once)}`);
});

test.run();
