# Optional native helper of the no-op fast path (see stat_stamps.c); built by scripts/build-native.mjs.
{ "targets": [ { "target_name": "stat_stamps", "sources": ["stat_stamps.c"], "cflags": ["-O2", "-ffp-contract=off"] } ] }
