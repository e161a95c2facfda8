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
import { hint, nameBeside } from "./trace_hints.ts";
import { type Header, readTrace, type Trace, TraceError } from "./trace_read.ts";

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

/** Header differences that make two traces incomparable: settings, vocabulary, documents. */
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

/** The steps both traces hold, in order. */
function commonSteps(a: Trace, b: Trace): number[] {
  return [...a.steps.keys()].filter((s) => b.steps.has(s)).sort((x, y) => x - y);
}

/** Whether the samples of two traces come after the same training. */
function samplesComparable(a: Trace, b: Trace): boolean {
  if (a.samples.length === 0 || b.samples.length === 0) return false;
  const sa = [...a.steps.keys()].sort((x, y) => x - y);
  const sb = [...b.steps.keys()].sort((x, y) => x - y);
  return JSON.stringify(sa) === JSON.stringify(sb);
}

/** What was compared, in one line. */
function scope(a: Trace, b: Trace, steps: number[]): string {
  const parts = ["header", "initial weights"];
  const counts = a.steps.size === b.steps.size ? "" : ` (A has ${a.steps.size}, B ${b.steps.size})`;
  parts.push(steps.length === 0 ? `no step in common${counts}` : `steps ${ranges(steps)}${counts}`);
  const detailed = steps.filter((s) => a.forward.has(s) && b.forward.has(s));
  if (detailed.length > 0) parts.push(`forward passes at steps ${ranges(detailed)}`);
  if (samplesComparable(a, b)) parts.push(`samples 1-${a.samples.length}`);
  else if (a.samples.length > 0 || b.samples.length > 0) {
    parts.push(
      a.samples.length === 0 || b.samples.length === 0
        ? "samples not compared (only one trace has them)"
        : "samples not compared (they follow different trainings)",
    );
  }
  return `compared: ${parts.join(", ")}`;
}

/** Relative differences as people read them: 2 significant digits. */
function showRel(rel: number): string {
  return rel === 0 ? "0" : rel.toExponential(1);
}

/** The lines that report a divergence. */
function divergenceLines(d: Divergence, a: Trace, b: Trace, tolerance: number, exact: boolean) {
  const lines = [`diverged at ${describe(d.q)}`];
  lines.push(`  A: ${d.a}  (${a.path}, ${a.header.engine})`);
  lines.push(`  B: ${d.b}  (${b.path}, ${b.header.engine})`);
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

/** Compares two traces. `tolerance` bounds the relative difference of two numbers that agree;
 * `exact` demands bit equality instead. */
export function diffTraces(
  a: Trace,
  b: Trace,
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
  const steps = commonSteps(a, b);
  try {
    const q: Quantity = { record: "header", key: "shuffle", kind: "data", what: "" };
    w.equal(
      { ...q, what: "the documents' order after the shuffle (SHA-256)" },
      a.header.data.shuffled_sha256,
      b.header.data.shuffled_sha256,
    );
    compareInit(w, a, b);
    for (const s of steps) compareStep(w, a, b, s);
    if (samplesComparable(a, b)) compareSamples(w, a, b);
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
  const compared = scope(a, b, steps);
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
        throw new TraceError(`--tolerance takes a number >= 0, not ${JSON.stringify(text)}`);
      }
    } else if (arg.startsWith("-") && arg !== "-") {
      throw new TraceError(`unknown option ${arg} (${USAGE})`);
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
export async function main(args: string[]): Promise<number> {
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
    const [a, b] = [await readTrace(opts.paths[0]), await readTrace(opts.paths[1])];
    const report = diffTraces(a, b, { tolerance: opts.tolerance, exact: opts.exact });
    const lines = opts.stats ? [...report.lines, ...statsLines(report)] : report.lines;
    console.log(lines.join("\n"));
    return report.exitCode;
  } catch (err) {
    if (!(err instanceof TraceError)) throw err;
    console.error(`error: ${err.message}`);
    return 2;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
