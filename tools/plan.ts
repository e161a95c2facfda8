/**
 * The first phase of a run: everything that can fail is read and checked before the first line
 * is printed — the text, a file to resume or load (against the command line and the text), the
 * files a save, a log, a trace and a page will write (against each other and the files they must
 * never replace), sizes, the prefix — and the log and the trace are claimed for this run. What it
 * settles is the run's {@linkcode Plan}, which tools/run.ts carries out.
 *
 * @module
 */

import { type Config, Tokenizer } from "../microgpt.ts";
import { CHECKPOINT_KIND, fingerprint, readModel, type SavedModel } from "./checkpoint.ts";
import type { Engine } from "./engine.ts";
import { readDocs } from "./files.ts";
import { checkPrefix, type Options } from "./flags.ts";
import { type HeldOutSplit, splitText } from "./holdout.ts";
import { checkSize } from "./limits.ts";
import { checkLogPath, claimLog } from "./loss.ts";
import { shown, usageError } from "./messages.ts";
import { checkReportPath } from "./report_file.ts";
import { loadFor, resumeFor } from "./resume.ts";
import { checkSavePath, claimFile, type Guarded, readFile, trainingText } from "./safe_save.ts";
import { trainingDocs } from "./stream.ts";
import { checkTracePath, TRACE_PURPOSE } from "./trace_file.ts";

/** What a run has settled before its first line: the settings and text, and the files. */
export interface Plan {
  /** The command line. */
  opts: Options;
  /** The engine that computes. */
  engine: Engine;
  /** The run's settings: the command line's, or a checkpoint's. */
  cfg: Config;
  /** The training text's documents, in the file's order. */
  allDocs: string[];
  /** The documents the run shuffles and trains on, in the file's order: the lines (less those
   * --holdout P% keeps), or with --stream the pieces of their stream. */
  docs: string[];
  /** Whether the text is one stream of characters (--stream). */
  stream: boolean;
  /** --holdout P%'s share, 0 without it. */
  holdoutPercent: number;
  /** --holdout P%'s split of the text's lines. */
  split?: HeldOutSplit;
  /** The vocabulary: the text's, or a saved file's. */
  tok: Tokenizer;
  /** Documents held out of training (the last ones after the shuffle). */
  holdout: number;
  /** The text every sample starts with. */
  prefix: string;
  /** A --resume file, read and checked. */
  resumed?: SavedModel;
  /** A --load file, read and checked. */
  loaded?: SavedModel;
  /** Where the checkpoint is written (a link's target), if --save was given. */
  saveTo?: string;
  /** Where the --report page is written (a link's target), if --report was given. */
  reportTo?: string;
  /** The training text's fingerprint, for checkpoints ("" without --save). */
  textSha256: string;
  /** The --log file, opened and claimed for this run. */
  logFile?: Deno.FsFile;
  /** The --trace file, opened and claimed for this run. */
  traceFile?: Deno.FsFile;
  /** Lines for stderr before the header (a checkpoint without a checksum, a log not locked). */
  warnings: string[];
}

/** Reads and checks everything a run depends on, before anything is printed or trained. */
export async function prepare(opts: Options, engine: Engine): Promise<Plan> {
  const allDocs = readDocs(opts.input);
  const resumed = opts.resume === undefined
    ? undefined
    : readModel(opts.resume, "--resume", opts.cfg);
  const loaded = opts.load === undefined ? undefined : readModel(opts.load, "--load", opts.cfg);
  const cp = resumed?.checkpoint;
  const stream = cp !== undefined ? cp.stream === true : opts.stream;
  // With --stream the line break is a character of the text: the vocabulary must have it.
  const chars = stream ? [...allDocs, "\n"] : allDocs;
  let cfg = opts.cfg;
  if (resumed !== undefined) cfg = await resumeFor(resumed, opts, allDocs);
  if (loaded !== undefined) cfg = loadFor(loaded, opts, chars);
  const holdout = cp?.holdout ?? opts.holdout;
  const holdoutPercent = cp !== undefined ? cp.holdoutPercent ?? 0 : opts.holdoutPercent;
  if (opts.holdoutAll && holdoutPercent === 0) {
    throw usageError(
      `--holdout-all goes with --holdout P% (a share of the text, such as 10%), and ` +
        `${shown(opts.resume!)} holds out ${
          cp!.holdout > 0 ? `${cp!.holdout} documents` : "nothing"
        }`,
    );
  }
  const prefix = cp !== undefined && !opts.given.has("prefix") ? cp.prefix : opts.prefix;
  const tok = resumed?.tok ?? loaded?.tok ?? new Tokenizer(chars);
  const split = holdoutPercent > 0 ? splitText(allDocs, holdoutPercent) : undefined;
  const docs = trainingDocs(split?.train ?? allDocs, stream, cfg.blockSize);
  if (holdout >= docs.length) {
    const has = stream ? `the stream has ${docs.length} pieces` : `the text has ${docs.length}`;
    throw usageError(`--holdout ${holdout} leaves no document to train on (${has})`);
  }
  const { saveTo, logTo, traceTo, reportTo } = checkOutputFiles(opts);
  checkSize(engine, cfg, tok.vocabSize, docs);
  checkPrefix(prefix, tok, cfg.blockSize);
  const late = opts.traceDetail.find((k) => k > cfg.numSteps);
  if (late !== undefined) {
    throw usageError(`--trace-detail ${late} is past the run's last step, ${cfg.numSteps}`);
  }
  const textSha256 = saveTo !== undefined ? await fingerprint(allDocs) : "";
  const warnings: string[] = [];
  if (resumed?.checksum === "none") {
    warnings.push(
      `warning: ${shown(opts.resume!)} was saved before checkpoints had a checksum: a change to ` +
        `it cannot be detected; the next save adds one`,
    );
  }
  // Last, once nothing else can refuse the run: the log and the trace are claimed (and created)
  // for this run.
  const claim = logTo === undefined ? undefined : claimLog(logTo, opts.log!);
  if (claim?.warning !== undefined) warnings.push(claim.warning);
  const traced = traceTo === undefined ? undefined : claimFile(traceTo, opts.trace!, TRACE_PURPOSE);
  if (traced?.warning !== undefined) warnings.push(traced.warning);
  return {
    opts,
    engine,
    cfg,
    allDocs,
    docs,
    stream,
    holdoutPercent,
    split,
    tok,
    holdout,
    prefix,
    resumed,
    loaded,
    saveTo,
    reportTo,
    textSha256,
    logFile: claim?.file,
    traceFile: traced?.file,
    warnings,
  };
}

/** Checks the files a run writes (--save, --log, --trace, --report) against what they must never
 * replace: the training text, and each other. Returns where the save, the log and the report
 * write. */
function checkOutputFiles(
  opts: Options,
): { saveTo?: string; logTo?: string; traceTo?: string; reportTo?: string } {
  const text = trainingText(opts.input);
  const logFile: Guarded[] = opts.log === undefined
    ? []
    : [{ what: "the --log file", path: opts.log }];
  const traceFile: Guarded[] = opts.trace === undefined
    ? []
    : [{ what: "the --trace file", path: opts.trace }];
  const reportFile: Guarded[] = opts.report === undefined
    ? []
    : [{ what: "the --report file", path: opts.report }];
  const saveTo = opts.save === undefined ? undefined : checkSavePath(
    opts.save,
    "--save",
    [text, ...logFile, ...traceFile, ...reportFile],
    CHECKPOINT_KIND,
  );
  const files: Guarded[] = [text];
  if (saveTo !== undefined) files.push({ what: "the --save file", path: saveTo });
  if (opts.resume !== undefined) files.push(readFile(opts.resume, "the --resume file"));
  if (opts.load !== undefined) files.push(readFile(opts.load, "the --load file"));
  const logTo = opts.log === undefined
    ? undefined
    : checkLogPath(opts.log, [...files, ...traceFile, ...reportFile]);
  const traceTo = opts.trace === undefined
    ? undefined
    : checkTracePath(opts.trace, [...files, ...logFile, ...reportFile], opts.resume !== undefined);
  const reportTo = opts.report === undefined
    ? undefined
    : checkReportPath(opts.report, [...files, ...logFile, ...traceFile]);
  return { saveTo, logTo, traceTo, reportTo };
}
