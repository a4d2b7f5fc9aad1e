/**
 * Resident artifacts (docs/hosts.md, "Resident artifacts"): an output made on an ssh host stays
 * in that host's CAS, instead of coming back to this machine, when it is not a goal of the build
 * and every action of the loaded graph that reads it runs on that same host. Large
 * intermediates then stay where they were made; a same-host consumer gets them by digest (the
 * upload step finds them in the remote CAS already), nothing moves.
 *
 * Where an output lives is recorded in the state index (`h`, cache/state-index.ts) and the action
 * record (`resident`): the Checker takes a resident output as present by its record. Before a
 * build, `prepareResidency`:
 *   - asks each host, in one command, whether it still holds the resident blobs of the selection;
 *     a missing one makes its producer rerun (`output-missing <path> (not on <host>)`);
 *   - fetches (digest-checked) the resident outputs that this build needs here: ones that became
 *     goals, or gained a consumer on this machine or another host. They become ordinary outputs.
 * Only the scheduler's commit and toSpec, the checker and the build command call into this.
 */
import { mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import type { ActionNode, DepRef, Graph } from "./graph-types.js";
import type { Checker, FileDigest } from "./plan.js";
import type { OutputState } from "./cache/state-index.js";
import type { RecordedOutput } from "./cache/action-cache.js";
import type { Artifact } from "./cache/cas.js";
import type { Host, ResidentArtifact, TreeEntry } from "./hosts/host.js";
import { resolveArgs } from "./select.js";
import { treeSignature } from "./cache/tree-signature.js";
import { fsyncPath, fsyncTree } from "./durable.js";
import { safeName } from "./workspace.js";

/** Names of the outputs of `node` to leave on its host; undefined: bring every output back. */
export type ResidencyPolicy = (node: ActionNode) => ReadonlySet<string> | undefined;

/**
 * The goals of a build: the actions named on the command line (`roots` of the selection) and
 * the actions of the pipeline's default targets. Their outputs always come back.
 */
export function goalsOf(graph: Graph, roots: readonly string[]): Set<string> {
  return new Set([...roots, ...resolveArgs(graph, graph.defaults).roots]);
}

/** The output of `producer` that `dep` reads (the output itself, or a directory holding it). */
function outputNameOf(graph: Graph, dep: DepRef & { kind: "output" }): string | undefined {
  const p = graph.actions.get(dep.producer);
  if (!p) return undefined;
  for (const [name, o] of Object.entries(p.outputs)) if (o.path === dep.path || (o.dir && dep.path.startsWith(`${o.path}/`))) return name;
  return undefined;
}

/**
 * The residency rule over the whole loaded graph (every consumer counts, selected or not):
 * an output of an action on an ssh host that is not a goal and that only actions on the same
 * host read stays there.
 */
export function residencyPolicy(graph: Graph, goals: ReadonlySet<string>): ResidencyPolicy {
  let readers: Map<string, Set<string>> | undefined; // `${producer}\0${output}` → consumer hosts
  const index = (): Map<string, Set<string>> => {
    const m = new Map<string, Set<string>>();
    for (const node of graph.actions.values())
      for (const deps of Object.values(node.deps))
        for (const d of deps) {
          if (d.kind !== "output") continue;
          const key = `${d.producer}\0${outputNameOf(graph, d) ?? ""}`;
          (m.get(key) ?? m.set(key, new Set()).get(key)!).add(node.host);
        }
    return m;
  };
  return (node) => {
    if (goals.has(node.id) || graph.hosts[node.host]?.transport !== "ssh") return undefined;
    readers ??= index();
    const keep = new Set<string>();
    for (const name of Object.keys(node.outputs)) {
      const hosts = readers.get(`${node.id}\0${name}`);
      if (!hosts || [...hosts].every((h) => h === node.host)) keep.add(name);
    }
    return keep.size ? keep : undefined;
  };
}

/** The outputs of a finished remote run that its host left in its CAS: asked to keep, not staged, digest reported. */
export function leftOnHost(keep: ReadonlySet<string> | undefined, outputs: Readonly<Record<string, { path: string }>>, staging: string, verified: Readonly<Record<string, Artifact>> | undefined): Set<string> {
  const out = new Set<string>();
  for (const name of keep ?? []) {
    const o = outputs[name];
    if (o && verified?.[name] && statSync(join(staging, o.path), { throwIfNoEntry: false }) === undefined) out.add(name);
  }
  return out;
}

/**
 * Records the outputs `names` of `node` as resident on its host. A copy in the workspace that
 * the last build recorded as this action's output is the old version: it is removed (it would
 * lie about the current one), unless it is exactly the new content, which then stays local and
 * moves nothing. Anything else at that path is not the engine's and is left alone.
 */
export function commitResident(
  node: ActionNode,
  names: ReadonlySet<string>,
  verified: Readonly<Record<string, Artifact>>,
  checker: Checker,
): { recorded: Record<string, RecordedOutput>; states: Record<string, OutputState>; changed: boolean } {
  const prev = checker.state.actions.get(node.id);
  const recorded: Record<string, RecordedOutput> = {};
  const states: Record<string, OutputState> = {};
  let changed = false;
  for (const name of names) {
    const decl = node.outputs[name]!;
    const art = verified[name]!;
    const was = prev?.o[name];
    if (was?.d !== art.digest) changed = true;
    const base = { path: decl.path, digest: art.digest, size: art.size, dir: decl.dir, ...(art.tree ? { tree: art.tree } : {}), ...(art.dirs?.length ? { dirs: art.dirs } : {}) };
    if (was && was.h === undefined && was.p === decl.path) {
      if (was.d === art.digest && checker.checkOutput(was) === undefined) {
        recorded[name] = base;
        states[name] = was;
        continue;
      }
      rmSync(join(checker.graph.root, decl.path), { recursive: true, force: true });
    }
    recorded[name] = { ...base, resident: node.host };
    states[name] = { p: decl.path, d: art.digest, z: art.size, m: 0, i: 0, c: 0, ...(decl.dir ? { t: 1 as const } : {}), h: node.host };
  }
  return { recorded, states, changed };
}

/**
 * The digest of a file inside a resident directory output (a consumer that reads one file of
 * it), from the recorded tree; undefined when the directory is not resident.
 */
export function residentFile(checker: Checker, producer: string, path: string): FileDigest | undefined {
  const st = checker.state.actions.get(producer);
  if (!st) return undefined;
  for (const [name, o] of Object.entries(st.o)) {
    if (o.h === undefined || !o.t || !path.startsWith(`${o.p}/`)) continue;
    const e = checker.ac.get(st.k)?.outputs[name]?.tree?.find((t) => t.rel === path.slice(o.p.length + 1));
    if (e) return { digest: e.digest, size: e.size };
  }
  return undefined;
}

/** One resident output of a selected action. */
export interface ResidentOutput {
  readonly id: string;
  readonly name: string;
  readonly state: OutputState & { readonly h: string };
  /** This build needs it here: it is a goal now, or something off its host reads it. */
  readonly needed: boolean;
}

/** The resident outputs of the actions `ids`, and whether the policy now wants each back. */
export function residentOutputs(checker: Checker, ids: readonly string[], policy: ResidencyPolicy): ResidentOutput[] {
  const out: ResidentOutput[] = [];
  for (const id of ids) {
    const st = checker.state.actions.get(id);
    const node = checker.graph.actions.get(id);
    if (!st || !node) continue;
    let keep: ReadonlySet<string> | undefined | null = null; // null: not asked yet
    for (const [name, o] of Object.entries(st.o)) {
      if (o.h === undefined) continue;
      if (keep === null) keep = policy(node);
      out.push({ id, name, state: o as OutputState & { h: string }, needed: !keep?.has(name) || o.h !== node.host });
    }
  }
  return out;
}

/** What `prepareResidency` found and did. */
export interface ResidencyReport {
  /** Resident outputs the host no longer holds (their producers rerun): path → host. */
  readonly gone: ReadonlyMap<string, string>;
  /** Paths fetched into the workspace. */
  readonly fetched: readonly string[];
}

/** The artifact of a resident output as recorded (its tree for a directory), or undefined. */
function artifactOf(checker: Checker, r: ResidentOutput): ResidentArtifact | undefined {
  const rec = checker.ac.get(checker.state.actions.get(r.id)!.k)?.outputs[r.name];
  if (r.state.t && (!rec?.tree || rec.digest !== r.state.d)) return undefined;
  return { digest: r.state.d, size: r.state.z, dir: r.state.t === 1, ...(rec?.tree ? { tree: rec.tree } : {}) };
}

const blobsOf = (a: ResidentArtifact): { digest: string; size: number }[] => (a.dir ? (a.tree ?? []).map((e: TreeEntry) => ({ digest: e.digest, size: e.size })) : [{ digest: a.digest, size: a.size }]);

/**
 * Before a build (never in a dry run): checks that the hosts still hold the resident outputs of
 * the selection and fetches those this build needs here. `check: false` (everything selected is
 * known fresh) checks only what must be fetched. When a host cannot be reached, or has no CAS
 * of its own now (`--host gpu=local`), the outputs this build needs from it count as gone (their
 * producers rerun, and say why); the others stay known by their records. The checker is told
 * what is gone (`residentGone`).
 */
export async function prepareResidency(
  checker: Checker,
  ids: readonly string[],
  policy: ResidencyPolicy,
  opts: { readonly check: boolean; readonly tmp: string; readonly host: (name: string) => Promise<Host>; readonly note: (m: string) => void },
): Promise<ResidencyReport> {
  const all = residentOutputs(checker, ids, policy).filter((r) => opts.check || r.needed);
  const gone = checker.residentGone;
  const fetched: string[] = [];
  const byHost = new Map<string, ResidentOutput[]>();
  for (const r of all) (byHost.get(r.state.h) ?? byHost.set(r.state.h, []).get(r.state.h)!).push(r);
  for (const [hostName, list] of byHost) {
    let host: Host | undefined;
    try {
      host = await opts.host(hostName);
      if (!host.missing || !host.fetch) throw new Error(`${hostName} is not an ssh host now, so it has no CAS to fetch from`);
      const arts = new Map(list.map((r) => [r, artifactOf(checker, r)] as const));
      const missing = new Set(await host.missing([...arts.values()].flatMap((a) => (a ? blobsOf(a) : []))));
      for (const [r, a] of arts) {
        if (!a || blobsOf(a).some((b) => missing.has(b.digest))) gone.set(r.state.p, hostName);
        else if (r.needed) {
          try {
            await fetchInto(checker, r, a, host, opts.tmp, fetched);
          } catch (e) {
            opts.note(`dagbuild: cannot fetch ${r.state.p} from ${hostName}: ${(e as Error).message}`);
            gone.set(r.state.p, hostName);
          }
        }
      }
    } catch (e) {
      // What must come here cannot: its producers run again (and say so if the host is down).
      // The rest stays known by its record: a build that needs nothing from this host still works.
      const lost = list.filter((r) => r.needed && !fetched.includes(r.state.p));
      opts.note(`dagbuild: resident outputs on ${hostName} cannot be checked or fetched (${(e as Error).message})${lost.length ? `; the producers of the ${lost.length} needed here run again` : ""}`);
      for (const r of lost) gone.set(r.state.p, hostName);
    } finally {
      await host?.close();
    }
  }
  for (const [p, h] of gone) opts.note(`dagbuild: ${p} was left on ${h} and ${h} no longer has it: its producer runs again`);
  return { gone, fetched };
}

let fetchCounter = 0;

/**
 * Fetches one resident output into the workspace: downloaded to staging (every blob checked),
 * stored in the local CAS, renamed into place, recorded as a local output of its action. A
 * directory in the way that the engine did not make is never replaced: the output is then
 * left resident and the build's commit reports the conflict if a rerun needs the path.
 */
async function fetchInto(checker: Checker, r: ResidentOutput, art: ResidentArtifact, host: Host, tmp: string, fetched: string[]): Promise<void> {
  const root = checker.graph.root;
  const final = join(root, r.state.p);
  const here = statSync(final, { throwIfNoEntry: false });
  if (here && (art.dir || here.isDirectory())) throw new Error(`${r.state.p} exists in the workspace and was not made by this build: move it away to fetch it`);
  const staged = join(tmp, `fetch.${safeName(r.state.p)}.${process.pid}.${fetchCounter++}`);
  mkdirSync(tmp, { recursive: true });
  try {
    await host.fetch!(r.state.p, art, staged);
    const known: Artifact | undefined = art.dir ? undefined : { digest: art.digest, size: art.size };
    const put = checker.cas.putPath(staged, known);
    if (put.digest !== art.digest) throw new Error(`${r.state.p}: fetched content has digest ${put.digest}, recorded ${art.digest}`);
    (art.dir ? fsyncTree : fsyncPath)(staged);
    mkdirSync(dirname(final), { recursive: true });
    renameSync(staged, final);
    fsyncPath(dirname(final));
  } finally {
    rmSync(staged, { recursive: true, force: true });
  }
  const st = statSync(final);
  const { h: _h, ...rest } = r.state;
  const local: OutputState = art.dir
    ? { ...rest, m: st.mtimeMs, i: st.ino, c: st.ctimeMs, t: 1, g: treeSignature(final) }
    : { ...rest, m: st.mtimeMs, i: st.ino, c: st.ctimeMs, ...((st.mode & 0o111) !== 0 ? { x: 1 as const } : {}) };
  const prev = checker.state.actions.get(r.id)!;
  checker.state.recordAction(r.id, { ...prev, o: { ...prev.o, [r.name]: local } });
  fetched.push(r.state.p);
}

/**
 * For a run of `node` on `onHost` outside a build (`verify --rebuild --on`): every input left
 * resident on another host is fetched into the local CAS only (the workspace and the state index
 * are not touched), so the host's upload finds it there. Returns the paths fetched.
 */
export async function cacheResidentInputs(checker: Checker, node: ActionNode, onHost: string, host: (name: string) => Promise<Host>, tmp: string): Promise<string[]> {
  const done: string[] = [];
  const seen = new Set<string>();
  for (const deps of Object.values(node.deps))
    for (const d of deps) {
      if (d.kind !== "output") continue;
      const st = checker.state.actions.get(d.producer);
      for (const [name, o] of Object.entries(st?.o ?? {})) {
        if (o.h === undefined || o.h === onHost || seen.has(o.p) || !(o.p === d.path || d.path.startsWith(`${o.p}/`))) continue;
        seen.add(o.p);
        const r: ResidentOutput = { id: d.producer, name, state: o as OutputState & { h: string }, needed: true };
        const art = artifactOf(checker, r);
        const h = await host(o.h);
        if (!art || !h.fetch) throw new Error(`input ${o.p} is resident on ${o.h} and cannot be fetched from there: build it first (dagbuild ${o.p})`);
        const staged = join(tmp, `fetch.${safeName(o.p)}.${process.pid}.${fetchCounter++}`);
        try {
          await h.fetch(o.p, art, staged);
          // A directory is hashed as it is stored: its tree digest must be the recorded one.
          const got = checker.cas.putPath(staged, art.dir ? undefined : { digest: art.digest, size: art.size });
          if (got.digest !== art.digest) throw new Error(`${o.p} fetched from ${o.h} has digest ${got.digest.slice(0, 12)}, recorded ${art.digest.slice(0, 12)}: not stored`);
        } finally {
          rmSync(staged, { recursive: true, force: true });
        }
        done.push(o.p);
      }
    }
  return done;
}

/** A line per resident output for `dagbuild -n` and `status`: where it lives, and whether this build fetches it. */
export function describeResident(list: readonly ResidentOutput[]): string[] {
  return list.map((r) => `${r.needed ? "fetch  " : "on host"} ${r.state.p}  @${r.state.h}  (${r.state.z} B${r.state.t ? ", directory" : ""}${r.needed ? ": needed here by this build" : ": resident"})`);
}
