/**
 * stdout and stderr of a run: a stdout that survives a closed pipe, and the step line of a
 * terminal, which also tells the time.
 *
 * @module
 */

import { stepLine } from "../microgpt.ts";
import { escapeControls } from "./messages.ts";

/** Seconds as a short duration: 42.1 s, 3 min 05 s, 2 h 07 min. */
function duration(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(Math.floor(s % 60)).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** The step line for a terminal: microgpt.py's, then the time so far, per step and left, and an
 * erase to the end of the line (the line is rewritten in place and may have been longer). */
export function terminalStepLine(
  step: number,
  numSteps: number,
  loss: number,
  elapsedMs: number,
  stepsTimed: number,
): string {
  const perStep = elapsedMs / stepsTimed;
  const left = perStep * (numSteps - step - 1);
  const ms = perStep < 10 ? perStep.toFixed(2) : perStep.toFixed(0);
  return stepLine(step, numSteps, loss) +
    ` | ${duration(elapsedMs)}, ${ms} ms/step, ${duration(left)} left\x1b[K\r`;
}

const encoder = new TextEncoder();

/** stdout and stderr of one run. A failed write to stdout (a closed pipe, a full disk) must not
 * cost the model: stdout is given up, the run goes on, and its last line names the failure. */
export class Output {
  /** Whether stdout is a terminal: then the step line also tells the time. */
  readonly terminal: boolean;
  /** Why stdout was given up, if it was. */
  failure?: string;

  /** Output to this process's stdout and stderr. */
  constructor() {
    this.terminal = Deno.stdout.isTerminal();
  }

  /** Writes all of `text` to stdout (writeSync may write only part of it). */
  out(text: string): void {
    if (this.failure !== undefined) return;
    const bytes = encoder.encode(text);
    try {
      let done = 0;
      while (done < bytes.length) done += Deno.stdout.writeSync(bytes.subarray(done));
    } catch (err) {
      this.failure = err instanceof Deno.errors.BrokenPipe
        ? "its reader closed the pipe"
        : escapeControls((err as Error).message.replace(/ \(os error \d+\).*$/s, ""));
    }
  }

  /** Writes one line to stderr. Nothing is left to tell if stderr itself fails. */
  err(line: string): void {
    try {
      Deno.stderr.writeSync(encoder.encode(line + "\n"));
    } catch {
      // stderr is gone: the exit code still tells
    }
  }
}

/** The step line of a run: every step's line when stdout is piped (microgpt.py's stream, byte for
 * byte), and in a terminal a line that tells the time, rewritten in place. */
export class StepPrinter {
  #io: Output;
  #numSteps: number;
  #from: number;
  #started = performance.now();
  #shownAt = -Infinity;

  /** A printer for steps `from` … `numSteps`−1, timed from now. */
  constructor(io: Output, numSteps: number, from: number) {
    this.#io = io;
    this.#numSteps = numSteps;
    this.#from = from;
  }

  /** Shows step `step`'s loss; `force` draws a terminal's line even if it was drawn just now. */
  show(step: number, loss: number, force: boolean): void {
    if (!this.#io.terminal) {
      this.#io.out(stepLine(step, this.#numSteps, loss) + "\r");
      return;
    }
    // A terminal shows the line, not the stream: rewriting it a few dozen times a second is
    // enough, and spares a fast engine the cost of drawing every step.
    const now = performance.now();
    if (now - this.#shownAt < 40 && !force && step + 1 !== this.#numSteps) return;
    const elapsed = now - this.#started;
    this.#io.out(terminalStepLine(step, this.#numSteps, loss, elapsed, step + 1 - this.#from));
    this.#shownAt = now;
  }

  /** Ends a terminal's line before something else is printed (a piped stream needs nothing). */
  breakLine(): void {
    if (this.#io.terminal) this.#io.out("\n");
  }
}
