# Optional native helper of the no-op fast path (see stat_stamps.c); built by scripts/build-native.mjs.
# nn: the training engine's kernels (nn/, contract in docs/nn-engine.md), the same C sources as
# nn.wasm (scripts/build-wasm.mjs) plus the N-API glue; -march=native for this CPU's widest SIMD;
# -ffp-contract=off (no FMA) so it gives the same bits as the wasm build.
{ "targets": [ { "target_name": "stat_stamps", "sources": ["stat_stamps.c"], "cflags": ["-O2", "-ffp-contract=off"] },
  { "target_name": "nn", "sources": ["<!@(node nn/sources.mjs)"],
    "cflags": ["-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-std=gnu11", "-Wall", "-Wno-unused-function"] } ] }
