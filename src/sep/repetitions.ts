/**
 * Signature repetitions (spec section 7): per (instrument, signature) a queue of gate times.
 * Every gate pushes its ts_ms, then entries are popped from the front while
 * `ts_ms - front > retention` (strict: an entry exactly `retention` old still counts).
 * One tracker per instrument, so the key is the signature.
 */

/** Per-signature time queues; `toJSON` gives the serialisable state. */
export class RepetitionTracker {
  private readonly queues = new Map<string, number[]>();

  constructor(initial: Readonly<Record<string, readonly number[]>> = {}) {
    for (const [sig, q] of Object.entries(initial)) if (q.length > 0) this.queues.set(sig, q.slice());
  }

  /** Records a gate and returns the repetition count (>= 1). */
  push(signature: string, tsMs: number, retentionMs: number): number {
    let q = this.queues.get(signature);
    if (q === undefined) {
      q = [];
      this.queues.set(signature, q);
    }
    q.push(tsMs);
    let drop = 0;
    while (drop < q.length && tsMs - q[drop]! > retentionMs) drop++;
    if (drop > 0) q.splice(0, drop);
    return q.length;
  }

  /**
   * State as JSON, sorted by signature. Entries already older than `retention` relative to
   * `nowMs` (the last gate) are dropped: gate times only grow, so the next push to that queue
   * would pop them anyway, and the state stays small.
   */
  toJSON(nowMs: number | null, retentionMs: number): Record<string, number[]> {
    const out: Record<string, number[]> = {};
    for (const sig of [...this.queues.keys()].sort()) {
      const q = this.queues.get(sig)!;
      const kept = nowMs === null ? q.slice() : q.filter((t) => nowMs - t <= retentionMs);
      if (kept.length > 0) out[sig] = kept;
    }
    return out;
  }
}
