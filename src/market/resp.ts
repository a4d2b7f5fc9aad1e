/**
 * A small RESP2 client over node:net for Redis/Valkey: enough for reading candles and gates
 * (and for tests to write them) without an npm dependency. Commands are pipelined in order on
 * one connection; replies are matched first-in first-out.
 *
 * Errors never contain the password of the URL: connection errors name `host:port` only.
 */
import { connect, type Socket } from "node:net";

/** A decoded RESP2 reply: simple/bulk string, integer, null bulk/array, or array. */
export type RespValue = string | number | null | RespValue[];

/** An error reply from the server (`-ERR ...`) or a connection problem. */
export class RespError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RespError";
  }
}

/** Parsed `redis://[user:password@]host[:port][/db]` (also `valkey://`, `rediss` is refused). */
export interface RedisEndpoint {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
}

/** Parses a Redis URL or a bare `host:port`. Throws RespError (without the password) if bad. */
export function parseRedisUrl(url: string): RedisEndpoint {
  const text = /^[a-z]+:\/\//i.test(url) ? url : `redis://${url}`;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new RespError(`bad Redis URL "${redact(url)}" (expected redis://host:port/db)`);
  }
  if (u.protocol !== "redis:" && u.protocol !== "valkey:") {
    throw new RespError(`unsupported Redis URL scheme "${u.protocol}" (redis:// or valkey://; TLS is not supported)`);
  }
  const db = u.pathname && u.pathname !== "/" ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new RespError(`bad Redis database "${u.pathname.slice(1)}" in ${redact(url)}`);
  return {
    host: u.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1",
    port: u.port ? Number(u.port) : 6379,
    db,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
}

/** The URL with any password replaced by `***` (for messages). */
export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

interface Pending {
  resolve(v: RespValue): void;
  reject(e: Error): void;
}

/** One connection to a Redis-protocol server. */
export class RespClient {
  private buf: Buffer = Buffer.alloc(0);
  private readonly queue: Pending[] = [];
  private closedError: Error | null = null;

  private constructor(
    private readonly socket: Socket,
    private readonly where: string,
    private readonly timeoutMs: number,
  ) {
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (e) => this.fail(new RespError(`${where}: ${e.message}`)));
    socket.on("close", () => this.fail(new RespError(`${where}: connection closed`)));
  }

  /** Connects, authenticates and selects the database of `url`. */
  static async connect(url: string, opts: { timeoutMs?: number } = {}): Promise<RespClient> {
    const ep = parseRedisUrl(url);
    const where = `${ep.host}:${ep.port}`;
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: ep.host, port: ep.port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new RespError(`${where}: connect timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      s.once("connect", () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once("error", (e) => {
        clearTimeout(timer);
        reject(new RespError(`cannot connect to Redis at ${where}: ${e.message}`));
      });
    });
    socket.setNoDelay(true);
    const client = new RespClient(socket, where, timeoutMs);
    try {
      if (ep.password !== undefined) {
        await client.command(...(ep.username ? ["AUTH", ep.username, ep.password] : ["AUTH", ep.password])).catch((e: Error) => {
          throw new RespError(`${where}: authentication failed (${e.message.replace(ep.password!, "***")})`);
        });
      }
      if (ep.db !== 0) await client.command("SELECT", ep.db);
    } catch (e) {
      client.close();
      throw e;
    }
    return client;
  }

  /** Sends one command; resolves with its reply, rejects with RespError on an error reply. */
  command(...args: (string | number | Buffer)[]): Promise<RespValue> {
    if (this.closedError) return Promise.reject(this.closedError);
    const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
    for (const a of args) {
      const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a), "utf8");
      parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n"));
    }
    return new Promise<RespValue>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new RespError(`${this.where}: no reply to ${String(args[0])} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.queue.push({
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.socket.write(Buffer.concat(parts));
    });
  }

  /** Closes the connection; pending commands fail. */
  close(): void {
    this.fail(new RespError(`${this.where}: client closed`));
  }

  private fail(e: Error): void {
    if (!this.closedError) this.closedError = e;
    this.socket.destroy();
    for (const p of this.queue.splice(0)) p.reject(e);
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    let pos = 0;
    for (;;) {
      let parsed: [RespValue | RespError, number] | null;
      try {
        parsed = parseReply(this.buf, pos);
      } catch (e) {
        this.fail(e as Error);
        return;
      }
      if (!parsed) break;
      pos = parsed[1];
      const p = this.queue.shift();
      if (!p) {
        this.fail(new RespError(`${this.where}: unexpected reply from server`));
        return;
      }
      if (parsed[0] instanceof RespError) p.reject(parsed[0]);
      else p.resolve(parsed[0]);
    }
    this.buf = pos === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(pos);
  }
}

/** Decodes one reply starting at `pos`; null when the buffer holds only part of it. */
export function parseReply(buf: Buffer, pos: number): [RespValue | RespError, number] | null {
  const eol = buf.indexOf("\r\n", pos);
  if (eol < 0) return null;
  const type = buf[pos];
  const line = buf.toString("utf8", pos + 1, eol);
  const next = eol + 2;
  switch (type) {
    case 0x2b: // +
      return [line, next];
    case 0x2d: // -
      return [new RespError(line), next];
    case 0x3a: // :
      return [Number(line), next];
    case 0x24: {
      // $
      const len = Number(line);
      if (len < 0) return [null, next];
      if (buf.length < next + len + 2) return null;
      return [buf.toString("utf8", next, next + len), next + len + 2];
    }
    case 0x2a: {
      // *
      const n = Number(line);
      if (n < 0) return [null, next];
      const items: RespValue[] = [];
      let p = next;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, p);
        if (!r) return null;
        // An error nested in an array (EXEC) becomes its message text.
        items.push(r[0] instanceof RespError ? r[0].message : r[0]);
        p = r[1];
      }
      return [items, p];
    }
    default:
      throw new RespError(`protocol error: unexpected reply type byte ${type}`);
  }
}
