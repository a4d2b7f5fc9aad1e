/**
 * The scheduler's slots: `jobs` overall for local hosts, `jobs` of each remote host (default
 * 2), each host's declared resources, and which gpu indices each running action holds
 * (CUDA_VISIBLE_DEVICES, device-tokens.ts).
 */
import type { ActionNode, Graph } from "./graph-types.js";
import { DeviceTokens } from "./device-tokens.js";

/** What is running where, against each host's limits. */
export class HostSlots {
  private readonly running = new Map<string, number>(); // host → running count
  private readonly resUsed = new Map<string, number>(); // `${host}\0${res}` → used
  private readonly tokens = new DeviceTokens();
  private localRunning = 0;

  constructor(
    private readonly hosts: Graph["hosts"],
    /** `-j`: the slots every local host shares. */
    private readonly jobs: number,
  ) {}

  /** Whether `host` runs on this machine (it then shares the `-j` slots). */
  isLocal(host: string): boolean {
    return (this.hosts[host]?.transport ?? "local") === "local";
  }

  /** No free slot on `host` (local hosts also share the `-j` slots). */
  hostFull(host: string): boolean {
    return (this.isLocal(host) && this.localRunning >= this.jobs) || (this.running.get(host) ?? 0) >= this.hostJobs(host);
  }

  /** Whether `node` can start now: a free slot on its host and room for its resources. */
  fits(node: ActionNode): boolean {
    if (this.hostFull(node.host)) return false;
    const cap = this.hosts[node.host]?.resources ?? {};
    for (const [r, n] of Object.entries(node.resources)) {
      const limit = cap[r];
      const used = this.resUsed.get(`${node.host}\0${r}`) ?? 0;
      // An action that asks for more than the host has still runs, but alone.
      if (limit !== undefined && used > 0 && used + n > limit) return false;
    }
    return true;
  }

  /** Takes `node`'s slot, resources and device indices. */
  acquire(node: ActionNode): void {
    this.take(node, 1);
    this.tokens.acquire(node.id, node.host, node.resources, this.hosts[node.host]?.resources ?? {});
  }

  /** Gives back what `acquire` took. */
  release(node: ActionNode): void {
    this.take(node, -1);
    this.tokens.release(node.id, node.host);
  }

  /** The environment action `id` runs with (`{ CUDA_VISIBLE_DEVICES: "1" }`), or undefined. */
  env(id: string): Record<string, string> | undefined {
    return this.tokens.env(id);
  }

  private hostJobs(name: string): number {
    const c = this.hosts[name];
    return c?.jobs ?? (c?.transport === "ssh" ? 2 : this.jobs);
  }

  private take(node: ActionNode, sign: 1 | -1): void {
    if (this.isLocal(node.host)) this.localRunning += sign;
    this.running.set(node.host, (this.running.get(node.host) ?? 0) + sign);
    for (const [r, n] of Object.entries(node.resources)) this.resUsed.set(`${node.host}\0${r}`, (this.resUsed.get(`${node.host}\0${r}`) ?? 0) + sign * n);
  }
}
