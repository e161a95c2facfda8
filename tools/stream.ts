/**
 * `--stream`: the text as one stream of characters instead of a list of lines. Without it each
 * line is a document of its own, read from an empty context: the model never learns how one line
 * leads to the next. With it, the line break is a character like any other (a token of its own),
 * and the training documents are consecutive pieces of the stream, so a piece can hold the end of
 * one line and the start of the next.
 *
 * What exactly the stream is, and how it is cut:
 *
 * - The stream is the text's lines as microgpt reads them (each stripped, empty lines dropped),
 *   each followed by one "\n". So the stream holds the same characters as the list of lines, and
 *   its line breaks stand where a line-mode document ends with BOS: the two modes learn and are
 *   scored on the same characters, and differ only in what a character can see.
 * - The pieces are the stream cut into runs of `blockSize` characters, in order, from its start.
 *   Framed as microgpt frames a document, BOS first, a piece fills the block: position 0 reads
 *   BOS, and each position predicts the next character, `blockSize` targets in all (the end BOS
 *   that framing appends falls outside the block, so the model is never taught that a piece
 *   "ends"). The last run, shorter than a block, is left out of training.
 *
 * @example Pieces of four characters
 * ```ts
 * import { streamPieces } from "./stream.ts";
 * console.log(streamPieces(["to be", "or not"], 4)); // [ "to b", "e\nor", " not" ]; "\n" is left
 * ```
 *
 * @module
 */

import { padInt } from "../microgpt.ts";
import { usageError } from "./messages.ts";

/** How a line break is shown where it cannot break a line: in a sample, a map's label, a table. */
export const LINE_BREAK_MARK = "↵";

/** The stream of a list of lines: each line followed by a line break. */
export function streamOf(lines: string[]): string {
  let stream = "";
  for (const line of lines) stream += line + "\n";
  return stream;
}

/** The stream of `lines` cut into consecutive pieces of `blockSize` characters (code points, as
 * the tokenizer reads them); the tail shorter than a block is left out. */
export function streamPieces(lines: string[], blockSize: number): string[] {
  const pieces: string[] = [];
  let piece = "";
  let length = 0;
  for (const line of lines) {
    for (const ch of line + "\n") {
      piece += ch;
      if (++length === blockSize) {
        pieces.push(piece);
        piece = "";
        length = 0;
      }
    }
  }
  return pieces;
}

/** The documents a run trains on: the lines themselves, or with `stream` the pieces of their
 * stream; a stream shorter than one piece is refused. */
export function trainingDocs(lines: string[], stream: boolean, blockSize: number): string[] {
  if (!stream) return lines;
  const pieces = streamPieces(lines, blockSize);
  if (pieces.length === 0) {
    throw usageError(
      `--stream: the text to train on is shorter than one piece of --block-size ${blockSize} ` +
        `characters; choose a smaller --block-size`,
    );
  }
  return pieces;
}

/** A character as a label: the line break as {@linkcode LINE_BREAK_MARK}, the rest as they are. */
export function charLabel(ch: string): string {
  return ch === "\n" ? LINE_BREAK_MARK : ch;
}

/** A text on one line: each line break shown as {@linkcode LINE_BREAK_MARK}. */
export function oneLine(text: string): string {
  return text.replaceAll("\n", LINE_BREAK_MARK);
}

/** A sample's entry on stdout, `sample NN: text`, without its final newline. A line break in the
 * text shows as {@linkcode LINE_BREAK_MARK} and the text goes on in the next line, indented under
 * its first character, so a sample stays one entry and reads as the lines it holds. A text without
 * line breaks (every sample of a run without --stream) gives microgpt.py's sample line. */
export function sampleEntry(i: number, text: string): string {
  const head = `sample ${padInt(i + 1, 2)}: `;
  const lines = text.split("\n");
  let entry = head + lines[0];
  for (let k = 1; k < lines.length; k++) {
    entry += LINE_BREAK_MARK;
    if (lines[k] !== "") entry += "\n" + " ".repeat(head.length) + lines[k];
  }
  return entry;
}
