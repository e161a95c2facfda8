/**
 * trace_diff.ts — compares two traces and names the first quantity where they part.
 *
 * Two runs of the same algorithm on the same settings and data make the same numbers, up to the
 * last bits that different math libraries round differently. The differ walks two traces in the
 * order the computation makes their numbers — the header, the initial weights, then per step the
 * forward pass (position by position, stage by stage), the loss, the gradients in the order
 * backward() reaches them, the learning rate and the weights after the update, and at the end the
 * samples — and stops at the first one that differs by more than the tolerance. It names it, shows
 * both values and names what lies between the last quantity that agrees and this one: where to
 * look for the bug.
 *
 * @example Compare a port's trace with microgpt.py's
 * ```sh
 * python3 tools/trace_microgpt.py microgpt.py --trace py.jsonl --steps 20
 * deno run --allow-read tools/trace_diff.ts port.jsonl py.jsonl
 * ```
 *
 * Exit codes: 0 identical or within the tolerance, 1 diverged (or set up differently), 2 an
 * unreadable input.
 *
 * The traces are read in step, one step of each at a time, never whole: a trace of any length can
 * be compared (a long run's is larger than the longest string JavaScript holds), in memory that
 * does not grow with it. A last line cut short (a writer killed mid-line, a full disk) is left out,
 * and the line saying what was compared says so.
 *
 * @module
 */

import {
  compareInit,
  compareSamples,
  compareStep,
  describe,
  Divergence,
  type Quantity,
  type Stats,
  Walker,
} from "./trace_compare.ts";
import { escapeControls, shown } from "./messages.ts";
import { hint, nameBeside } from "./trace_hints.ts";
import {
  type Header,
  openTrace,
  type SampleRecord,
  type Trace,
  TraceError,
  type TraceReader,
  type TraceSource,
  traceSource,
} from "./trace_read.ts";

/** The default tolerance on the relative difference of two numbers. Chosen by measurement: over
 * microgpt.py's whole default run (1000 steps, forward passes traced at steps 1, 2, 100, 500 and
 * 1000), Part I of microgpt.ts and microgpt.py differ by at most 1.9e-14 (a q at step 1000; losses
 * 7.2e-16, gradient sums 1.7e-14, samples 2.9e-15) — V8's exp, log, cos, sin and `**` round a last
 * bit differently from glibc's now and then, and the run carries it on — while the classic porting
 * bugs differ by 2e-4 or more where they first show (RMSNorm's eps, the smallest). 1e-9 stands
 * about 5·10^4 above the one and 2·10^5 below the other: ports that only sum in another order
 * agree, wrong algorithms do not. */
export const DEFAULT_TOLERANCE = 1e-9;

/** What a comparison found, and the lines that say it. */
export interface DiffReport {
  /** 0: identical or within the tolerance; 1: diverged or set up differently. */
  exitCode: 0 | 1;
  /** "identical", "within", "diverged" or "setup". */
  verdict: "identical" | "within" | "diverged" | "setup";
  /** The report, line by line. */
  lines: string[];
  /** The largest relative difference per kind of quantity, among those that agreed. */
  stats: Stats;
  /** The kinds of quantity compared. */
  kinds: Set<string>;
  /** Where the traces part, if they do. */
  divergence?: Divergence;
}

/** A header's data setup, in words: "10 documents", "10%", "none". */
function heldOut(h: Header): string {
  return /^[0-9]+$/.test(h.holdout) ? `${h.holdout} documents` : h.holdout;
}

/** Header differences that make two traces incomparable: settings, vocabulary, documents, and
 * the data setup (a part held out of training, the text read as a stream). */
export function setupDifferences(a: Header, b: Header): string[] {
  const out: string[] = [];
  const keys = new Set([...Object.keys(a.settings), ...Object.keys(b.settings)]);
  for (const k of keys) {
    const va = a.settings[k];
    const vb = b.settings[k];
    if (!Object.is(va, vb) && String(va) !== String(vb)) {
      out.push(`settings.${k}: A ${va ?? "(none)"}, B ${vb ?? "(none)"}`);
    }
  }
  if (JSON.stringify(a.vocab) !== JSON.stringify(b.vocab) || a.bos !== b.bos) {
    out.push(
      `vocab: A ${JSON.stringify(a.vocab.join(""))} (BOS ${a.bos}), B ` +
        `${JSON.stringify(b.vocab.join(""))} (BOS ${b.bos})`,
    );
  }
  for (const k of ["vocab_size", "num_docs", "docs_sha256"]) {
    if (a.data[k] !== b.data[k]) out.push(`${k}: A ${a.data[k]}, B ${b.data[k]}`);
  }
  if (a.holdout !== b.holdout) out.push(`holdout: A ${heldOut(a)}, B ${heldOut(b)}`);
  if (a.stream !== b.stream) {
    const read = (h: Header) => h.stream ? "one stream of characters (--stream)" : "lines";
    out.push(`the text read as: A ${read(a)}, B ${read(b)}`);
  }
  return out;
}

/** Steps as ranges, counted from 1: "1-20, 500". */
function ranges(steps: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < steps.length; i++) {
    let j = i;
    while (j + 1 < steps.length && steps[j + 1] === steps[j] + 1) j++;
    parts.push(j === i ? `${steps[i] + 1}` : `${steps[i] + 1}-${steps[j] + 1}`);
    i = j;
  }
  return parts.join(", ");
}

/** What the walk over two traces' steps saw. */
interface Walked {
  /** The steps both hold, in order. */
  common: number[];
  /** Those both traced in detail. */
  detailed: number[];
  /** How many steps each holds. */
  countA: number;
  countB: number;
  /** The samples of each. */
  samplesA: SampleRecord[];
  samplesB: SampleRecord[];
}

/** Whether the samples of two traces come after the same training. */
function samplesComparable(walked: Walked): boolean {
  const { samplesA, samplesB, countA, countB, common } = walked;
  if (samplesA.length === 0 || samplesB.length === 0) return false;
  return countA === common.length && countB === common.length;
}

/** How many samples to compare when a trace was cut short, and holds fewer: the samples both
 * have. Undefined when the number of samples is itself compared. */
function samplesUpTo(a: TraceSource, b: TraceSource, walked: Walked): number | undefined {
  const [na, nb] = [walked.samplesA.length, walked.samplesB.length];
  if ((na < nb && a.cut !== undefined) || (nb < na && b.cut !== undefined)) {
    return Math.min(na, nb);
  }
  return undefined;
}

/** What was compared, in one line. */
function scope(a: TraceSource, b: TraceSource, walked: Walked): string {
  const { common, detailed, countA, countB, samplesA, samplesB } = walked;
  const parts = ["header", "initial weights"];
  const counts = countA === countB ? "" : ` (A has ${countA}, B ${countB})`;
  parts.push(
    common.length === 0 ? `no step in common${counts}` : `steps ${ranges(common)}${counts}`,
  );
  if (detailed.length > 0) parts.push(`forward passes at steps ${ranges(detailed)}`);
  if (samplesComparable(walked)) {
    const upTo = samplesUpTo(a, b, walked);
    parts.push(
      upTo === undefined
        ? `samples 1-${samplesA.length}`
        : upTo === 0
        ? `no sample in common (A has ${samplesA.length}, B ${samplesB.length})`
        : `samples 1-${upTo} (A has ${samplesA.length}, B ${samplesB.length})`,
    );
  } else if (samplesA.length > 0 || samplesB.length > 0) {
    parts.push(
      samplesA.length === 0 || samplesB.length === 0
        ? "samples not compared (only one trace has them)"
        : "samples not compared (they follow different trainings)",
    );
  }
  return `compared: ${parts.join(", ")}${leftOut(a.cut, b.cut)}`;
}

/** The end of the "compared:" line when a trace's last line was cut short, and left out. */
function leftOut(a: number | undefined, b: number | undefined): string {
  if (a !== undefined && b !== undefined) {
    return `; left out: A's last line (line ${a}) and B's (line ${b}), cut short (their ` +
      `writers stopped mid-line)`;
  }
  if (a === undefined && b === undefined) return "";
  const [which, line] = a !== undefined ? ["A", a] : ["B", b];
  return `; left out: ${which}'s last line (line ${line}), cut short (its writer stopped mid-line)`;
}

/** Walks the steps of both traces in step: those both hold are compared, the others counted.
 * Throws a Divergence at the first quantity that differs. */
function walkSteps(w: Walker, a: TraceSource, b: TraceSource, walked: Walked): void {
  const names = a.init.map((r) => r.matrix);
  let ga = a.nextStep();
  let gb = b.nextStep();
  while (ga !== undefined || gb !== undefined) {
    if (gb === undefined || (ga !== undefined && ga.step.step < gb.step.step)) {
      walked.countA++;
      ga = a.nextStep();
    } else if (ga === undefined || gb.step.step < ga.step.step) {
      walked.countB++;
      gb = b.nextStep();
    } else {
      compareStep(w, names, ga, gb);
      walked.countA++;
      walked.countB++;
      walked.common.push(ga.step.step);
      if (ga.forward !== undefined && gb.forward !== undefined) {
        walked.detailed.push(ga.step.step);
      }
      ga = a.nextStep();
      gb = b.nextStep();
    }
  }
}

/** Relative differences as people read them: 2 significant digits. */
function showRel(rel: number): string {
  return rel === 0 ? "0" : rel.toExponential(1);
}

/** The lines that report a divergence. */
function divergenceLines(
  d: Divergence,
  a: TraceSource,
  b: TraceSource,
  tolerance: number,
  exact: boolean,
) {
  const lines = [`diverged at ${describe(d.q)}`];
  lines.push(`  A: ${d.a}  (${shown(a.path)}, ${escapeControls(a.header.engine)})`);
  lines.push(`  B: ${d.b}  (${shown(b.path)}, ${escapeControls(b.header.engine)})`);
  if (d.rel !== undefined) {
    const bound = exact ? "--exact demands bit equality" : `tolerance ${tolerance}`;
    lines.push(`  relative difference ${showRel(d.rel)} (${bound})`);
  }
  const look = hint(d.q, d.previous);
  if (d.previous === undefined) {
    lines.push(`  the first quantity compared differs: look at ${look}`);
  } else {
    lines.push(
      `  everything agrees up to ${nameBeside(d.previous, d.q)} and parts at ` +
        `${nameBeside(d.q, d.previous)}: look between them — ${look}`,
    );
  }
  if (d.note !== "") lines.push(`  ${d.note}`);
  return lines;
}

/** Compares two traces read whole. `tolerance` bounds the relative difference of two numbers
 * that agree; `exact` demands bit equality instead. */
export function diffTraces(
  a: Trace,
  b: Trace,
  options: { tolerance?: number; exact?: boolean } = {},
): DiffReport {
  return diffSources(traceSource(a), traceSource(b), options);
}

/** Compares two traces step by step as they are read (files of any length: {@linkcode openTrace}).
 * Throws a TraceError for a record that cannot be read, as far as the walk reads. */
export function diffSources(
  a: TraceSource,
  b: TraceSource,
  options: { tolerance?: number; exact?: boolean } = {},
): DiffReport {
  const tolerance = options.tolerance ?? DEFAULT_TOLERANCE;
  const exact = options.exact ?? false;
  const w = new Walker(tolerance, exact);
  const setup = setupDifferences(a.header, b.header);
  if (setup.length > 0) {
    const lines = [
      "setup differs: the traces are not of the same settings and data, so their " +
      "numbers cannot be compared (not a divergence of the algorithm)",
    ];
    for (const line of setup) lines.push(`  ${line}`);
    return { exitCode: 1, verdict: "setup", lines, stats: w.stats, kinds: w.kinds };
  }
  const walked: Walked = {
    common: [],
    detailed: [],
    countA: 0,
    countB: 0,
    samplesA: [],
    samplesB: [],
  };
  try {
    const q: Quantity = { record: "header", key: "shuffle", kind: "data", what: "" };
    w.equal(
      { ...q, what: "the documents' order after the shuffle (SHA-256)" },
      a.header.data.shuffled_sha256,
      b.header.data.shuffled_sha256,
    );
    compareInit(w, a, b);
    walkSteps(w, a, b, walked);
    walked.samplesA = a.samples();
    walked.samplesB = b.samples();
    if (samplesComparable(walked)) {
      compareSamples(
        w,
        { header: a.header, samples: walked.samplesA },
        { header: b.header, samples: walked.samplesB },
        samplesUpTo(a, b, walked),
      );
    }
  } catch (err) {
    if (!(err instanceof Divergence)) throw err;
    const lines = divergenceLines(err, a, b, tolerance, exact);
    return {
      exitCode: 1,
      verdict: "diverged",
      lines,
      stats: w.stats,
      kinds: w.kinds,
      divergence: err,
    };
  }
  const compared = scope(a, b, walked);
  if (w.identical) {
    return {
      exitCode: 0,
      verdict: "identical",
      lines: ["identical", compared],
      stats: w.stats,
      kinds: w.kinds,
    };
  }
  const { rel, q } = w.largest!;
  const lines = [
    `agree within ${tolerance} (largest relative difference ${showRel(rel)}, at ${describe(q)})`,
    compared,
  ];
  return { exitCode: 0, verdict: "within", lines, stats: w.stats, kinds: w.kinds };
}

/** The --stats table: the largest relative difference per kind of quantity. */
export function statsLines(report: DiffReport): string[] {
  const lines = ["largest relative difference by kind of quantity:"];
  for (const kind of ["init", "forward", "loss", "grad", "lr", "weights", "samples"]) {
    if (!report.kinds.has(kind)) continue;
    const s = report.stats.get(kind);
    lines.push(
      `  ${kind.padEnd(8)} ${
        s === undefined ? "0 (bit-equal)" : `${showRel(s.rel)}  at ${describe(s.q)}`
      }`,
    );
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// The command line

const USAGE = "usage: deno run --allow-read tools/trace_diff.ts A B [--tolerance T] [--exact] " +
  "[--stats]";

/** Parses the arguments: the two paths and the options. Throws TraceError on bad arguments. */
function parseArgs(args: string[]) {
  const paths: string[] = [];
  let tolerance: number | undefined;
  let exact = false;
  let stats = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const [flag, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    if (flag === "--help" || flag === "-h") return undefined;
    if (flag === "--exact") exact = true;
    else if (flag === "--stats") stats = true;
    else if (flag === "--tolerance") {
      const text = inline ?? args[++i];
      if (text === undefined) throw new TraceError(`--tolerance needs a value (${USAGE})`);
      tolerance = Number(text);
      if (text.trim() === "" || !Number.isFinite(tolerance) || tolerance < 0) {
        throw new TraceError(
          `--tolerance takes a number >= 0, not ${escapeControls(JSON.stringify(text))}`,
        );
      }
    } else if (arg.startsWith("-") && arg !== "-") {
      throw new TraceError(`unknown option ${shown(arg)} (${USAGE})`);
    } else paths.push(arg);
  }
  if (paths.length !== 2) throw new TraceError(`name two traces to compare (${USAGE})`);
  if (exact && tolerance !== undefined) {
    throw new TraceError("--exact and --tolerance exclude each other: choose one");
  }
  return { paths, tolerance, exact, stats };
}

/** The command: compares the traces `args` name and prints the verdict. Returns the exit code:
 * 0 identical or within the tolerance, 1 diverged, 2 unreadable input. */
export function main(args: string[]): number {
  try {
    const opts = parseArgs(args);
    if (opts === undefined) {
      console.log(
        `${USAGE}\n\nCompares two traces (tools/trace.ts, tools/trace_microgpt.py) and ` +
          `names the first quantity where they part.\n  --tolerance T  largest relative ` +
          `difference that agrees (default ${DEFAULT_TOLERANCE})\n  --exact        demand bit ` +
          `equality\n  --stats        also print the largest difference per kind of quantity`,
      );
      return 0;
    }
    const traces: TraceReader[] = [];
    try {
      for (const path of opts.paths) traces.push(openTrace(path));
      const [a, b] = traces;
      const report = diffSources(a, b, { tolerance: opts.tolerance, exact: opts.exact });
      const lines = opts.stats ? [...report.lines, ...statsLines(report)] : report.lines;
      console.log(lines.join("\n"));
      return report.exitCode;
    } finally {
      for (const trace of traces) trace.close();
    }
  } catch (err) {
    if (!(err instanceof TraceError)) throw err;
    console.error(`error: ${err.message}`);
    return 2;
  }
}

if (import.meta.main) Deno.exit(main(Deno.args));
