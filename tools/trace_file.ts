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
 * the checkpoint is refused. The file is read a line at a time up to the checkpoint's step, never
 * whole (a long run's trace is larger than a string can be), cut there, and appended to. Sampling
 * flags given anew (`--samples`, `--temperature`) are the header's from then on: it describes
 * the samples the file ends with.
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
import { CliError, escapeControls, isRecord, shown, usageError } from "./messages.ts";
import { checkWritePath, type Guarded, type Purpose } from "./safe_save.ts";
import {
  headerLine,
  type MatrixShape,
  TRACE_FORMAT,
  type TraceHeader,
  TraceWriter,
  type TrainWatch,
} from "./trace.ts";
import { type ByteSource, type Line, LineReader } from "./trace_lines.ts";

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

/** What a run resumed at step `from` keeps of the trace it continues, found by reading the file a
 * line at a time: its header, its initial matrices and the records of steps 0 … from−1, whole. */
export interface Continued {
  /** The header the continued trace starts with: this run's, with the first run's engine. */
  header: string;
  /** Whether that differs from the file's own header (sampling flags given anew). */
  newHeader: boolean;
  /** The byte offset where the file's header line ends, after its newline. */
  headerEnd: number;
  /** The byte offset where the records kept end. */
  keptEnd: number;
  /** Whether the last record kept lacks its newline (its writer stopped right before it). */
  unended: boolean;
  /** The steps, counted from 1, whose forward pass the records kept hold. */
  detailed: Set<number>;
}

/** A sampling setting of a header, as a number (a trace writes NaN and infinities as strings). */
function sampling(v: unknown): number | undefined {
  if (typeof v === "number") return v;
  const named: Record<string, number> = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity };
  return typeof v === "string" ? named[v] : undefined;
}

/** The first field where two header lines differ, in words: "settings.seed: 9, not 42". */
function headerDifference(theirs: Record<string, unknown>, ours: string): string {
  const mine = JSON.parse(ours) as Record<string, unknown>;
  const short = (v: unknown) => {
    const text = v === undefined ? "(none)" : escapeControls(JSON.stringify(v));
    return text.length <= 24 ? text : undefined;
  };
  const differs = (name: string, a: unknown, b: unknown) => {
    const [x, y] = [short(a), short(b)];
    return x === undefined || y === undefined ? name : `${name}: ${x}, not ${y}`;
  };
  for (const key of new Set([...Object.keys(mine), ...Object.keys(theirs)])) {
    const [a, b] = [theirs[key], mine[key]];
    if (key === "settings" && isRecord(a) && isRecord(b)) {
      for (const k of new Set([...Object.keys(b), ...Object.keys(a)])) {
        if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) {
          return differs(`settings.${k}`, a[k], b[k]);
        }
      }
    } else if (JSON.stringify(a) !== JSON.stringify(b)) return differs(key, a, b);
  }
  return "";
}

/** Checks the header of a trace a resumed run continues (`line`, the file's first) against this
 * run's, `ours`: the same but for the engine that wrote it and the sampling settings, which a
 * resume may give anew. Returns the header the continued trace starts with. */
function continuedHeader(path: string, line: string, ours: TraceHeader): string {
  let theirs: Record<string, unknown>;
  try {
    const parsed = JSON.parse(line);
    if (!isRecord(parsed)) throw new TypeError();
    theirs = parsed;
  } catch {
    throw notContinued(path, "does not start with a trace's header");
  }
  const engine = typeof theirs.engine === "string" ? theirs.engine : ours.engine;
  const settings = isRecord(theirs.settings) ? theirs.settings : {};
  const asTheirs = headerLine({
    ...ours,
    engine,
    settings: {
      ...ours.settings,
      temperature: sampling(settings.temperature) ?? ours.settings.temperature,
      numSamples: sampling(settings.num_samples) ?? ours.settings.numSamples,
    },
  });
  if (asTheirs !== line) {
    const field = headerDifference(theirs, asTheirs);
    throw notContinued(
      path,
      `is the trace of another run (its header differs from this run's${
        field === "" ? "" : ` in ${field}`
      })`,
    );
  }
  return headerLine({ ...ours, engine });
}

/** Reads, a line at a time from `source` (the file at its start), what a run resumed at step
 * `from` keeps of the trace at `path`; `ours` is this run's header and `shapes` its matrices.
 * Throws a CliError if the trace does not hold all of it. Reads no further than the first
 * record it does not keep. */
export function continuedTrace(
  path: string,
  source: ByteSource,
  ours: TraceHeader,
  from: number,
  shapes: readonly MatrixShape[],
): Continued {
  const lines = new LineReader(source);
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const read = (line: Line | undefined): { kind?: unknown; step?: unknown } | undefined => {
    if (line === undefined) return undefined;
    try {
      const r = JSON.parse(decoder.decode(line.bytes));
      return isRecord(r) ? r : undefined;
    } catch {
      return undefined; // the end, or a line cut short when the run was killed
    }
  };
  const first = lines.next();
  if (first === undefined || first.bytes.length === 0) throw notContinued(path, "is empty");
  let text: string;
  try {
    text = decoder.decode(first.bytes);
  } catch {
    throw notContinued(path, "does not start with a trace's header");
  }
  const header = continuedHeader(path, text, ours);
  const kept = { end: first.end, unended: !first.ended };
  const detailed = new Set<number>();
  let inits = 0;
  let steps = 0; // step records kept, which must be 0, 1, … in order
  for (let line = lines.next(); line !== undefined; line = lines.next()) {
    const r = read(line);
    if (r === undefined) break;
    const shape = shapes[inits];
    if (r.kind === "init" && steps === 0 && shape !== undefined) {
      const init = r as { matrix?: unknown; rows?: unknown; cols?: unknown };
      if (init.matrix !== shape[0] || init.rows !== shape[1] || init.cols !== shape[2]) break;
      inits++;
    } else if (r.kind === "step" && r.step === steps && steps < from && inits === shapes.length) {
      steps++;
    } else if (
      r.kind === "forward" && typeof r.step === "number" && r.step < from &&
      inits === shapes.length
    ) {
      detailed.add(r.step + 1);
    } else break;
    kept.end = line.end;
    kept.unended = !line.ended;
  }
  if (inits !== shapes.length || steps !== from) {
    throw notContinued(
      path,
      `holds ${steps} of the ${from} steps before the checkpoint` +
        (inits === shapes.length ? "" : ` and ${inits} of the ${shapes.length} initial matrices`),
    );
  }
  return {
    header,
    newHeader: header !== text,
    headerEnd: first.end,
    keptEnd: kept.end,
    unended: kept.unended,
    detailed,
  };
}

/** Refuses a --trace-detail step a resumed run does not make, unless the trace it continues
 * already holds that step's forward pass (the first run traced it: the command a stopped run
 * prints names the same steps). */
function checkDetail(
  path: string,
  detail: readonly number[],
  c: Continued,
  from: number,
  last: number,
) {
  const missing = detail.find((k) => k <= from && !c.detailed.has(k));
  if (missing === undefined) return;
  const starts = from < last
    ? `the resumed run starts at step ${from + 1}`
    : `the resumed run makes no step (its checkpoint is of step ${from}, the last)`;
  throw usageError(
    `--trace-detail ${missing}: ${starts}, and ${shown(path)} holds no forward pass of step ` +
      `${missing}` + (from < last ? `; name steps from ${from + 1} on` : ""),
  );
}

/** Reads `length` bytes at `at`. */
function readAt(file: Deno.FsFile, at: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  file.seekSync(at, Deno.SeekMode.Start);
  let done = 0;
  while (done < length) {
    const n = file.readSync(bytes.subarray(done));
    if (n === null) throw new Error("the file ended early");
    done += n;
  }
  return bytes;
}

/** Writes `bytes` at `at`. */
function writeAt(file: Deno.FsFile, at: number, bytes: Uint8Array): void {
  file.seekSync(at, Deno.SeekMode.Start);
  let done = 0;
  while (done < bytes.length) done += file.writeSync(bytes.subarray(done));
}

/** Gives the continued trace its new header: the records kept move to make room for it (or to
 * close up after it), a chunk at a time, from the end when they move right. Returns where the
 * records kept now end. In place, not through a new file renamed over it: the file is this run's
 * by the lock it holds on it, which a renamed file would not carry. */
function replaceHeader(file: Deno.FsFile, c: Continued): number {
  const head = encoder.encode(c.header + "\n");
  const shift = head.length - c.headerEnd;
  const chunk = 1 << 20;
  if (shift > 0) {
    for (let end = c.keptEnd; end > c.headerEnd;) {
      const start = Math.max(c.headerEnd, end - chunk);
      writeAt(file, start + shift, readAt(file, start, end - start));
      end = start;
    }
  } else if (shift < 0) {
    for (let start = c.headerEnd; start < c.keptEnd;) {
      const end = Math.min(c.keptEnd, start + chunk);
      writeAt(file, start + shift, readAt(file, start, end - start));
      start = end;
    }
  }
  writeAt(file, 0, head);
  return c.keptEnd + shift;
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
   * before the checkpoint. Throws a CliError if the file cannot be written or continued (and
   * closes it). */
  open(start: TraceStart): void {
    this.#start = start;
    const { cfg, tok } = start;
    const header: TraceHeader = {
      engine: start.engine,
      settings: cfg,
      chars: tok.chars,
      docs: start.allDocs,
      shuffledDocs: start.docs,
      holdout: start.setup?.holdout,
      holdoutPercent: start.setup?.holdoutPercent,
      stream: start.setup?.stream,
    };
    this.#writer.header(header);
    const shapes = matrixShapes(cfg, tok.vocabSize);
    this.#writer.init(shapes, start.weights);
    const lines = this.#lines!;
    this.#lines = undefined;
    try {
      if (start.from > 0) this.#continue(header, shapes);
      else {
        this.#file!.truncateSync(0); // only now: the claim is held
        this.#file!.seekSync(0, Deno.SeekMode.Start);
        this.#write(lines.join("\n"));
      }
    } catch (err) {
      this.close();
      if (err instanceof CliError) throw err;
      throw fileError("write the trace", this.path, err);
    }
    this.#grads = new Float64Array(start.weights.length);
    this.#weights = new Float64Array(start.weights.length);
  }

  /** Continues the trace of the run resumed: cut after the records kept, appended to from there. */
  #continue(header: TraceHeader, shapes: readonly MatrixShape[]): void {
    const file = this.#file!;
    const { from, cfg } = this.#start!;
    let c: Continued;
    try {
      file.seekSync(0, Deno.SeekMode.Start);
      c = continuedTrace(this.path, file, header, from, shapes);
    } catch (err) {
      if (err instanceof CliError) throw err;
      throw fileError("read the trace", this.path, err);
    }
    checkDetail(this.path, this.detail, c, from, cfg.numSteps);
    const end = c.newHeader ? replaceHeader(file, c) : c.keptEnd;
    file.truncateSync(end);
    file.seekSync(end, Deno.SeekMode.Start);
    if (c.unended) writeAt(file, end, encoder.encode("\n"));
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
