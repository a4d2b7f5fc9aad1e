/**
 * Host factory: the one place that maps a HostConfig to an implementation. The SSH host is
 * imported lazily so local builds never load ssh2.
 */
import type { HostConfig } from "../graph-types.js";
import type { Host, HostEnv } from "./host.js";
import { LocalHost } from "./local.js";

export async function createHost(name: string, config: HostConfig, env: HostEnv): Promise<Host> {
  if (config.transport === "local") return new LocalHost(name, env.root);
  const { createSshHost } = await import("./ssh.js");
  return createSshHost(name, config, env);
}
