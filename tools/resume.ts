/**
 * `--resume` and `--load`: a saved file checked against the command line and the text before
 * anything runs, and the command that continues a stopped run.
 *
 * @module
 */

import { type Config, Tokenizer } from "../microgpt.ts";
import { fingerprint, type SavedModel } from "./checkpoint.ts";
import { type Engine } from "./engine.ts";
import { type Options } from "./flags.ts";
import { CliError, describe, escapeControls, shown } from "./messages.ts";
import { dirname } from "./safe_save.ts";

/** Checks a --resume file against the command line and the text; returns its settings with the
 * sampling flags given anew. */
export async function resumeFor(saved: SavedModel, opts: Options, docs: string[]): Promise<Config> {
  const path = shown(opts.resume!);
  const cp = saved.checkpoint;
  if (cp === undefined) {
    throw new CliError(
      `${path} does not record where its run stopped (a version 1 save): ` +
        `--load ${path} starts a new run from its weights`,
      1,
    );
  }
  const flags: [string, keyof Config][] = [
    ["n-embd", "nEmbd"],
    ["n-head", "nHead"],
    ["n-layer", "nLayer"],
    ["block-size", "blockSize"],
    ["steps", "numSteps"],
    ["lr", "learningRate"],
    ["beta1", "beta1"],
    ["beta2", "beta2"],
    ["eps-adam", "epsAdam"],
    ["init-std", "initStd"],
    ["seed", "seed"],
  ];
  const contradiction = (flag: string, given: unknown, has: unknown) =>
    new CliError(
      `--${flag} ${given} contradicts ${path}, which was trained with --${flag} ` +
        `${has}; leave --${flag} out to resume`,
      1,
    );
  for (const [flag, key] of flags) {
    if (opts.given.has(flag) && opts.cfg[key] !== saved.config[key]) {
      throw contradiction(flag, opts.cfg[key], saved.config[key]);
    }
  }
  if (opts.given.has("holdout")) {
    const held = (n: number, percent?: number) => percent ? `${percent}%` : String(n);
    const given = held(opts.holdout, opts.holdoutPercent);
    const has = held(cp.holdout, cp.holdoutPercent);
    if (given !== has) throw contradiction("holdout", given, has);
  }
  if (opts.stream && cp.stream !== true) {
    throw new CliError(
      `--stream contradicts ${path}, which was trained on lines; leave --stream out to resume`,
      1,
    );
  }
  const sha = await fingerprint(docs);
  if (sha !== cp.textSha256 || docs.length !== cp.numDocs) {
    const text = opts.input === undefined ? "the bundled input.txt" : shown(opts.input);
    throw new CliError(
      `${path} was trained on another text (${cp.numDocs} documents, ` +
        `SHA-256 ${cp.textSha256.slice(0, 12)}…) than ${text} (${docs.length} documents, ` +
        `${sha.slice(0, 12)}…); give the run's --input`,
      1,
    );
  }
  // A --stream run's text has one character more: the line break.
  const chars = cp.stream === true ? [...docs, "\n"] : docs;
  checkVocabulary(saved.tok.chars, new Tokenizer(chars).chars, path);
  const cfg = { ...saved.config };
  if (opts.given.has("temperature")) cfg.temperature = opts.cfg.temperature;
  if (opts.given.has("samples")) cfg.numSamples = opts.cfg.numSamples;
  return cfg;
}

/** A checkpoint's vocabulary must be its text's, exactly: every character of the text, none
 * besides, in the order the tokenizer gives them (by code point). Token ids index it, so any
 * other list would train on the wrong characters, or fail steps later on one it lacks. */
function checkVocabulary(saved: string[], text: string[], path: string): void {
  const refuse = (why: string) => new CliError(`cannot resume ${path}: "vocab" ${why}`, 1);
  const has = new Set(saved);
  const lacking = text.find((ch) => !has.has(ch));
  if (lacking !== undefined) throw refuse(`lacks ${describe(lacking)}, a character of the text`);
  const inText = new Set(text);
  const extra = saved.find((ch) => !inText.has(ch));
  if (extra !== undefined) throw refuse(`holds ${describe(extra)}, which the text does not`);
  const at = saved.findIndex((ch, i) => ch !== text[i]);
  if (at >= 0) {
    throw refuse(
      `lists the text's characters out of their order: ${describe(saved[at])} where ` +
        `${describe(text[at])} belongs (entry ${at})`,
    );
  }
}

/** Checks a --load file against the command line and, if it is to be trained, the text. */
export function loadFor(saved: SavedModel, opts: Options, docs: string[]): Config {
  for (const flag of ["n-embd", "n-head", "n-layer", "block-size"] as const) {
    const key = ({
      "n-embd": "nEmbd",
      "n-head": "nHead",
      "n-layer": "nLayer",
      "block-size": "blockSize",
    } as const)[flag];
    if (opts.given.has(flag) && opts.cfg[key] !== saved.config[key]) {
      throw new CliError(
        `--${flag} ${opts.cfg[key]} does not match ${shown(opts.load!)}, which has ` +
          `${saved.config[key]}; leave the shape flags out with --load`,
        1,
      );
    }
  }
  if (opts.cfg.numSteps > 0) {
    for (const doc of docs) {
      for (const ch of doc) {
        if (saved.tok.id(ch) !== undefined) continue;
        throw new CliError(
          `cannot train ${shown(opts.load!)} on this text: its vocabulary lacks ${describe(ch)}`,
          1,
        );
      }
    }
  }
  // The shape (and vocabulary) from the file, everything else from the command line.
  const { nEmbd, nHead, nLayer, blockSize } = saved.config;
  return { ...opts.cfg, nEmbd, nHead, nLayer, blockSize };
}

/** A shell word: as it is when plain, in single quotes when a shell would read it differently,
 * in $'…' with escapes when it holds a character that cannot be shown as it is (a newline). */
export function shellWord(word: string): string {
  if (/^[A-Za-z0-9_./=:,+-]+$/.test(word)) return word;
  if (escapeControls(word) === word) return `'${word.replaceAll("'", `'\\''`)}'`;
  return `$'${escapeControls(word.replaceAll("\\", "\\\\").replaceAll("'", "\\'"))}'`;
}

/** The script as the command line should name it: its file name when it is in the current
 * directory, else its full path. */
export function scriptPath(engine: Engine): string {
  try {
    const main = new URL(Deno.mainModule);
    const path = decodeURIComponent(main.pathname);
    if (main.protocol !== "file:" || !path.endsWith(`/${engine.name}`)) return engine.name;
    return dirname(path) === Deno.cwd() ? engine.name : path;
  } catch {
    return engine.name;
  }
}

/** The command that continues this run from its checkpoint at `save`. */
export function resumeCommand(engine: Engine, opts: Options, save: string): string {
  const words = ["deno", "run", "--allow-read", "--allow-write", scriptPath(engine)];
  // A value that starts with "-" is joined to its flag, or it would read as a flag itself.
  const flag = (name: string, value: string) => {
    if (value.startsWith("-") && value !== "-") words.push(`--${name}=${value}`);
    else words.push(`--${name}`, value);
  };
  flag("resume", save);
  flag("save", save);
  if (opts.saveEvery !== undefined) flag("save-every", String(opts.saveEvery));
  if (opts.input !== undefined) flag("input", opts.input);
  if (opts.log !== undefined) flag("log", opts.log);
  if (opts.trace !== undefined) flag("trace", opts.trace);
  if (opts.traceDetail.length > 0) flag("trace-detail", opts.traceDetail.join(","));
  if (opts.report !== undefined) flag("report", opts.report);
  if (opts.given.has("temperature")) flag("temperature", String(opts.cfg.temperature));
  if (opts.given.has("samples")) flag("samples", String(opts.cfg.numSamples));
  if (opts.given.has("prefix")) flag("prefix", opts.prefix);
  for (const name of ["explain", "attention", "embeddings", "holdout-all"]) {
    if (opts.given.has(name)) words.push(`--${name}`);
  }
  return words.map(shellWord).join(" ");
}
