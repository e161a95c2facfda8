/**
 * Reading input, as a careful Unix tool reads it: sizes checked before reading, standard input
 * for "-", strict UTF-8, and one line for every way a file can fail.
 *
 * @module
 */

import { fstatSync } from "node:fs";
import { parseDocs } from "../microgpt.ts";
import { MAX_DOCS, MAX_INPUT_BYTES } from "./limits.ts";
import { CliError, escapeControls, isControl, shown, usageError } from "./messages.ts";
import bundled from "../input.txt" with { type: "text" };

/** The training text that comes with microgpt.ts (its input.txt): 8,422 names, one per line. */
export const bundledInput: string = bundled;

/** Paths that name standard input. Deno treats /dev/stdin as a device needing --allow-all, so
 * these are read as "-" is: from the process's own standard input, which needs no permission. */
export const STDIN_PATHS = new Set(["-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"]);

/** Sees each piece of a file as it is read, and may refuse the file by throwing. */
export type Inspector = (bytes: Uint8Array) => void;

/** A file's bytes (or standard input's, for "-"), refused if larger than `limit`. */
function readBytes(path: string, flag: string, limit: number, inspect?: Inspector): Uint8Array {
  if (STDIN_PATHS.has(path)) return readStdin(flag, limit, inspect);
  checkPathArgument(path, flag);
  if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") {
    throw new CliError(
      `reading ${shown(path)} (${flag}) needs read permission: add --allow-read`,
      1,
    );
  }
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (err) {
    throw fileError("read", path, err, flag);
  }
  if (info.isDirectory) throw new CliError(`cannot read ${shown(path)}: it is a directory`, 1);
  if (info.isFile && info.size > limit) {
    throw new CliError(
      `${shown(path)} (${flag}) is too large: ${megabytes(info.size)}; the limit is ${
        megabytes(limit)
      }`,
      1,
    );
  }
  if ((info.isCharDevice || info.isBlockDevice) && flag !== "--input") {
    throw new CliError(
      `cannot read ${shown(path)}: it is a device, not a saved file; ` +
        `give the file, or pipe it in with ${flag} -`,
      1,
    );
  }
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (err) {
    throw fileError("read", path, err, flag);
  }
  try {
    const size = info.isFile ? info.size : undefined;
    return readAll(file, `${shown(path)} (${flag})`, limit, inspect, size, (err) => {
      throw fileError("read", path, err, flag);
    });
  } finally {
    file.close();
  }
}

/** Standard input's bytes: refused, in words, when it is a directory or fails to read. */
function readStdin(flag: string, limit: number, inspect?: Inspector): Uint8Array {
  const what = `standard input (${flag})`;
  let size: number | undefined;
  try {
    const info = fstatSync(0);
    if (info.isDirectory()) {
      throw new CliError(`cannot read ${what}: it is a directory; redirect a file into it`, 1);
    }
    if (info.isFile()) size = info.size;
  } catch (err) {
    if (err instanceof CliError) throw err;
    // no standard input to look at: reading it will say what is wrong
  }
  return readAll(Deno.stdin, what, limit, inspect, size, (err) => {
    const message = (err as Error)?.message ?? String(err);
    throw new CliError(
      `cannot read ${what}: ${escapeControls(message.replace(/ \(os error \d+\).*$/s, ""))}`,
      1,
    );
  });
}

/** Everything a reader gives, up to `limit` bytes; more is refused as too large. A file's `size`,
 * when known, sizes the buffer at once; `inspect` sees each piece as it arrives; `failed` turns a
 * failed read into a refusal. */
function readAll(
  reader: { readSync(p: Uint8Array): number | null },
  what: string,
  limit: number,
  inspect: Inspector | undefined,
  size: number | undefined,
  failed: (err: unknown) => never,
): Uint8Array {
  let buf = new Uint8Array(Math.min(limit + 1, size !== undefined ? size + 1 : 1 << 20));
  let used = 0;
  while (true) {
    if (used === buf.length) {
      if (used > limit) break;
      const bigger = new Uint8Array(Math.min(limit + 1, buf.length * 2));
      bigger.set(buf);
      buf = bigger;
    }
    let n: number | null;
    try {
      // At most a megabyte at a time, so that a file can be refused before it is all read.
      n = reader.readSync(buf.subarray(used, Math.min(buf.length, used + (1 << 20))));
    } catch (err) {
      failed(err);
    }
    if (n === null) break;
    inspect?.(buf.subarray(used, used + n));
    used += n;
  }
  if (used > limit) throw new CliError(`${what} is too large: the limit is ${megabytes(limit)}`, 1);
  return buf.subarray(0, used);
}

/** A file's text, decoded as strict UTF-8 (as Python's open() reads it). `inspect` sees its bytes
 * as they are read, and may refuse the file by throwing. */
export function readText(path: string, flag: string, limit: number, inspect?: Inspector): string {
  const bytes = readBytes(path, flag, limit, inspect);
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    const name = STDIN_PATHS.has(path) ? "standard input" : shown(path);
    throw new CliError(`${name} (${flag}) is not UTF-8 text`, 1);
  }
}

const megabytes = (bytes: number) => `${Math.round(bytes / 1e5) / 10} MB`;

/** One line for a failed file operation; never advice to grant everything. `flag` is the flag
 * that named the file, for the advice. */
export function fileError(action: string, path: string, err: unknown, flag = "--input"): CliError {
  const where = `cannot ${action} ${shown(path)}`;
  if (err instanceof Deno.errors.NotFound) {
    return new CliError(`${where}: no such file or directory`, 1);
  }
  if (err instanceof Deno.errors.IsADirectory) {
    return new CliError(`${where}: it is a directory`, 1);
  }
  if (err instanceof Deno.errors.PermissionDenied) {
    return new CliError(`${where}: permission denied`, 1);
  }
  if (err instanceof Deno.errors.NotCapable) {
    // Deno treats devices such as /dev/fd/N as special files that only a script granted
    // everything may open; granting everything is never the advice.
    return new CliError(
      !/all access/.test((err as Error).message)
        ? `${where}: Deno denies it: add --allow-read${action === "read" ? "" : " --allow-write"}`
        : action === "read"
        ? `${where}: Deno opens this device only for scripts granted everything; ` +
          `pipe the data in with ${flag} - instead`
        : `${where}: Deno treats it as a special device; choose a regular file`,
      1,
    );
  }
  const message = (err as Error)?.message ?? String(err);
  return new CliError(
    `${where}: ${escapeControls(message.replace(/ \(os error \d+\).*$/s, ""))}`,
    1,
  );
}

/** The training documents: the bundled names, or --input's text. Refuses a text too large, not
 * UTF-8, with no documents, too many, or with control characters inside a document. */
export function readDocs(input: string | undefined): string[] {
  const text = input === undefined ? bundledInput : readText(input, "--input", MAX_INPUT_BYTES);
  const name = input === undefined || STDIN_PATHS.has(input) ? "standard input" : shown(input);
  const docs = parseDocs(text);
  if (docs.length > MAX_DOCS) {
    throw new CliError(
      `${name} has ${docs.length} documents, too many: the limit is ${MAX_DOCS}`,
      1,
    );
  }
  if (docs.length === 0) {
    throw new CliError(`${name} has no documents: every line is empty or whitespace`, 1);
  }
  for (let i = 0; i < docs.length; i++) {
    for (const ch of docs[i]) {
      if (!isControl(ch)) continue;
      throw new CliError(
        `${name}: document ${i + 1} holds the control character ${escapeControls(ch)}; ` +
          `microgpt trains on printable text`,
        1,
      );
    }
  }
  return docs;
}

/** The flags that name a file to write. */
const WRITTEN = new Set(["--save", "--log", "--trace", "--report"]);

/** Refuses a path argument that cannot name what the user meant: "-" (a file to write cannot
 * be standard output), or one whose bytes were not UTF-8 (Deno hands them over as U+FFFD, so
 * the name would silently change). */
export function checkPathArgument(path: string, flag: string): void {
  if (path === "-" && WRITTEN.has(flag)) {
    throw usageError(`${flag} writes a file: name one (./- for a file called "-")`);
  }
  if (path.includes("\ufffd")) {
    throw usageError(
      `${flag} ${shown(path)}: the path has bytes that are not UTF-8, which Deno ` +
        `cannot pass on; rename the file`,
    );
  }
}
