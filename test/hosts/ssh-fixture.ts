/**
 * Shared setup of the ssh host tests: a HostEnv that records transfers and notes, and the ssh
 * HostConfig pointing at a harness sshd.
 */
import { join } from "node:path";
import type { HostConfig } from "../../src/engine/graph-types.js";
import type { HostEnv, TransferEntry } from "../../src/engine/hosts/host.js";
import type { Sshd } from "../helpers/sshd.js";

/** HostEnv over `root` whose transfers and notes are kept for assertions. */
export interface RecordingEnv extends HostEnv {
  readonly transfers: TransferEntry[];
  readonly notes: string[];
}

export function recordingEnv(root: string): RecordingEnv {
  const transfers: TransferEntry[] = [];
  const notes: string[] = [];
  return {
    root,
    casDir: join(root, "cache", "cas"),
    transfers,
    notes,
    logTransfer: (e) => transfers.push(e),
    note: (m) => notes.push(m),
  };
}

/** The ssh HostConfig for a harness server (identity file, its known_hosts, its workdir). */
export function sshConfig(s: Sshd, over: Partial<Record<string, unknown>> = {}): HostConfig {
  return {
    transport: "ssh",
    host: s.host,
    port: s.port,
    user: s.user,
    identity_file: s.userKey,
    known_hosts: s.knownHosts,
    workdir: s.workdir,
    node: process.execPath,
    ...over,
  } as HostConfig;
}

/** Absolute path of the compiled stub remote (see stub-dagbuild.ts). */
export const STUB_SCRIPT = new URL("./stub-dagbuild.js", import.meta.url).pathname;
