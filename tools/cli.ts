/**
 * The entry for any flag: parse the command line, print `--help`, listen for signals, run, and
 * turn any mistake into one `error:` line and an exit code.
 *
 * @module
 */

import { type Engine, graphEngine } from "./engine.ts";
import { parseCommandLine, usage } from "./flags.ts";
import { CliError, escapeControls } from "./messages.ts";
import { Output } from "./output.ts";
import { run } from "./run.ts";
import { SignalWatch } from "./signals.ts";

/** The command-line entry point for `engine`: returns the exit code. */
export async function main(args: string[], engine: Engine = graphEngine): Promise<number> {
  const io = new Output();
  let watch: SignalWatch | undefined;
  try {
    const opts = parseCommandLine(args);
    if (opts.help) {
      io.out(usage(engine.name));
      if (io.failure === undefined) return 0;
      io.err(`error: could not write the help to stdout (${io.failure})`);
      return 1;
    }
    watch = await SignalWatch.start();
    return await run(opts, engine, io, watch);
  } catch (err) {
    const exitCode = err instanceof CliError ? err.exitCode : 1;
    io.err(`error: ${escapeControls(String((err as Error)?.message ?? err))}`);
    return exitCode;
  } finally {
    watch?.stop();
  }
}
