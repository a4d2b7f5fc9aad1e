/**
 * One semantic-tag rule set (gate-spec §9, `tagsFromMetrics` in src/corpus/derived.ts): the
 * simulator's derived tags equal the corpus column's for the same line, whatever its shape;
 * the one deliberate difference is that the simulator honours a gate's own `semantic_tags`
 * array (the legacy simulator filters on those, §11) while the corpus always derives.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { simGateOf } from "../../src/backtest/gates.js";
import { readGateLine } from "../../src/corpus/gate-source.js";
import { semanticTags } from "../../src/corpus/derived.js";

const base = { instrument: "EUR_USD", ts_ms: 1747008000000, admit: true, regime: "neutral", repetitions: 2 };

const LINES: Record<string, Record<string, unknown>> = {
  // Flat legacy line: hazard only (rupture = hazard by §5), no tau slope.
  "flat, high hazard": { ...base, hazard: 0.45, coherence: 0.2, stability: 0.55, entropy: 0.95 },
  "flat, low hazard": { ...base, hazard: 0.05, coherence: 0.8, stability: 0.95, entropy: 0.3 },
  nested: {
    ...base,
    hazard: 0.41,
    structure: { coherence: 0.75, stability: 0.72, entropy: 0.91, coherence_tau_slope: 0.01, rupture: 0.41, hazard: 0.41 },
  },
  "nested, nothing applies": {
    ...base,
    hazard: 0.2,
    structure: { coherence: 0.1, stability: 0.8, entropy: 0.5, coherence_tau_slope: 0.001, rupture: 0.2, hazard: 0.2 },
  },
};

test("the simulator derives the same tags as the corpus column for every shape", () => {
  const seen = new Set<string>();
  for (const [name, raw] of Object.entries(LINES)) {
    const corpus = semanticTags(readGateLine(JSON.stringify(raw), "g.jsonl", 1));
    const sim = simGateOf(raw, "g.jsonl:1").tags;
    assert.equal([...sim], corpus, name);
    for (const t of corpus) seen.add(t);
  }
  // Every tag occurs somewhere, so the comparison covers each rule.
  assert.equal([...seen].sort(), ["chaotic_price_action", "high_rupture_event", "highly_stable", "low_hazard_environment", "strengthening_structure"]);
  // The flat high-hazard line: rupture comes from the hazard identity in both.
  assert.ok(simGateOf(LINES["flat, high hazard"], "g:1").tags.includes("high_rupture_event"));
});

test("a gate's own semantic_tags: the simulator uses them, the corpus derives (on purpose)", () => {
  const raw = { ...LINES["flat, low hazard"]!, semantic_tags: ["custom_tag"] };
  assert.equal([...simGateOf(raw, "g.jsonl:1").tags], ["custom_tag"]);
  assert.equal(semanticTags(readGateLine(JSON.stringify(raw), "g.jsonl", 1)), ["highly_stable", "low_hazard_environment"]);
});

test.run();
