/**
 * Gathers a {@linkcode RunReport} while a run trains and samples, from the hooks every engine
 * has: the step hook (each loss), the held-out measures, the sampling hook (each sample) and the
 * eyes on a sample (`SampleWatch`: each draw, each head's attention). Nothing here computes the
 * model or draws a random number, so recording changes no printed byte.
 *
 * When to call what, in a run:
 * 1. before training: `new ReportRecorder(start)` with what the run knows by then;
 * 2. each step: `step(loss)`; at a held-out score: `heldOutScore(point)`;
 * 3. sampling: pass `watchFor` to the engine's `generate`, and call `sampled(i, text)` from its
 *    sample hook;
 * 4. whenever the page is written (mid-run, on a stop, at the end): `report(...)` with the status,
 *    the time, the current weights and the terminal's loss summary, then `renderReport`.
 *
 * @example Record a run of microgpt.ts's Part I and write its page
 * ```ts
 * import { Adam, DEFAULTS, generate, initModel, parseDocs, Random, Tokenizer, train }
 *   from "../microgpt.ts";
 * import { matrixShapes } from "./engine.ts";
 * import { ReportRecorder } from "./report_recorder.ts";
 * import { renderReport } from "./report.ts";
 * const cfg = { ...DEFAULTS, numSteps: 5, numSamples: 2 };
 * const rng = new Random(cfg.seed);
 * const docs = parseDocs("emma\nolivia\nava\n");
 * rng.shuffle(docs);
 * const tok = new Tokenizer(docs);
 * const model = initModel(cfg, tok.vocabSize, rng);
 * const rec = new ReportRecorder({
 *   engine: "microgpt.ts", command: "example", settings: cfg, prefix: "",
 *   matrices: matrixShapes(cfg, tok.vocabSize),
 *   data: { source: "inline", numDocs: docs.length, heldOut: 0, chars: tok.chars },
 *   tokens: { doc: docs[0], ids: tok.encode(docs[0], cfg.blockSize) }, firstStep: 0,
 * });
 * train(model, new Adam(model.params.length, cfg), docs, tok, (_, loss) => rec.step(loss));
 * generate(model, tok, rng, "", (i, doc) => rec.sampled(i, doc), (i) => rec.watchFor(i));
 * const weights = model.params.map((p) => p.data);
 * const html = renderReport(rec.report("finished", 100, weights, ""));
 * ```
 *
 * @module
 */

import type {
  HeldOutPoint,
  MatrixShape,
  ReportData,
  ReportDraw,
  ReportEmbeddings,
  ReportSettings,
  ReportTemperature,
  ReportTokens,
  RunReport,
  SampleAttention,
} from "./report_data.ts";

/** What a run knows before it trains: the parts of a report that do not change. */
export interface RunStart {
  /** The script that computes the run. */
  engine: string;
  /** The exact command, as one shell line. */
  command: string;
  /** The settings (microgpt.ts's `Config` fits). */
  settings: ReportSettings;
  /** The prefix of every sample, or "". */
  prefix: string;
  /** The weight matrices (microgpt.ts's `matrixShapes`). */
  matrices: MatrixShape[];
  /** The data. */
  data: ReportData;
  /** One document as token ids: the run's first training document. */
  tokens: ReportTokens;
  /** The 0-based step training starts from (a resumed run's saved step, else 0). */
  firstStep: number;
}

/** What a sampling position shows the recorder; microgpt.ts's `Draw` fits. `logits` is used
 * when the engine gives it; without it, ln of the probabilities at temperature 1 stands in
 * (they differ from the logits by one constant per position, which the softmax does not see). */
export interface DrawSeen {
  /** The text before this position. */
  soFar: string;
  /** The next-token distribution at temperature 1. */
  probs1: ArrayLike<number>;
  /** The token drawn. */
  drawn: number;
  /** The raw logits, when the engine hands them over. */
  logits?: ArrayLike<number>;
}

/** Eyes on one sample; it fits where microgpt.ts takes a `SampleWatch`. */
export interface RecorderWatch {
  /** Hears each draw. */
  onDraw?: (draw: DrawSeen) => void;
  /** Hears each head's attention weights at each position. */
  onAttention?: (pos: number, layer: number, head: number, weights: ArrayLike<number>) => void;
}

/** How many of the first samples keep their attention: three, fewer when a shape has so many
 * layers and heads that three samples would draw more than 48 maps (at least one). */
export function attentionSamples(nLayer: number, nHead: number): number {
  return Math.max(1, Math.min(3, Math.floor(48 / (nLayer * nHead))));
}

/** The embedding tables out of the flat weights (state_dict order: wte first, then wpe). */
export function embeddingsOf(
  weights: ArrayLike<number>,
  vocabSize: number,
  blockSize: number,
  nEmbd: number,
): ReportEmbeddings {
  const rows = (first: number, count: number) => {
    const out: number[][] = [];
    for (let r = 0; r < count; r++) {
      const row: number[] = [];
      for (let c = 0; c < nEmbd; c++) row.push(weights[(first + r) * nEmbd + c]);
      out.push(row);
    }
    return out;
  };
  return { wte: rows(0, vocabSize), wpe: rows(vocabSize, blockSize) };
}

/** Collects a run's report from its hooks; see the module's description for when to call what. */
export class ReportRecorder {
  /** What the run knew before training. */
  readonly start: RunStart;
  /** Every step's loss so far. */
  readonly losses: number[] = [];
  /** The held-out measures so far. */
  readonly heldOut: HeldOutPoint[] = [];
  /** The samples so far. */
  readonly samples: string[] = [];
  /** The attention of the samples kept (see {@linkcode attentionSamples}). */
  readonly attention: SampleAttention[] = [];
  /** The first sample's draws, once it is being drawn. */
  temperature?: ReportTemperature;

  /** A recorder for a run that knows `start`. */
  constructor(start: RunStart) {
    this.start = start;
  }

  /** Hears the next step's loss (call it from the step hook, in step order). */
  step(loss: number): void {
    this.losses.push(loss);
  }

  /** Hears a held-out score (tools/report_file.ts's `heldOutPoint` makes it from the run's). */
  heldOutScore(point: HeldOutPoint): void {
    this.heldOut.push(point);
  }

  /** Eyes for sample `i`: attention for the first few samples, the draws of the first. */
  watchFor(i: number): RecorderWatch {
    const { nLayer, nHead } = this.start.settings;
    const watch: RecorderWatch = {};
    const seen = this.attention.findIndex((a) => a.sample === i);
    if (seen >= 0) this.attention.splice(seen, 1); // asked again: the sample starts anew
    if (i < attentionSamples(nLayer, nHead)) {
      const weights: number[][][][] = [];
      for (let li = 0; li < nLayer; li++) weights.push(Array.from({ length: nHead }, () => []));
      this.attention.push({ sample: i, text: "", weights });
      watch.onAttention = (pos, li, h, w) => {
        weights[li][h][pos] = Array.from(w); // an engine may reuse its buffer: copy
      };
    }
    if (i === 0) {
      const draws: ReportDraw[] = [];
      this.temperature = { sample: 0, text: "", draws };
      watch.onDraw = (d) => {
        const logits = d.logits !== undefined
          ? Array.from(d.logits)
          : Array.from(d.probs1, (p) => Math.log(p));
        draws.push({ soFar: d.soFar, logits, drawn: d.drawn });
      };
    }
    return watch;
  }

  /** Hears sample `i`'s text, prefix included (call it from the sample hook). */
  sampled(i: number, text: string): void {
    this.samples[i] = text;
    for (const a of this.attention) if (a.sample === i) a.text = text;
    if (this.temperature?.sample === i) this.temperature.text = text;
  }

  /** The report as of now: `weights` are the model's current weights (flat, state_dict order),
   * `lossSummary` what the terminal printed (or ""). Samples still being drawn are left out. */
  report(
    status: RunReport["status"],
    elapsedMs: number,
    weights: ArrayLike<number>,
    lossSummary: string,
  ): RunReport {
    const s = this.start;
    const V = s.data.chars.length + 1;
    const done = (i: number) => this.samples[i] !== undefined;
    const temperature = this.temperature !== undefined && done(this.temperature.sample)
      ? this.temperature
      : undefined;
    return {
      engine: s.engine,
      command: s.command,
      status,
      elapsedMs,
      settings: s.settings,
      prefix: s.prefix,
      matrices: s.matrices,
      data: s.data,
      tokens: s.tokens,
      loss: { firstStep: s.firstStep, losses: this.losses, heldOut: this.heldOut },
      embeddings: embeddingsOf(weights, V, s.settings.blockSize, s.settings.nEmbd),
      attention: this.attention.filter((a) => done(a.sample)),
      temperature,
      samples: this.samples.filter((x) => x !== undefined),
      lossSummary,
    };
  }
}
