/**
 * Helpers for the report's tests: a run recorded directly through an engine's hooks
 * ({@linkcode recordRun}, independent of tools/run.ts, so that the page `--report` writes can be
 * checked against it), the page of a real run with `--report` made in-process
 * ({@linkcode pageOfRun}), one with what differs between engines and runs masked
 * ({@linkcode masked}), and a small made-up report ({@linkcode tinyReport}). Nothing here is part
 * of a run.
 *
 * @example The default run's page, as `deno run microgpt_fast.ts --report run.html` writes it
 * ```ts
 * import { pageOfRun } from "./report_testing.ts";
 * import { fastEngine } from "../microgpt_fast.ts";
 * const { html } = await pageOfRun([], fastEngine);
 * ```
 *
 * @module
 */

import { type Config, DEFAULTS, parseDocs, Random, Tokenizer } from "../microgpt.ts";
import { type Engine, initWeights, matrixShapes } from "./engine.ts";
import { bundledInput } from "./files.ts";
import { parseCommandLine } from "./flags.ts";
import { lossSummary } from "./loss.ts";
import type { RunReport } from "./report_data.ts";
import { commandLine, heldOutWords, sourceOf } from "./report_file.ts";
import { ReportRecorder } from "./report_recorder.ts";
import { run } from "./run.ts";
import { Captured, tmp } from "./testing.ts";

/** What to run. */
export interface RecordOptions {
  /** Settings that differ from microgpt.py's. */
  cfg?: Partial<Config>;
  /** The training text (default: the bundled names). */
  text?: string;
  /** Documents held out of training, scored at each tenth of the run. */
  holdout?: number;
  /** The text every sample starts with. */
  prefix?: string;
  /** The command line's arguments, for the page's command. */
  args?: string[];
}

/** Runs microgpt.py's script on `engine` with a recorder listening, as a run with --report does
 * but without tools/run.ts, and returns the finished run's report. */
export function recordRun(engine: Engine, opts: RecordOptions = {}): RunReport {
  const cfg: Config = { ...DEFAULTS, ...opts.cfg };
  const started = performance.now();
  const rng = new Random(cfg.seed);
  const docs = parseDocs(opts.text ?? bundledInput);
  rng.shuffle(docs);
  const tok = new Tokenizer(docs);
  const holdout = opts.holdout ?? 0;
  const trainDocs = docs.slice(0, docs.length - holdout);
  const heldOut = docs.slice(docs.length - holdout);
  const trainer = engine.create(cfg, tok.vocabSize, initWeights(cfg, tok.vocabSize, rng));
  const rec = new ReportRecorder({
    engine: engine.name,
    command: commandLine(engine, opts.args ?? []),
    settings: cfg,
    prefix: opts.prefix ?? "",
    matrices: matrixShapes(cfg, tok.vocabSize),
    data: {
      source: sourceOf(undefined),
      numDocs: docs.length,
      heldOut: holdout,
      heldOutWhat: heldOutWords(holdout),
      chars: tok.chars,
    },
    tokens: { doc: trainDocs[0], ids: tok.encode(trainDocs[0], cfg.blockSize) },
    firstStep: 0,
  });
  const scoredAt = new Set<number>();
  for (let k = 1; k <= 10; k++) scoredAt.add(Math.ceil((k * cfg.numSteps) / 10));
  trainer.train(trainDocs, tok, (step, loss) => {
    rec.step(loss);
    if (holdout > 0 && scoredAt.has(step + 1)) {
      let sum = 0;
      for (const doc of heldOut) sum += trainer.loss(tok.encode(doc, cfg.blockSize));
      rec.heldOutScore({ step: step + 1, nats: sum / heldOut.length, count: heldOut.length });
    }
  }, 0);
  trainer.generate(
    tok,
    rng,
    opts.prefix ?? "",
    (i, doc) => rec.sampled(i, doc),
    (i) => rec.watchFor(i),
  );
  const summary = lossSummary(rec.losses, tok.vocabSize);
  return rec.report("finished", performance.now() - started, trainer.weights(), summary);
}

/** What a run with --report left: its page, what it printed, its exit code. */
export interface RunPage {
  /** The page, as written at the end (or at the stop). */
  html: string;
  /** What the run printed on stdout. */
  stdout: string;
  /** What it printed on stderr. */
  stderr: string;
  /** Its exit code. */
  code: number;
}

/** Runs `engine` in-process with `args` and `--report` to a file in the tests' folder (the same
 * path every time, so that two runs' pages name the same command), and returns the page it
 * wrote. In-process, the page's command names the script by its file name. */
export async function pageOfRun(args: string[], engine: Engine): Promise<RunPage> {
  const path = `${tmp}/report.html`;
  const io = new Captured();
  const code = await run(parseCommandLine([...args, "--report", path]), engine, io);
  const html = await Deno.readTextFile(path);
  await Deno.remove(path);
  return { html, stdout: io.stdout, stderr: io.stderr, code };
}

/** A page with what may differ between two runs of the same settings set aside: the times, and
 * the engine's name (`microgpt_fast.ts` reads as `microgpt.ts`). */
export function masked(html: string): string {
  return html.replace(/<span id="time">[^<]*<\/span>/g, `<span id="time"></span>`)
    .replaceAll("microgpt_fast.ts", "microgpt.ts");
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
