/**
 * Messages: every mistake is one line on stderr with an exit code, never a stack trace, and
 * whatever comes from data (a path, a character, a piece of JSON) is escaped on its way there, so
 * a message stays one line and never drives the terminal.
 *
 * @example
 * ```ts
 * import { CliError, escapeControls } from "./messages.ts";
 * const err = new CliError(`cannot read ${escapeControls("a\nb.txt")}`, 1);
 * console.log(err.message); // cannot read a\nb.txt
 * ```
 *
 * @module
 */

/** A mistake to report in one line, with the exit code it deserves. */
export class CliError extends Error {
  /** 2 for a wrong command line, 1 for anything else. */
  readonly exitCode: number;
  /** An error with the one-line message to print after "error: ". */
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** A mistake in the command line: exit code 2. */
export const usageError = (message: string): CliError => new CliError(message, 2);

/** Whether a character is a control character other than tab: C0, DEL or C1. Such characters
 * in data could move the cursor, retitle the window or fake lines of output. */
export function isControl(ch: string): boolean {
  const c = ch.codePointAt(0)!;
  return (c < 0x20 && c !== 0x09) || (c >= 0x7f && c <= 0x9f);
}

/** Characters that reorder or break a line of text without showing: bidirectional controls
 * (which can make a message read backwards) and the Unicode line and paragraph separators. */
const INVISIBLE = new Set([
  0x061c,
  0x200e,
  0x200f,
  0x2028,
  0x2029,
  0x202a,
  0x202b,
  0x202c,
  0x202d,
  0x202e,
  0x2066,
  0x2067,
  0x2068,
  0x2069,
]);

/** `text` with every control character (tab included) written as an escape: \n, \x1b, \u0085.
 * Whatever comes from data passes through this before it reaches stderr. */
export function escapeControls(text: string): string {
  let out = "";
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c < 0x20 || c === 0x7f) out += "\\x" + c.toString(16).padStart(2, "0");
    else if ((c >= 0x80 && c <= 0x9f) || INVISIBLE.has(c)) {
      out += "\\u" + c.toString(16).padStart(4, "0");
    } else out += ch;
  }
  return out;
}

/** A path as messages show it: escaped, so that a newline in a name cannot break the line. */
export const shown = (path: string): string => escapeControls(path);

/** Whether a JSON value is an object (not null, not a list). */
export function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** A short, one-line, escaped description of a JSON value, for messages. */
export function describe(x: unknown): string {
  if (Array.isArray(x)) return "a list";
  if (isRecord(x)) return "an object";
  if (typeof x === "string") {
    return escapeControls(JSON.stringify(x.length > 40 ? x.slice(0, 40) + "…" : x));
  }
  return String(x);
}
