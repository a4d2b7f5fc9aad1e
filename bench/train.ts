/**
 * Training throughput of the CPU engine against its peers, in one run (issue 10, "Must show"):
 * samples/s of the LSTM (seq 64 x 16 features, 64 units), the GRU of the same shape and the
 * Transformer (d_model 64, 4 heads, 2 layers, ff 128, learned positions, last-token pooling),
 * batch 256, Adam, BCE, on 4,096 random samples, for
 *   - our engine: native kernels with 1 and 2 threads, and the wasm build (1 thread);
 *   - TensorFlow.js (the tfjs reference with tf.train.adam; wasm backend, else cpu);
 *   - PyTorch on the CPU (bench/train_torch.py under /usr/bin/python3) with OPENBLAS_CORETYPE
 *     unset, Haswell and SkylakeX and 1 and 2 threads (torch.set_num_threads and the OpenBLAS and
 *     OpenMP pools alike); a setting whose fixed-step loss differs
 *     from the default's is not counted; PyTorch's best is the reference of the ratios.
 * Also our kernels' GFLOP/s (the FLOPs of the matrix products of forward and backward; the
 * elementwise work is not counted) against one core's peak.
 *
 *   npx tsc -p . && node dist/bench/train.js [--seconds 2] [--models lstm,gru,transformer] [--no-torch] [--no-tfjs] [--ghz 3.6] [--dropout 0.2]
 *
 * --dropout P trains our engine and TensorFlow.js with that dropout rate (PyTorch's script has none).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { initParams, type ModelConfig } from "../src/ml/nn/config.js";
import { nativeKernelsAvailable } from "../src/ml/nn/kernels.js";
import { loadTfjs, referenceTrain } from "../src/ml/nn/tfjs-reference.js";
import { trainModel, type Split } from "../src/ml/nn/trainer.js";

const SEQ = 64;
const FEAT = 16;
const BATCH = 256;
const N = 4096;

const MODELS: Record<string, ModelConfig> = {
  lstm: { kind: "lstm", seq_len: SEQ, n_features: FEAT, units: 64, layers: 1, magnitude: false },
  gru: { kind: "gru", seq_len: SEQ, n_features: FEAT, units: 64, layers: 1, magnitude: false },
  transformer: { kind: "transformer", seq_len: SEQ, n_features: FEAT, d_model: 64, heads: 4, layers: 2, ff: 128, pos: "learned", pool: "last", magnitude: false },
};

/**
 * FLOPs of one sample's forward and backward matrix products (2 per multiply-add). Recurrent:
 * per step the input and recurrent products forward, their weight gradients, and the
 * recurrent input gradient (the first layer's dX is skipped). Transformer: projections,
 * QKᵀ and PV, the feed-forward block; backward twice the forward, less proj's dX.
 */
export function flopsPerSample(c: ModelConfig): number {
  if (c.kind !== "transformer") {
    const g = c.kind === "lstm" ? 4 : 3;
    const H = c.units;
    let per = 0;
    for (let l = 0; l < c.layers; l++) {
      const I = l === 0 ? c.n_features : H;
      const fwd = 2 * (I + H) * g * H;
      per += 3 * fwd - (l === 0 ? 2 * I * g * H : 0);
    }
    return per * c.seq_len + 3 * 2 * H; // + the head
  }
  const { seq_len: L, d_model: D, ff: FF, n_features: F } = c;
  const layer = 4 * 2 * L * D * D + 2 * 2 * L * L * D + 2 * 2 * L * D * FF;
  return 3 * layer * c.layers + 2 * 2 * L * F * D + 3 * 2 * D;
}

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : def;
}

/** xorshift-free seeded normal data (mulberry32 + Box-Muller). */
function data(c: ModelConfig, n: number, seed: number): Split {
  let a = seed >>> 0;
  const r = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const X = Float32Array.from({ length: n * c.seq_len * c.n_features }, () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()));
  const ySign = Uint8Array.from({ length: n }, () => (r() < 0.5 ? 1 : 0));
  return { X, ySign, yMag: new Float32Array(n), n };
}

interface Row {
  model: string;
  engine: string;
  threads: number;
  samplesPerSec: number;
  /** Samples per CPU-second of the process (all threads): less sensitive to a busy machine. */
  perCpuSec?: number;
  note?: string;
}

/**
 * Our engine: epochs over at most `samples` of the 4,096 (so a measurement lasts about
 * `seconds`); the first epoch warms up, the best later epoch counts.
 */
async function ours(c: ModelConfig, train: Split, val: Split, backend: "native" | "wasm", threads: number, seconds: number, guess: number): Promise<{ sps: number; perCpu: number }> {
  const samples = Math.max(BATCH, Math.min(N, Math.round((guess * seconds) / 2 / BATCH) * BATCH));
  const u0 = process.cpuUsage();
  const r = await trainModel(c, { train, validation: val }, { seed: 1, epochs: 3, batch: BATCH, backend, threads, maxTrainSamples: samples });
  const u = process.cpuUsage(u0);
  // CPU time of the whole call (setup, warm-up epoch and validation included: conservative).
  return { sps: Math.max(...r.epochs.slice(1).map((e) => e.samples_per_s)), perCpu: (3 * samples) / ((u.user + u.system) / 1e6) };
}

async function tfjs(c: ModelConfig, train: Split, seconds: number): Promise<{ sps: number; backend: string }> {
  const { tf, backend } = await loadTfjs("wasm");
  const ySign = Float32Array.from(train.ySign);
  const init = initParams(c, 1);
  // One warm-up batch, then as many batches as fit in `seconds` (at least one).
  const warm = referenceTrain(tf, c, init, { X: train.X, ySign, n: BATCH }, { epochs: 1, batchSize: BATCH });
  const batches = Math.max(1, Math.min(N / BATCH, Math.floor(seconds / warm.seconds)));
  const r = referenceTrain(tf, c, init, { X: train.X, ySign, n: batches * BATCH }, { epochs: 1, batchSize: BATCH });
  return { sps: r.samplesPerSec, backend };
}

interface TorchRun {
  coretype: string;
  threads: number;
  models: Record<string, { samples_per_s: number; samples_per_cpu_s: number; loss_check: number }>;
}

function torch(models: string[], seconds: number): { runs: TorchRun[]; problems: string[] } {
  const script = fileURLToPath(new URL("../../bench/train_torch.py", import.meta.url));
  const runs: TorchRun[] = [];
  const problems: string[] = [];
  for (const coretype of ["default", "Haswell", "SkylakeX"]) {
    for (const threads of [1, 2]) {
      const env = { ...process.env };
      delete env.OPENBLAS_CORETYPE;
      if (coretype !== "default") env.OPENBLAS_CORETYPE = coretype;
      // torch.set_num_threads does not bound OpenBLAS's own pthread pool (Debian's
      // libopenblas0-pthread): without this, "1 thread" runs its products on every core.
      env.OPENBLAS_NUM_THREADS = String(threads);
      env.OMP_NUM_THREADS = String(threads);
      const p = spawnSync("/usr/bin/python3", [script, "--threads", String(threads), "--seconds", String(seconds), "--models", models.join(",")], { env, encoding: "utf8", timeout: 300_000 });
      if (p.status !== 0) {
        problems.push(`torch ${coretype} x${threads}: ${(p.stderr || p.error?.message || "").trim().split("\n").at(-1)}`);
        continue;
      }
      const out = JSON.parse(p.stdout.trim().split("\n").at(-1)!) as TorchRun;
      runs.push({ ...out, coretype, threads });
    }
  }
  return { runs, problems };
}

/**
 * One core's single-precision peak from the CPU flags and a clock (an assumption, printed with
 * the table): `--ghz` when given (e.g. a measured boost clock), else /proc/cpuinfo's nominal MHz.
 * Two 512-bit FMA pipes (Zen 4/5, Skylake-X server cores) give 2 x 16 lanes x 2 flops a cycle;
 * without FMA (our builds use -ffp-contract=off) Zen's 2 FMUL + 2 FADD pipes give the same 64.
 */
function peak(): { gflops: number; why: string } {
  let flags = "";
  let mhz = 0;
  try {
    const info = readFileSync("/proc/cpuinfo", "utf8");
    flags = /^flags\s*:(.*)$/m.exec(info)?.[1] ?? "";
    mhz = Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec(info)?.[1] ?? 0);
  } catch {
    /* not Linux */
  }
  const lanes = /\bavx512f\b/.test(flags) ? 16 : /\bavx2\b/.test(flags) ? 8 : 4;
  const given = Number(arg("ghz", "0"));
  const ghz = given > 0 ? given : mhz > 0 ? mhz / 1000 : 2.5;
  const gflops = 2 * lanes * 2 * ghz;
  return { gflops, why: `2 vector pipes x ${lanes} fp32 lanes x 2 flops (FMA, or FMUL+FADD) x ${ghz.toFixed(2)} GHz (${given > 0 ? "--ghz" : "nominal clock from /proc/cpuinfo"})` };
}

async function main(): Promise<void> {
  const seconds = Number(arg("seconds", "2"));
  const names = arg("models", "lstm,gru,transformer").split(",");
  const rows: Row[] = [];
  const native = nativeKernelsAvailable();
  const GUESS: Record<string, number> = { lstm: 6000, gru: 6000, transformer: 1400 };
  const dropout = Number(arg("dropout", "0"));
  for (const name of names) {
    const c = dropout > 0 ? { ...MODELS[name]!, dropout } : MODELS[name]!;
    const train = data(c, N, 1);
    const val = data(c, BATCH, 2);
    if (native) {
      for (const threads of [1, 2]) {
        const o = await ours(c, train, val, "native", threads, seconds, GUESS[name]! * threads);
        rows.push({ model: name, engine: "ours native", threads, samplesPerSec: o.sps, perCpuSec: o.perCpu });
      }
    }
    const w = await ours(c, train, val, "wasm", 1, seconds, GUESS[name]! / 3);
    rows.push({ model: name, engine: "ours wasm", threads: 1, samplesPerSec: w.sps, perCpuSec: w.perCpu });
    if (!process.argv.includes("--no-tfjs")) {
      const t = await tfjs(c, train, seconds);
      rows.push({ model: name, engine: `tfjs ${t.backend}`, threads: 1, samplesPerSec: t.sps });
    }
    process.stderr.write(`${name} done\n`);
  }
  const best: Record<string, number> = {};
  /** PyTorch's best samples per CPU-second among its 1-thread settings. */
  const bestCpu: Record<string, number> = {};
  if (!process.argv.includes("--no-torch")) {
    const { runs, problems } = torch(names, seconds);
    for (const p of problems) process.stderr.write(`${p}\n`);
    const def = runs.find((r) => r.coretype === "default" && r.threads === 1);
    for (const r of runs) {
      for (const name of names) {
        const m = r.models[name];
        if (!m) continue;
        const ref = def?.models[name]?.loss_check;
        const same = ref === undefined || Math.abs(m.loss_check - ref) <= 1e-4 * Math.abs(ref);
        rows.push({ model: name, engine: `torch ${r.coretype}`, threads: r.threads, samplesPerSec: m.samples_per_s, perCpuSec: m.samples_per_cpu_s, note: same ? undefined : `loss ${m.loss_check} != default ${ref}: not counted` });
        if (same) best[name] = Math.max(best[name] ?? 0, m.samples_per_s);
        if (same && r.threads === 1) bestCpu[name] = Math.max(bestCpu[name] ?? 0, m.samples_per_cpu_s);
      }
    }
  }
  const pk = peak();
  const lines = [
    "| model | engine | threads | samples/s | vs PyTorch best | GFLOP/s | % of peak (per thread) | samples/CPU-s | vs PyTorch 1-thread best (CPU-s) |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    const gf = (r.samplesPerSec * flopsPerSample(MODELS[r.model]!)) / 1e9;
    const ratio = best[r.model] ? `${(r.samplesPerSec / best[r.model]!).toFixed(2)}x` : "-";
    const pct = r.engine.startsWith("ours") ? `${((100 * gf) / (pk.gflops * r.threads)).toFixed(0)}%` : "";
    lines.push(`| ${r.model} | ${r.engine}${r.note ? ` (${r.note})` : ""} | ${r.threads} | ${Math.round(r.samplesPerSec)} | ${ratio} | ${gf.toFixed(1)} | ${pct} | ${r.perCpuSec ? Math.round(r.perCpuSec) : ""} | ${r.perCpuSec && r.threads === 1 && bestCpu[r.model] ? `${(r.perCpuSec / bestCpu[r.model]!).toFixed(2)}x` : ""} |`);
  }
  lines.push("");
  lines.push(`PyTorch best (samples/s): ${names.map((n) => `${n} ${Math.round(best[n] ?? 0)}`).join(", ")}`);
  lines.push(`FLOPs per sample (forward+backward matrix products): ${names.map((n) => `${n} ${(flopsPerSample(MODELS[n]!) / 1e6).toFixed(2)} M`).join(", ")}`);
  lines.push("samples/CPU-s: samples per CPU-second of the whole process (all its threads); on a shared machine it shows the work per sample when wall time is inflated by other load.");
  lines.push(`Peak assumption: ${pk.gflops.toFixed(0)} GFLOP/s per core = ${pk.why}`);
  process.stdout.write(lines.join("\n") + "\n");
}

await main();
