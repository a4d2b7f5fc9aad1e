/**
 * Test helper: a throwaway real redis-server on 127.0.0.1 at a free port (no persistence).
 * `startRedis()` returns null when the binary is missing (callers print `SKIP ...`).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { RespClient } from "../../src/market/resp.js";

/** A running server. */
export interface RedisHandle {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** True when `redis-server` is on PATH. */
export function haveRedis(): boolean {
  return spawnSync("redis-server", ["--version"], { stdio: "ignore" }).status === 0;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Starts redis-server and waits (at most 10 s) until it answers PING. */
export async function startRedis(): Promise<RedisHandle | null> {
  if (!haveRedis()) return null;
  const port = await freePort();
  const child: ChildProcess = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let log = "";
  child.stdout!.on("data", (b) => (log += b));
  child.stderr!.on("data", (b) => (log += b));
  const url = `redis://127.0.0.1:${port}/0`;
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const c = await RespClient.connect(url, { timeoutMs: 1000 });
      const pong = await c.command("PING");
      c.close();
      if (pong === "PONG") return { url, port, stop };
    } catch {
      /* not up yet */
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server did not start on port ${port}:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
