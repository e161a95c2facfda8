/**
 * Reading input, as a careful Unix tool reads it: sizes checked before reading, standard input
 * for "-", strict UTF-8, and one line for every way a file can fail.
 *
 * @module
 */

import { parseDocs } from "../microgpt.ts";
import { MAX_DOCS, MAX_INPUT_BYTES } from "./limits.ts";
import { CliError, escapeControls, isControl, shown, usageError } from "./messages.ts";
import bundled from "../input.txt" with { type: "text" };

/** The training text that comes with microgpt.ts (its input.txt): 8,422 names, one per line. */
export const bundledInput: string = bundled;

/** Paths that name standard input. Deno treats /dev/stdin as a device needing --allow-all, so
 * these are read as "-" is: from the process's own standard input, which needs no permission. */
export const STDIN_PATHS = new Set(["-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"]);

/** A file's bytes (or standard input's, for "-"), refused if larger than `limit`. */
function readBytes(path: string, flag: string, limit: number): Uint8Array {
  if (STDIN_PATHS.has(path)) return readAll(Deno.stdin, `standard input (${flag})`, limit);
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
    throw fileError("read", path, err);
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
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (err) {
    throw fileError("read", path, err);
  }
  try {
    return readAll(file, `${shown(path)} (${flag})`, limit);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw fileError("read", path, err);
  } finally {
    file.close();
  }
}

/** Everything a reader gives, up to `limit` bytes; more is refused as too large. */
function readAll(reader: { readSync(p: Uint8Array): number | null }, what: string, limit: number) {
  let buf = new Uint8Array(Math.min(limit + 1, 1 << 20));
  let size = 0;
  while (true) {
    if (size === buf.length) {
      if (size > limit) break;
      const bigger = new Uint8Array(Math.min(limit + 1, buf.length * 2));
      bigger.set(buf);
      buf = bigger;
    }
    const n = reader.readSync(buf.subarray(size));
    if (n === null) break;
    size += n;
  }
  if (size > limit) throw new CliError(`${what} is too large: the limit is ${megabytes(limit)}`, 1);
  return buf.subarray(0, size);
}

/** A file's text, decoded as strict UTF-8 (as Python's open() reads it). */
export function readText(path: string, flag: string, limit: number): string {
  const bytes = readBytes(path, flag, limit);
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    const name = STDIN_PATHS.has(path) ? "standard input" : shown(path);
    throw new CliError(`${name} (${flag}) is not UTF-8 text`, 1);
  }
}

const megabytes = (bytes: number) => `${Math.round(bytes / 1e5) / 10} MB`;

/** One line for a failed file operation; never advice to grant everything. */
export function fileError(action: string, path: string, err: unknown): CliError {
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
          `pipe the data in with --input - instead`
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

/** Refuses a path argument that cannot name what the user meant: "-" (a file to write cannot
 * be standard output), or one whose bytes were not UTF-8 (Deno hands them over as U+FFFD, so
 * the name would silently change). */
export function checkPathArgument(path: string, flag: string): void {
  if (path === "-" && (flag === "--save" || flag === "--log")) {
    throw usageError(`${flag} writes a file: name one (./- for a file called "-")`);
  }
  if (path.includes("\ufffd")) {
    throw usageError(
      `${flag} ${shown(path)}: the path has bytes that are not UTF-8, which Deno ` +
        `cannot pass on; rename the file`,
    );
  }
}
