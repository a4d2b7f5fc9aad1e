/**
 * Golden gates: the replay reproduces an independent implementation of the spec exactly
 * (published metrics to the 6th decimal, bits, signature, regime, threshold, repetitions,
 * admission) and canonical features to floating-point precision.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { replayInstrument } from "../../src/sep/replay.js";
import { parseGateLine, formatGateLine, stableStringify } from "../../src/sep/records.js";
import { goldenCandles, goldenGates, profile } from "./helpers.js";

const CANON = ["realized_vol", "atr_mean", "autocorr", "trend_strength", "volume_zscore", "confidence"];

for (const inst of ["EUR_USD", "USD_JPY"]) {
  test(`${inst}: every gate matches the golden file`, () => {
    const gold = goldenGates(inst);
    const { gates } = replayInstrument(goldenCandles(inst), [], profile(), undefined, { instrument: inst, runMode: "isolation" });
    assert.is(gates.length, gold.length);
    for (let i = 0; i < gold.length; i++) {
      const g = gates[i]!;
      const e = gold[i]!;
      const at = `${inst} gate ${i}`;
      assert.is(g.ts_ms, e.ts_ms, `${at} ts_ms`);
      assert.is(g.signature, e.signature, `${at} signature`);
      for (const k of Object.keys(e.structure)) assert.is((g.structure as any)[k], e.structure[k], `${at} structure.${k}`);
      assert.is(Object.keys(g.structure).length, Object.keys(e.structure).length, `${at} structure keys`);
      assert.is(g.components.bits_b64, e.components.bits_b64, `${at} bits_b64`);
      assert.is(g.hazard, e.hazard, `${at} hazard`);
      assert.is(g.hazard_threshold, e.hazard_threshold, `${at} threshold`);
      assert.is(g.repetitions, e.repetitions, `${at} repetitions`);
      assert.is(g.admit, e.admit, `${at} admit`);
      assert.equal(g.reasons, e.reasons, `${at} reasons`);
      assert.is(g.regime.label, e.regime.label, `${at} regime label`);
      for (const k of CANON) {
        const a = (g.regime as any)[k] as number;
        const b = e.regime[k] as number;
        assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1e-300, Math.abs(b)) || a === b, `${at} regime.${k}: ${a} vs ${b}`);
      }
      for (const k of Object.keys(e.components.codec_meta)) {
        const a = (g.components.codec_meta as any)[k] as number;
        const b = e.components.codec_meta[k] as number;
        assert.ok(Math.abs(a - b) <= 1e-12 * Math.abs(b), `${at} codec_meta.${k}: ${a} vs ${b}`);
      }
    }
  });
}

test("golden lines and our own lines read back through parseGateLine", () => {
  const gold = goldenGates("EUR_USD");
  const p = parseGateLine(JSON.stringify(gold[5]), "gold.jsonl", 6);
  assert.is(p.ts_ms, gold[5]!.ts_ms);
  assert.is(p.regime, gold[5]!.regime.label);
  assert.is(p.structure.spectral_lowf_share, gold[5]!.structure.spectral_lowf_share);
  const { gates } = replayInstrument(goldenCandles("EUR_USD"), [], profile(), undefined, { instrument: "EUR_USD", runMode: "rolling" });
  for (const g of gates) {
    const line = formatGateLine(g);
    assert.is(line, stableStringify(g)); // the fast writer emits exactly the sorted-key JSON
    const back = parseGateLine(line, "ours.jsonl", 1);
    assert.is(back.hazard, g.hazard);
    assert.is(back.signature, g.signature);
    assert.is(back.canonical.autocorr, g.regime.autocorr);
    assert.equal(back.roc_forward_pct, g.roc_forward_pct);
  }
});

test.run();
