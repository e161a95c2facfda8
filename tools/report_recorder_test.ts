// Tests of the recorder: what it gathers from a real run, from either engine, and that listening
// changes nothing.

import assert from "node:assert/strict";
import { DEFAULTS, generate, initModel, parseDocs, Random, Tokenizer } from "../microgpt.ts";
import { attentionSamples, embeddingsOf, ReportRecorder } from "./report_recorder.ts";
import { recordRun } from "./report_testing.ts";
import type { RunReport } from "./report_data.ts";
import { graphEngine } from "./engine.ts";
import { fastEngine } from "../microgpt_fast.ts";

const NAMES = "emma\nolivia\nava\nisabella\nsophia\nmia\namelia\nharper\nevelyn\nabigail\n";

/** A short run's report from one engine, with what differs between engines set aside. */
function shortRun(fast: boolean): RunReport {
  const r = recordRun(fast ? fastEngine : graphEngine, {
    cfg: { numSteps: 30, numSamples: 5, nLayer: 2 },
    text: NAMES,
    holdout: 3,
  });
  return { ...r, engine: "", command: "", elapsedMs: 0 };
}

Deno.test("both engines gather the same report, number for number", () => {
  assert.deepEqual(shortRun(true), shortRun(false));
});

Deno.test("a run's report holds every step, the held-out points, the samples", () => {
  const r = shortRun(true);
  assert.equal(r.loss.losses.length, 30);
  assert.deepEqual(r.loss.heldOut.map((p) => p.step), [3, 6, 9, 12, 15, 18, 21, 24, 27, 30]);
  assert.equal(r.samples.length, 5);
  assert.equal(r.data.numDocs, 10);
  assert.equal(r.data.heldOut, 3);
  assert.equal(r.tokens.ids[0], r.data.chars.length, "the document starts with BOS");
  assert.equal(r.embeddings.wte.length, r.data.chars.length + 1);
  assert.equal(r.embeddings.wpe.length, DEFAULTS.blockSize);
  assert.match(r.lossSummary, /^loss: mean/);
});

Deno.test("attention of the first three samples: a row per position, each summing to 1", () => {
  const r = shortRun(true);
  assert.deepEqual(r.attention.map((a) => a.sample), [0, 1, 2]);
  for (const a of r.attention) {
    assert.equal(a.text, r.samples[a.sample]);
    assert.equal(a.weights.length, 2);
    for (const layer of a.weights) {
      assert.equal(layer.length, DEFAULTS.nHead);
      for (const rows of layer) {
        // BOS, then every character but the last drawn one (the end is drawn, never read),
        // unless the sample filled the block.
        assert.equal(rows.length, Math.min(a.text.length + 1, DEFAULTS.blockSize));
        rows.forEach((row, t) => {
          assert.equal(row.length, t + 1);
          assert(Math.abs(row.reduce((x, y) => x + y, 0) - 1) < 1e-12);
        });
      }
    }
  }
});

Deno.test("the first sample's draws: one per drawn token, the end included", () => {
  const r = shortRun(true);
  const t = r.temperature!;
  assert.equal(t.text, r.samples[0]);
  assert.equal(t.draws.length, Math.min(t.text.length + 1, DEFAULTS.blockSize));
  t.draws.forEach((d, i) => {
    assert.equal(d.soFar, t.text.slice(0, i));
    assert.equal(d.logits.length, r.data.chars.length + 1);
  });
});

Deno.test("with a prefix, positions are BOS, the prefix, then the drawn characters", () => {
  const r = recordRun(fastEngine, {
    cfg: { numSteps: 5, numSamples: 1 },
    text: NAMES,
    prefix: "em",
  });
  const [a, t] = [r.attention[0], r.temperature!];
  assert(a.text.startsWith("em"));
  assert.equal(a.weights[0][0].length, Math.min(a.text.length + 1, DEFAULTS.blockSize));
  // The prefix is fed, not drawn: the draws start after it.
  assert.equal(t.draws[0].soFar, "em");
  assert.equal(t.draws.length, Math.min(a.text.length + 1, DEFAULTS.blockSize) - 2);
});

Deno.test("fewer attention samples when a shape has many maps", () => {
  assert.equal(attentionSamples(1, 4), 3);
  assert.equal(attentionSamples(4, 4), 3);
  assert.equal(attentionSamples(4, 8), 1);
  assert.equal(attentionSamples(12, 12), 1);
});

Deno.test("the embedding tables are the first rows of the flat weights", () => {
  const w = Array.from({ length: 3 * 2 + 2 * 2 + 99 }, (_, i) => i);
  assert.deepEqual(embeddingsOf(w, 3, 2, 2), {
    wte: [[0, 1], [2, 3], [4, 5]],
    wpe: [[6, 7], [8, 9]],
  });
});

/** A recorder with placeholder run facts. */
function recorder(nLayer = 1, nHead = 1): ReportRecorder {
  return new ReportRecorder({
    engine: "e",
    command: "c",
    settings: { ...DEFAULTS, nLayer, nHead, nEmbd: 2, blockSize: 2 },
    prefix: "",
    matrices: [],
    data: { source: "s", numDocs: 1, heldOut: 0, chars: ["a"] },
    tokens: { doc: "a", ids: [1, 0, 1] },
    firstStep: 0,
  });
}

Deno.test("given logits are kept; without them, ln of the probabilities stands in", () => {
  const given = recorder();
  given.watchFor(0).onDraw!({ soFar: "", probs1: [0.25, 0.75], drawn: 1, logits: [3, 4] });
  assert.deepEqual(given.temperature!.draws[0].logits, [3, 4]);
  const derived = recorder();
  derived.watchFor(0).onDraw!({ soFar: "", probs1: [0.25, 0.75], drawn: 1 });
  assert.deepEqual(derived.temperature!.draws[0].logits, [Math.log(0.25), Math.log(0.75)]);
});

Deno.test("eyes asked for again start the sample anew", () => {
  const rec = recorder();
  rec.watchFor(0).onAttention!(0, 0, 0, [1]);
  rec.watchFor(0).onDraw!({ soFar: "", probs1: [0.5, 0.5], drawn: 1 });
  const again = rec.watchFor(0);
  again.onAttention!(0, 0, 0, [1]);
  again.onDraw!({ soFar: "", probs1: [0.5, 0.5], drawn: 0 });
  rec.sampled(0, "");
  assert.equal(rec.attention.length, 1);
  assert.deepEqual(rec.temperature!.draws.map((d) => d.drawn), [0]);
});

Deno.test("attention weights are copied: an engine may reuse its buffer", () => {
  const rec = recorder();
  const buffer = [1];
  rec.watchFor(0).onAttention!(0, 0, 0, buffer);
  buffer[0] = 99;
  assert.deepEqual(rec.attention[0].weights[0][0][0], [1]);
});

Deno.test("a sample still being drawn is left out of a report", () => {
  const rec = recorder();
  rec.watchFor(0).onAttention!(0, 0, 0, [1]);
  const w = [0, 0, 0, 0, 0, 0, 0, 0];
  let r = rec.report("stopped", 0, w, "");
  assert.deepEqual([r.samples, r.attention, r.temperature], [[], [], undefined]);
  rec.sampled(0, "a");
  r = rec.report("finished", 0, w, "");
  assert.deepEqual([r.samples, r.attention.length, r.attention[0].text], [["a"], 1, "a"]);
});

Deno.test("listening changes no sample", () => {
  const docs = parseDocs(NAMES);
  const tok = new Tokenizer(docs);
  const cfg = { ...DEFAULTS, numSamples: 6, temperature: 1 };
  const samples = (watch: boolean) => {
    const rng = new Random(7);
    const model = initModel(cfg, tok.vocabSize, rng);
    const out: string[] = [];
    const rec = recorder(1, 4);
    generate(
      model,
      tok,
      rng,
      "",
      (_, d) => void out.push(d),
      watch ? (i) => rec.watchFor(i) : undefined,
    );
    return out;
  };
  assert.deepEqual(samples(true), samples(false));
});
