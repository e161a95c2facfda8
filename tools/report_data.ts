/**
 * What a report page shows, as plain data: numbers, strings and arrays that either engine can
 * gather (tools/report_recorder.ts does it from the training and sampling hooks) and that survive
 * JSON (the seed aside, which may be a bigint). tools/report.ts turns a {@linkcode RunReport} into
 * the page.
 *
 * @example The parts must agree: a vocabulary of 2 characters means 3 rows of wte
 * ```ts
 * import { checkReport, type RunReport } from "./report_data.ts";
 * declare const r: RunReport;
 * checkReport(r); // throws, naming the first part that disagrees
 * ```
 *
 * @module
 */

import type { Config } from "../microgpt.ts";

/** The run's settings: microgpt.py's constants (microgpt.ts's `Config`). */
export type ReportSettings = Config;

/** One weight matrix: its name, rows and columns (microgpt.ts's `matrixShapes` lists them). */
export type MatrixShape = readonly [name: string, rows: number, cols: number];

/** What the model was trained on. */
export interface ReportData {
  /** Where the documents came from, as the user named it (a path, `-`, or the bundled text). */
  source: string;
  /** Documents read: microgpt.py's "num docs". */
  numDocs: number;
  /** Of them, how many were held out of training (`--holdout N`). */
  heldOut: number;
  /** What is held out, in words, when anything is: "2,000 documents" (`--holdout N`), or "the
   * last 864 lines of the text (…)" (`--holdout P%`, cut before the shuffle: they are not among
   * `numDocs`). */
  heldOutWhat?: string;
  /** The vocabulary: the characters in id order; BOS is the id after the last. */
  chars: string[];
}

/** One document as the model sees it: token ids, BOS at both ends (the end cut by the block). */
export interface ReportTokens {
  /** The document. */
  doc: string;
  /** Its ids, as the tokenizer's `encode(doc, blockSize)` gives them. */
  ids: number[];
}

/** One score of the held-out documents: the shape the held-out scoring reports its points in
 * (`{ step, nats, bits?, count }`), so a page takes them as they come. */
export interface HeldOutPoint {
  /** Steps done when it was scored (1-based, as the terminal prints it). */
  step: number;
  /** The mean loss per scored unit, in nats. */
  nats: number;
  /** Bits per character, when the scoring counts characters. */
  bits?: number;
  /** How many units were scored. */
  count: number;
}

/** The loss over the run. */
export interface ReportLoss {
  /** The 0-based step of `losses[0]`: 0, or the step a resumed run continued from. */
  firstStep: number;
  /** Every step's training loss, in order (nats). */
  losses: number[];
  /** The held-out measures, when the run holds documents out. */
  heldOut: HeldOutPoint[];
}

/** One sample's attention. */
export interface SampleAttention {
  /** The sample's index (0-based). */
  sample: number;
  /** The sample's text, prefix included (what it printed). */
  text: string;
  /** `weights[layer][head][pos]`: the weights of position `pos` over positions 0…pos. Position 0
   * reads BOS, position i the i-th character of `text`. */
  weights: number[][][][];
}

/** One drawn position of a sample, for the temperature bars. */
export interface ReportDraw {
  /** The text before this position, prefix included. */
  soFar: string;
  /** The logits of every token here (any shift of them will do, such as ln of the probabilities
   * at temperature 1: the softmax does not see a shift). */
  logits: number[];
  /** The token drawn. */
  drawn: number;
}

/** The draws of one sample, position by position. */
export interface ReportTemperature {
  /** The sample's index (0-based). */
  sample: number;
  /** The sample's text, prefix included. */
  text: string;
  /** Its draws, first to last (forced prefix positions are not draws). */
  draws: ReportDraw[];
}

/** The two embedding tables, a row per token and per position. */
export interface ReportEmbeddings {
  /** wte: one row per token id (BOS last). */
  wte: number[][];
  /** wpe: one row per position. */
  wpe: number[][];
}

/** Everything a report page shows. A page can be written mid-run (`status: "training"`): then
 * the samples, the attention and the temperature are still empty. */
export interface RunReport {
  /** The script that computed the run, e.g. `microgpt.ts` or `microgpt_fast.ts`. */
  engine: string;
  /** The exact command that ran, as one shell line. */
  command: string;
  /** Where the run is: still training, stopped by a signal, ended by an error (the page then
   * says no more than what it had), or finished (samples drawn). */
  status: "training" | "stopped" | "failed" | "finished";
  /** Wall time of the run so far, in milliseconds. */
  elapsedMs: number;
  /** The settings. */
  settings: ReportSettings;
  /** The text every sample starts with (`--prefix`), or "". */
  prefix: string;
  /** The weight matrices, in state_dict order. */
  matrices: MatrixShape[];
  /** The data. */
  data: ReportData;
  /** One document as token ids (the run's first training document). */
  tokens: ReportTokens;
  /** The loss. */
  loss: ReportLoss;
  /** The embedding tables at the time of writing. */
  embeddings: ReportEmbeddings;
  /** The attention of the samples shown (the first ones; see report_recorder.ts). */
  attention: SampleAttention[];
  /** The first sample's draws, for the temperature bars. */
  temperature?: ReportTemperature;
  /** The samples drawn, in order. */
  samples: string[];
  /** The loss summary the terminal prints on stderr, or "". */
  lossSummary: string;
}

/** Refuses data whose parts disagree, naming the first disagreement (a bug of the caller). */
export function checkReport(r: RunReport): void {
  const V = r.data.chars.length + 1;
  const s = r.settings;
  const problems: string[] = [];
  if (r.embeddings.wte.length !== V) problems.push(`wte has ${r.embeddings.wte.length} rows`);
  if (r.embeddings.wpe.length !== s.blockSize) {
    problems.push(`wpe has ${r.embeddings.wpe.length} rows for a block of ${s.blockSize}`);
  }
  if (r.tokens.ids.some((id) => !(id >= 0 && id < V))) problems.push("a token id is out of range");
  for (const a of r.attention) {
    if (a.weights.length !== s.nLayer || a.weights.some((l) => l.length !== s.nHead)) {
      problems.push(`sample ${a.sample + 1}'s attention is not ${s.nLayer} layers × ${s.nHead}`);
    }
  }
  for (const d of r.temperature?.draws ?? []) {
    if (d.logits.length !== V) problems.push(`a draw has ${d.logits.length} logits`);
  }
  if (problems.length > 0) {
    throw new Error(`renderReport: inconsistent report (vocabulary ${V}): ${problems[0]}`);
  }
}
