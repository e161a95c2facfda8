/**
 * `--trace PATH`: a run's trace (tools/trace.ts) written to a file as the run goes — the header
 * and the initial weights when it starts, a record per step as each ends (with the forward pass of
 * the steps `--trace-detail` names), a record per sample — so that a run stopped midway leaves a
 * trace of every step it finished. The file is checked before anything runs, as --save's and
 * --log's are: it never replaces the training text, a checkpoint, the log, or a file that is not a
 * trace. A failed write (a full disk) does not stop the run: the trace is given up and the run's
 * last line says so.
 *
 * A resumed run continues the trace of the run it resumes: the records of the steps before the
 * checkpoint are kept, those after it (from a run that went on after its last save) and the
 * samples dropped, and the run appends its own; stopped by a signal and resumed, a run leaves the
 * trace of a run that never stopped, byte for byte. A file that does not hold that trace up to
 * the checkpoint is refused.
 *
 * @example What run.ts does with a trace, in short
 * ```ts
 * import { RunTrace } from "./trace_file.ts";
 * const trace = new RunTrace("run.jsonl", [500]);
 * // begin: trace.open({ ... }); train: trainer.train(docs, tok, onStep, from, trace.watch),
 * // with trace.step(step, loss) in onStep; sample: trace.draw(draw), trace.sample(i, text)
 * trace.close();
 * ```
 *
 * @module
 */

import type { Config, Draw, Tokenizer } from "../microgpt.ts";
import { matrixShapes } from "./engine.ts";
import { fileError } from "./files.ts";
import { CliError, shown } from "./messages.ts";
import { checkWritePath, type Guarded, type Purpose } from "./safe_save.ts";
import { TRACE_FORMAT, TraceWriter, type TrainWatch } from "./trace.ts";

const encoder = new TextEncoder();

/** The first line of a file (up to 16 MiB), or undefined if it cannot be read. */
function firstLine(path: string): string | undefined {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch {
    return undefined;
  }
  try {
    const chunks: Uint8Array[] = [];
    let size = 0;
    while (size < 1 << 24) {
      const buf = new Uint8Array(1 << 16);
      const n = file.readSync(buf);
      if (n === null) break;
      const end = buf.subarray(0, n).indexOf(10);
      chunks.push(buf.subarray(0, end < 0 ? n : end));
      size += n;
      if (end >= 0) break;
    }
    const all = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.length;
    }
    return new TextDecoder().decode(all);
  } catch {
    return undefined;
  } finally {
    file.close();
  }
}

/** Whether a file may be replaced by a trace: it is empty, or it starts with a trace's header. */
function isTraceOrEmpty(path: string): boolean {
  if (Deno.statSync(path).size === 0) return true;
  const line = firstLine(path);
  if (line === undefined) return false;
  try {
    const r = JSON.parse(line);
    return r !== null && typeof r === "object" && r.kind === "header" && r.format === TRACE_FORMAT;
  } catch {
    return false;
  }
}

/** What --trace's messages call the trace. */
export const TRACE_PURPOSE: Purpose = {
  flag: "--trace",
  action: "write the trace",
  doing: "writing",
};

/** Checks, before the run, that `path` can take the trace: every check a save and a log get
 * (links, /proc, FIFOs, devices, a missing directory, the files in `keep` it must never
 * replace), and then that it replaces no file but a trace. A resumed run (`resuming`) needs the
 * trace its first run wrote. Returns where it writes (a link's target). */
export function checkTracePath(path: string, keep: Guarded[], resuming: boolean): string {
  const target = checkWritePath(path, TRACE_PURPOSE, keep);
  let exists = true;
  try {
    Deno.statSync(target);
  } catch {
    exists = false;
  }
  if (exists && !isTraceOrEmpty(target)) {
    throw new CliError(`--trace ${shown(path)} exists and is not a trace: not replacing it`, 1);
  }
  if (!exists && resuming) throw notContinued(path, "does not exist");
  return target;
}

/** Why a resumed run cannot continue a trace. */
function notContinued(path: string, why: string): CliError {
  return new CliError(
    `--trace ${shown(path)} ${why}: a resumed run continues the trace of the run it ` +
      `resumes (written with --trace from its first step); name that file, or leave --trace out`,
    1,
  );
}

/** The part of an earlier trace that a run resumed at step `from` keeps: its header (which must
 * be `header`, but for the engine that wrote it), its `matrices` init records, and the records of
 * steps 0 … from−1, whole. Throws a CliError if the trace does not hold all of that. */
export function keptForResume(
  path: string,
  text: string,
  header: string,
  engine: string,
  from: number,
  matrices: number,
): string {
  const lines = text.split("\n");
  let theirs: unknown;
  try {
    theirs = JSON.parse(lines[0]).engine;
  } catch {
    throw notContinued(path, "is empty");
  }
  const ours = `"engine":${JSON.stringify(engine)},`;
  if (header.replace(ours, `"engine":${JSON.stringify(theirs)},`) !== lines[0]) {
    throw notContinued(path, "is the trace of another run (its header differs from this run's)");
  }
  const kept = [lines[0]];
  let inits = 0;
  let steps = 0; // step records kept, which must be 0, 1, … in order
  for (const line of lines.slice(1)) {
    let r: { kind?: unknown; step?: unknown };
    try {
      r = JSON.parse(line);
    } catch {
      break; // the end, or a line cut short when the run was killed
    }
    if (r.kind === "init" && steps === 0) inits++;
    else if (r.kind === "step" && r.step === steps && steps < from) steps++;
    else if (r.kind !== "forward" || typeof r.step !== "number" || r.step >= from) break;
    kept.push(line);
  }
  if (inits !== matrices || steps !== from) {
    throw notContinued(
      path,
      `holds ${steps} of the ${from} steps before the checkpoint` +
        (inits === matrices ? "" : ` and ${inits} of the ${matrices} initial matrices`),
    );
  }
  return kept.join("\n") + "\n";
}

/** What a trace's start needs to know about the run. */
export interface TraceStart {
  /** The engine's name. */
  engine: string;
  /** The run's settings. */
  cfg: Config;
  /** The vocabulary. */
  tok: Tokenizer;
  /** The documents in the file's order. */
  allDocs: string[];
  /** The documents after the shuffle. */
  docs: string[];
  /** The documents trained on (the shuffled ones, without the held-out ones). */
  trainDocs: string[];
  /** The weights the run starts from. */
  weights: Float64Array;
  /** The step the run starts from (a checkpoint's on --resume). */
  from: number;
  /** The data setup, when it is not microgpt.py's (a part held out, a stream). */
  setup?: DataSetup;
}

/** A run's data setup, as a trace's header records it. */
export interface DataSetup {
  /** Documents held out of training (--holdout N); 0 for none. */
  holdout: number;
  /** The share of the text held out (--holdout P%); 0 for none. */
  holdoutPercent: number;
  /** Whether the text is one stream of characters (--stream). */
  stream: boolean;
}

/** A run's trace file. */
export class RunTrace {
  /** Why the trace was given up, if it was. */
  failure?: string;
  /** The steps (from 1) whose forward pass is traced besides the first. */
  readonly detail: readonly number[];
  #file?: Deno.FsFile;
  #writer: TraceWriter;
  #lines: string[] | undefined = [];
  #start?: TraceStart;
  #grads = new Float64Array(0);
  #weights = new Float64Array(0);
  #lr = NaN;
  #drawn: number[] = [];
  #probs: number[] = [];

  /** A trace into `file` (`path` checked with {@linkcode checkTracePath} and the file claimed with
   * claimFile), detailed at `detail`. */
  constructor(readonly path: string, detail: readonly number[], file: Deno.FsFile) {
    this.detail = detail;
    this.#file = file;
    this.#writer = new TraceWriter((line) => this.#write(line), detail);
  }

  #write(line: string): void {
    if (this.#lines !== undefined) {
      this.#lines.push(line);
      return;
    }
    if (this.failure !== undefined || this.#file === undefined) return;
    try {
      const bytes = encoder.encode(line + "\n");
      let done = 0;
      while (done < bytes.length) done += this.#file.writeSync(bytes.subarray(done));
    } catch (err) {
      this.failure = fileError("write the trace", this.path, err).message;
    }
  }

  /** Starts the trace: the header and the initial weights, or on a resume the trace of the steps
   * before the checkpoint. Throws a CliError if the file cannot be written or continued. */
  open(start: TraceStart): void {
    this.#start = start;
    const { cfg, tok } = start;
    this.#writer.header({
      engine: start.engine,
      settings: cfg,
      chars: tok.chars,
      docs: start.allDocs,
      shuffledDocs: start.docs,
      holdout: start.setup?.holdout,
      holdoutPercent: start.setup?.holdoutPercent,
      stream: start.setup?.stream,
    });
    const shapes = matrixShapes(cfg, tok.vocabSize);
    this.#writer.init(shapes, start.weights);
    const lines = this.#lines!;
    let text = lines.join("\n") + "\n";
    if (start.from > 0) {
      let old: string;
      try {
        old = Deno.readTextFileSync(this.path);
      } catch (err) {
        throw fileError("read the trace", this.path, err);
      }
      text = keptForResume(this.path, old, lines[0], start.engine, start.from, shapes.length);
    }
    try {
      this.#file!.truncateSync(0); // only now: the claim is held, and the old text read
      this.#file!.seekSync(0, Deno.SeekMode.Start);
    } catch (err) {
      throw fileError("write the trace", this.path, err);
    }
    this.#lines = undefined;
    this.#write(text.slice(0, -1));
    this.#grads = new Float64Array(start.weights.length);
    this.#weights = new Float64Array(start.weights.length);
  }

  /** The eyes a training loop gets: the forward pass of the detailed steps, each step's gradients
   * and its weights after the update. */
  readonly watch: TrainWatch = {
    forwardOf: (step) => this.#writer.observerFor(step),
    afterBackward: (_step, grads) => this.#grads.set(grads),
    afterUpdate: (_step, lr, weights) => {
      this.#lr = lr;
      this.#weights.set(weights);
    },
  };

  /** Writes step `step`'s record, once it has ended with `loss`. */
  step(step: number, loss: number): void {
    const { trainDocs, tok, cfg } = this.#start!;
    const doc = step % trainDocs.length;
    this.#writer.step({
      step,
      doc,
      tokens: tok.encode(trainDocs[doc], cfg.blockSize),
      lr: this.#lr,
      loss,
      grads: this.#grads,
      weights: this.#weights,
    });
  }

  /** Hears one draw of the sample being made. */
  draw(draw: Draw): void {
    this.#drawn.push(draw.drawn);
    this.#probs.push(draw.probs[draw.drawn]);
  }

  /** Writes sample `i`'s record: its draws so far, and its text as printed. */
  sample(i: number, text: string): void {
    this.#writer.sample({ sample: i, tokens: this.#drawn, probs: this.#probs, text });
    this.#drawn = [];
    this.#probs = [];
  }

  /** Closes the file (again is harmless). */
  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }
}
