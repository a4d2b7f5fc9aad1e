/**
 * Rule modules checked before a build runs anything: a module that is not compiled, does not
 * load (a syntax error, a throw at import) or whose default export is not a rule (no `run`)
 * would otherwise fail only when its first action starts, after other actions ran. The build
 * checks the modules of every action it may run, once, and stops with exit 2 when one is bad.
 */
import { spawn } from "node:child_process";
import { pathToFileURL } from "node:url";
import { compiledModulePath } from "./fingerprint.js";
import type { ActionNode } from "./graph-types.js";

/** One bad rule module, with the first action (and target location) that uses it. */
export interface RuleProblem {
  readonly module: string;
  readonly action: ActionNode;
  readonly message: string;
}

/**
 * Imports each distinct module rule of `nodes` (compiled JavaScript, as the executor will) and
 * checks its shape. Shell rules need no check. The imports run in a child process: a rule's
 * top-level code (native libraries, open handles) must not run in, or keep alive, the build.
 */
export async function checkRuleModules(root: string, nodes: Iterable<ActionNode>): Promise<RuleProblem[]> {
  const first = new Map<string, ActionNode>();
  for (const n of nodes) if (n.rule.kind === "module" && !first.has(n.rule.module)) first.set(n.rule.module, n);
  const problems: RuleProblem[] = [];
  const files: [string, string][] = [];
  for (const [module, action] of [...first].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const file = compiledModulePath(root, module);
    if (file) files.push([module, pathToFileURL(file).href]);
    else problems.push({ module, action, message: `rule module ${module} is not compiled: run \`npm run build\`` });
  }
  if (files.length === 0) return problems;
  const r = await runChecker(root, files);
  for (const [module, message] of r) problems.push({ module, action: first.get(module)!, message });
  return problems.sort((a, b) => (a.module < b.module ? -1 : a.module > b.module ? 1 : 0));
}

/** The child's script: imports each [module, url], prints [[module, problem], ...] as JSON. */
const CHECKER = `
const files = JSON.parse(process.argv[1]);
const out = [];
for (const [module, url] of files) {
  try {
    const mod = await import(url);
    if (!mod.default || typeof mod.default.run !== "function") out.push([module, "rule module " + module + " has no default export made with defineRule() (a run function)"]);
  } catch (e) {
    out.push([module, "rule module " + module + " fails to load: " + String(e && e.message || e).split("\\n")[0]]);
  }
}
process.stdout.write(JSON.stringify(out));
process.exit(0);
`;

function runChecker(root: string, files: readonly [string, string][]): Promise<[string, string][]> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", CHECKER, JSON.stringify(files)], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(out) as [string, string][]);
      } catch {
        // The checker itself died (a rule that exits the process at import, say): blame them all.
        const why = err.trim().split("\n").slice(-1)[0] || `exit ${code}`;
        resolve(files.map(([m]) => [m, `rule module ${m} could not be checked: ${why}`]));
      }
    });
  });
}
