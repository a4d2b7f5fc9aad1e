/**
 * Device tokens: which of a host's `resources: { gpu: N }` slots an action holds, so a trial
 * can be pinned to its own GPU (`CUDA_VISIBLE_DEVICES`, issue 13).
 *
 * The scheduler counts resources (fits/take); this pool only names them. An action asking for
 * `gpu: k` gets the k least-used indices of 0..N-1 (ties: lowest index), so k concurrent
 * `gpu: 1` actions on `gpu: k` get distinct devices, and fractional requests share one.
 * Resources the host does not declare have no indices and set nothing.
 *
 * The indices reach the rule as `ActionSpec.env` / `RuleContext.env`, never through
 * process.env: module rules run in worker threads of one process, whose environment is shared.
 */

/** Environment variable set from each resource's indices. */
export const DEVICE_ENV: Readonly<Record<string, string>> = { gpu: "CUDA_VISIBLE_DEVICES" };

/** Token indices per host and resource. */
export class DeviceTokens {
  private readonly use = new Map<string, number[]>(); // `${host}\0${res}` → holders per index
  private readonly held = new Map<string, Record<string, number[]>>(); // action id → indices

  /** Gives `id` indices of every resource in `want` that `capacity` declares (DEVICE_ENV ones only). */
  acquire(id: string, host: string, want: Readonly<Record<string, number>>, capacity: Readonly<Record<string, number>>): void {
    const got: Record<string, number[]> = {};
    for (const [r, n] of Object.entries(want)) {
      const cap = capacity[r];
      if (!(r in DEVICE_ENV) || !(n > 0) || cap === undefined || cap < 1) continue;
      const key = `${host}\0${r}`;
      let use = this.use.get(key);
      if (!use) this.use.set(key, (use = new Array<number>(Math.floor(cap)).fill(0)));
      const k = Math.min(use.length, Math.max(1, Math.ceil(n)));
      const order = use.map((u, i) => [u, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      const pick = order.slice(0, k).map(([, i]) => i).sort((a, b) => a - b);
      for (const i of pick) use[i]!++;
      got[r] = pick;
    }
    if (Object.keys(got).length) this.held.set(id, got);
  }

  /** Returns `id`'s indices to the pool. */
  release(id: string, host: string): void {
    const got = this.held.get(id);
    if (!got) return;
    this.held.delete(id);
    for (const [r, idx] of Object.entries(got)) {
      const use = this.use.get(`${host}\0${r}`)!;
      for (const i of idx) use[i]!--;
    }
  }

  /** The environment `id` runs with (`{ CUDA_VISIBLE_DEVICES: "1" }`), or undefined. */
  env(id: string): Record<string, string> | undefined {
    const got = this.held.get(id);
    if (!got) return undefined;
    return Object.fromEntries(Object.entries(got).map(([r, idx]) => [DEVICE_ENV[r]!, idx.join(",")]));
  }
}
