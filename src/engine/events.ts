/**
 * Build events: the engine emits these; loggers (src/cli/loggers.ts) render them as a TTY
 * progress display, plain lines or a JSON stream. Logic never prints.
 */
import type { Reason } from "./fingerprint.js";
import type { TransferEntry } from "./hosts/host.js";
import type { RetrainHold } from "./retrain-hold.js";

export type BuildEvent =
  | { readonly type: "build-start"; readonly actions: number; readonly targets: readonly string[] }
  | { readonly type: "plan-ready"; readonly fresh: number; readonly stale: number; readonly waiting: number }
  | { readonly type: "action-start"; readonly id: string; readonly host: string; readonly reason: Reason; readonly restore: boolean }
  | { readonly type: "action-done"; readonly id: string; readonly outcome: "built" | "restored"; readonly durationMs: number; readonly changed: boolean }
  | { readonly type: "action-cutoff"; readonly id: string }
  /** Held by its retraining cadence: not run, its recorded outputs used. `waited`: it was counted as waiting. */
  | { readonly type: "action-held"; readonly id: string; readonly reason: Reason; readonly hold: RetrainHold; readonly waited: boolean }
  /** A running action's progress line (an epoch of a training): shown, never needed for correctness. */
  | { readonly type: "action-progress"; readonly id: string; readonly message: string }
  | { readonly type: "action-failed"; readonly id: string; readonly kind: string; readonly message: string; readonly logFile: string; readonly logTail: string }
  | { readonly type: "action-skipped"; readonly id: string; readonly because: string }
  | { readonly type: "transfer"; readonly entry: TransferEntry }
  | { readonly type: "note"; readonly message: string }
  | {
      readonly type: "build-done";
      readonly ok: boolean;
      readonly built: number;
      readonly restored: number;
      readonly fresh: number;
      readonly held: number;
      readonly failed: number;
      readonly skipped: number;
      readonly cancelled: boolean;
      readonly durationMs: number;
    };

/** Where events go. */
export interface EventSink {
  emit(e: BuildEvent): void;
}

/** Collects events (tests). */
export class MemorySink implements EventSink {
  readonly events: BuildEvent[] = [];
  emit(e: BuildEvent): void {
    this.events.push(e);
  }
  of<T extends BuildEvent["type"]>(type: T): Extract<BuildEvent, { type: T }>[] {
    return this.events.filter((e) => e.type === type) as Extract<BuildEvent, { type: T }>[];
  }
}
