/**
 * stdout and stderr of a run: writes that never hold the run hostage, a stdout that survives a
 * closed pipe, and the step line of a terminal, which also tells the time.
 *
 * A write to a pipe nobody reads (`| less` left on its first page, a stalled log shipper) blocks
 * the thread that makes it. If that were the training thread, a signal could raise its flag but
 * nobody would read it. So a run hands its output to a writer thread through a small queue in
 * shared memory, and the training thread only ever waits for room in that queue, a few
 * milliseconds at a time, looking at its stop condition (a signal) in between. Read normally, the
 * bytes are the same, in the same order: the queue is the stream, delayed by a few kilobytes.
 *
 * When a signal stops a run whose reader has stalled, the writer is halted: what the system has
 * taken stays in the pipe for the reader, and the step lines it has not taken are known exactly
 * (each write is one piece of at most 4,096 bytes ending at a line's end, which a pipe takes whole
 * or not at all), so the checkpoint can carry them and the resumed run prints them first.
 *
 * @module
 */

import { fstatSync } from "node:fs";
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

/** Bytes of a queue between the run and a writer thread: some 130 step lines. Small, so that a
 * run is held back by a stalled reader much as a direct write would hold it (a pipe holds 64 KiB
 * more), and a stopped run has few lines to hand over. */
const QUEUE_BYTES = 1 << 12;
/** The largest record: a longer text is queued in parts. */
const RECORD_BYTES = QUEUE_BYTES / 2;
/** How long a stopped run waits for a reader that takes nothing, in milliseconds. */
export const PATIENCE_MS = 200;
/** How often a waiting run looks at its stop condition, in milliseconds. */
const POLL_MS = 20;

// The queue's shared memory: eight int32 slots, the ring of records, then the text of a failure.
// A record is a 4-byte header (length in 3 bytes, then the file descriptor: 1 or 2) and the bytes.
// Counters grow without end and wrap at 2^32; differences are taken modulo 2^32.
const PUT = 0; // bytes put in the ring (by the run)
const TAKEN = 1; // bytes the writer is done with
const DONE = 2; // bytes of stdout written
const FAILED = 3; // 1 once a write to stdout failed
const HALT = 4; // 1: write no more of stdout
const BUSY = 5; // 1 while the writer is in a write
const FAIL_LENGTH = 6; // bytes of the failure's text
const HEAD_BYTES = 32;
const FAIL_BYTES = 512;

/** The writer thread's code. One write per piece, each at most 4,096 bytes (a pipe's PIPE_BUF) and
 * ending at a line's end where one is in reach: a pipe takes such a write whole or not at all, so
 * the count of bytes written is exact even when the process ends during a write that blocks. */
const WRITER_SOURCE = `
const [PUT, TAKEN, DONE, FAILED, HALT, BUSY, FAIL_LENGTH] = [0, 1, 2, 3, 4, 5, 6];
self.onmessage = (event) => {
  const { shared, size } = event.data;
  const head = new Int32Array(shared, 0, 8);
  const ring = new Uint8Array(shared, ${HEAD_BYTES}, size);
  const failText = new Uint8Array(shared, ${HEAD_BYTES} + size, ${FAIL_BYTES});
  const piece = new Uint8Array(4096);
  const failed = [false, false, false];
  const mask = size - 1;
  let taken = 0;
  const write = (fd, bytes) => {
    Atomics.store(head, BUSY, 1); // before looking at HALT: the run looks at BUSY after setting it
    const halted = fd === 1 && Atomics.load(head, HALT) === 1;
    if (!halted && !failed[fd]) {
      try {
        const file = fd === 1 ? Deno.stdout : Deno.stderr;
        for (let done = 0; done < bytes.length;) done += file.writeSync(bytes.subarray(done));
        if (fd === 1) Atomics.add(head, DONE, bytes.length);
      } catch (err) {
        failed[fd] = true;
        if (fd === 1) {
          const why = err instanceof Deno.errors.BrokenPipe
            ? "its reader closed the pipe"
            : String(err?.message ?? err).replace(/ \\(os error \\d+\\).*$/s, "");
          const text = new TextEncoder().encode(why).subarray(0, ${FAIL_BYTES});
          failText.set(text);
          Atomics.store(head, FAIL_LENGTH, text.length);
          Atomics.store(head, FAILED, 1);
        }
      }
    }
    Atomics.store(head, BUSY, 0);
    Atomics.notify(head, BUSY);
  };
  self.postMessage("ready");
  for (;;) {
    const put = Atomics.load(head, PUT);
    if (put === taken) {
      Atomics.wait(head, PUT, put, 1000);
      continue;
    }
    const at = (i) => ring[(taken + i) & mask];
    let left = at(0) | (at(1) << 8) | (at(2) << 16);
    const fd = at(3);
    taken = (taken + 4) | 0;
    while (left > 0) {
      let n = Math.min(left, piece.length);
      for (let i = 0; i < n; i++) piece[i] = ring[(taken + i) & mask];
      const newline = piece.subarray(0, n).indexOf(10);
      const lineEnd = newline >= 0 ? newline : n < left ? piece.subarray(0, n).lastIndexOf(13) : -1;
      if (lineEnd >= 0) n = lineEnd + 1;
      write(fd, piece.subarray(0, n));
      taken = (taken + n) | 0;
      left -= n;
      Atomics.store(head, TAKEN, taken);
      Atomics.notify(head, TAKEN);
    }
  }
};
`;

/** One queue to a writer thread: the ring in shared memory, and what waits for room in it. */
class Queue {
  readonly head: Int32Array;
  readonly ring: Uint8Array;
  readonly failText: Uint8Array;
  readonly worker: Worker;
  /** Records waiting for room, in order. */
  readonly waiting: { fd: number; bytes: Uint8Array }[] = [];
  /** Bytes of stdout put in the ring so far. */
  stdoutPut = 0;
  #put = 0;

  private constructor(worker: Worker, shared: SharedArrayBuffer) {
    this.worker = worker;
    this.head = new Int32Array(shared, 0, 8);
    this.ring = new Uint8Array(shared, HEAD_BYTES, QUEUE_BYTES);
    this.failText = new Uint8Array(shared, HEAD_BYTES + QUEUE_BYTES, FAIL_BYTES);
  }

  /** A queue with its writer thread listening (a worker from a data: URL needs no permission). */
  static async start(): Promise<Queue> {
    const url = `data:application/javascript,${encodeURIComponent(WRITER_SOURCE)}`;
    const worker = new Worker(url, { type: "module" });
    const shared = new SharedArrayBuffer(HEAD_BYTES + QUEUE_BYTES + FAIL_BYTES);
    const ready = new Promise((resolve) => worker.onmessage = resolve);
    worker.postMessage({ shared, size: QUEUE_BYTES });
    await ready;
    return new Queue(worker, shared);
  }

  /** Queues `bytes` for `fd` behind what already waits. */
  add(fd: number, bytes: Uint8Array): void {
    for (let from = 0; from < bytes.length; from += RECORD_BYTES) {
      this.waiting.push({ fd, bytes: bytes.subarray(from, from + RECORD_BYTES) });
    }
    this.pump();
  }

  /** Moves waiting records into the ring while they fit (stdout's are dropped once halted). */
  pump(): void {
    const halted = Atomics.load(this.head, HALT) === 1;
    while (this.waiting.length > 0) {
      const { fd, bytes } = this.waiting[0];
      if (fd === 1 && halted) {
        this.waiting.shift();
        continue;
      }
      const used = (this.#put - Atomics.load(this.head, TAKEN)) | 0;
      if (QUEUE_BYTES - used < bytes.length + 4) return;
      const mask = QUEUE_BYTES - 1;
      const header = [bytes.length & 0xff, (bytes.length >> 8) & 0xff, bytes.length >> 16, fd];
      for (let i = 0; i < 4; i++) this.ring[(this.#put + i) & mask] = header[i];
      const start = (this.#put + 4) & mask;
      const first = Math.min(bytes.length, QUEUE_BYTES - start);
      this.ring.set(bytes.subarray(0, first), start);
      this.ring.set(bytes.subarray(first), 0);
      this.#put = (this.#put + 4 + bytes.length) | 0;
      if (fd === 1) this.stdoutPut += bytes.length;
      this.waiting.shift();
      Atomics.store(this.head, PUT, this.#put);
      Atomics.notify(this.head, PUT);
    }
  }

  /** Whether everything queued has been written (or given up). */
  get empty(): boolean {
    return this.waiting.length === 0 && Atomics.load(this.head, TAKEN) === this.#put;
  }

  /** A marker of the writer's progress. */
  get progress(): number {
    return Atomics.load(this.head, TAKEN);
  }

  /** Waits up to `ms` for the writer to take something. */
  wait(ms: number): void {
    Atomics.wait(this.head, TAKEN, Atomics.load(this.head, TAKEN), ms);
  }

  /** Bytes of stdout the system has taken from this queue. */
  stdoutDone(): number {
    return this.stdoutPut - ((this.stdoutPut - Atomics.load(this.head, DONE)) | 0);
  }
}

/** stdout and stderr of one run. A failed write to stdout (a closed pipe, a full disk) must not
 * cost the model: stdout is given up, the run goes on, and its last line names the failure. */
export class Output {
  /** Whether stdout is a terminal: then the step line also tells the time. */
  readonly terminal: boolean;
  #failure?: string;
  #stdout?: Queue;
  #stderr?: Queue;
  #stop: () => boolean = () => false;
  #written = 0;
  #writtenOff = 0;
  #halted = false;

  /** Output to this process's stdout and stderr, written directly until {@linkcode startWriters}. */
  constructor() {
    this.terminal = Deno.stdout.isTerminal();
  }

  /** From now on, a writer thread writes: a reader that stalls holds up the run only while
   * {@linkcode stopWaitingWhen}'s condition is false. stdout and stderr share a queue (and keep
   * their order) when they are the same file, as with `2>&1`. */
  async startWriters(): Promise<void> {
    this.#stdout = await Queue.start();
    this.#stderr = sameFile(1, 2) ? this.#stdout : await Queue.start();
  }

  /** While `stop` holds, the run does not wait for a reader that takes nothing. */
  stopWaitingWhen(stop: () => boolean): void {
    this.#stop = stop;
  }

  /** Why stdout was given up, if it was. */
  get failure(): string | undefined {
    const queue = this.#stdout;
    if (this.#failure === undefined && queue !== undefined) {
      if (Atomics.load(queue.head, FAILED) === 1) {
        const length = Atomics.load(queue.head, FAIL_LENGTH);
        this.#failure = escapeControls(new TextDecoder().decode(queue.failText.slice(0, length)));
      }
    }
    return this.#failure;
  }

  /** Writes all of `text` to stdout. */
  out(text: string): void {
    if (this.failure !== undefined) return;
    const bytes = encoder.encode(text);
    this.#written += bytes.length;
    if (this.#stdout === undefined) {
      try {
        let done = 0;
        while (done < bytes.length) done += Deno.stdout.writeSync(bytes.subarray(done));
      } catch (err) {
        this.#failure = err instanceof Deno.errors.BrokenPipe
          ? "its reader closed the pipe"
          : escapeControls((err as Error).message.replace(/ \(os error \d+\).*$/s, ""));
      }
      return;
    }
    this.#send(this.#stdout, 1, bytes);
  }

  /** Writes one line to stderr. Nothing is left to tell if stderr itself fails. */
  err(line: string): void {
    const bytes = encoder.encode(line + "\n");
    if (this.#stderr !== undefined) return this.#send(this.#stderr, 2, bytes);
    try {
      Deno.stderr.writeSync(bytes);
    } catch {
      // stderr is gone: the exit code still tells
    }
  }

  /** Queues the bytes; while they do not fit, waits for the writer, unless the stop condition
   * holds (they then stay queued: a later {@linkcode drain} may still write them). */
  #send(queue: Queue, fd: number, bytes: Uint8Array): void {
    queue.add(fd, bytes);
    while (queue.waiting.length > 0 && !this.#stop()) {
      queue.wait(POLL_MS);
      queue.pump();
    }
  }

  /** Bytes given to stdout so far: where the next byte of stdout will stand. */
  get written(): number {
    return this.#written;
  }

  /** Bytes of stdout the system has taken: a reader gets them even after this process ends. */
  delivered(): number {
    return this.#stdout === undefined ? this.#written : this.#stdout.stdoutDone();
  }

  /** Waits until everything queued is written: for as long as it takes, or, once the stop
   * condition holds, until the writers have made no progress for `patience` ms. Returns whether
   * everything was written. A halted stdout with a queue of its own is not waited for. */
  flush(patience: number = PATIENCE_MS): boolean {
    const queues = [...new Set([this.#stdout, this.#stderr])].filter((q) => q !== undefined)
      .filter((q) => !(this.#halted && q === this.#stdout && q !== this.#stderr));
    let progress = queues.map((q) => q.progress).join();
    let since = performance.now();
    for (;;) {
      const busy = queues.filter((q) => !q.empty);
      if (busy.length === 0) return true;
      if (this.#stop() && performance.now() - since > patience) return false;
      busy[0].wait(POLL_MS);
      for (const q of queues) q.pump();
      const now = queues.map((q) => q.progress).join();
      if (now !== progress) {
        progress = now;
        since = performance.now();
      }
    }
  }

  /** Stops writing stdout for good and returns the bytes of it the system has taken: exactly
   * those, unless a write blocked on a stalled reader completes in the moment before the
   * process ends. The rest is the caller's to keep (a checkpoint carries its step lines). */
  halt(): number {
    const queue = this.#stdout;
    if (queue === undefined) return this.#written;
    this.#halted = true;
    Atomics.store(queue.head, HALT, 1);
    const until = performance.now() + POLL_MS;
    while (Atomics.load(queue.head, BUSY) === 1 && performance.now() < until) {
      Atomics.wait(queue.head, BUSY, 1, POLL_MS);
    }
    queue.pump(); // drops stdout's waiting records
    const delivered = queue.stdoutDone();
    this.#writtenOff = this.#written - delivered;
    return delivered;
  }

  /** Bytes given to stdout that are not written yet, besides those {@linkcode halt} handed over. */
  behind(): number {
    return this.failure === undefined ? this.#written - this.delivered() - this.#writtenOff : 0;
  }

  /** Ends the writer threads (after {@linkcode flush}: what they have not written is dropped). */
  close(): void {
    for (const queue of new Set([this.#stdout, this.#stderr])) queue?.worker.terminate();
    this.#stdout = this.#stderr = undefined;
  }
}

/** Whether two file descriptors lead to the same file (or pipe, or terminal). */
function sameFile(a: number, b: number): boolean {
  try {
    const x = fstatSync(a);
    const y = fstatSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/** The step line of a run: every step's line when stdout is piped (microgpt.py's stream, byte for
 * byte), and in a terminal a line that tells the time, rewritten in place. A piped run keeps the
 * losses of the lines its reader may not have taken yet, for a checkpoint to carry. */
export class StepPrinter {
  #io: Output;
  #numSteps: number;
  #from: number;
  #started = performance.now();
  #shownAt = -Infinity;
  /** Piped step lines, with where each ends in stdout, that the system may not have taken. */
  #lines: { loss: number; end: number }[] = [];

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
      // A stdout given up (a closed pipe) has no reader to hand lines to later.
      if (this.#io.failure !== undefined) return;
      this.#lines.push({ loss, end: this.#io.written });
      if (this.#lines.length >= 4096) this.#forget(this.#io.delivered());
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

  /** Forgets the lines that end within the first `delivered` bytes of stdout. */
  #forget(delivered: number): void {
    let i = 0;
    while (i < this.#lines.length && this.#lines[i].end <= delivered) i++;
    this.#lines.splice(0, i);
  }

  /** The losses of the last step lines that are not within the first `delivered` bytes of stdout
   * (those a stopped run could not write), oldest first; none in a terminal, or once stdout was
   * given up. */
  unprinted(delivered: number): number[] {
    if (this.#io.failure !== undefined) return [];
    this.#forget(delivered);
    return this.#lines.map((line) => line.loss);
  }

  /** Ends a terminal's line before something else is printed (a piped stream needs nothing). */
  breakLine(): void {
    if (this.#io.terminal) this.#io.out("\n");
  }
}
