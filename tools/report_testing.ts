/**
 * Reports to look at and test with. `demoReport` is a real run's report, before the command line
 * has `--report`: it trains and samples with microgpt.ts's Part I (or microgpt_fast.ts), records
 * the run with a {@linkcode ReportRecorder}; run as a script, it writes the page. `tinyReport` is
 * a small made-up one for tests. The browser test and the screenshot use them; once `--report`
 * exists, a run writes the same page itself.
 *
 * @example The default run's page (1000 steps, 20 samples), then a shorter one on another text
 * ```sh
 * deno run -P tools/report_demo.ts /tmp/run.html
 * deno run -P tools/report_demo.ts --fast --input names.txt --holdout 2000 --steps 3000 /tmp/names.html
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  Adam,
  type Config,
  DEFAULTS,
  forwardLoss,
  generate,
  initModel,
  parseDocs,
  Random,
  type SampleWatch,
  Tokenizer,
  train,
} from "../microgpt.ts";
import { fastEngine } from "../microgpt_fast.ts";
import { initWeights, matrixShapes } from "./engine.ts";
import { lossSummary } from "./loss.ts";
import bundledInput from "../input.txt" with { type: "text" };
import { renderReport, type RunReport } from "./report.ts";
import { ReportRecorder } from "./report_recorder.ts";

/** What to run. */
export interface DemoOptions {
  /** Settings that differ from microgpt.py's. */
  cfg?: Partial<Config>;
  /** The training text (default: the bundled names). */
  text?: string;
  /** Its name on the page. */
  source?: string;
  /** Documents held out of training, measured at each tenth of the run. */
  holdout?: number;
  /** Use microgpt_fast.ts instead of Part I's graph. */
  fast?: boolean;
  /** The command shown on the page. */
  command?: string;
  /** The text every sample starts with. */
  prefix?: string;
}

/** The hooks of one engine, as the demo drives them. */
interface Runner {
  train(docs: string[], tok: Tokenizer, onStep: (step: number, loss: number) => void): void;
  loss(tokens: number[]): number;
  generate(
    tok: Tokenizer,
    rng: Random,
    prefix: string,
    onSample: (i: number, doc: string) => void,
    watch: (i: number) => SampleWatch,
  ): void;
  weights(): ArrayLike<number>;
}

/** Part I's model, or the fast engine's, initialised from `rng` exactly alike. */
function runner(cfg: Config, vocabSize: number, rng: Random, fast: boolean): Runner {
  if (fast) {
    const t = fastEngine.create(cfg, vocabSize, initWeights(cfg, vocabSize, rng));
    return {
      train: (docs, tok, onStep) => t.train(docs, tok, onStep, 0),
      loss: (tokens) => t.loss(tokens),
      generate: (tok, r, prefix, onSample, watch) => t.generate(tok, r, prefix, onSample, watch),
      weights: () => t.weights(),
    };
  }
  const model = initModel(cfg, vocabSize, rng);
  const adam = new Adam(model.params.length, cfg);
  return {
    train: (docs, tok, onStep) => train(model, adam, docs, tok, onStep),
    loss: (tokens) => forwardLoss(model, tokens).data,
    generate: (tok, r, prefix, onSample, watch) => generate(model, tok, r, prefix, onSample, watch),
    weights: () => model.params.map((p) => p.data),
  };
}

/** Runs microgpt.py's script with the recorder listening, and returns the report. */
export function demoReport(opts: DemoOptions = {}): RunReport {
  const cfg: Config = { ...DEFAULTS, ...opts.cfg };
  const started = performance.now();
  const rng = new Random(cfg.seed);
  const docs = parseDocs(opts.text ?? bundledInput);
  rng.shuffle(docs);
  const tok = new Tokenizer(docs);
  const holdout = opts.holdout ?? 0;
  const trainDocs = docs.slice(0, docs.length - holdout);
  const heldOut = docs.slice(docs.length - holdout);
  const run = runner(cfg, tok.vocabSize, rng, opts.fast ?? false);
  const rec = new ReportRecorder({
    engine: opts.fast ? "microgpt_fast.ts" : "microgpt.ts",
    command: opts.command ?? "deno run -P tools/report_demo.ts",
    settings: cfg,
    prefix: opts.prefix ?? "",
    matrices: matrixShapes(cfg, tok.vocabSize),
    data: {
      source: opts.source ?? "input.txt (bundled)",
      numDocs: docs.length,
      heldOut: holdout,
      chars: tok.chars,
    },
    tokens: { doc: trainDocs[0], ids: tok.encode(trainDocs[0], cfg.blockSize) },
    firstStep: 0,
  });
  run.train(trainDocs, tok, (step, loss) => {
    rec.step(loss);
    const done = step + 1;
    if (
      holdout > 0 && done % Math.ceil(cfg.numSteps / 10) === 0 ||
      holdout > 0 && done === cfg.numSteps
    ) {
      let sum = 0;
      for (const doc of heldOut) sum += run.loss(tok.encode(doc, cfg.blockSize));
      if (rec.heldOut.at(-1)?.step !== done) {
        rec.heldOutLoss(done, sum / heldOut.length, heldOut.length);
      }
    }
  });
  run.generate(
    tok,
    rng,
    opts.prefix ?? "",
    (i, doc) => rec.sampled(i, doc),
    (i) => rec.watchFor(i),
  );
  const summary = lossSummary(rec.losses, tok.vocabSize);
  return rec.report("finished", performance.now() - started, run.weights(), summary);
}

/** A small, made-up but consistent report: vocabulary a b c, 2 layers × 2 heads, block 4. */
export function tinyReport(over: Partial<RunReport> = {}): RunReport {
  const chars = ["a", "b", "c"];
  const row = (n: number) => Array.from({ length: n }, () => 1 / n);
  const triangle = (n: number) => Array.from({ length: n }, (_, t) => row(t + 1));
  return {
    engine: "microgpt.ts",
    command: "deno run microgpt.ts --steps 6",
    status: "finished",
    elapsedMs: 1234,
    settings: {
      nLayer: 2,
      nEmbd: 4,
      blockSize: 4,
      nHead: 2,
      initStd: 0.08,
      learningRate: 0.01,
      beta1: 0.85,
      beta2: 0.99,
      epsAdam: 1e-8,
      numSteps: 6,
      temperature: 0.5,
      numSamples: 2,
      seed: 42n,
    },
    prefix: "",
    matrices: [["wte", 4, 4], ["wpe", 4, 4], ["lm_head", 4, 4]],
    data: { source: "tiny.txt", numDocs: 3, heldOut: 0, chars },
    tokens: { doc: "ab", ids: [3, 0, 1, 3] },
    loss: { firstStep: 0, losses: [1.5, 1.4, 1.3, 1.2, 1.1, 1.0], heldOut: [] },
    embeddings: {
      wte: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
      wpe: [[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1], [1, 0, 0, 1]],
    },
    attention: [{
      sample: 0,
      text: "ab",
      weights: [[triangle(3), triangle(3)], [
        triangle(3),
        triangle(3),
      ]],
    }],
    temperature: {
      sample: 0,
      text: "ab",
      draws: [
        { soFar: "", logits: [2, 1, 0, -1], drawn: 0 },
        { soFar: "a", logits: [0, 2, 1, 0], drawn: 1 },
        { soFar: "ab", logits: [0, 0, 1, 3], drawn: 3 },
      ],
    },
    samples: ["ab", "c"],
    lossSummary: "loss: mean 1.2500 over the first 6 steps, 1.2500 over the last 6",
    ...over,
  };
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: {
      fast: { type: "boolean" },
      steps: { type: "string" },
      samples: { type: "string" },
      input: { type: "string" },
      holdout: { type: "string" },
    },
    allowPositionals: true,
  });
  if (positionals.length !== 1) {
    console.error(
      "usage: deno run -P tools/report_demo.ts [--fast] [--steps N] [--samples N] [--input PATH] [--holdout N] OUT.html",
    );
    Deno.exit(2);
  }
  const cfg: Partial<Config> = {};
  if (values.steps !== undefined) cfg.numSteps = Number(values.steps);
  if (values.samples !== undefined) cfg.numSamples = Number(values.samples);
  const report = demoReport({
    cfg,
    fast: values.fast,
    text: values.input === undefined ? undefined : Deno.readTextFileSync(values.input),
    source: values.input,
    holdout: values.holdout === undefined ? 0 : Number(values.holdout),
    command: ["deno", "run", "-P", "tools/report_demo.ts", ...Deno.args].join(" "),
  });
  const html = renderReport(report);
  Deno.writeTextFileSync(positionals[0], html);
  console.log(`wrote ${positionals[0]}: ${new TextEncoder().encode(html).length} bytes`);
}
