/**
 * `--holdout P%`: a held-out figure that compares runs. The last P% of the text is kept out of
 * training, and the model's cross-entropy on it is reported in bits per character, over the same
 * characters whatever the mode (--stream or lines) and whatever the block size.
 *
 * The definition, exactly:
 *
 * - **What is held out.** The text's lines as microgpt reads them (stripped, empty ones dropped),
 *   in the file's order, before any shuffle. A line of n characters counts n + 1 units: its
 *   characters and its line end. The held-out lines are the last ones, from the first line that
 *   starts at or after (100 − P)% of all units; so at most P% is held out, and at least P% less
 *   one line. Nothing of them is trained on, in either mode.
 * - **What is scored.** Every held-out character and every line end, each exactly once. In line
 *   mode a line end is the BOS that ends the line's document; with --stream it is the "\n" token.
 *   The figure is the sum of their cross-entropies (−ln p of the true token), divided by their
 *   count, then by ln 2: bits per character.
 * - **Windows.** The targets are cut into consecutive windows of at most `blockSize`, in order:
 *   in line mode each line's targets (its characters, then its end) on their own; with --stream
 *   the held-out stream's targets, from its start. A window is read as training reads a
 *   document: BOS at position 0, then the window's targets but the last, and position i predicts
 *   target i. So a target's context is the targets before it in its window: the j-th target of a
 *   window (from 0) sees BOS and j characters. A line that fits the block (n + 1 ≤ blockSize) is
 *   scored exactly as training frames it; with --stream every full window is framed as a
 *   training piece is. Nothing overlaps and nothing is skipped, so two block sizes score the
 *   same characters, the same number of them.
 * - **Cost.** Scoring only runs the model forward. Ten times in a run (at every tenth of the
 *   steps, as --holdout N) it scores a fixed part, the held-out text's first lines (at least
 *   one), and at the end all of it. Both are sized by arithmetic from the run's settings, never
 *   from a clock, so that both engines and a resumed run print the same: scoring may cost about
 *   10% of what training costs, counting a scored target as 0.8 of a trained one (measured: 0.2
 *   to 0.6 in microgpt_fast.ts, up to 0.8 in microgpt.ts, whose forward pass builds the graph).
 *   Half of that goes to the nine fixed parts, half to the end; if all of the held-out text does
 *   not fit in its half, the part takes a tenth at each of the ten points, the end included, and
 *   the run says so, unless --holdout-all asks for all of it at the end.
 *
 * The scoring works window by window and polls `stop()` between windows, so a signal can cut it
 * short; each score is reported as a {@linkcode HeldOutScore}.
 *
 * @example Split a text and cut its held-out part into windows of 4
 * ```ts
 * import { splitText, windowsOf } from "./holdout.ts";
 * import { Tokenizer } from "../microgpt.ts";
 * const lines = ["to be or not", "to be", "that is"];
 * const { held } = splitText(lines, 30); // ["that is"]: 8 of 27 units
 * const tok = new Tokenizer([...lines, "\n"]);
 * console.log(windowsOf(held, tok, 4, true).map((w) => w.length - 1)); // [4, 4]: 8 targets
 * ```
 *
 * @module
 */

import { type Config, padInt, type Tokenizer } from "../microgpt.ts";
import type { Trainer } from "./engine.ts";
import { usageError } from "./messages.ts";

/** One held-out score: the seam the run's report and signals share. */
export interface HeldOutScore {
  /** Training steps done when it was scored. */
  step: number;
  /** Mean cross-entropy per scored unit, in nats: per character and line end (--holdout P%), or
   * per document (--holdout N). */
  nats: number;
  /** The same in bits per character (--holdout P% only). */
  bits?: number;
  /** How many units were scored: characters and line ends, or documents. */
  count: number;
}

/** What a run's held-out scoring does at a step: whether it is due, and the score with its line
 * for stderr (undefined if `stop` cut it short). `--holdout N`'s HeldOut fits it too. */
export interface HeldOutScorer {
  /** Whether the held-out text is scored after `step` (0-based). */
  due(step: number): boolean;
  /** The score after `step`, and its line; `losses` are the run's losses from step `from`. */
  score(
    trainer: Trainer,
    tok: Tokenizer,
    cfg: Config,
    step: number,
    losses: number[],
    from: number,
    stop: () => boolean,
  ): { loss: number; line: string; score?: HeldOutScore } | undefined;
}

/** The share of a run's cost the held-out scoring may take. */
const SHARE = 0.1;
/** What a scored target costs, at most, against a trained one: it runs the model forward only
 * (measured on this project's machine: 0.2–0.6 in microgpt_fast.ts; in microgpt.ts 0.25 at the
 * defaults and up to 0.8 at block 64, where building the graph is most of a step). */
const SCORE_COST = 0.8;

/** Units of a line: its characters (code points) and its line end. */
function unitsOf(line: string): number {
  let n = 1;
  for (const _ of line) n++;
  return n;
}

/** A text's lines split in two: the lines to train on, and the last P% held out. */
export interface HeldOutSplit {
  /** The lines trained on. */
  train: string[];
  /** The held-out lines: the text's last. */
  held: string[];
  /** Units (characters and line ends) held out. */
  heldUnits: number;
  /** Units in the whole text. */
  totalUnits: number;
}

/** Splits the lines at the first line that starts at or after (100 − percent)% of their units
 * (characters and line ends); refuses a split that holds out nothing. */
export function splitText(lines: string[], percent: number): HeldOutSplit {
  let totalUnits = 0;
  for (const line of lines) totalUnits += unitsOf(line);
  const cutAt = totalUnits * (1 - percent / 100);
  let start = 0;
  for (let k = 0; k < lines.length; k++) {
    if (start >= cutAt) {
      return {
        train: lines.slice(0, k),
        held: lines.slice(k),
        heldUnits: totalUnits - start,
        totalUnits,
      };
    }
    start += unitsOf(lines[k]);
  }
  throw usageError(
    `--holdout ${percent}% holds out no whole line: the text's last line starts before its ` +
      `last ${percent}% (${lines.length} lines, ${totalUnits} characters and line ends)`,
  );
}

/** The held-out lines' targets cut into windows of at most `blockSize`, each as the tokens a
 * trainer reads: BOS, then the window's targets (the last one is only predicted). Line mode cuts
 * each line's targets (its characters, then BOS for its end); `stream` cuts the targets of the
 * lines' stream ("\n" after each line). */
export function windowsOf(
  lines: string[],
  tok: Tokenizer,
  blockSize: number,
  stream: boolean,
): number[][] {
  const windows: number[][] = [];
  let window = [tok.bos];
  const add = (target: number) => {
    window.push(target);
    if (window.length === blockSize + 1) {
      windows.push(window);
      window = [tok.bos];
    }
  };
  const flush = () => {
    if (window.length > 1) windows.push(window);
    window = [tok.bos];
  };
  const newline = stream ? idOf(tok, "\n") : tok.bos;
  for (const line of lines) {
    for (const ch of line) add(idOf(tok, ch));
    add(newline);
    if (!stream) flush(); // a line's windows are its own
  }
  flush();
  return windows;
}

/** A character's token id; the vocabulary must have it (the text's own always does). */
function idOf(tok: Tokenizer, ch: string): number {
  const id = tok.id(ch);
  if (id === undefined) throw new Error(`character ${JSON.stringify(ch)} is not in the vocabulary`);
  return id;
}

/** The total cross-entropy of the windows' targets, in nats, polling `stop` between windows;
 * undefined if it stopped. */
export function scoreWindows(
  trainer: Pick<Trainer, "loss">,
  windows: number[][],
  stop: () => boolean,
): number | undefined {
  let sum = 0;
  for (const window of windows) {
    if (stop()) return undefined;
    // loss() is the mean over the window's targets; the total is that times their number.
    sum += trainer.loss(window) * (window.length - 1);
  }
  return sum;
}

/** The targets a run trains on in `numSteps` steps over `docs` in their training order (one
 * document a step, starting over after the last): min(blockSize, characters + 1) per document,
 * as microgpt frames it. With --stream every piece gives blockSize. */
export function trainedTargets(docs: string[], blockSize: number, numSteps: number): number {
  const per = docs.map((doc) => Math.min(blockSize, unitsOf(doc)));
  let all = 0;
  for (const n of per) all += n;
  let total = Math.floor(numSteps / docs.length) * all;
  for (let i = 0; i < numSteps % docs.length; i++) total += per[i];
  return total;
}

/** `--holdout P%`'s scoring over a run: a fixed part at the first nine of ten points, all of the
 * held-out text at the last if it fits the budget (or `all` asks for it). */
export class HeldOutText implements HeldOutScorer {
  /** Characters and line ends held out: what "all" scores. */
  readonly count: number;
  /** Characters and line ends of the fixed part: the held-out text's first lines. */
  readonly partCount: number;
  /** Lines in the fixed part. */
  readonly partLines: number;
  /** Whether the end scores all of the held-out text (else the part). */
  readonly endAll: boolean;
  #all: number[][];
  #part: number[][];
  #lines: number;
  #at = new Set<number>();
  #numSteps: number;
  #blockSize: number;
  #stretch = 0; // where, in the run's losses, the training stretch of the next line starts

  /** The scoring of `split`'s held-out lines in a run of `cfg` that trains on `trained`
   * targets; `all` scores all of them at the end whatever it costs. */
  constructor(
    split: HeldOutSplit,
    tok: Tokenizer,
    cfg: Config,
    stream: boolean,
    trained: number,
    all: boolean,
  ) {
    const held = split.held;
    this.#lines = held.length;
    this.#numSteps = cfg.numSteps;
    this.#blockSize = cfg.blockSize;
    this.count = split.heldUnits;
    const allowance = (SHARE * trained) / SCORE_COST;
    // All of it at the end if that fits in half the allowance, the part at the nine points
    // before; else the part at all ten.
    const endAll = all || this.count <= allowance / 2;
    const partBudget = endAll ? allowance / 2 / 9 : allowance / 10;
    let partLines = 1;
    let partCount = unitsOf(held[0]);
    while (partLines < held.length) {
      const more = unitsOf(held[partLines]);
      if (partCount + more > partBudget) break;
      partCount += more;
      partLines++;
    }
    this.partLines = partLines;
    this.partCount = partCount;
    this.#all = windowsOf(held, tok, cfg.blockSize, stream);
    this.#part = partLines === held.length
      ? this.#all
      : windowsOf(held.slice(0, partLines), tok, cfg.blockSize, stream);
    this.endAll = endAll || this.#part === this.#all;
    for (let k = 1; k <= 10; k++) this.#at.add(Math.ceil((k * cfg.numSteps) / 10));
  }

  /** The line for stderr, before training, that says what is held out and what will be scored. */
  describe(split: HeldOutSplit): string {
    const percent = (100 * this.count / split.totalUnits).toFixed(1);
    let what: string;
    if (this.#part === this.#all) what = `all of them at each of the 10 points`;
    else {
      const lines = this.partLines === 1 ? "line" : `${this.partLines} lines`;
      const part = `the first ${lines} (${this.partCount} characters and line ends)`;
      what = this.endAll
        ? `${part} at the first 9 points, all of them at the end`
        : `${part} at each of the 10 points: all ${this.count} would cost more than ~5% of ` +
          `this run (--holdout-all scores them at the end)`;
    }
    return `held out: the last ${this.#lines} lines, ${this.count} characters and line ends ` +
      `(${percent}% of the text), never trained on; scored in bits per character, in windows ` +
      `of up to ${this.#blockSize} targets after BOS: ${what}`;
  }

  /** Whether the held-out text is scored after `step` (0-based). */
  due(step: number): boolean {
    return this.#at.has(step + 1);
  }

  /** The held-out score after `step` and its line for stderr, beside the mean training loss
   * since the last line; undefined if `stop` cut the scoring short. */
  score(
    trainer: Trainer,
    _tok: Tokenizer,
    cfg: Config,
    step: number,
    losses: number[],
    from: number,
    stop: () => boolean,
  ): { loss: number; line: string; score: HeldOutScore } | undefined {
    const all = step + 1 === this.#numSteps ? this.endAll : this.#part === this.#all;
    const sum = scoreWindows(trainer, all ? this.#all : this.#part, stop);
    if (sum === undefined) return undefined;
    const count = all ? this.count : this.partCount;
    const nats = sum / count;
    const bits = nats / Math.LN2;
    const recent = losses.slice(this.#stretch);
    const mean = recent.reduce((a, b) => a + b, 0) / recent.length;
    const scored = all ? `all ${count}` : `the first ${count}`;
    const line = `step ${padInt(step + 1, 4)} / ${padInt(cfg.numSteps, 4)} | held-out ` +
      `${nats.toFixed(4)} nats = ${bits.toFixed(4)} bits per character, on ${scored} | ` +
      `training loss ${mean.toFixed(4)} nats over steps ${from + this.#stretch + 1}-${step + 1}`;
    this.#stretch = losses.length;
    return { loss: nats, line, score: { step: step + 1, nats, bits, count } };
  }
}
