/**
 * A small driver for headless Chromium over the DevTools protocol (CDP), for tests: launch a
 * browser, open a page, watch what it logs, throws and requests, run JavaScript in it, move the
 * mouse, take a screenshot, and clean up. It speaks CDP's JSON messages over Deno's built-in
 * WebSocket and needs no dependency.
 *
 * The browser runs with a fresh, empty profile in a temporary folder and with its background
 * networking switched off (no updates, sync or safe-browsing calls), so the only requests it
 * makes are the page's own. {@linkcode Browser.close} ends it — politely through CDP, else with
 * SIGKILL — and removes the profile; a test calls it in `finally`, or holds the browser with
 * `await using`.
 *
 * Permissions: `--allow-run` for the browser, `--allow-net=127.0.0.1` for its DevTools socket,
 * `--allow-read --allow-write` for the temporary profile.
 *
 * @example Open a page and read its title
 * ```ts ignore
 * import { Browser, findChromium } from "./cdp.ts";
 * const path = findChromium();
 * if (path !== undefined) {
 *   await using browser = await Browser.launch(path);
 *   const page = await browser.newPage();
 *   await page.goto("data:text/html,<title>hi</title>");
 *   console.log(await page.evaluate<string>("document.title")); // "hi"
 * }
 * ```
 *
 * @module
 */

/** Where Chromium may be installed; `$CHROMIUM` comes first. */
const CANDIDATES = [
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
  "/usr/bin/google-chrome",
  "/usr/bin/google-chrome-stable",
];

/** The path of a Chromium to run, or undefined when none is found (or may not be looked for). */
export function findChromium(): string | undefined {
  const env = Deno.permissions.querySync({ name: "env", variable: "CHROMIUM" }).state === "granted"
    ? Deno.env.get("CHROMIUM")
    : undefined;
  for (const path of env !== undefined ? [env, ...CANDIDATES] : CANDIDATES) {
    if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") continue;
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not there: try the next
    }
  }
  return undefined;
}

const granted = (d: Deno.PermissionDescriptor) => Deno.permissions.querySync(d).state === "granted";

/** Why a browser cannot be run from here (a missing permission or no Chromium), for a test
 * to say why it is skipped; undefined when one can. */
export function browserSkipReason(): string | undefined {
  if (!granted({ name: "run" }) || !granted({ name: "net", host: "127.0.0.1" })) {
    return "needs --allow-run and --allow-net=127.0.0.1: run deno test -P";
  }
  if (findChromium() === undefined) {
    return "no Chromium found (looked at $CHROMIUM and /usr/bin/chromium…; " +
      "install Debian's chromium package)";
  }
  return undefined;
}

/** The flags every launch uses: headless, no sandbox (it refuses to start as root otherwise), no
 * background traffic, a DevTools socket on a free port of 127.0.0.1. */
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--no-default-browser-check",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-extensions",
  "--disable-dev-shm-usage",
  "--hide-scrollbars",
  "--mute-audio",
  "--remote-debugging-address=127.0.0.1",
  "--remote-debugging-port=0",
];

/** How long a launch or a command may take before the driver gives up, in milliseconds. */
const TIMEOUT_MS = 30_000;

/** One CDP message from the browser: a reply (with `id`) or an event (with `method`). */
export interface CdpMessage {
  /** The number of the command this replies to. */
  id?: number;
  /** The event's name, e.g. `Runtime.consoleAPICalled`. */
  method?: string;
  /** The tab the event or reply belongs to. */
  sessionId?: string;
  /** The event's details. */
  params?: Record<string, unknown>;
  /** The command's result. */
  result?: Record<string, unknown>;
  /** Why the command failed. */
  error?: { message: string };
}

/** Races `promise` against a timer, naming `what` in the error. */
function withTimeout<T>(promise: Promise<T>, what: string, ms = TIMEOUT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`cdp: ${what} took over ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The socket to a browser: numbered commands and their replies, and events by session. */
export class Connection {
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<
    number,
    { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }
  >();
  #listeners = new Set<(m: CdpMessage) => void>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => {
      const m = JSON.parse(String(e.data)) as CdpMessage;
      if (m.id !== undefined) {
        const p = this.#pending.get(m.id);
        this.#pending.delete(m.id);
        if (m.error !== undefined) p?.reject(new Error(`cdp: ${m.error.message}`));
        else p?.resolve(m.result ?? {});
      } else for (const listen of this.#listeners) listen(m);
    };
    ws.onclose = () => {
      for (const p of this.#pending.values()) p.reject(new Error("cdp: the browser closed"));
      this.#pending.clear();
    };
  }

  /** Opens the socket at `url`. */
  static async open(url: string): Promise<Connection> {
    const ws = new WebSocket(url);
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve();
        ws.onerror = () => reject(new Error(`cdp: cannot connect to ${url}`));
      }),
      "connecting",
    );
    return new Connection(ws);
  }

  /** Sends a command (to a page when `sessionId` is given) and waits for its reply. */
  send(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<Record<string, unknown>> {
    const id = this.#next++;
    const reply = new Promise<Record<string, unknown>>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
    });
    this.#ws.send(JSON.stringify({ id, method, params, sessionId }));
    return withTimeout(reply, method);
  }

  /** Hears every event. */
  listen(fn: (m: CdpMessage) => void): void {
    this.#listeners.add(fn);
  }

  /** Stops hearing with `fn`. */
  unlisten(fn: (m: CdpMessage) => void): void {
    this.#listeners.delete(fn);
  }

  /** Closes the socket. */
  close(): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close();
  }
}

/** Browsers not yet closed. If a script ends without closing one (an exception it did not
 * catch, a forgotten close), the handlers below still end it and remove its profile. */
const open = new Set<{ process: Deno.ChildProcess; profile: string }>();

/** Ends every open browser at once and removes its profile (synchronously: the process is
 * ending). The events are only listened to, never cancelled: the script ends as it would. */
function abandonAll(): void {
  for (const { process, profile } of open) {
    try {
      process.kill("SIGKILL");
    } catch {
      // already ended
    }
    try {
      Deno.removeSync(profile, { recursive: true });
    } catch {
      // a helper may still be writing; nothing more can be done at exit
    }
  }
  open.clear();
}
for (const event of ["unload", "error", "unhandledrejection"]) {
  globalThis.addEventListener(event, abandonAll);
}

/** A headless Chromium with its own temporary profile. */
export class Browser {
  #process: Deno.ChildProcess;
  #profile: string;
  #conn: Connection;
  #stderr: Promise<string[]>;
  #closed = false;
  #entry: { process: Deno.ChildProcess; profile: string };

  private constructor(
    p: Deno.ChildProcess,
    profile: string,
    conn: Connection,
    stderr: Promise<string[]>,
  ) {
    this.#process = p;
    this.#profile = profile;
    this.#conn = conn;
    this.#stderr = stderr;
    this.#entry = { process: p, profile };
    open.add(this.#entry);
  }

  /** Starts Chromium at `path` and connects to it. On any failure the process is ended and the
   * profile removed before the error is thrown. */
  static async launch(path: string): Promise<Browser> {
    const profile = await Deno.makeTempDir({ prefix: "microgpt-chromium-" });
    let child: Deno.ChildProcess | undefined;
    try {
      child = new Deno.Command(path, {
        args: [...FLAGS, `--user-data-dir=${profile}`, "about:blank"],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const { url, rest } = await withTimeout(devToolsUrl(child.stderr), "starting chromium");
      const conn = await Connection.open(url);
      return new Browser(child, profile, conn, rest);
    } catch (err) {
      if (child !== undefined) await stop(child);
      await removeProfile(profile);
      throw err;
    }
  }

  /** The browser's process id. */
  get pid(): number {
    return this.#process.pid;
  }

  /** The temporary profile folder (removed on close). */
  get profile(): string {
    return this.#profile;
  }

  /** Opens a new tab, watched from its first moment. */
  async newPage(): Promise<Page> {
    const { targetId } = await this.#conn.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.#conn.send("Target.attachToTarget", {
      targetId,
      flatten: true,
    });
    const page = new Page(this.#conn, sessionId as string);
    await page.enable();
    return page;
  }

  /** Ends the browser and removes its profile (safe to call twice). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await withTimeout(this.#conn.send("Browser.close"), "Browser.close", 2000);
    } catch {
      // It may be gone already or hung: stop() below makes sure.
    }
    this.#conn.close();
    await stop(this.#process);
    await this.#stderr.catch(() => []);
    await removeProfile(this.#profile);
    open.delete(this.#entry);
  }

  /** For `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Reads Chromium's stderr up to its "DevTools listening on ws://…" line; then goes on reading
 * (a full pipe would block the browser) and keeps the last lines, for a failure's message. */
async function devToolsUrl(
  stderr: ReadableStream<Uint8Array>,
): Promise<{ url: string; rest: Promise<string[]> }> {
  const lines = stderr.pipeThrough(new TextDecoderStream()).pipeThrough(splitLines()).getReader();
  const seen: string[] = [];
  while (true) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`cdp: chromium exited before listening:\n${seen.join("\n")}`);
    seen.push(value);
    const found = value.match(/DevTools listening on (ws:\/\/\S+)/);
    if (found !== null) {
      const rest = (async () => {
        for (let r = await lines.read(); !r.done; r = await lines.read()) {
          seen.push(r.value);
          if (seen.length > 50) seen.shift();
        }
        return seen;
      })();
      return { url: found[1], rest };
    }
  }
}

/** A stream of text chunks as a stream of lines. */
function splitLines(): TransformStream<string, string> {
  let buffer = "";
  return new TransformStream({
    transform(chunk, out) {
      buffer += chunk;
      const parts = buffer.split("\n");
      buffer = parts.pop()!;
      for (const line of parts) out.enqueue(line);
    },
    flush(out) {
      if (buffer !== "") out.enqueue(buffer);
    },
  });
}

/** Waits for the process to end, killing it if it has not within two seconds. */
async function stop(child: Deno.ChildProcess): Promise<void> {
  const ended = await withTimeout(child.status, "chromium exit", 2000).then(
    () => true,
    () => false,
  );
  if (!ended) {
    try {
      child.kill("SIGKILL");
    } catch {
      // ended in between
    }
    await child.status;
  }
}

/** Removes the temporary profile; Chromium's helpers may still be closing files, so it retries. */
async function removeProfile(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await Deno.remove(dir, { recursive: true });
      return;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Something the page wrote to its console, or the browser logged about it. */
export interface ConsoleEntry {
  /** "log", "warning", "error", … */
  level: string;
  /** The text. */
  text: string;
}

/** One tab, with what it has said, thrown and requested since it opened. */
export class Page {
  #conn: Connection;
  #session: string;
  #loaded: (() => void)[] = [];
  /** Console messages and browser log entries, in order. */
  readonly console: ConsoleEntry[] = [];
  /** Uncaught exceptions, as their descriptions. */
  readonly exceptions: string[] = [];
  /** The URL of every network request the page made (file: and data: included). */
  readonly requests: string[] = [];

  /** Watches the tab of `session` (call `enable` before use). */
  constructor(conn: Connection, session: string) {
    this.#conn = conn;
    this.#session = session;
    conn.listen((m) => {
      if (m.sessionId === session) this.#event(m);
    });
  }

  #event(m: CdpMessage): void {
    const p = m.params ?? {};
    if (m.method === "Runtime.consoleAPICalled") {
      const args = (p.args as { value?: unknown; description?: string }[]) ?? [];
      const text = args.map((a) => a.value !== undefined ? String(a.value) : a.description ?? "");
      this.console.push({ level: String(p.type), text: text.join(" ") });
    } else if (m.method === "Log.entryAdded") {
      const entry = p.entry as { level: string; text: string; url?: string };
      this.console.push({ level: entry.level, text: `${entry.text} ${entry.url ?? ""}`.trim() });
    } else if (m.method === "Runtime.exceptionThrown") {
      const d = p.exceptionDetails as { text: string; exception?: { description?: string } };
      this.exceptions.push(d.exception?.description ?? d.text);
    } else if (m.method === "Network.requestWillBeSent") {
      this.requests.push(String((p.request as { url: string }).url));
    } else if (m.method === "Page.loadEventFired") {
      for (const resolve of this.#loaded.splice(0)) resolve();
    }
  }

  /** Sends a command to this tab. */
  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.#conn.send(method, params, this.#session);
  }

  /** Switches on the events the page's lists are made of. */
  async enable(): Promise<void> {
    for (const domain of ["Page", "Runtime", "Log", "Network"]) await this.send(`${domain}.enable`);
  }

  /** Sets the viewport in CSS pixels. */
  async viewport(width: number, height: number): Promise<void> {
    await this.send("Emulation.setDeviceMetricsOverride", {
      width,
      height,
      deviceScaleFactor: 1,
      mobile: false,
    });
  }

  /** Opens `url` and waits for its load event. */
  async goto(url: string): Promise<void> {
    const loaded = new Promise<void>((resolve) => this.#loaded.push(resolve));
    const { errorText } = await this.send("Page.navigate", { url });
    if (errorText) throw new Error(`cdp: cannot open ${url}: ${errorText}`);
    await withTimeout(loaded, `loading ${url}`);
  }

  /** The value of a JavaScript expression in the page (awaited if it is a promise); an
   * exception in it is thrown here. */
  async evaluate<T>(expression: string): Promise<T> {
    const reply = await this.send("Runtime.evaluate", {
      expression,
      returnByValue: true,
      awaitPromise: true,
    });
    const details = reply.exceptionDetails as
      | { text: string; exception?: { description?: string } }
      | undefined;
    if (details !== undefined) {
      throw new Error(`cdp: evaluate failed: ${details.exception?.description ?? details.text}`);
    }
    return (reply.result as { value: T }).value;
  }

  /** Moves the mouse to (x, y) in CSS pixels of the viewport, as a user would. */
  async mouseMove(x: number, y: number): Promise<void> {
    await this.send("Input.dispatchMouseEvent", { type: "mouseMoved", x, y });
  }

  /** A PNG of the whole page, `width` CSS pixels wide. */
  async screenshot(width: number): Promise<Uint8Array> {
    const height = await this.evaluate<number>("document.documentElement.scrollHeight");
    await this.viewport(width, height);
    const { data } = await this.send("Page.captureScreenshot", {
      format: "png",
      captureBeyondViewport: true,
    });
    return Uint8Array.from(atob(data as string), (c) => c.charCodeAt(0));
  }
}
