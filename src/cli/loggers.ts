/**
 * Renderers of build events: a live progress display on a TTY, plain lines otherwise, or a
 * JSON stream (`--json`, one event per line). The engine never prints; these do.
 */
import type { BuildEvent, EventSink } from "../engine/events.js";
import { formatReason } from "../engine/fingerprint.js";
import { formatHold } from "../engine/retrain-hold.js";

const secs = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;

export class JsonLogger implements EventSink {
  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {}
  emit(e: BuildEvent): void {
    const ev = "reason" in e ? { ...e, reason_text: formatReason(e.reason) } : e;
    this.out.write(JSON.stringify(ev) + "\n");
  }
}

/** One line per finished action; failures show the log tail. */
export class PlainLogger implements EventSink {
  protected total = 0;
  protected done = 0;
  private skipped = 0;
  constructor(protected readonly out: NodeJS.WritableStream = process.stderr) {}

  emit(e: BuildEvent): void {
    switch (e.type) {
      case "plan-ready":
        this.total = e.stale + e.waiting;
        if (this.total === 0) this.line(`dagbuild: nothing to do (${e.fresh} up to date)`);
        break;
      case "action-start":
        this.started(e.id, e.host, `${e.restore ? "restore" : "run"}: ${formatReason(e.reason)}`);
        break;
      case "action-done":
        this.done++;
        this.line(`[${this.done}/${Math.max(this.total, this.done)}] ${e.outcome} ${e.id} in ${secs(e.durationMs)}${e.changed ? "" : " (outputs unchanged)"}`);
        break;
      case "action-failed":
        this.done++;
        this.line(`FAILED ${e.id} (${e.kind}): ${e.message}`);
        // The tail adds something only when it holds more than the message itself.
        if (e.logTail.trim() && e.logTail.trim() !== e.message.trim())
          this.line(e.logTail.trimEnd().split("\n").slice(-20).map((l) => `  | ${l}`).join("\n"));
        this.line(`  full log: ${e.logFile}`);
        break;
      case "action-progress":
        this.line(`  ${e.message}`);
        break;
      case "action-cutoff":
        this.total--; // was counted as waiting; its inputs came back unchanged
        break;
      case "action-held":
        if (e.waited) this.total--; // was counted as waiting; its cadence holds it
        this.line(`held    ${e.id}  (${formatHold(e.reason, e.hold)})`);
        break;
      case "action-skipped":
        // A failure early in a chain skips everything after it: name a few, count the rest.
        if (++this.skipped <= 5) this.line(`skipped ${e.id} (depends on failed ${e.because})`);
        break;
      case "transfer":
        this.line(`  ${e.entry.direction} ${e.entry.what} (${e.entry.size} B) ${e.entry.from} -> ${e.entry.to}`);
        break;
      case "note":
        this.line(e.message);
        break;
      case "build-done":
        this.finished();
        if (this.skipped > 5) this.line(`... and ${this.skipped - 5} more skipped`);
        if (e.built + e.restored + e.failed + e.skipped > 0 || !e.ok)
          this.line(
            `dagbuild: ${e.ok ? "done" : e.cancelled ? "interrupted" : "FAILED"}: ${e.built} built, ${e.restored} restored, ${e.fresh} up to date${e.held ? `, ${e.held} held` : ""}` +
              `${e.failed ? `, ${e.failed} failed` : ""}${e.skipped ? `, ${e.skipped} skipped` : ""} in ${secs(e.durationMs)}`,
          );
        break;
      default:
        break;
    }
  }
  protected started(id: string, host: string, what: string): void {
    void id, host, what;
  }
  protected finished(): void {}
  protected line(s: string): void {
    this.out.write(s + "\n");
  }
}

/** Plain lines plus a status line redrawn in place: done/running/queued, current actions, elapsed. */
export class TtyLogger extends PlainLogger {
  private readonly running = new Map<string, number>();
  private readonly t0 = Date.now();
  private timer: NodeJS.Timeout | undefined;

  override emit(e: BuildEvent): void {
    if (e.type === "action-done" || e.type === "action-failed") this.running.delete(e.id);
    super.emit(e);
    if (e.type === "build-start" && !this.timer) this.timer = setInterval(() => this.draw(), 250).unref();
    this.draw();
  }
  private readonly hostOf = new Map<string, string>();
  protected override started(id: string, host: string): void {
    this.running.set(id, Date.now());
    this.hostOf.set(id, host);
  }
  protected override finished(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.out.write("\r\x1b[K");
  }
  protected override line(s: string): void {
    this.out.write("\r\x1b[K" + s + "\n");
  }
  private draw(): void {
    if (!this.timer) return;
    const cols = (process.stderr as NodeJS.WriteStream).columns || 100;
    const queued = Math.max(0, this.total - this.done - this.running.size);
    const cur = [...this.running.keys()].map((id) => (this.hostOf.get(id) === "local" ? id : `${id}@${this.hostOf.get(id)}`)).join(", ");
    const s = `[${this.done}/${this.total}] running ${this.running.size}, queued ${queued}, ${secs(Date.now() - this.t0)} | ${cur}`;
    this.out.write("\r\x1b[K" + s.slice(0, cols - 1));
  }
}

export function makeLogger(json: boolean, progress: "auto" | "tty" | "plain"): EventSink {
  if (json) return new JsonLogger();
  const tty = progress === "tty" || (progress === "auto" && process.stderr.isTTY && !process.env.CI);
  return tty ? new TtyLogger() : new PlainLogger();
}
