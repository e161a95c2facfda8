/**
 * Test support for the trace's tests: a run in this process, as `deno run` would run it, and the
 * trace it writes.
 *
 * @example The trace of a short run
 * ```ts
 * import { traced } from "./traced.ts";
 * const { trace, stdout } = await traced(["--steps", "3", "--samples", "2"]);
 * console.log(stdout, trace.split("\n").length);
 * ```
 *
 * @module
 */

import { type Engine, graphEngine } from "../engine.ts";
import { parseCommandLine } from "../flags.ts";
import { CliError } from "../messages.ts";
import { run } from "../run.ts";
import type { SignalWatch } from "../signals.ts";
import { Captured, tmp } from "../testing.ts";

/** What an in-process run printed, and its exit code. */
export interface InProcess {
  /** The exit code. */
  code: number;
  /** Everything printed on stdout. */
  stdout: string;
  /** Every line printed on stderr. */
  stderr: string;
}

/** Runs the command line `args` with `engine` in this process, printing into strings; `watch`
 * may give it a signal watch that sees what it prints. */
export async function runIn(
  args: string[],
  engine: Engine = graphEngine,
  watch?: (io: Captured) => SignalWatch,
): Promise<InProcess> {
  const io = new Captured();
  try {
    const code = await run(parseCommandLine(args), engine, io, watch?.(io));
    return { code, stdout: io.stdout, stderr: io.stderr };
  } catch (err) {
    // As tools/cli.ts ends a run that fails: one line, and the error's exit code.
    if (!(err instanceof CliError)) throw err;
    io.err(`error: ${err.message}`);
    return { code: err.exitCode, stdout: io.stdout, stderr: io.stderr };
  }
}

let count = 0;

/** Runs `args` with `--trace` to a new file in the tests' folder; returns the trace's text too. */
export async function traced(
  args: string[],
  engine: Engine = graphEngine,
): Promise<InProcess & { trace: string; path: string }> {
  const path = `${tmp}/traced-${++count}.jsonl`;
  const result = await runIn([...args, "--trace", path], engine);
  if (result.code !== 0) throw new Error(`the run failed: ${result.stderr}`);
  return { ...result, trace: Deno.readTextFileSync(path), path };
}

/** A signal watch that reports a SIGINT once `after` steps have ended, as a Ctrl-C would. */
export function signalAfter(after: () => boolean): SignalWatch {
  const watch = {
    get signal() {
      return after() ? 2 : 0;
    },
    get exitCode() {
      return 130;
    },
    name: "SIGINT",
    arm() {},
    saving() {},
    stop() {},
  };
  return watch as unknown as SignalWatch;
}
