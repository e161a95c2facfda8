// Tests of the DevTools driver: it sees what a page logs, throws and requests (so the report's
// browser test can fail), and it leaves no process and no profile behind, on close and on a
// failed launch. Skipped where no Chromium can be run.

import assert from "node:assert/strict";
import { Browser, browserSkipReason, findChromium } from "./cdp.ts";

const skip = browserSkipReason();
const named = (name: string) => skip === undefined ? name : `${name} (skipped: ${skip})`;

/** Process ids whose command line mentions `needle` (Chromium passes its profile to every
 * helper process, so this finds them all). Deno reads /proc only with --allow-all; ps will do. */
async function processesWith(needle: string): Promise<number[]> {
  const { stdout } = await new Deno.Command("ps", { args: ["-eo", "pid=,args="] }).output();
  const found: number[] = [];
  for (const line of new TextDecoder().decode(stdout).split("\n")) {
    const m = line.match(/^\s*(\d+) (.*)$/);
    if (m !== null && m[2].includes(needle)) found.push(Number(m[1]));
  }
  return found;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: named("close ends every Chromium process and removes the profile"),
  ignore: skip !== undefined,
  async fn() {
    const browser = await Browser.launch(findChromium()!);
    try {
      const page = await browser.newPage();
      await page.goto("data:text/html,<p>hello</p>");
      assert((await processesWith(browser.profile)).length > 1, "a browser and its helpers");
      assert(exists(browser.profile));
    } finally {
      await browser.close(); // also when an assertion fails: a test must not leave a browser
    }
    assert.deepEqual(await processesWith(browser.profile), []);
    assert(!exists(browser.profile));
  },
});

Deno.test({
  name: named("a browser that hangs is killed on close"),
  ignore: skip !== undefined,
  async fn() {
    const browser = await Browser.launch(findChromium()!);
    try {
      Deno.kill(browser.pid, "SIGSTOP"); // it can no longer answer Browser.close
    } finally {
      await browser.close();
    }
    assert.deepEqual(await processesWith(browser.profile), []);
    assert(!exists(browser.profile));
  },
});

Deno.test({
  name: named("a launch that fails leaves no profile behind"),
  ignore: skip !== undefined,
  async fn() {
    const probe = await Deno.makeTempDir();
    const tmp = probe.slice(0, probe.lastIndexOf("/"));
    await Deno.remove(probe);
    const profiles = () =>
      [...Deno.readDirSync(tmp)].filter((e) => e.name.startsWith("microgpt-chromium-")).length;
    const before = profiles();
    await assert.rejects(Browser.launch("/bin/false"), /exited before listening/);
    assert.equal(profiles(), before);
  },
});

Deno.test({
  name: named("the page's errors, exceptions and requests are all seen"),
  ignore: skip !== undefined,
  async fn() {
    const dir = await Deno.makeTempDir();
    await using browser = await Browser.launch(findChromium()!);
    try {
      const file = `${dir}/leaky.html`;
      await Deno.writeTextFile(
        file,
        `<img src="http://127.0.0.1:9/pixel.png"><script>console.error("boom");` +
          `setTimeout(() => { throw new Error("bang"); });</script>`,
      );
      const page = await browser.newPage();
      await page.goto(`file://${file}`);
      await page.evaluate("new Promise((r) => setTimeout(r, 100))");
      assert(page.requests.includes(`file://${file}`));
      assert(page.requests.includes("http://127.0.0.1:9/pixel.png"), page.requests.join(" "));
      assert(page.console.some((c) => c.level === "error" && c.text === "boom"));
      assert(page.exceptions.some((e) => e.includes("bang")), page.exceptions.join(" "));
      await assert.rejects(page.evaluate("null.x"), /evaluate failed: TypeError/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
