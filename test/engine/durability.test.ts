/**
 * Power-loss ordering (src/engine/durable.ts): an output's data is fsynced before the state
 * index that vouches for it, and so are the directories the renames changed (CAS blobs and
 * action records are verified when read instead).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { buildInProcess, makeWs } from "../helpers/rig.js";
import { observeSyncs } from "../../src/engine/durable.js";

test("outputs and their directories are fsynced before the state index", async () => {
  const ws = makeWs(`version: 1
targets:
  a:
    outputs: [out/a.txt]
    deps: [src.txt]
    run: "cp src.txt {out}"
  gen:
    outputs: ["gen/"]
    deps: [src.txt]
    run: "mkdir -p {out}/sub && cp src.txt {out}/sub/x.txt"
`, { fake: false, files: { "src.txt": "x\n" } });
  const synced: string[] = [];
  observeSyncs((p) => synced.push(p.startsWith(ws) ? p.slice(ws.length + 1) : p));
  try {
    const { summary } = await buildInProcess(ws, { jobs: 1 });
    assert.ok(summary.ok);
  } finally {
    observeSyncs(undefined);
  }
  const at = (pred: (p: string) => boolean, what: string) => {
    const i = synced.findIndex(pred);
    assert.ok(i >= 0, `${what} was fsynced: ${synced.join(", ")}`);
    return i;
  };
  const index = at((p) => p === "cache/state.v1.jsonl", "the state index");
  assert.ok(at((p) => p.startsWith("cache/tmp/") && p.endsWith("/out/a.txt"), "a's staged output") < index);
  assert.ok(at((p) => p.startsWith("cache/tmp/") && p.endsWith("/gen/sub/x.txt"), "a file of gen/") < index);
  assert.ok(at((p) => p === "out", "the directory of out/a.txt") < index);
});

test.run();
