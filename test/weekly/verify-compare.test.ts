/**
 * The classified comparison behind `dagbuild verify`: each format says what differs, and the
 * target's tolerance and ignored fields decide "within tolerance".
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { writeFileSync, mkdirSync, symlinkSync } from "node:fs";
import { compareContent, parseCsv, tarMembers } from "../../src/verify/compare.js";
import { sqlString, withDuckDb } from "../../src/io/duckdb.js";

const B = (s: string) => Buffer.from(s);

test("JSON: largest absolute and relative difference and where; tolerance and ignored fields", async () => {
  const a = B(JSON.stringify({ auc: 0.61, training: { seconds: 12.5, epochs: 4 }, curve: [1, 2, 3] }));
  const b = B(JSON.stringify({ auc: 0.6100001, training: { seconds: 14.1, epochs: 4 }, curve: [1, 2.5, 3] }));
  const strict = await compareContent("m.json", a, b);
  assert.is(strict.verdict, "mismatch");
  assert.is(strict.format, "json");
  assert.is(strict.numeric!.count, 3);
  assert.is(strict.numeric!.absAt, "training.seconds");
  assert.ok(Math.abs(strict.numeric!.abs - 1.6) < 1e-9);
  assert.is(strict.numeric!.relAt, "curve[1]");
  assert.ok(Math.abs(strict.numeric!.rel - 0.2) < 1e-12);
  const loose = await compareContent("m.json", a, b, { rtol: 1e-6, ignore: ["training.seconds"] });
  assert.is(loose.verdict, "mismatch", "curve[1] is far beyond 1e-6");
  assert.is(loose.numeric!.absAt, "curve[1]");
  const c = B(JSON.stringify({ auc: 0.6100001, training: { seconds: 14.1, epochs: 4 }, curve: [1, 2, 3] }));
  const ok = await compareContent("m.json", a, c, { rtol: 1e-6, ignore: ["training.seconds"] });
  assert.is(ok.verdict, "within-tolerance", ok.summary);
  assert.equal(ok.ignored, ["training.seconds"]);
  assert.match(ok.summary, "within tolerance");
  // A non-numeric difference is never within tolerance.
  const s = await compareContent("m.json", B('{"a":"x","b":1}'), B('{"a":"y","b":1}'), { rtol: 1 });
  assert.is(s.verdict, "mismatch");
  assert.match(s.summary, 'a: "x" recorded, "y" now');
  const keys = await compareContent("m.json", B('{"a":1,"b":2}'), B('{"b":2,"a":1}'));
  assert.is(keys.orderOnly, true);
  assert.match(keys.summary, "keys of (top) in another order");
  const added = await compareContent("m.json", B('{"a":1}'), B('{"a":1,"z":0}'));
  assert.match(added.summary, "z: key only in the new file");
});

test("JSON lines: ignored fields in every row (train_log.jsonl)", async () => {
  const a = B('{"epoch":1,"loss":0.5,"seconds":1.2,"samples_per_s":900}\n{"epoch":2,"loss":0.4,"seconds":1.1,"samples_per_s":950}\n');
  const b = B('{"epoch":1,"loss":0.5,"seconds":1.9,"samples_per_s":700}\n{"epoch":2,"loss":0.4,"seconds":1.3,"samples_per_s":800}\n');
  assert.is((await compareContent("train_log.jsonl", a, b)).verdict, "mismatch");
  const r = await compareContent("train_log.jsonl", a, b, { ignore: ["seconds", "samples_per_s"] });
  assert.is(r.verdict, "within-tolerance", r.summary);
  const c = B('{"epoch":1,"loss":0.51,"seconds":1.9,"samples_per_s":700}\n{"epoch":2,"loss":0.4,"seconds":1.3,"samples_per_s":800}\n');
  const bad = await compareContent("train_log.jsonl", a, c, { ignore: ["seconds", "samples_per_s"] });
  assert.is(bad.verdict, "mismatch");
  assert.is(bad.numeric!.absAt, "[0].loss");
});

test("CSV: rows in another order, columns in another order, numeric cells", async () => {
  assert.equal(parseCsv('a,"b,c"\n1,"x""y"\r\n'), [["a", "b,c"], ["1", 'x"y']]);
  const rows = await compareContent("f.csv", B("k,v\n1,2.5\n2,3.5\n"), B("k,v\n2,3.5\n1,2.5\n"));
  assert.is(rows.verdict, "mismatch");
  assert.is(rows.orderOnly, true);
  assert.match(rows.summary, "the same 2 rows in another order");
  const cols = await compareContent("f.csv", B("k,v\n1,2.5\n"), B("v,k\n2.5,1\n"));
  assert.is(cols.orderOnly, true);
  assert.match(cols.summary, "columns in another order");
  const num = await compareContent("f.csv", B("k,v\n1,2.5\n2,3.5\n"), B("k,v\n1,2.5\n2,3.5000001\n"), { rtol: 1e-6 });
  assert.is(num.verdict, "within-tolerance");
  assert.is(num.numeric!.absAt, "[1].v");
});

test("parquet: structural through DuckDB; a changed byte that breaks the file is located", async () => {
  const dir = mkdtempSync(join(tmpdir(), "verify-pq-"));
  try {
    const a = join(dir, "a.parquet");
    const b = join(dir, "b.parquet");
    await withDuckDb(async (c) => {
      await c.run(`COPY (SELECT i AS id, i * 0.5::DOUBLE AS x, 'r' || i AS s FROM range(100) t(i)) TO ${sqlString(a)} (FORMAT parquet)`);
      await c.run(`COPY (SELECT i AS id, CASE WHEN i = 42 THEN i * 0.5::DOUBLE + 1e-3 ELSE i * 0.5::DOUBLE END AS x, 'r' || i AS s FROM range(100) t(i)) TO ${sqlString(b)} (FORMAT parquet)`);
    });
    const r = await compareContent("c.parquet", readFileSync(a), readFileSync(b));
    assert.is(r.format, "parquet");
    assert.is(r.verdict, "mismatch");
    assert.is(r.numeric!.count, 1);
    assert.is(r.numeric!.absAt, "[42].x");
    assert.ok(Math.abs(r.numeric!.abs - 1e-3) < 1e-12);
    const broken = Buffer.from(readFileSync(a));
    broken[broken.length - 10] = broken[broken.length - 10]! ^ 0xff; // in the footer
    const x = await compareContent("c.parquet", readFileSync(a), broken);
    assert.is(x.format, "bytes");
    assert.is(x.firstDifferingByte, broken.length - 10);
    assert.match(x.summary, "not readable as parquet");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("tar: members one by one, each by its own format", async () => {
  const dir = mkdtempSync(join(tmpdir(), "verify-tar-"));
  try {
    const make = (name: string, json: string, txt: string) => {
      const src = join(dir, name);
      mkdirSync(src);
      writeFileSync(join(src, "m.json"), json);
      writeFileSync(join(src, "notes.txt"), txt);
      execFileSync("tar", ["-czf", join(dir, `${name}.tgz`), "--sort=name", "--mtime=@0", "-C", src, "m.json", "notes.txt"]);
      return readFileSync(join(dir, `${name}.tgz`));
    };
    const a = make("a", '{"x":1.0}', "same\n");
    const b = make("b", '{"x":1.5}', "samf\n");
    assert.equal([...tarMembers(a).keys()], ["m.json", "notes.txt"]);
    const r = await compareContent("bundle.tgz", a, b);
    assert.is(r.format, "tar");
    assert.is(r.verdict, "mismatch");
    assert.equal(r.members!.map((m) => `${m.path} ${m.format}`), ["bundle.tgz:m.json json", "bundle.tgz:notes.txt bytes"]);
    assert.is(r.members![1]!.firstDifferingByte, 3);
    assert.is(r.members![0]!.numeric!.absAt, "x");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("tar: long (pax/GNU) names, directories and links are members; a damaged archive is compared as bytes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "verify-tar-"));
  try {
    // Past ustar's 100-byte name field: pax and GNU need their long-name records, ustar its prefix field.
    const longOf = (format: string) => `${"d".repeat(60)}/${"n".repeat(format === "ustar" ? 90 : 120)}.txt`;
    const make = (name: string, target: string, format: string) => {
      const long = longOf(format);
      const src = join(dir, name);
      mkdirSync(join(src, "d".repeat(60)), { recursive: true });
      writeFileSync(join(src, long), "long\n");
      symlinkSync(target, join(src, "link"));
      execFileSync("tar", ["-cf", join(dir, `${name}.tar`), `--format=${format}`, "--sort=name", "--mtime=@0", "-C", src, "d".repeat(60), "link"]);
      return readFileSync(join(dir, `${name}.tar`));
    };
    for (const format of ["pax", "gnu", "ustar"]) {
      const long = longOf(format);
      const a = make(`a-${format}`, "x.txt", format);
      const m = tarMembers(a);
      assert.equal([...m.keys()], [`${"d".repeat(60)}/`, long, "link (type 2)"], format);
      assert.is(m.get(long)!.toString(), "long\n");
      assert.is(m.get("link (type 2)")!.toString(), "x.txt");
      const b = make(`b-${format}`, "y.txt", format);
      const r = await compareContent("t.tar", a, b);
      assert.is(r.verdict, "mismatch");
      assert.equal(r.members!.map((x) => x.path), ["t.tar:link (type 2)"], "only the link target differs");
    }
    const a = make("c", "x.txt", "pax");
    const truncated = a.subarray(0, 700);
    assert.throws(() => tarMembers(truncated));
    assert.throws(() => tarMembers(B("not a tar archive at all")));
    const r = await compareContent("t.tar", a, truncated);
    assert.is(r.verdict, "mismatch");
    assert.match(r.summary, "not readable as tar");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("other files: first differing byte and both sizes", async () => {
  const r = await compareContent("w.bin", B("abcdef"), B("abcXef!"));
  assert.is(r.verdict, "mismatch");
  assert.is(r.firstDifferingByte, 3);
  assert.equal(r.sizes, [6, 7]);
  assert.match(r.summary, "first differing byte at offset 3 (0x64 recorded, 0x58 now); size 6 recorded, 7 now");
  assert.is((await compareContent("w.bin", B("x"), B("x"))).verdict, "identical");
});

test.run();
