/**
 * The loss, in words and in a file: the summary on stderr after a run, and `--log`'s table.
 *
 * @module
 */

import { type Config, padInt, type Tokenizer } from "../microgpt.ts";
import type { Trainer } from "./engine.ts";
import { fileError } from "./files.ts";
import { checkWritePath, claimFile, type Guarded, type Purpose } from "./safe_save.ts";

const encoder = new TextEncoder();

const SPARKS = "▁▂▃▄▅▆▇█";

/** Three lines for stderr: the mean loss over the first and last 50 steps, what guessing would
 * score, and a sparkline of the mean loss over 20 equal windows of the run. `from` is the step
 * the losses start after: a resumed run has only its own, and says which steps they are. */
export function lossSummary(losses: number[], vocabSize: number, from = 0): string {
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const span = Math.min(50, losses.length);
  const first = mean(losses.slice(0, span));
  const last = mean(losses.slice(-span));
  const windows = Math.min(20, losses.length);
  const means: number[] = [];
  for (let w = 0; w < windows; w++) {
    const from = Math.floor((w * losses.length) / windows);
    const to = Math.floor(((w + 1) * losses.length) / windows);
    means.push(mean(losses.slice(from, to)));
  }
  const lo = Math.min(...means);
  const hi = Math.max(...means);
  let line = "";
  for (const m of means) {
    line += SPARKS[hi > lo ? Math.round(((m - lo) / (hi - lo)) * (SPARKS.length - 1)) : 0];
  }
  const steps = (a: number, b: number) => `steps ${from + a + 1}-${from + b}`;
  const head = from === 0
    ? `loss: mean ${first.toFixed(4)} over the first ${span} steps, ` +
      `${last.toFixed(4)} over the last ${span}`
    : `loss (resumed after step ${from}): mean ${first.toFixed(4)} over ` +
      `${steps(0, span)}, ${last.toFixed(4)} over ${steps(losses.length - span, losses.length)}`;
  return `${head}\n` +
    `baseline: a uniform guess over ${vocabSize} tokens scores ln ${vocabSize} = ` +
    `${Math.log(vocabSize).toFixed(2)}\n` +
    `loss over ${windows} windows of ${from === 0 ? "the run" : steps(0, losses.length)}: ` +
    `${line} (${hi.toFixed(2)} high, ${lo.toFixed(2)} low)`;
}

/** A loss log: a header, then one tab-separated row per step, written as training goes so that
 * a long run can be plotted before it ends. On a resume, rows past the checkpoint's step (from a
 * run that went on after its last save) are dropped, so the log reads as one run. A failed write
 * (a full disk) does not stop training: the log is given up and the run's last line says so. */
export class LossLog {
  #file: Deno.FsFile;
  /** Why the log was given up, if it was. */
  failure?: string;
  /** The first line of every log: the columns. */
  static readonly HEADER = "step\tloss\tlearning_rate\theld_out_loss";

  /** Starts the log in `file`, claimed by {@linkcode claimLog} (`path` names it in messages); on
   * a resume (`from` > 0) it keeps the rows up to step `from`. */
  constructor(file: Deno.FsFile, readonly path: string, from: number) {
    this.#file = file;
    let keep = "";
    if (from > 0) {
      const lines = readAllText(file).split("\n");
      if (lines[0] === LossLog.HEADER) {
        keep = lines.slice(1).filter((l) => l !== "" && Number(l.split("\t")[0]) <= from)
          .map((l) => l + "\n").join("");
      }
    }
    try {
      file.truncateSync(0);
      file.seekSync(0, Deno.SeekMode.Start);
      this.#write(LossLog.HEADER + "\n" + keep);
    } catch (err) {
      throw fileError("write the log", path, err);
    }
  }

  #write(text: string): void {
    const bytes = encoder.encode(text);
    let done = 0;
    while (done < bytes.length) done += this.#file.writeSync(bytes.subarray(done));
  }

  /** One step's row; numbers at full precision, so the log holds exactly what was computed. */
  row(step: number, loss: number, lr: number, heldOut?: number): void {
    if (this.failure !== undefined) return;
    try {
      this.#write(`${step + 1}\t${loss}\t${lr}\t${heldOut ?? ""}\n`);
    } catch (err) {
      this.failure = fileError("write the log", this.path, err).message;
    }
  }

  /** Closes the file, which ends the claim. */
  close(): void {
    this.#file.close();
  }
}

/** The text of an open file from its start ("" if it cannot be read: the log starts afresh). */
function readAllText(file: Deno.FsFile): string {
  try {
    file.seekSync(0, Deno.SeekMode.Start);
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(1 << 16);
    for (let n = file.readSync(buf); n !== null; n = file.readSync(buf)) {
      chunks.push(buf.slice(0, n));
    }
    return new TextDecoder().decode(concat(chunks));
  } catch {
    return "";
  }
}

/** Byte arrays joined. */
function concat(chunks: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return all;
}

/** What --log's messages call the log. */
const LOG_PURPOSE: Purpose = {
  flag: "--log",
  action: "write the log",
  doing: "writing",
  kind: { what: "a loss log", is: (head) => head.split("\n")[0] === LossLog.HEADER },
};

/** Checks, before anything is printed, that the log can be written where asked: the same checks
 * as a save's (links, /proc, FIFOs, devices, a missing directory, the files it must never
 * replace). Returns where it writes (a link's target). */
export function checkLogPath(path: string, keep: Guarded[]): string {
  return checkWritePath(path, LOG_PURPOSE, keep);
}

/** Opens the log at `target` for this run alone, before anything is printed (see
 * {@linkcode claimFile}): a second run asking for the same log is refused. */
export function claimLog(target: string, path: string): { file: Deno.FsFile; warning?: string } {
  return claimFile(target, path, LOG_PURPOSE);
}

/** `--holdout N`: the last N documents after the shuffle, never trained on, scored ten times in
 * the run (at every tenth of the steps) beside the mean training loss of the stretch since the
 * last score. */
export class HeldOut {
  /** The held-out documents. */
  readonly docs: string[];
  #at = new Set<number>();
  #stretch = 0; // where, in the run's losses, the training stretch of the next line starts

  /** Held-out scoring of `docs` over a run of `numSteps` steps (none if `docs` is empty). */
  constructor(docs: string[], numSteps: number) {
    this.docs = docs;
    if (docs.length === 0) return;
    for (let k = 1; k <= 10; k++) this.#at.add(Math.ceil((k * numSteps) / 10));
  }

  /** Whether the held-out documents are scored after `step` (0-based). */
  due(step: number): boolean {
    return this.#at.has(step + 1);
  }

  /** The mean loss over the held-out documents, and the line for stderr that sets it beside the
   * training loss since the last line. `losses` are this run's losses so far, from step `from`.
   * `stop` is asked between documents: once it holds (a signal), the scoring is abandoned and
   * undefined returned, so that a long evaluation never keeps a run from stopping. */
  score(
    trainer: Trainer,
    tok: Tokenizer,
    cfg: Config,
    step: number,
    losses: number[],
    from: number,
    stop: () => boolean = () => false,
  ): { loss: number; line: string } | undefined {
    let sum = 0;
    for (const doc of this.docs) {
      if (stop()) return undefined;
      sum += trainer.loss(tok.encode(doc, cfg.blockSize));
    }
    const loss = sum / this.docs.length;
    const recent = losses.slice(this.#stretch);
    const mean = recent.reduce((a, b) => a + b, 0) / recent.length;
    const line = `step ${padInt(step + 1, 4)} / ${padInt(cfg.numSteps, 4)} | held-out loss ` +
      `${loss.toFixed(4)} on ${this.docs.length} documents | training loss ` +
      `${mean.toFixed(4)} over steps ${from + this.#stretch + 1}-${step + 1}`;
    this.#stretch = losses.length;
    return { loss, line };
  }
}
