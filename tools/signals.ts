/**
 * Signals. Training runs without a pause, so a signal handler on this thread would only run after
 * it ends. A small worker thread listens instead and raises a flag in shared memory, which the
 * training loop reads after every step: the first Ctrl-C (or SIGTERM, SIGHUP) finishes the step,
 * saves and exits; a second one ends the process at once, as if nobody were listening, after
 * removing the temporary file of a save in progress, if any.
 *
 * @module
 */

const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;

/** The worker's code: it only listens. Shared memory: [signal number, temp path length, armed],
 * then the temporary file's path as UTF-8. Until the run is armed (training starts) there is
 * nothing to finish or save, so a signal ends the process at once, as if nobody listened: even a
 * run blocked reading standard input stops at the first Ctrl-C. */
const WATCHER_SOURCE = `
self.onmessage = (event) => {
  const head = new Int32Array(event.data, 0, 3);
  const path = new Uint8Array(event.data, 12);
  for (const [name, number] of Object.entries(${JSON.stringify(SIGNALS)})) {
    const handler = () => {
      if (Atomics.load(head, 2) === 1 && Atomics.compareExchange(head, 0, 0, number) === 0) return;
      const length = Atomics.load(head, 1);
      if (length > 0) {
        try { Deno.removeSync(new TextDecoder().decode(path.slice(0, length))); } catch {}
      }
      Deno.removeSignalListener(name, handler);
      Deno.kill(Deno.pid, name);
    };
    Deno.addSignalListener(name, handler);
  }
  self.postMessage("listening");
};
`;

/** The signal watcher of one run. */
export class SignalWatch {
  #worker: Worker;
  #head: Int32Array;
  #path: Uint8Array;

  private constructor(worker: Worker, shared: SharedArrayBuffer) {
    this.#worker = worker;
    this.#head = new Int32Array(shared, 0, 3);
    this.#path = new Uint8Array(shared, 12);
  }

  /** Starts listening (a worker from a data: URL needs no permission). */
  static async start(): Promise<SignalWatch> {
    const url = `data:application/javascript,${encodeURIComponent(WATCHER_SOURCE)}`;
    const worker = new Worker(url, { type: "module" });
    const shared = new SharedArrayBuffer(12 + 16384);
    const listening = new Promise((resolve) => worker.onmessage = resolve);
    worker.postMessage(shared);
    await listening;
    return new SignalWatch(worker, shared);
  }

  /** The number of the first signal received, or 0. */
  get signal(): number {
    return Atomics.load(this.#head, 0);
  }

  /** The exit code for the first signal received: 128 + its number, as a shell reports. */
  get exitCode(): number {
    return 128 + this.signal;
  }

  /** The signal's name, for messages. */
  get name(): string {
    return Object.entries(SIGNALS).find(([, n]) => n === this.signal)?.[0] ?? "a signal";
  }

  /** Tells the watcher the temporary file to remove on a second signal (null: none). */
  saving(path: string | null): void {
    const bytes = new TextEncoder().encode(path ?? "");
    if (bytes.length > this.#path.length) return; // too long to share; rare, and only a leftover
    Atomics.store(this.#head, 1, 0);
    this.#path.set(bytes);
    Atomics.store(this.#head, 1, bytes.length);
  }

  /** From now on a first signal asks the run to stop cleanly (training has begun). */
  arm(): void {
    Atomics.store(this.#head, 2, 1);
  }

  /** Stops listening: signals act as if nobody listened. */
  stop(): void {
    this.#worker.terminate();
  }
}
