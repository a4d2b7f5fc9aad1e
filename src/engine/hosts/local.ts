/**
 * The local host: module rules run in a pool of worker threads (no process start per action),
 * shell rules run as bash child processes. `DAGBUILD_ISOLATION=process` runs every action as a
 * `dagbuild exec` child process instead (for rules whose native libraries dislike workers).
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { ActionIO, ActionSpec, Host, HostResult } from "./host.js";
import { executeSpec } from "../exec.js";

const WORKER_URL = new URL("./worker.js", import.meta.url);
// dist/src/engine/hosts/local.js → the repository's bin/ (not dist/bin/, which does not exist).
const CLI = new URL("../../../../bin/dagbuild", import.meta.url).pathname;

export class LocalHost implements Host {
  readonly describe = "local";
  private idle: Worker[] = [];
  private readonly all = new Set<Worker>();

  constructor(
    readonly name: string,
    private readonly root: string,
    private readonly isolation: "worker" | "process" = process.env.DAGBUILD_ISOLATION === "process" ? "process" : "worker",
  ) {}

  async prepare(): Promise<void> {}

  async run(spec: ActionSpec, staging: string, io: ActionIO): Promise<HostResult> {
    if (spec.rule.kind === "shell") return executeSpec(spec, this.root, staging, io);
    if (this.isolation === "process") return this.runProcess(spec, staging, io);
    return this.runWorker(spec, staging, io);
  }

  private runWorker(spec: ActionSpec, staging: string, io: ActionIO): Promise<HostResult> {
    const worker = this.idle.pop() ?? this.spawnWorker();
    return new Promise((resolve) => {
      let settled = false;
      const finish = (r: HostResult, reusable: boolean) => {
        if (settled) return;
        settled = true;
        worker.off("message", onMessage);
        worker.off("error", onError);
        worker.off("exit", onExit);
        io.signal.removeEventListener("abort", onAbort);
        if (reusable) this.idle.push(worker);
        else {
          this.all.delete(worker);
          void worker.terminate();
        }
        resolve(r);
      };
      const onMessage = (m: { type: string; chunk?: string; line?: string; result?: HostResult }) => {
        if (m.type === "log") io.log(m.chunk!);
        else if (m.type === "progress") io.progress?.(m.line!);
        else if (m.type === "done") finish(m.result!, true);
      };
      const onError = (e: Error) => finish({ ok: false, kind: "rule-failed", message: e?.stack ?? String(e) }, false);
      const onExit = (code: number) => finish({ ok: false, kind: "rule-failed", message: `worker exited with code ${code}` }, false);
      const onAbort = () => finish({ ok: false, kind: "cancelled", message: "cancelled" }, false);
      worker.on("message", onMessage);
      worker.on("error", onError);
      worker.on("exit", onExit);
      if (io.signal.aborted) return onAbort();
      io.signal.addEventListener("abort", onAbort, { once: true });
      worker.postMessage({ type: "run", spec, root: this.root, staging });
    });
  }

  private spawnWorker(): Worker {
    const w = new Worker(WORKER_URL, { stdout: false, stderr: false });
    w.unref();
    this.all.add(w);
    return w;
  }

  private runProcess(spec: ActionSpec, staging: string, io: ActionIO): Promise<HostResult> {
    mkdirSync(staging, { recursive: true });
    const specFile = `${staging}.spec.json`; // beside the staging dir, removed when the child exits
    const resultFile = `${staging}.result.json`; // the child's result (ctx.notFinal travels in it)
    writeFileSync(specFile, JSON.stringify(spec));
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, "exec", "--spec", specFile, "--staging", staging, "--result", resultFile], { cwd: this.root, stdio: ["ignore", "pipe", "pipe"] });
      const onAbort = () => child.kill("SIGTERM");
      io.signal.addEventListener("abort", onAbort, { once: true });
      let tail = "";
      child.stdout.on("data", (b: Buffer) => io.log(b.toString()));
      child.stderr.on("data", (b: Buffer) => {
        const s = b.toString();
        tail = (tail + s).slice(-2000);
        io.log(s);
      });
      child.on("close", (code, sig) => {
        io.signal.removeEventListener("abort", onAbort);
        rmSync(specFile, { force: true });
        const notFinal = code === 0 ? readNotFinal(resultFile) : undefined;
        rmSync(resultFile, { force: true });
        if (io.signal.aborted) resolve({ ok: false, kind: "cancelled", message: "cancelled" });
        else if (code === 0) resolve(notFinal === undefined ? { ok: true } : { ok: true, notFinal });
        else resolve({ ok: false, kind: "rule-failed", message: tail.trim().split("\n").pop() || (sig ? `rule process killed by ${sig}` : `rule process exited with code ${code}`) });
      });
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.all].map((w) => w.terminate()));
    this.all.clear();
    this.idle = [];
  }
}

/** The `notFinal` of a `dagbuild exec --result` file, if it has one. */
function readNotFinal(file: string): string | undefined {
  try {
    const r = JSON.parse(readFileSync(file, "utf8")) as { notFinal?: unknown };
    return typeof r.notFinal === "string" ? r.notFinal : undefined;
  } catch {
    return undefined;
  }
}
