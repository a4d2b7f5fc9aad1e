/**
 * The scheduler's queue of decided-stale actions waiting for a slot: one FIFO per host, with
 * a head index, so starting an action is O(1), not a scan of everything that is ready
 * (100k ready actions must not cost 100k² steps).
 */
import type { Graph } from "./graph-types.js";
import type { Decision } from "./plan.js";
import type { HostSlots } from "./host-slots.js";

/** An action decided stale, with the decision it runs under. */
export interface Ready {
  readonly id: string;
  readonly decision: Decision & { status: "stale" };
}

interface HostQueue {
  items: (Ready | undefined)[];
  head: number;
}

/** Per-host FIFO queues of ready actions. */
export class HostQueues {
  private readonly queues = new Map<string, HostQueue>();
  /** Actions queued and not yet started (nor found settled). */
  count = 0;

  constructor(
    private readonly graph: Graph,
    /** Test hook: permutes each batch to prove order independence. */
    private readonly shuffle?: (ready: string[]) => void,
  ) {}

  /** Appends `batch` (in `shuffle`'s order, if any) to the queues of its actions' hosts. */
  enqueue(batch: Ready[]): void {
    const ids = batch.map((r) => r.id);
    this.shuffle?.(ids);
    const byId = new Map(batch.map((r) => [r.id, r]));
    for (const id of ids) {
      const r = byId.get(id)!;
      const host = this.graph.actions.get(id)!.host;
      let q = this.queues.get(host);
      if (!q) this.queues.set(host, (q = { items: [], head: 0 }));
      q.items.push(r);
      this.count++;
    }
  }

  /**
   * Hands `start` every queued action that fits its host's free slots, host by host in queue
   * order; actions settled meanwhile (skipped) are dropped.
   */
  startWhatFits(settled: ReadonlyMap<string, unknown>, slots: HostSlots, start: (r: Ready) => void): void {
    for (const [host, q] of this.queues) {
      this.startFrom(host, q, settled, slots, start);
      while (q.head < q.items.length && q.items[q.head] === undefined) q.head++;
      if (q.head > 4096 && q.head * 2 > q.items.length) {
        q.items = q.items.slice(q.head);
        q.head = 0;
      }
    }
  }

  private startFrom(host: string, q: HostQueue, settled: ReadonlyMap<string, unknown>, slots: HostSlots, start: (r: Ready) => void): void {
    // Actions held back by a resource limit are stepped over, but only a bounded number.
    let blocked = 0;
    for (let i = q.head; i < q.items.length && blocked < 256; i++) {
      const r = q.items[i];
      if (!r) continue;
      if (settled.has(r.id)) {
        q.items[i] = undefined;
        this.count--;
        continue;
      }
      if (slots.hostFull(host)) break;
      if (!slots.fits(this.graph.actions.get(r.id)!)) {
        blocked++;
        continue;
      }
      q.items[i] = undefined;
      this.count--;
      start(r);
    }
  }
}
