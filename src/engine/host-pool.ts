/**
 * The hosts of one build, created lazily on first use and prepared once each; closed at the
 * end of the build.
 */
import type { Graph } from "./graph-types.js";
import type { EventSink } from "./events.js";
import type { Host, HostEnv } from "./hosts/host.js";
import { createHost } from "./hosts/index.js";
import { appendTransfer } from "./transfer-log.js";
import type { WorkspacePaths } from "./workspace.js";

/** Makes a host: createHost, or a fake injected by tests (BuildOptions.hostFactory). */
export type HostFactory = (name: string, graph: Graph, env: HostEnv) => Promise<Host>;

/** Lazily created, prepared hosts by name. */
export class HostPool {
  private readonly hosts = new Map<string, Promise<Host>>();
  private readonly env: HostEnv;

  constructor(
    private readonly graph: Graph,
    paths: WorkspacePaths,
    sink: EventSink,
    private readonly signal: AbortSignal,
    private readonly factory?: HostFactory,
  ) {
    this.env = {
      root: graph.root,
      casDir: paths.cas,
      // Appended as each transfer completes, so the log is true even if the build dies later.
      logTransfer: (entry) => {
        appendTransfer(paths.transferLog, { ...entry, when: new Date().toISOString() });
        sink.emit({ type: "transfer", entry });
      },
      note: (message) => sink.emit({ type: "note", message }),
    };
  }

  /** The host `name`, created and prepared on first use (a failure rejects every use). */
  get(name: string): Promise<Host> {
    let h = this.hosts.get(name);
    if (!h) {
      h = this.create(name);
      this.hosts.set(name, h);
    }
    return h;
  }

  /** Closes every host that was created (one that failed to start is passed over). */
  async closeAll(): Promise<void> {
    for (const h of this.hosts.values()) await h.then((x) => x.close(), () => undefined);
  }

  /** Whether any host was asked for (a no-op build creates none). */
  get used(): boolean {
    return this.hosts.size > 0;
  }

  private async create(name: string): Promise<Host> {
    const host = this.factory ? await this.factory(name, this.graph, this.env) : await createHost(name, this.graph.hosts[name] ?? { transport: "local" }, this.env);
    await host.prepare(this.signal);
    return host;
  }
}
