/**
 * `--report PATH`: the run's page on disk. A {@linkcode ReportFile} listens to a run (tools/run.ts
 * calls it from its phases), gathers the page's data with a {@linkcode ReportRecorder}, and writes
 * the page the way a checkpoint is written (tools/safe_save.ts: a temporary file renamed into
 * place, so a reader never sees half a page):
 *
 * - once before the first step, so the page can be opened as soon as the run starts;
 * - at each tenth of the steps, the points where `--holdout` scores, with or without `--holdout`:
 *   a long run's page can be watched (while training, the page reloads itself every 10 s);
 * - when a signal stops the run, with what it has done;
 * - at the end, with the samples.
 *
 * Whoever watches the page sees it change ten times, however long the run: often enough to follow
 * it, rarely enough to cost nothing (a write is about 0.1 MB). A write that fails (a full disk)
 * does not stop training: the run goes on, tries again at the next point, and its last line names
 * the failure (exit code 1), as `--log` does.
 *
 * Recording changes nothing the run prints or draws: the page holds the same numbers for either
 * engine; only the engine's name and the times differ.
 *
 * @example Where a run with --report is refused before training
 * ```ts
 * import { checkReportPath } from "./report_file.ts";
 * checkReportPath("run.html", []); // throws a CliError for "-", a directory, no permission
 * ```
 *
 * @module
 */

import type { Config, SampleWatch, Tokenizer } from "../microgpt.ts";
import { type Engine, matrixShapes, type Trainer } from "./engine.ts";
import { STDIN_PATHS } from "./files.ts";
import type { Options } from "./flags.ts";
import type { HeldOutSplit } from "./holdout.ts";
import { lossSummary } from "./loss.ts";
import { CliError, shown, usageError } from "./messages.ts";
import { renderReport } from "./report.ts";
import type { HeldOutPoint, RunReport } from "./report_data.ts";
import { ReportRecorder } from "./report_recorder.ts";
import { scriptPath, shellWord } from "./resume.ts";
import { checkWritePath, type Guarded, type Purpose, saveText } from "./safe_save.ts";

/** What --report's messages call the page; the only file it replaces is a page of a run. */
const PAGE_PURPOSE: Purpose = {
  flag: "--report",
  action: "write the page",
  doing: "writing",
  kind: { what: "a microgpt run's page", is: (head) => head.includes("<title>microgpt run") },
};

/** The one adapter between the held-out scoring and the page: the score that tools/loss.ts's
 * `HeldOut.score` returned after 0-based `step`, over `count` documents, as the page's point. */
export function heldOutPoint(step: number, scored: { loss: number }, count: number): HeldOutPoint {
  return { step: step + 1, nats: scored.loss, count };
}

/** What a run holds out, in words, for the page; undefined when nothing is. */
export function heldOutWords(holdout: number, split?: HeldOutSplit): string | undefined {
  if (split !== undefined) {
    const share = (100 * split.heldUnits / split.totalUnits).toFixed(1);
    return `the last ${split.held.length.toLocaleString("en-US")} lines of the text (` +
      `${split.heldUnits.toLocaleString("en-US")} characters and line ends, ${share}%)`;
  }
  return holdout > 0 ? `${holdout.toLocaleString("en-US")} documents` : undefined;
}

/** Checks, before training, that the page can be written at `path` and would replace none of
 * `keep` (the training text, a checkpoint, the log); returns where it writes (a link's target). */
export function checkReportPath(path: string, keep: Guarded[]): string {
  if (STDIN_PATHS.has(path)) {
    throw usageError(`--report writes a file: name one (./- for a file called "-")`);
  }
  return checkWritePath(path, PAGE_PURPOSE, keep);
}

/** The command that runs this run again, as one shell line: Deno with the permissions the
 * report needs, the script, and the arguments exactly as given. */
export function commandLine(engine: Engine, args: string[]): string {
  const words = ["deno", "run", "--allow-read", "--allow-write", scriptPath(engine), ...args];
  return words.map(shellWord).join(" ");
}

/** Where the training text came from, in words. */
export function sourceOf(input: string | undefined): string {
  if (input === undefined) return "input.txt (bundled)";
  return STDIN_PATHS.has(input) ? "standard input" : input;
}

/** The steps (1-based) after which the page is rewritten: each tenth of the run, as `--holdout`
 * scores. */
export function tenths(numSteps: number): Set<number> {
  const at = new Set<number>();
  for (let k = 1; k <= 10 && numSteps > 0; k++) at.add(Math.ceil((k * numSteps) / 10));
  return at;
}

/** What a run hands its page when it starts. */
export interface ReportSetup {
  /** Where the page is written (checked by {@linkcode checkReportPath}). */
  target: string;
  /** The path as the user gave it, for messages. */
  path: string;
  /** The engine that computes. */
  engine: Engine;
  /** The command line. */
  opts: Options;
  /** The run's settings. */
  cfg: Config;
  /** The vocabulary. */
  tok: Tokenizer;
  /** Every document, after the shuffle, the held-out ones last. */
  docs: string[];
  /** How many documents are held out (--holdout N). */
  holdout: number;
  /** --holdout P%'s split of the text's lines, if it was given. */
  split?: HeldOutSplit;
  /** The text every sample starts with. */
  prefix: string;
  /** The step the run starts from (a resumed run's). */
  from: number;
  /** The model: its weights go on the page at each write. */
  trainer: Trainer;
  /** Hears the temporary file of a write in progress (for a second Ctrl-C to remove). */
  onTemp?: (tmp: string | null) => void;
}

/** The run's page: recorded as the run goes, written at the points the module describes. */
export class ReportFile {
  #setup: ReportSetup;
  #recorder: ReportRecorder;
  #started = performance.now();
  #due: Set<number>;
  /** Why a write failed, if one did (the first failure). */
  failure?: string;
  /** The size of the last page written, in bytes. */
  bytes = 0;

  /** Starts recording the run of `setup`, and writes the page of its start. */
  constructor(setup: ReportSetup) {
    this.#setup = setup;
    const { cfg, tok, docs, holdout, engine, opts } = setup;
    const first = docs[0] ?? "";
    this.#recorder = new ReportRecorder({
      engine: engine.name,
      command: commandLine(engine, opts.args ?? []),
      settings: cfg,
      prefix: setup.prefix,
      matrices: matrixShapes(cfg, tok.vocabSize),
      data: {
        source: sourceOf(opts.input),
        numDocs: docs.length,
        heldOut: holdout,
        heldOutWhat: heldOutWords(holdout, setup.split),
        chars: tok.chars,
      },
      tokens: { doc: first, ids: tok.encode(first, cfg.blockSize) },
      firstStep: setup.from,
    });
    this.#due = tenths(cfg.numSteps);
    this.write("training");
  }

  /** Hears 0-based step `step`'s loss, and the held-out score made after it, if one was; at a
   * tenth of the run, rewrites the page. */
  step(step: number, loss: number, heldOut?: HeldOutPoint): void {
    this.#recorder.step(loss);
    if (heldOut !== undefined) this.#recorder.heldOutScore(heldOut);
    if (this.#due.has(step + 1)) this.write("training");
  }

  /** Eyes on sample `i` beside `other`'s (the run's own instruments): both see every draw. */
  watchFor(i: number, other: SampleWatch): SampleWatch {
    const mine = this.#recorder.watchFor(i);
    if (mine.onDraw === undefined && mine.onAttention === undefined) return other;
    return {
      onDraw: (draw) => {
        other.onDraw?.(draw);
        mine.onDraw?.(draw);
      },
      onAttention: (pos, li, h, w) => {
        other.onAttention?.(pos, li, h, w);
        mine.onAttention?.(pos, li, h, w);
      },
    };
  }

  /** Hears sample `i`'s text (prefix included), as printed. */
  sampled(i: number, text: string): void {
    this.#recorder.sampled(i, text);
  }

  /** The page's data as of now. */
  report(status: RunReport["status"]): RunReport {
    const losses = this.#recorder.losses;
    const summary = losses.length > 0
      ? lossSummary(losses, this.#setup.tok.vocabSize, this.#setup.from)
      : "";
    const elapsed = performance.now() - this.#started;
    return this.#recorder.report(status, elapsed, this.#setup.trainer.weights(), summary);
  }

  /** Writes the page as of now; returns whether it was written (a failure is kept, see
   * {@linkcode ReportFile.failure}). */
  write(status: RunReport["status"]): boolean {
    const { target, path, onTemp } = this.#setup;
    const html = renderReport(this.report(status));
    try {
      saveText(target, path, html, onTemp);
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      this.failure ??= err.message.replace(/^cannot save to /, "cannot write the report ");
      return false;
    }
    this.bytes = new TextEncoder().encode(html).length;
    return true;
  }

  /** Writes the page of a run stopped by a signal; returns the error line if a write of the
   * page has failed. */
  stopped(): string | undefined {
    this.write("stopped");
    return this.failure === undefined ? undefined : `error: ${this.failure}`;
  }

  /** Writes the finished run's page; returns the line for stderr that says where it is, or
   * undefined if it could not be written. */
  finish(): string | undefined {
    if (!this.write("finished")) return undefined;
    return `report: ${shown(this.#setup.path)} (${this.bytes.toLocaleString("en-US")} bytes); ` +
      `open it in a browser`;
  }
}
