/**
 * The save that never clobbers: a temporary file beside the target, flushed and renamed into
 * place, so an interrupted save leaves the old file whole; it never follows a planted link, never
 * replaces what it must not (the training text, the log), and keeps the mode (and, where it may,
 * the owner) of the file it replaces.
 *
 * @module
 */

import { fstatSync } from "node:fs";
import { checkPathArgument, fileError, STDIN_PATHS } from "./files.ts";
import { CliError, shown } from "./messages.ts";

/** What a written file is for, in messages: "save to" and "saving" for --save, "write the log"
 * and "writing" for --log; and what a file already there must be for the run to replace it. */
export interface Purpose {
  /** The flag that names the file. */
  flag: string;
  /** What cannot be done, after "cannot": "save to", "write the log". */
  action: string;
  /** What needs permission: "saving", "writing". */
  doing: string;
  /** The only kind of file it replaces (an empty file aside), if it is particular. */
  kind?: Kind;
}

/** A kind of file a run writes (a checkpoint, a log, a page), known by its first bytes: a run
 * replaces a file of its own kind and nothing else a user may have made (a notes.txt, a source
 * file, another tool's output). */
export interface Kind {
  /** Its name in messages: "a checkpoint". */
  what: string;
  /** Whether a file's first bytes (up to 4 KiB, as text) are this kind's. */
  is(head: string): boolean;
}

/** The first 4 KiB of a file, as text (whatever its bytes). */
function headOf(path: string, action: string): string {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (err) {
    throw fileError(action, path, err);
  }
  try {
    const bytes = new Uint8Array(4096);
    const n = file.readSync(bytes) ?? 0;
    return new TextDecoder().decode(bytes.subarray(0, n));
  } finally {
    file.close();
  }
}

/** A path under /proc or /sys: a view of the running system (/proc/self/fd/1 is whatever stdout
 * writes to), never a file to write a checkpoint or a log into. */
function systemPath(path: string): boolean {
  return /^\/(proc|sys)(\/|$)/.test(path) || /^\/(proc|sys)(\/|$)/.test(resolvedPath(path));
}

/** Where a save or a log really writes: a symlink is followed to its target (which is written,
 * keeping the link), however many links deep, and refused where a link leads into /proc or /sys,
 * or dangles into a directory that does not exist. */
function writeTarget(path: string, purpose: Purpose): string {
  const refuse = (why: string) =>
    new CliError(`cannot ${purpose.action} ${shown(path)}: ${why}`, 1);
  let target = path;
  for (let hops = 0; hops < 40; hops++) {
    if (systemPath(target)) {
      const where = /^\/sys(\/|$)/.test(target) ? "/sys" : "/proc";
      const what = `${where} holds views of the running system, not files to write`;
      throw refuse(
        target === path ? `it is in ${where}: ${what}` : `it links to ${shown(target)}: ${what}`,
      );
    }
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(target);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw fileError(purpose.action, path, err);
      if (target !== path && !exists(dirname(target))) {
        throw refuse(`it links to ${shown(target)}, whose directory does not exist`);
      }
      return target;
    }
    if (!info.isSymlink) return target;
    const link = Deno.readLinkSync(target);
    target = link.startsWith("/") ? link : `${dirname(target)}/${link}`;
  }
  throw refuse("too many levels of symbolic links");
}

/** Whether a directory exists (as far as this run may look). */
function exists(dir: string): boolean {
  try {
    return Deno.statSync(dir).isDirectory;
  } catch (err) {
    return !(err instanceof Deno.errors.NotFound);
  }
}

/** The directory part of a path, as `dirname(1)` gives it. */
export function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

/** A file that a save or a log must never replace: known by its path, or by its device and
 * inode (what standard input reads from, which has no path to compare). */
export interface Guarded {
  /** How messages name it. */
  what: string;
  /** Its path, if it has one. */
  path?: string;
  /** Its device and inode, if known. */
  id?: { dev: number; ino: number };
}

/** A file's device and inode, or undefined if it does not exist (or may not be looked at). */
function identity(path: string): { dev: number; ino: number } | undefined {
  if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") return undefined;
  try {
    const info = Deno.statSync(path);
    return info.ino === null ? undefined : { dev: info.dev, ino: info.ino };
  } catch {
    return undefined;
  }
}

/** The file standard input reads, when it is one (`< file`); a pipe or terminal has none. */
function stdinIdentity(): { dev: number; ino: number } | undefined {
  try {
    const info = fstatSync(0);
    return info.isFile() ? { dev: info.dev, ino: info.ino } : undefined;
  } catch {
    return undefined;
  }
}

/** A path made absolute, with the links of its directory resolved: two spellings of one place,
 * even of a file that does not exist yet, come out equal. */
function resolvedPath(path: string): string {
  const name = path.slice(path.lastIndexOf("/") + 1);
  let dir = dirname(path);
  try {
    if (Deno.permissions.querySync({ name: "read", path: dir }).state === "granted") {
      dir = Deno.realPathSync(dir);
    }
  } catch {
    // a directory that does not exist: the save will say so
  }
  if (!dir.startsWith("/")) dir = `${Deno.cwd()}/${dir}`;
  return `${dir}/${name}`;
}

/** Whether writing `target` would replace the guarded file. */
export function replaces(target: string, guarded: Guarded): boolean {
  if (guarded.path !== undefined && resolvedPath(target) === resolvedPath(guarded.path)) {
    return true;
  }
  const a = identity(target);
  const b = guarded.id ?? (guarded.path === undefined ? undefined : identity(guarded.path));
  return a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino;
}

/** A file read by the run (`-` and its spellings: the file behind standard input, known by its
 * device and inode) as a file nothing the run writes may replace. */
export function readFile(path: string, what: string): Guarded {
  if (STDIN_PATHS.has(path)) return { what, id: stdinIdentity() };
  return { what, path };
}

/** The training text as a guarded file: --input's file, the file behind standard input, or the
 * bundled input.txt beside the script. */
export function trainingText(input: string | undefined): Guarded {
  if (input === undefined) {
    const bundled = new URL("../input.txt", import.meta.url);
    if (bundled.protocol !== "file:") return { what: "the training text" };
    return { what: "the bundled training text", path: decodeURIComponent(bundled.pathname) };
  }
  return readFile(input, "the training text");
}

/** Checks, before any training, that `path` can be saved, and returns where the save writes.
 * `keep` lists files the save must never replace (the training text, the log). */
export function checkSavePath(
  path: string,
  flag: string,
  keep: Guarded[],
  kind?: Kind,
): string {
  return checkWritePath(path, { flag, action: "save to", doing: "saving", kind }, keep);
}

/** Checks, before anything is printed, that a file can be written at `path` (a checkpoint or a
 * log, alike): permissions, links (followed to a regular file or a new one, never into /proc or
 * /sys, never dangling into nowhere), what is there (a directory, a FIFO, a device are refused),
 * the files it must never replace, and the directory, by making and removing a file there.
 * Returns where it writes: the target of a link. */
export function checkWritePath(path: string, purpose: Purpose, keep: Guarded[]): string {
  const { flag, action, doing } = purpose;
  checkPathArgument(path, flag);
  // Writing the temporary file and renaming it into place needs write permission on the
  // directory's files, and read permission (Deno asks it for the rename's source).
  const permitted = (p: string) =>
    Deno.permissions.querySync({ name: "read", path: p }).state === "granted" &&
    Deno.permissions.querySync({ name: "write", path: p }).state === "granted";
  const needs = () =>
    new CliError(
      `${doing} ${shown(path)} (${flag}) needs read and write permission: ` +
        `add --allow-read --allow-write`,
      1,
    );
  if (!permitted(path)) throw needs();
  const target = writeTarget(path, purpose);
  const dir = dirname(target);
  if (!permitted(target) || !permitted(`${dir}/.microgpt-probe.tmp`)) throw needs();
  let info: Deno.FileInfo | undefined;
  try {
    info = Deno.statSync(target);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw fileError(action, path, err);
  }
  if (info !== undefined) {
    if (info.isDirectory) {
      throw new CliError(`cannot ${action} ${shown(path)}: it is a directory`, 1);
    }
    if (!info.isFile) {
      const kind = info.isFifo ? "a FIFO" : info.isSocket ? "a socket" : "a device";
      throw new CliError(`cannot ${action} ${shown(path)}: it is ${kind}, not a regular file`, 1);
    }
  }
  for (const other of keep) {
    if (replaces(target, other)) {
      throw new CliError(
        `${flag} ${shown(path)} would replace ${other.what}; choose another path`,
        1,
      );
    }
  }
  const kind = purpose.kind;
  if (
    info !== undefined && info.size > 0 && kind !== undefined && !kind.is(headOf(target, action))
  ) {
    throw new CliError(
      `${flag} ${shown(path)} exists and is not ${kind.what}: not replacing it; choose another ` +
        `path (or remove the file)`,
      1,
    );
  }
  // Probe the directory the way a save will use it.
  const probe = createTemp(dir, path, action);
  probe.file.close();
  Deno.removeSync(probe.path);
  return target;
}

/** Opens `target` (a file a run writes as it goes: a log, a trace) for this run alone, before
 * anything is printed: an exclusive lock on the file (flock), which a second run asking for the
 * same file finds taken, and is refused. The system releases it when the process ends, however
 * it ends: a killed run leaves no stale claim. Nothing is truncated (the caller truncates once the
 * claim is held). Returns the file, and a warning if the file system cannot lock (the file is
 * written all the same). `path` names it in messages. */
export function claimFile(
  target: string,
  path: string,
  purpose: Purpose,
): { file: Deno.FsFile; warning?: string } {
  const what = purpose.action.replace(/^write /, "");
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(target, { read: true, write: true, create: true });
  } catch (err) {
    throw fileError(purpose.action, path, err);
  }
  let claimed: boolean;
  try {
    claimed = file.tryLockSync(true);
  } catch (err) {
    const why = fileError("lock", path, err).message.replace(/^cannot lock [^:]*: /, "");
    return {
      file,
      warning: `warning: cannot lock ${what} ${shown(path)} (${why}): a second run writing ` +
        `it at the same time would not be stopped`,
    };
  }
  if (!claimed) {
    file.close();
    throw new CliError(
      `cannot ${purpose.action} ${shown(path)}: another run is writing it (it holds the file's ` +
        `lock); choose another ${purpose.flag}, or wait for that run to end`,
      1,
    );
  }
  return { file };
}

/** A new, empty temporary file beside `dir`'s files: an unpredictable name, created only if
 * nothing (not even a dangling link) has that name, so it can never be someone else's file. */
function createTemp(
  dir: string,
  forPath: string,
  action = "save to",
): { path: string; file: Deno.FsFile } {
  for (let attempt = 0;; attempt++) {
    const bytes = crypto.getRandomValues(new Uint8Array(8));
    const name = `.microgpt-${
      Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")
    }.tmp`;
    const path = `${dir}/${name}`;
    try {
      return { path, file: Deno.openSync(path, { write: true, createNew: true, mode: 0o666 }) };
    } catch (err) {
      if (err instanceof Deno.errors.AlreadyExists && attempt < 10) continue;
      throw fileError(action, forPath, err);
    }
  }
}

/** Writes `text` to `target` through a temporary file in the same directory, renamed into place
 * once complete and on disk, so that an interrupted save leaves the old file whole. The new file
 * takes the old one's mode and, where allowed, its owner. `onTemp` hears the temporary file's
 * name while it exists, then null (so that a second Ctrl-C can remove it). */
export function saveText(
  target: string,
  shownPath: string,
  text: string,
  onTemp?: (path: string | null) => void,
): void {
  const { path: tmp, file } = createTemp(dirname(target), shownPath);
  onTemp?.(tmp);
  try {
    try {
      const bytes = new TextEncoder().encode(text);
      let done = 0;
      while (done < bytes.length) done += file.writeSync(bytes.subarray(done));
      file.syncSync();
    } finally {
      file.close();
    }
    let old: Deno.FileInfo | undefined;
    try {
      old = Deno.statSync(target);
    } catch {
      // a new file: the umask decides its mode
    }
    if (old !== undefined) {
      // The owner first: changing it clears the set-user-id and set-group-id bits.
      try {
        if (old.uid !== null && old.gid !== null) Deno.chownSync(tmp, old.uid, old.gid);
      } catch {
        // only the superuser may give a file away; the mode is kept all the same
      }
      if (old.mode !== null) Deno.chmodSync(tmp, old.mode & 0o7777);
    }
    Deno.renameSync(tmp, target);
  } catch (err) {
    try {
      Deno.removeSync(tmp);
    } catch {
      // already gone
    }
    throw fileError("save to", shownPath, err);
  } finally {
    onTemp?.(null);
  }
}
