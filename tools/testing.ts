/**
 * Helpers for the tests: a tolerance check, a small trained model, and for the tests that spawn
 * the scripts (under `deno test -P`) a way to run them, a folder for the files they make (removed
 * when the test run ends), and a run interrupted by a signal. Nothing here is part of a run.
 *
 * @module
 */

import assert from "node:assert/strict";
import bundledInput from "../input.txt" with { type: "text" };
import {
  Adam,
  DEFAULTS,
  initModel,
  type Model,
  parseDocs,
  Random,
  Tokenizer,
  train,
} from "../microgpt.ts";
import { Output } from "./output.ts";

const cfg = { ...DEFAULTS };

/** |a − b| ≤ tol·max(|a|, |b|, tiny): node:assert has no approximate equality. */
export function assertClose(actual: number, expected: number, tol: number, what = ""): void {
  const scale = Math.max(Math.abs(actual), Math.abs(expected), 1e-300);
  assert(
    Math.abs(actual - expected) <= tol * scale,
    `${what} ${actual} is not within ${tol} (relative) of ${expected}`,
  );
}

/** A SHA-256 of the numbers' bits, to pin every last bit of a model in a short string. */
export async function bitsHash(xs: ArrayLike<number>): Promise<string> {
  const bytes = new Uint8Array(Float64Array.from(xs).buffer);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A small model trained briefly on the bundled names. */
export function smallTrained(steps: number): { model: Model; tok: Tokenizer; rng: Random } {
  const rng = new Random(42);
  const docs = parseDocs(bundledInput);
  rng.shuffle(docs);
  const tok = new Tokenizer(docs);
  const model = initModel({ ...cfg, numSteps: steps }, tok.vocabSize, rng);
  const adam = new Adam(model.params.length, model.config);
  train(model, adam, docs, tok, () => {});
  return { model, tok, rng };
}

/** Output that keeps what a run prints, for in-process runs. */
export class Captured extends Output {
  /** Everything written to stdout. */
  stdout = "";
  /** Every line written to stderr. */
  stderr = "";
  /** Keeps the text instead of writing it. */
  override out(text: string): void {
    this.stdout += text;
  }
  /** Keeps the line instead of writing it. */
  override err(line: string): void {
    this.stderr += line + "\n";
  }
}

/** Whether the tests were granted this permission (under `deno test -P`). */
const granted = (name: "run" | "read" | "write"): boolean =>
  Deno.permissions.querySync({ name }).state === "granted";
/** Whether the tests that spawn the scripts can run: they need run, read and write. */
export const CLI: boolean = granted("run") && granted("read") && granted("write");
/** microgpt.ts, to spawn. */
export const SCRIPT: string = new URL("../microgpt.ts", import.meta.url).pathname;

/** What a spawned run printed, and its exit code. */
export interface Result {
  /** The exit code. */
  code: number;
  /** Everything printed on stdout. */
  stdout: string;
  /** Everything printed on stderr. */
  stderr: string;
}

/** Runs `deno run [permissions] microgpt.ts args`. */
export async function cli(
  args: string[],
  perms = ["--allow-read", "--allow-write"],
): Promise<Result> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...perms, SCRIPT, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Asserts a clean failure: the exit code, one "error:" line matching `why`, no stack trace. */
export async function refused(
  args: string[],
  code: number,
  why: RegExp,
  perms?: string[],
): Promise<void> {
  const r = await cli(args, perms);
  assert.deepEqual(r.code, code, `${args.join(" ")}: exit ${r.code}, stderr ${r.stderr}`);
  const lines = r.stderr.trimEnd().split("\n");
  assert.deepEqual(lines.length, 1, `${args.join(" ")}: ${r.stderr}`);
  assert.match(lines[0], /^error: /);
  assert.match(lines[0], why);
}

// One folder for the files the tests make, removed when the test run ends, passed or failed.
/** The folder for the files the tests make. */
export const tmp: string = CLI ? Deno.makeTempDirSync({ prefix: "microgpt_test_" }) : "";
if (CLI) {
  globalThis.addEventListener("unload", () => {
    try {
      Deno.chmodSync(`${tmp}/locked.txt`, 0o644);
    } catch {
      // not made
    }
    Deno.removeSync(tmp, { recursive: true });
  });
}
/** Writes a file in the tests' folder and returns its path. */
export const file = (name: string, content: string | Uint8Array): string => {
  const path = `${tmp}/${name}`;
  if (typeof content === "string") Deno.writeTextFileSync(path, content);
  else Deno.writeFileSync(path, content);
  return path;
};

/** Whether an unreadable file is really unreadable here (not for root). */
export const canMakeUnreadable: boolean = CLI && (() => {
  const path = file("locked.txt", "abc\n");
  Deno.chmodSync(path, 0o000);
  try {
    Deno.readFileSync(path);
    return false;
  } catch {
    return true;
  }
})();

/** microgpt_fast.ts, to spawn. */
export const FAST: string = new URL("../microgpt_fast.ts", import.meta.url).pathname;

/** Runs `deno run [perms] <script> args` and collects everything it printed. */
export async function runScript(
  script: string,
  args: string[],
  perms: string[] = [],
  input?: string,
): Promise<Result> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...perms, script, ...args],
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** The step lines of an output, in order. */
export const stepLines = (out: string): string[] =>
  out.split(/[\r\n]/).filter((l) => l.startsWith("step "));
/** Everything from the inference header on. */
export const inference = (out: string): string => out.slice(out.indexOf("--- inference"));

/** A run that is stopped while it trains. `until` decides when to signal from what stdout has
 * shown; `pause` first stops reading stdout for that long, so that a fast run fills the pipe and
 * waits (a pipe holds 64 KiB, some 2,000 step lines), to be signalled in the middle. */
export async function interrupted(
  script: string,
  args: string[],
  signal: Deno.Signal,
  until: (stdout: string) => boolean,
  pause = 0,
): Promise<{ status: Deno.CommandStatus; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--allow-read", "--allow-write", script, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.getReader();
  const dec = new TextDecoder();
  let stdout = "";
  let signalled = false;
  while (true) {
    if (!signalled && until(stdout)) {
      if (pause > 0) await new Promise((r) => setTimeout(r, pause));
      child.kill(signal);
      signalled = true;
    }
    const { value, done } = await reader.read();
    if (done) break;
    stdout += dec.decode(value, { stream: true });
  }
  const status = await child.status;
  return { status, stdout, stderr: await stderr };
}

let defaultRun: Promise<Result> | undefined;
/** The default run, made once and shared by the tests that compare with it. */
export const fullDefault = (): Promise<Result> => (defaultRun ??= cli([], []));

/** Whether a thread of process `pid` is blocked writing to a pipe: its reader has stalled. Linux
 * tells through /proc/PID/task/TID/wchan; undefined where it does not (then the caller must wait
 * for the stall another way). */
export function blockedOnPipe(pid: number): boolean | undefined {
  let told = false;
  try {
    for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
      let wchan: string;
      try {
        wchan = Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/wchan`);
      } catch {
        continue; // the thread ended
      }
      if (/pipe_write/.test(wchan)) return true;
      if (wchan !== "0" && wchan !== "") told = true;
    }
  } catch {
    return undefined;
  }
  return told ? false : undefined;
}

/** Waits until process `pid` is held up by a stalled stdout: a thread blocked writing the pipe,
 * or, where the system does not tell, `file` (a --log the run writes each step) no longer
 * growing for a second. */
export async function stalled(pid: number, file: string): Promise<void> {
  let size = -1;
  let since = performance.now();
  for (;;) {
    const blocked = blockedOnPipe(pid);
    if (blocked === true) return;
    if (blocked === undefined) {
      let now = -1;
      try {
        now = Deno.statSync(file).size;
      } catch {
        // not made yet
      }
      if (now !== size) [size, since] = [now, performance.now()];
      else if (now > 0 && performance.now() - since > 1000) return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The status of `child`, or a failure if it has not ended within `seconds` (it is then killed). */
export async function endsWithin(
  child: Deno.ChildProcess,
  seconds: number,
): Promise<Deno.CommandStatus> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((r) => timer = setTimeout(() => r("late"), seconds * 1000));
  const status = await Promise.race([child.status, late]);
  clearTimeout(timer);
  if (status === "late") {
    child.kill("SIGKILL");
    await child.status;
    throw new Error(`the run did not end within ${seconds} s`);
  }
  return status;
}

/** The two scripts, by name, for tests that hold both engines to the same behaviour. */
export const ENGINES: [string, string][] = [["microgpt.ts", SCRIPT], ["microgpt_fast.ts", FAST]];

/** A refusal before anything is printed, by either script: the exit code, one "error:" line
 * matching `why`, no stack trace, and nothing on stdout. Returns what the run printed. */
export async function refusedBy(
  script: string,
  args: string[],
  code: number,
  why: RegExp,
  perms: string[] = ["--allow-read", "--allow-write"],
  input?: string,
): Promise<Result> {
  const r = await runScript(script, args, perms, input);
  const what = `${script.slice(script.lastIndexOf("/") + 1)} ${args.join(" ")}`;
  assert.equal(r.code, code, `${what}: exit ${r.code}, stderr ${r.stderr}`);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `${what}: ${r.stderr}`);
  assert.match(lines[0], /^error: /);
  assert.match(lines[0], why);
  assert.equal(r.stdout, "", `${what}: printed before it was refused`);
  return r;
}

/** A made-up play of `lines` lines, from a seeded generator: speakers' names on lines of their
 * own ("ANNA:"), and lines of made-up words and punctuation from 2 to about 90 characters, some
 * longer than a block of 64. Tests train on it instead of a text from elsewhere. */
export function madeText(lines: number, seed = 1): string {
  const rng = new Random(seed);
  const syllables = ["ka", "lo", "mi", "ren", "tha", "so", "ver", "e", "an", "dus", "qui", "o"];
  const names = ["ANNA", "BORIS", "CLEO", "DUKE"];
  const word = () => {
    let w = "";
    for (let k = 0; k <= rng.randbelow(3); k++) w += syllables[rng.randbelow(syllables.length)];
    return w;
  };
  let text = "";
  for (let i = 0; i < lines; i++) {
    if (rng.random() < 0.2) {
      text += names[rng.randbelow(names.length)] + ":\n";
      continue;
    }
    const words: string[] = [];
    const n = 1 + rng.randbelow(rng.random() < 0.1 ? 20 : 9);
    for (let k = 0; k < n; k++) words.push(word());
    text += words.join(" ") + [",", ".", "!", "?", ";"][rng.randbelow(5)] + "\n";
    if (rng.random() < 0.1) text += "\n"; // an empty line, which microgpt skips
  }
  return text;
}
