/**
 * PSR and DSR (src/backtest/sharpe-stats.ts) against values computed by hand from the papers'
 * formulas, and Φ / Φ⁻¹ against reference values (Python's math.erfc and
 * statistics.NormalDist.inv_cdf, printed to 17 digits).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { deflatedSharpe, expectedMaxSharpe, normCdf, normInv, probabilisticSharpe, sharpeVariance } from "../../src/backtest/sharpe-stats.js";

const close = (a: number | null, b: number, tol: number, what: string) => assert.ok(a !== null && Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test("Φ and Φ⁻¹ match reference values, tails included", () => {
  const cdf: [number, number][] = [[-8, 6.220960574271819e-16], [-5, 2.866515718791946e-7], [-4.2, 1.3345749015906346e-5], [-1, 0.15865525393145707], [0, 0.5], [1.7, 0.955434537241457], [3, 0.9986501019683699], [6, 0.9999999990134123]];
  for (const [x, p] of cdf) close(normCdf(x), p, Math.max(1e-15, 1e-12 * p), `Φ(${x})`);
  const inv: [number, number][] = [[1e-10, -6.361340902404056], [0.001, -3.090232306167813], [0.1, -1.2815515655446008], [0.5, 0], [0.9, 1.2815515655446008], [0.999999, 4.753424308817089]];
  for (const [p, x] of inv) close(normInv(p), x, 1e-12, `Φ⁻¹(${p})`);
  assert.is(normInv(1), Infinity);
});

test("PSR: SR 0.1 a day, T 252, skew -0.5, kurtosis 4", () => {
  // sqrt(1 - (-0.5)(0.1) + (4 - 1)/4 (0.01)) = sqrt(1.0575) = 1.028348;
  // z = 0.1 sqrt(251) / 1.028348 = 1.540624; Φ(z) = 0.938296.
  close(probabilisticSharpe({ sharpe_period: 0.1, T: 252, skew: -0.5, kurtosis: 4 }), 0.9382958442347666, 1e-12, "PSR");
  // Normal returns (skew 0, kurtosis 3): Φ(0.05 sqrt(99) / sqrt(1 + 0.5 * 0.0025)) = 0.690470.
  close(probabilisticSharpe({ sharpe_period: 0.05, T: 100, skew: 0, kurtosis: 3 }), 0.6904700226375926, 1e-12, "PSR normal");
  // Fat tails and negative skew lower it.
  assert.ok(probabilisticSharpe({ sharpe_period: 0.1, T: 252, skew: -2, kurtosis: 12 })! < 0.9382958442347666);
  assert.is(probabilisticSharpe({ sharpe_period: 0.1, T: 1, skew: 0, kurtosis: 3 }), null, "one return: undefined");
});

test("DSR: 10 trials with Sharpe variance 0.0025", () => {
  // SR0 = 0.05 ((1 - 0.577216) Φ⁻¹(0.9) + 0.577216 Φ⁻¹(1 - 1/(10 e)))
  //     = 0.05 (0.422784 * 1.281552 + 0.577216 * 1.789242) = 0.078730;
  // DSR = Φ((0.1 - 0.078730) sqrt(251) / 1.028348) = Φ(0.327692) = 0.628428.
  close(expectedMaxSharpe(10, 0.0025), 0.0787299150672875, 1e-12, "SR0");
  const r = deflatedSharpe({ sharpe_period: 0.1, T: 252, skew: -0.5, kurtosis: 4 }, 10, 0.0025);
  close(r.dsr, 0.6284277400915668, 1e-12, "DSR");
  // One trial: no deflation (DSR = PSR against 0); more trials deflate more.
  assert.is(expectedMaxSharpe(1, 0.0025), 0);
  assert.ok(deflatedSharpe({ sharpe_period: 0.1, T: 252, skew: -0.5, kurtosis: 4 }, 100, 0.0025).dsr! < r.dsr!);
  close(sharpeVariance([0.1, 0.2, 0.3]), 0.01, 1e-15, "sample variance");
});

test.run();
