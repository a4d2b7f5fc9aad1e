/**
 * Entry of a training worker thread (pool.ts starts it): builds the same chunk model as the
 * main thread on its own kernel backend and arena, says "ready", then serves jobs from the
 * shared control array until told to exit.
 */
import { parentPort, workerData } from "node:worker_threads";
import { createChunkModel } from "./model.js";
import { poolViews, workerLoop, type WorkerInit } from "./pool.js";

const init = workerData as WorkerInit;
try {
  const model = await createChunkModel(init.config, {
    backend: init.backend,
    chunk: init.chunk,
    magnitudeLoss: init.magnitudeLoss,
    magnitudeWeight: init.magnitudeWeight,
  });
  parentPort!.postMessage({ type: "ready" });
  workerLoop(model, poolViews(init.shared));
  model.dispose();
} catch (e) {
  parentPort!.postMessage({ type: "error", message: (e as Error)?.stack ?? String(e) });
}
