/**
 * Worker-thread entry of the local host: runs module rules in-process so a build of many small
 * actions does not pay a Node start-up per action. One action at a time per worker; the
 * parent terminates the worker to cancel.
 */
import { parentPort } from "node:worker_threads";
import { format } from "node:util";
import type { ActionSpec } from "./host.js";
import { executeSpec } from "../exec.js";

interface RunMessage {
  type: "run";
  spec: ActionSpec;
  root: string;
  staging: string;
}

const port = parentPort!;
let log: (chunk: string) => void = () => {};
// Rule code that prints goes to the action's log, not to the build's terminal.
for (const m of ["log", "info", "warn", "error", "debug"] as const) {
  console[m] = (...args: unknown[]) => log(format(...args) + "\n");
}

port.on("message", async (msg: RunMessage) => {
  if (msg.type !== "run") return;
  log = (chunk) => port.postMessage({ type: "log", chunk });
  const controller = new AbortController();
  try {
    const result = await executeSpec(msg.spec, msg.root, msg.staging, { log, progress: (line) => port.postMessage({ type: "progress", line }), signal: controller.signal });
    port.postMessage({ type: "done", result });
  } catch (e) {
    port.postMessage({ type: "done", result: { ok: false, kind: "rule-failed", message: (e as Error)?.stack ?? String(e) } });
  }
});
