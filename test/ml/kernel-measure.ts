/**
 * Micro-measure of the kernels (not a test): GFLOP/s of dense_fwd for [256x80]·[80x256] and
 * of lstm_fwd + lstm_bwd (and gru) for B=32, T=64, I=16, H=64 (layer 0: no dx), one thread, for each
 * backend present. Run: node dist/test/ml/kernel-measure.js [seconds per figure, default 0.5]
 */
import { gruBwdScratchFloats, gruCacheFloats, loadKernels, lstmBwdScratchFloats, lstmCacheFloats, nativeKernelsAvailable, type KernelBackend } from "../../src/ml/nn/kernels.js";
import { put, randomSource, room } from "./kernel-helpers.js";

const budget = Number(process.argv[2] ?? 0.5) * 1000;

/**
 * CPU seconds per call of `fn` (process.cpuUsage: time this thread ran, not wall time, since the
 * machine may be shared), the best of 5 windows of budget/5 ms each after one warm-up call.
 */
function time(fn: () => void): number {
  fn();
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e3;
  };
  let best = Infinity;
  for (let w = 0; w < 5; w++) {
    let n = 0;
    const t0 = cpu();
    let t = t0;
    while (t - t0 < budget / 5 || n === 0) {
      fn();
      n++;
      t = cpu();
    }
    best = Math.min(best, (t - t0) / 1000 / n);
  }
  return best;
}

function measure(k: KernelBackend): string[] {
  const r = randomSource(1);
  const out: string[] = [];
  {
    const [N, I, O] = [256, 80, 256];
    const a = k.arena(1 << 20);
    const x = put(a, r(N * I)), w = put(a, r(I * O)), b = put(a, r(O)), y = room(a, N * O);
    const s = time(() => a.k.denseFwd(x, w, b, y, N, I, O));
    out.push(`dense_fwd 256x80x256: ${((2 * N * I * O) / s / 1e9).toFixed(1)} GFLOP/s (${(s * 1e6).toFixed(0)} µs)`);
    const dy = put(a, r(N * O)), dw = room(a, I * O, 0), db = room(a, O, 0), dx = room(a, N * I);
    const sb = time(() => a.k.denseBwd(x, w, dy, dw, db, dx, N, I, O));
    out.push(`dense_bwd 256x80x256: ${((4 * N * I * O) / sb / 1e9).toFixed(1)} GFLOP/s (${(sb * 1e6).toFixed(0)} µs)`);
  }
  for (const kind of ["lstm", "gru"] as const) {
    const [B, T, I, H] = [32, 64, 16, 64];
    const G = (kind === "lstm" ? 4 : 3) * H;
    const cacheN = kind === "lstm" ? lstmCacheFloats(B, T, H) : gruCacheFloats(B, T, H);
    const scratchN = kind === "lstm" ? lstmBwdScratchFloats(B, T, H) : gruBwdScratchFloats(B, T, H);
    const a = k.arena(cacheN + scratchN + (1 << 20));
    const x = put(a, r(B * T * I)), kk = put(a, r(I * G, -0.3, 0.3)), rec = put(a, r(H * G, -0.3, 0.3)), bias = put(a, r(2 * G));
    const hs = room(a, B * T * H), cache = room(a, cacheN), dhs = put(a, r(B * T * H));
    const dk = room(a, I * G, 0), dr = room(a, H * G, 0), dbias = room(a, 2 * G, 0), sc = room(a, scratchN);
    const fwd = kind === "lstm" ? a.k.lstmFwd : a.k.gruFwd, bwd = kind === "lstm" ? a.k.lstmBwd : a.k.gruBwd;
    const fwdFlop = 2 * B * T * (I + H) * G, bwdFlop = 2 * B * T * G * (H + H + I);
    const sf = time(() => fwd(x, kk, rec, bias, hs, cache, B, T, I, H));
    const sfb = time(() => {
      fwd(x, kk, rec, bias, hs, cache, B, T, I, H);
      bwd(x, kk, rec, hs, cache, dhs, dk, dr, dbias, -1, sc, B, T, I, H);
    });
    out.push(`${kind}_fwd B32 T64 I16 H64: ${(fwdFlop / sf / 1e9).toFixed(1)} GFLOP/s (${(sf * 1e3).toFixed(2)} ms)`);
    out.push(`${kind}_fwd+bwd: ${((fwdFlop + bwdFlop) / sfb / 1e9).toFixed(1)} GFLOP/s (${(sfb * 1e3).toFixed(2)} ms, ${(B / sfb).toFixed(0)} samples/s)`);
  }
  return out;
}

for (const kind of [...(nativeKernelsAvailable() ? (["native"] as const) : []), "wasm" as const]) {
  for (const line of measure(loadKernels(kind))) process.stdout.write(`${kind}: ${line}\n`);
}
