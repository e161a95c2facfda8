/**
 * The command line. Each of microgpt.py's constants is a flag. Every mistake gets one line on
 * stderr and an exit code — 2 for a wrong command line, 1 for anything else — never a stack trace.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type Config, DEFAULTS, Tokenizer } from "../microgpt.ts";
import { BYTES_PER_NODE } from "./engine.ts";
import { STDIN_PATHS } from "./files.ts";
import { MAX_SEED_DIGITS } from "./limits.ts";
import { describe, escapeControls, usageError } from "./messages.ts";

/** The text of `--help`, for the script `name`. */
export function usage(name: string): string {
  return `Usage: deno run [--allow-read] [--allow-write] ${name} [options]

Trains a tiny GPT on a list of documents (one per line) and invents new ones. For the same data,
seed and settings it prints exactly what Karpathy's microgpt.py prints.

Options (default in brackets):
  --input PATH        training text, one document per line; needs --allow-read; "-" reads
                      standard input [the bundled input.txt: 8,422 names]
  --seed N            random seed, integer >= 0, as Python's random.seed(N) [42]
  --steps N           training steps, integer >= 0; also sets the learning-rate decay [1000]
  --n-embd N          embedding width, integer >= 1, divisible by --n-head [16]
  --n-head N          attention heads, integer >= 1 [4]
  --n-layer N         transformer blocks, integer >= 1 [1]
  --block-size N      context length in tokens, integer >= 1; longer documents are cut [16]
  --lr X              peak learning rate, > 0; decays linearly towards 0 [0.01]
  --beta1 X           Adam's decay of the gradient's running mean, 0 <= X < 1 [0.85]
  --beta2 X           Adam's decay of the squared gradient's running mean, 0 <= X < 1 [0.99]
  --eps-adam X        Adam's epsilon, added to the denominator, > 0 [1e-8]
  --init-std X        deviation of the Gaussian that draws the initial weights, >= 0 [0.08]
  --temperature X     sampling temperature, >= 0; 0 always takes the likeliest token [0.5]
  --samples N         names to invent after training, integer >= 0 [20]
  --prefix TEXT       start every sample with TEXT (its characters must be in the vocabulary)
  --stream            train on the text as one stream of characters, a line break being a
                      token of its own: the documents are the stream's consecutive pieces of
                      --block-size characters, each read after BOS, in a shuffled order (a
                      last, shorter piece is left out). In a sample a line break shows as ↵,
                      and the sample goes on in the next line, indented.

Saving and long runs (both need --allow-read --allow-write):
  --save PATH         after training, write a checkpoint: the model, Adam's moments, the step,
                      the random state and every setting (JSON)
  --save-every N      with --save, also write it every N steps, so a crash loses at most N
  --resume PATH       continue a checkpoint exactly where it stopped: the same step lines and
                      samples as a run that never stopped. Settings come from the file; give
                      --input again if the run had one. Sampling flags may be given anew.
                      A checkpoint is refused if its checksum or any field does not hold.
  --load PATH         start from a saved model's weights (fresh Adam moments, step 1); shape
                      and vocabulary come from the file; --steps 0 only samples.
                      For --resume and --load, "-" reads the file from standard input.
  Ctrl-C (or SIGTERM, SIGHUP) stops after the current step, saves with --save, and prints the
  command that resumes; a second Ctrl-C quits at once.

Looking inside:
  --explain           before each character of the first sample, show the 5 likeliest
                      candidates at the temperature and at temperature 1, marking the one drawn
  --attention         after the first sample, draw each head's attention weights
  --embeddings        after the samples, draw the token embeddings on their two principal
                      components, and each vowel's nearest characters
  --holdout N         hold the last N documents (after the shuffle) out of training and report
                      their loss beside the training loss, on stderr, 10 times in the run
  --holdout P%        hold out the last P% of the text (whole lines, before any shuffle: the
                      same characters with or without --stream) and report bits per character
                      on stderr: every held-out character and line end scored once, in
                      windows of --block-size targets after BOS, 10 times in the run (a fixed
                      part at the first nine, all of it at the end if that costs at most ~5%
                      of training; the run says what it scored)
  --holdout-all       with --holdout P%, score all of the held-out text at the end, whatever
                      it costs
  --log PATH          write step, loss, learning rate (and held-out loss) as tab-separated
                      lines while training; needs --allow-read --allow-write
  --report PATH       write the run as one web page (HTML, works offline): the loss, the
                      attention, the embeddings, a temperature slider; rewritten at each tenth
                      of training so it can be watched; needs --allow-read --allow-write

Checking a port (see PORTING.md):
  --trace PATH        write the run's every quantity at full precision, as it goes (JSON Lines):
                      settings, initial weights, each step's loss and gradient and weight sums,
                      the samples' draws; compare two with tools/trace_diff.ts. Needs
                      --allow-read --allow-write
  --trace-detail K,…  with --trace, also trace the forward pass, stage by stage, of steps K,…
                      (counted from 1; the first step's always is)
  --gradcheck         check backward()'s gradient at the starting weights against finite
                      differences, on one document, print the verdict and exit (1 if wrong)
  -h, --help          show this help and exit

${COST_NOTE}`;
}

const COST_NOTE =
  `Cost per training step, from microgpt_bench.ts (2-core AMD EPYC, Deno 2.9.6; CPython runs
microgpt.py at ~170 ms): at the defaults, microgpt.ts ~3 ms and microgpt_fast.ts ~0.06 ms; at
--n-layer 4 --n-embd 64 --block-size 64 on long documents, microgpt_fast.ts ~16 ms in flat memory,
while microgpt.ts builds ~27 million graph nodes a step (~${BYTES_PER_NODE} bytes each), more
than its heap holds, and refuses. A graph step grows as T*L*(24*E^2 + 2*T*E) + 2*T*V*E nodes
(T tokens, L layers, E = n_embd, V = vocab size).
`;

/** What the command line asks for. */
export interface Options {
  /** The run's settings: the defaults, overridden by the flags. */
  cfg: Config;
  /** The flags given, by name (without "--"), for checks against a checkpoint. */
  given: Set<string>;
  /** Training text to read ("-" for standard input), or undefined for the bundled input.txt. */
  input?: string;
  /** Where to save the checkpoint. */
  save?: string;
  /** Save every this many steps as well. */
  saveEvery?: number;
  /** A saved model whose weights to start from. */
  load?: string;
  /** A checkpoint to continue. */
  resume?: string;
  /** Documents to hold out of training (--holdout N). */
  holdout: number;
  /** Percent of the text to hold out of training, at its end (--holdout P%); 0 for none. */
  holdoutPercent: number;
  /** With --holdout P%, score all of the held-out text at the end, whatever it costs. */
  holdoutAll: boolean;
  /** Train on the text as one stream of characters, line breaks included. */
  stream: boolean;
  /** Where to write the loss log. */
  log?: string;
  /** Where to write the run's web page. */
  report?: string;
  /** The arguments as given, for the page's command line. */
  args?: string[];
  /** Text every sample starts with. */
  prefix: string;
  /** Show the first sample's candidates at every draw. */
  explain: boolean;
  /** Draw the first sample's attention maps. */
  attention: boolean;
  /** Draw the token embeddings. */
  embeddings: boolean;
  /** Where to write the trace. */
  trace?: string;
  /** Steps (from 1) whose forward pass the trace holds, besides the first. */
  traceDetail: number[];
  /** Check the gradient and exit. */
  gradcheck: boolean;
  /** Print the usage and exit. */
  help: boolean;
}

const VALUE_FLAGS = [
  "input",
  "seed",
  "steps",
  "n-embd",
  "n-head",
  "n-layer",
  "block-size",
  "lr",
  "beta1",
  "beta2",
  "eps-adam",
  "init-std",
  "temperature",
  "samples",
  "prefix",
  "save",
  "save-every",
  "resume",
  "load",
  "holdout",
  "log",
  "trace",
  "trace-detail",
  "report",
] as const;
const SWITCHES = [
  "explain",
  "attention",
  "embeddings",
  "gradcheck",
  "stream",
  "holdout-all",
  "help",
] as const;

/** Spellings people bring from microgpt.py and elsewhere, and the flag they mean. */
const ALIASES: Record<string, string> = {
  num_steps: "steps",
  "num-steps": "steps",
  step: "steps",
  learning_rate: "lr",
  "learning-rate": "lr",
  temp: "temperature",
  num_samples: "samples",
  "num-samples": "samples",
  sample: "samples",
  n_samples: "samples",
  file: "input",
  data: "input",
  checkpoint: "resume",
  continue: "resume",
  std: "init-std",
};

/** " (did you mean --x?)" for an unknown flag name, or "". */
function suggestion(name: string): string {
  const known: string[] = [...VALUE_FLAGS, ...SWITCHES];
  const lower = name.toLowerCase();
  let meant = (Object.hasOwn(ALIASES, lower) ? ALIASES[lower] : undefined) ??
    (known.includes(lower.replaceAll("_", "-")) ? lower.replaceAll("_", "-") : undefined);
  if (meant === undefined) {
    const close = known.filter((k) =>
      editDistance(k, lower) <= 2 || (lower.length >= 3 && k.startsWith(lower))
    );
    if (close.length === 1) meant = close[0];
  }
  if (meant === undefined && /^(allow-|deny-|v8-flags|unstable|no-prompt|import-map)/.test(lower)) {
    return ` (a flag of Deno's: it goes before the script, as in deno run --${lower} microgpt.ts)`;
  }
  return meant === undefined ? "" : `; did you mean --${meant}?`;
}

/** Levenshtein distance, for suggestions. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row.push(
        Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)),
      );
    }
    prev = row;
  }
  return prev[b.length];
}

/** Parses the arguments (after the script name); throws a CliError with exit code 2. */
export function parseCommandLine(args: string[]): Options {
  const opts: Options = {
    cfg: { ...DEFAULTS },
    given: new Set(),
    holdout: 0,
    holdoutPercent: 0,
    holdoutAll: false,
    stream: false,
    prefix: "",
    explain: false,
    attention: false,
    embeddings: false,
    traceDetail: [],
    gradcheck: false,
    help: false,
    args: [...args],
  };
  // --help wins: asking how to use the tool is never an error.
  const asksHelp = (a: string) => a === "-h" || a === "--help" || a.startsWith("--help=");
  if (args.some(asksHelp)) return { ...opts, help: true };
  const values = parse(preScan(args));
  for (const name of Object.keys(values)) if (values[name] !== undefined) opts.given.add(name);
  readSettings(values, opts.cfg);
  readFiles(values, opts);
  crossCheck(values, opts);
  return opts;
}

/** The flags' values by name, as parseArgs gives them. */
type Values = Record<string, string | boolean | undefined>;

/** A value flag's text, if it was given. */
const textOf = (values: Values, name: string) => values[name] as string | undefined;

/** A whole-number flag's value (>= `min`), if it was given. */
function wholeOf(values: Values, name: string, min: number): number | undefined {
  const text = textOf(values, name);
  return text === undefined ? undefined : integer(name, text, min);
}

const isValueFlag = (name: string) => (VALUE_FLAGS as readonly string[]).includes(name);
const isSwitch = (name: string) => (SWITCHES as readonly string[]).includes(name);

/** Looks at the line before the parser does, to say what was meant where the parser would only
 * say "unknown", and joins a negative number to its flag. Returns the line to parse. */
function preScan(args: string[]): string[] {
  const line = [...args];
  for (let i = 0; i < line.length; i++) {
    const arg = line[i];
    if (arg === "--") break;
    if (arg.startsWith("--")) {
      const name = arg.slice(2).split("=")[0];
      if (!isValueFlag(name) && !isSwitch(name)) {
        throw usageError(`unknown option --${escapeControls(name)}${suggestion(name)}`);
      }
      const next = line[i + 1];
      const takesValue = isValueFlag(name) && !arg.includes("=");
      if (takesValue && next !== undefined && /^-(\d|\.\d)/.test(next)) {
        // "--temperature -0.5": a negative number is a value, to be refused as such.
        line.splice(i, 2, `${arg}=${next}`);
      } else if (takesValue && next !== undefined && next.startsWith("-") && next !== "-") {
        throw usageError(
          `--${name} needs a value; write --${name}=${escapeControls(next)} for one that ` +
            `starts with "-"`,
        );
      }
    } else if (/^-[A-Za-z][A-Za-z_-]+/.test(arg)) {
      const name = arg.slice(1).split("=")[0];
      throw usageError(
        `unknown option ${escapeControls(arg.split("=")[0])}` +
          (isValueFlag(name) || isSwitch(name)
            ? `; did you mean --${name}? (long options take two dashes)`
            : name.length >= 3
            ? suggestion(name)
            : " (see --help)"),
      );
    }
  }
  return line;
}

/** node:util's parseArgs over the line, its refusals turned into one line each. */
function parse(line: string[]): Values {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {};
  for (const name of VALUE_FLAGS) options[name] = { type: "string" };
  for (const name of SWITCHES) options[name] = { type: "boolean" };
  options.help.short = "h";
  try {
    return parseArgs({ args: line, strict: true, allowPositionals: false, options }).values;
  } catch (err) {
    throw usageError(describeParseError(err));
  }
}

/** microgpt.py's constants from their flags, each checked for what it can be. */
function readSettings(values: Values, cfg: Config): void {
  const text = (name: string) => textOf(values, name);
  const whole = (name: string, min: number) => wholeOf(values, name, min);
  const seed = text("seed");
  if (seed !== undefined) {
    if (!/^[0-9]+$/.test(seed)) {
      throw usageError(`--seed must be a whole number >= 0, not ${describe(seed)}`);
    }
    if (seed.length > MAX_SEED_DIGITS) {
      throw usageError(
        `--seed has ${seed.length} digits, too large: the limit is ${MAX_SEED_DIGITS}`,
      );
    }
    cfg.seed = BigInt(seed); // any size up to that, as Python's seeds
  }
  cfg.numSteps = whole("steps", 0) ?? cfg.numSteps;
  cfg.numSamples = whole("samples", 0) ?? cfg.numSamples;
  cfg.nEmbd = whole("n-embd", 1) ?? cfg.nEmbd;
  cfg.nHead = whole("n-head", 1) ?? cfg.nHead;
  cfg.nLayer = whole("n-layer", 1) ?? cfg.nLayer;
  cfg.blockSize = whole("block-size", 1) ?? cfg.blockSize;
  if (cfg.nEmbd % cfg.nHead !== 0) {
    throw usageError(`--n-embd ${cfg.nEmbd} must be divisible by --n-head ${cfg.nHead}`);
  }
  const lr = text("lr");
  if (lr !== undefined) cfg.learningRate = real("lr", lr, false);
  readAdam(values, cfg);
  const temperature = text("temperature");
  if (temperature !== undefined) {
    cfg.temperature = real("temperature", temperature, true);
    // Sampling divides by the temperature; past the smallest float whose reciprocal is finite
    // every probability would be NaN (and microgpt.py would die of OverflowError).
    if (cfg.temperature > 0 && !Number.isFinite(cfg.temperature ** -1)) {
      throw usageError(
        `--temperature ${temperature} is too small to divide by; 0 samples greedily`,
      );
    }
  }
}

/** Adam's constants and the initial weights' deviation, microgpt.py's other constants. */
function readAdam(values: Values, cfg: Config): void {
  for (const [name, key] of [["beta1", "beta1"], ["beta2", "beta2"]] as const) {
    const text = textOf(values, name);
    if (text === undefined) continue;
    const beta = real(name, text, true);
    // 1 would divide by zero in the bias correction, 1 − β^t.
    if (beta >= 1) throw usageError(`--${name} must be below 1, not ${text}`);
    cfg[key] = beta;
  }
  const eps = textOf(values, "eps-adam");
  if (eps !== undefined) cfg.epsAdam = real("eps-adam", eps, false);
  const std = textOf(values, "init-std");
  if (std !== undefined) cfg.initStd = real("init-std", std, true);
}

/** --holdout's value: a number of documents, or a share of the text ("10%"). */
function readHoldout(text: string | undefined, opts: Options): void {
  if (text === undefined || !text.endsWith("%")) {
    opts.holdout = text === undefined ? 0 : integer("holdout", text, 1, " or a share such as 10%");
    return;
  }
  const share = text.slice(0, -1);
  if (!/^([0-9]+\.?[0-9]*|\.[0-9]+)$/.test(share)) {
    throw usageError(
      `--holdout ${describe(text)}: a share of the text is a decimal number of percent, ` +
        `such as 10% or 2.5%`,
    );
  }
  const percent = Number(share);
  if (!(percent > 0 && percent < 100)) {
    throw usageError(
      `--holdout ${describe(text)}: a share of the text must be above 0% and below 100%`,
    );
  }
  opts.holdoutPercent = percent;
}

/** The tools' flags: files, the instruments, the prefix. */
function readFiles(values: Values, opts: Options): void {
  const text = (name: string) => textOf(values, name);
  const whole = (name: string, min: number) => wholeOf(values, name, min);
  opts.saveEvery = whole("save-every", 1);
  readHoldout(text("holdout"), opts);
  opts.holdoutAll = values["holdout-all"] === true;
  opts.stream = values.stream === true;
  opts.input = text("input");
  opts.save = text("save");
  opts.load = text("load");
  opts.resume = text("resume");
  opts.log = text("log");
  opts.report = text("report");
  opts.prefix = text("prefix") ?? "";
  opts.explain = values.explain === true;
  opts.attention = values.attention === true;
  opts.embeddings = values.embeddings === true;
  opts.trace = text("trace");
  opts.traceDetail = traceSteps(text("trace-detail"));
  opts.gradcheck = values.gradcheck === true;
}

/** `--trace-detail`'s steps: whole numbers >= 1, separated by commas. */
function traceSteps(text: string | undefined): number[] {
  if (text === undefined) return [];
  return text.split(",").map((part) => {
    if (!/^[0-9]+$/.test(part.trim()) || Number(part) < 1 || !Number.isSafeInteger(Number(part))) {
      throw usageError(
        `--trace-detail takes steps counted from 1, separated by commas (as 2,500,1000), ` +
          `not ${describe(text)}`,
      );
    }
    return Number(part);
  });
}

/** Flags that do not go together, and paths that cannot be meant. */
function crossCheck(values: Values, opts: Options): void {
  const text = (name: string) => textOf(values, name);
  if (opts.saveEvery !== undefined && opts.save === undefined) {
    throw usageError(`--save-every needs --save PATH: where to write the checkpoints`);
  }
  // A resumed run's holdout is its checkpoint's: prepare checks --holdout-all against it.
  if (opts.holdoutAll && opts.holdoutPercent === 0 && opts.resume === undefined) {
    throw usageError(`--holdout-all goes with --holdout P% (a share of the text, such as 10%)`);
  }
  if (opts.load !== undefined && opts.resume !== undefined) {
    throw usageError(
      `--load and --resume do not go together: --resume continues a run, ` +
        `--load starts a new one from saved weights`,
    );
  }
  if (opts.traceDetail.length > 0 && opts.trace === undefined) {
    throw usageError(`--trace-detail needs --trace PATH: where to write the trace`);
  }
  if (opts.gradcheck) {
    const given = [
      "save",
      "save-every",
      "log",
      "trace",
      "report",
      "explain",
      "attention",
      "embeddings",
    ].filter((f) => values[f] !== undefined);
    if (given.length > 0) {
      throw usageError(
        `--gradcheck checks the gradient and exits, training and sampling nothing: ` +
          `--${given[0]} does not go with it`,
      );
    }
  }
  for (const flag of ["input", "save", "load", "resume", "log", "trace", "report"]) {
    if (text(flag) === "") throw usageError(`--${flag} needs a path, not an empty string`);
  }
  const fromStdin = ["input", "load", "resume"].filter((f) => STDIN_PATHS.has(text(f) ?? ""));
  if (fromStdin.length > 1) {
    throw usageError(`--${fromStdin[0]} and --${fromStdin[1]} cannot both read standard input`);
  }
}

/** One line for what parseArgs rejected (its own messages can span lines). */
function describeParseError(err: unknown): string {
  const code = (err as { code?: string }).code;
  const message = (err as Error).message ?? String(err);
  const option = message.match(/'(-[^' ]*)/)?.[1] ?? "";
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    return `unknown option ${escapeControls(option)} (see --help)`;
  }
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
    const arg = message.match(/'([^']*)'/)?.[1] ?? "";
    return `unexpected argument ${describe(arg)}: every setting is a flag (see --help)`;
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    if (message.includes("ambiguous")) {
      return `${option} needs a value; write ${option}=VALUE for one that starts with "-"`;
    }
    if (message.includes("does not take an argument")) return `${option} takes no value`;
    return `${option} needs a value`;
  }
  return escapeControls(message.split("\n")[0]);
}

/** A whole-number flag value >= min; `or` names what else the flag takes. */
function integer(name: string, text: string, min: number, or = ""): number {
  if (!/^[0-9]+$/.test(text)) {
    throw usageError(`--${name} must be a whole number >= ${min}${or}, not ${describe(text)}`);
  }
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw usageError(`--${name} ${text} is too large`);
  if (n < min) throw usageError(`--${name} must be >= ${min}, not ${text}`);
  return n;
}

/** A finite number flag value, > 0 or (with `zeroOk`) >= 0. */
function real(name: string, text: string, zeroOk: boolean): number {
  const n = /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(n)) {
    throw usageError(`--${name} must be a finite number, not ${describe(text)}`);
  }
  if (zeroOk ? n < 0 : n <= 0) {
    throw usageError(`--${name} must be ${zeroOk ? ">=" : ">"} 0, not ${text}`);
  }
  return n;
}

/** Refuses a prefix the model cannot read, or one that leaves no position to sample. */
export function checkPrefix(prefix: string, tok: Tokenizer, blockSize: number): void {
  for (const ch of prefix) {
    if (tok.id(ch) === undefined) {
      throw usageError(`--prefix character ${describe(ch)} is not in the vocabulary`);
    }
  }
  const length = [...prefix].length;
  if (length >= blockSize) {
    throw usageError(
      `--prefix has ${length} characters, which fills the block size ${blockSize}: ` +
        `nothing would be left to sample`,
    );
  }
}
