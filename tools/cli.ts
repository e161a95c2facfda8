/**
 * The entry of an engine: with flags, parse the command line, print `--help`, listen for
 * signals, run, and turn any mistake into one `error:` line and an exit code; with none,
 * microgpt.py's script, exactly as microgpt.ts's `main()` runs it.
 *
 * microgpt.ts reaches this module only when a flag is given (through a dynamic import);
 * microgpt_fast.ts always, with its own engine.
 *
 * @example The entry of an engine's script
 * ```ts
 * import { main } from "./cli.ts";
 * import { graphEngine } from "./engine.ts";
 * Deno.exit(await main(["--steps", "20", "--samples", "3"], graphEngine));
 * ```
 *
 * @module
 */

import { DEFAULTS, padInt, parseDocs, print, Random, stepLine, Tokenizer } from "../microgpt.ts";
import { type Engine, graphEngine, initWeights } from "./engine.ts";
import { bundledInput } from "./files.ts";
import { parseCommandLine, usage } from "./flags.ts";
import { CliError, escapeControls } from "./messages.ts";
import { Output } from "./output.ts";
import { run } from "./run.ts";
import { SignalWatch } from "./signals.ts";

/** The command-line entry point for `engine`: returns the exit code. */
export async function main(args: string[], engine: Engine = graphEngine): Promise<number> {
  if (args.length === 0) return script(engine);
  const io = new Output();
  let watch: SignalWatch | undefined;
  let code: number;
  try {
    const opts = parseCommandLine(args);
    if (opts.help) {
      io.out(usage(engine.name));
      if (io.failure === undefined) return 0;
      io.err(`error: could not write the help to stdout (${io.failure})`);
      return 1;
    }
    watch = await SignalWatch.start();
    await io.startWriters();
    code = await run(opts, engine, io, watch);
  } catch (err) {
    code = err instanceof CliError ? err.exitCode : 1;
    io.err(`error: ${escapeControls(String((err as Error)?.message ?? err))}`);
  }
  code = settle(io, code, watch);
  io.close();
  watch?.stop();
  return code;
}

/** Waits for the writers to finish. A signal that comes while stdout's reader is behind ends the
 * wait (the run is done; its output can wait no longer): the bytes left are named, and the exit
 * code is the signal's. */
function settle(io: Output, code: number, watch?: SignalWatch): number {
  if (io.flush() || watch === undefined) return code;
  const behind = io.behind();
  if (behind === 0) return code;
  io.err(
    `stopped by ${watch.name} while stdout's reader had not taken the last ${behind} bytes ` +
      `of the output; they were not written`,
  );
  io.flush();
  return code === 0 ? watch.exitCode : code;
}

/** microgpt.py's script on `engine`, step for step as microgpt.ts's `main()` runs it on the graph:
 * no flags, no permission, nothing on stderr, and a signal ends it at once. Returns the exit
 * code: 1, with one line, if stdout cannot be written. */
export function script(engine: Engine): number {
  try {
    const cfg = DEFAULTS;
    const rng = new Random(cfg.seed);
    const docs = parseDocs(bundledInput);
    rng.shuffle(docs);
    print(`num docs: ${docs.length}`);
    const tok = new Tokenizer(docs);
    print(`vocab size: ${tok.vocabSize}`);
    const weights = initWeights(cfg, tok.vocabSize, rng);
    print(`num params: ${weights.length}`);
    const trainer = engine.create(cfg, tok.vocabSize, weights);
    trainer.train(docs, tok, (step, loss) => print(stepLine(step, cfg.numSteps, loss), "\r"), 0);
    print("\n--- inference (new, hallucinated names) ---");
    trainer.generate(tok, rng, "", (i, doc) => print(`sample ${padInt(i + 1, 2)}: ${doc}`));
    return 0;
  } catch (err) {
    console.error(`error: could not write to stdout (${(err as Error).message})`);
    return 1;
  }
}
