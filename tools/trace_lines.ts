/**
 * A file read line by line, a chunk at a time: how a trace of any length is read. A long run's
 * trace is larger than the longest string JavaScript can hold (about 512 MiB), so neither a
 * resumed run (tools/trace_file.ts) nor the differ (tools/trace_read.ts) reads a trace whole: they
 * take one line at a time, and know each line's byte offsets in the file.
 *
 * @example Count a file's lines without reading it whole
 * ```ts
 * import { LineReader } from "./trace_lines.ts";
 * const file = Deno.openSync("run.jsonl");
 * const lines = new LineReader(file);
 * let count = 0;
 * while (lines.next() !== undefined) count++;
 * file.close();
 * console.log(count);
 * ```
 *
 * @module
 */

/** Where the bytes come from: a file, or anything with the same `readSync`. */
export interface ByteSource {
  /** Reads into `buffer`; returns the number of bytes read, or null at the end. */
  readSync(buffer: Uint8Array): number | null;
}

/** One line of a file. */
export interface Line {
  /** The line's bytes, without its newline. Valid until the next call to `next`. */
  bytes: Uint8Array;
  /** The line's number, from 1. */
  number: number;
  /** The byte offset where it starts. */
  start: number;
  /** The byte offset after it: after its newline, when it has one. */
  end: number;
  /** Whether a newline ends it. Only a file's last line may lack one: a file cut short (a writer
   * killed mid-line, a full disk) ends in such a line. */
  ended: boolean;
}

/** The longest string V8 makes (2^29 − 24 characters): a line longer than that, in bytes, may not
 * decode to one string. */
export const MAX_LINE_BYTES = 2 ** 29 - 24;

/** A line longer than a reader takes. */
export class LineTooLong extends Error {
  /** The line's number, and the limit it passes. */
  constructor(readonly number: number, readonly limit: number) {
    super(`line ${number} is longer than ${limit} bytes`);
  }
}

/** Reads a source line by line, `chunk` bytes at a time; a line is kept in memory only while it
 * is the current one. */
export class LineReader {
  #source: ByteSource;
  #chunk: number;
  #maxLine: number;
  #buffer: Uint8Array;
  /** The unread bytes are #buffer[#low, #high). */
  #low = 0;
  #high = 0;
  /** The file offset of #buffer[#low]. */
  #offset: number;
  #number = 0;
  #ended = false;

  /** A reader of `source` from byte `offset` (where the source stands), `chunk` bytes a read,
   * refusing a line longer than `maxLine` bytes with {@linkcode LineTooLong}. */
  constructor(
    source: ByteSource,
    options: { chunk?: number; maxLine?: number; offset?: number } = {},
  ) {
    this.#source = source;
    this.#chunk = options.chunk ?? 1 << 20;
    this.#maxLine = options.maxLine ?? MAX_LINE_BYTES;
    this.#offset = options.offset ?? 0;
    this.#buffer = new Uint8Array(this.#chunk);
  }

  /** The byte offset of the next line: after every line read so far. */
  get offset(): number {
    return this.#offset;
  }

  /** The next line, or undefined at the end of the source. */
  next(): Line | undefined {
    let scanned = this.#low; // no newline in #buffer[#low, scanned)
    for (;;) {
      const found = this.#buffer.subarray(scanned, this.#high).indexOf(10);
      if (found >= 0) return this.#take(scanned + found, true);
      if (this.#high - this.#low > this.#maxLine) {
        throw new LineTooLong(this.#number + 1, this.#maxLine);
      }
      if (this.#ended) {
        return this.#high === this.#low ? undefined : this.#take(this.#high, false);
      }
      scanned = this.#high - this.#low;
      this.#fill();
      scanned += this.#low;
    }
  }

  /** The line that ends at #buffer[at] (a newline, if `ended`). */
  #take(at: number, ended: boolean): Line {
    if (at - this.#low > this.#maxLine) throw new LineTooLong(this.#number + 1, this.#maxLine);
    const bytes = this.#buffer.subarray(this.#low, at);
    const start = this.#offset;
    const next = ended ? at + 1 : at;
    this.#offset += next - this.#low;
    this.#low = next;
    return { bytes, number: ++this.#number, start, end: this.#offset, ended };
  }

  /** Reads one more chunk after the unread bytes, moved to the buffer's start (and the buffer
   * grown, for a line longer than it). */
  #fill(): void {
    const unread = this.#high - this.#low;
    if (this.#low > 0) {
      this.#buffer.copyWithin(0, this.#low, this.#high);
      this.#low = 0;
      this.#high = unread;
    }
    if (this.#buffer.length - this.#high < this.#chunk) {
      const grown = new Uint8Array(Math.max(2 * this.#buffer.length, this.#high + this.#chunk));
      grown.set(this.#buffer.subarray(0, this.#high));
      this.#buffer = grown;
    }
    const n = this.#source.readSync(this.#buffer.subarray(this.#high, this.#high + this.#chunk));
    if (n === null || n === 0) this.#ended = true;
    else this.#high += n;
  }
}

/** A source over bytes in memory (a trace given as text, in the tests). */
export function bytesSource(bytes: Uint8Array): ByteSource {
  let at = 0;
  return {
    readSync(buffer: Uint8Array): number | null {
      if (at >= bytes.length) return null;
      const n = Math.min(buffer.length, bytes.length - at);
      buffer.set(bytes.subarray(at, at + n));
      at += n;
      return n;
    },
  };
}
