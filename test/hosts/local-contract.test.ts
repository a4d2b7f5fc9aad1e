// The shared host contract, run for the local host (worker threads + bash) in both isolations.
import { hostContract } from "./host-contract.js";
import { LocalHost } from "../../src/engine/hosts/local.js";

hostContract("local host (worker threads)", async (ws) => {
  const host = new LocalHost("local", ws, "worker");
  return { host, cleanup: () => host.close() };
});
hostContract("local host (process isolation)", async (ws) => {
  const host = new LocalHost("local", ws, "process");
  return { host, cleanup: () => host.close() };
});
