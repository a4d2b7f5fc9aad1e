/**
 * A controllable fake module rule for engine tests, written into a temp workspace as
 * `rules/<name>.ts` (what the engine hashes) and an identical `rules/<name>.js` (what it runs).
 *
 * Every run appends `<action id>` to `<ws>/runs.log` (outside every output) when it starts, and
 * `start\t<id>\t<ms>` / `end\t<id>\t<ms>` to `<ws>/trace.log` (for overlap checks).
 *
 * Each output is written as a function of the inputs and params:
 *   `# <id>` + for every input (by name, sorted): `== <rel path>` + its content + `params: <json>`
 *   + the value exported by the imported library module (when the rule imports one).
 * Control params:
 *   fail: true | "<partition value>"  write "PARTIAL" into every output, then throw
 *   sleep_ms: N                       write "PARTIAL" into every output, then sleep N ms
 *   wait_while: "rel/path"            write "PARTIAL" into every output, then wait until the
 *                                     file <ws>/rel/path is absent (gives up after 60 s)
 *   const: "text"                     every output is exactly "text\n", whatever the inputs
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

export interface FakeRuleOptions {
  /** Workspace-relative module path of the library the rule imports (e.g. `rules/fakelib.ts`). */
  readonly lib?: string;
  /** Extra text (a comment) to change the rule's source without changing its behaviour. */
  readonly salt?: string;
}

/** The JavaScript source of the fake rule (valid as both .ts text to hash and .js to run). */
export function fakeRuleSource(opts: FakeRuleOptions = {}): string {
  const libImport = opts.lib ? `import { LIB_VALUE } from "./${opts.lib.replace(/^rules\//, "").replace(/\.ts$/, ".js")}";\n` : `const LIB_VALUE = "";\n`;
  return `// dagbuild test fake rule${opts.salt ? ` (${opts.salt})` : ""}
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
${libImport}
function actionId(ctx) {
  const parts = Object.entries(ctx.partition).map(([k, v]) => k + "=" + v);
  return parts.length ? ctx.target + "[" + parts.join(",") + "]" : ctx.target;
}

function sortedJson(v) {
  if (Array.isArray(v)) return "[" + v.map(sortedJson).join(",") + "]";
  if (v && typeof v === "object") return "{" + Object.keys(v).sort().map((k) => JSON.stringify(k) + ":" + sortedJson(v[k])).join(",") + "}";
  return JSON.stringify(v);
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(t); reject(new Error("aborted")); }, { once: true });
  });
}

export default {
  describe: "test fake: concatenates inputs and params",
  async run(ctx) {
    const id = actionId(ctx);
    const p = ctx.params;
    appendFileSync(join(ctx.root, "runs.log"), id + "\\n");
    appendFileSync(join(ctx.root, "trace.log"), "start\\t" + id + "\\t" + Date.now() + "\\n");
    try {
      const fails = p.fail === true || (typeof p.fail === "string" && Object.values(ctx.partition).includes(p.fail));
      if (fails || p.sleep_ms || p.wait_while) for (const o of Object.values(ctx.outputs)) writeFileSync(o, "PARTIAL\\n");
      if (p.sleep_ms) await sleep(Number(p.sleep_ms), ctx.signal);
      if (p.wait_while) {
        const t0 = Date.now();
        while (existsSync(join(ctx.root, p.wait_while))) {
          if (Date.now() - t0 > 60000) throw new Error("wait_while: " + p.wait_while + " still there after 60 s");
          await sleep(20, ctx.signal);
        }
      }
      if (fails) throw new Error("fake failure of " + id);
      let body;
      if (typeof p.const === "string") body = p.const + "\\n";
      else {
        body = "# " + id + "\\n";
        for (const name of Object.keys(ctx.inputs).filter((n) => n !== "*").sort())
          for (const f of ctx.inputs[name]) body += "== " + relative(ctx.root, f) + "\\n" + readFileSync(f, "utf8");
        body += "params: " + sortedJson(p) + "\\n" + (LIB_VALUE ? "lib: " + LIB_VALUE + "\\n" : "");
      }
      for (const o of Object.values(ctx.outputs)) writeFileSync(o, body);
    } finally {
      appendFileSync(join(ctx.root, "trace.log"), "end\\t" + id + "\\t" + Date.now() + "\\n");
    }
  },
};
`;
}

/** The library module a fake rule may import (its value appears in the outputs). */
export function fakeLibSource(value: string): string {
  return `// dagbuild test fake library\nexport const LIB_VALUE = ${JSON.stringify(value)};\n`;
}

function put(root: string, rel: string, text: string): void {
  const abs = join(root, rel);
  mkdirSync(dirname(abs), { recursive: true });
  writeFileSync(abs, text);
}

/** Writes `<module>` (.ts) and its twin `.js` with identical text. */
export function writeModule(root: string, module: string, text: string): void {
  put(root, module, text);
  put(root, module.replace(/\.ts$/, ".js"), text);
}

/** Writes the fake rule at `module` (default `rules/fake.ts`) and, if asked, its library. */
export function writeFakeRule(root: string, module = "rules/fake.ts", opts: FakeRuleOptions = {}): void {
  writeModule(root, module, fakeRuleSource(opts));
}

/** Writes the fake library module (`rules/fakelib.ts` + `.js`). */
export function writeFakeLib(root: string, value: string, module = "rules/fakelib.ts"): void {
  writeModule(root, module, fakeLibSource(value));
}
