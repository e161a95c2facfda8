/**
 * A picture of a report page: opens an HTML file in headless Chromium and writes a PNG of the
 * whole page, `--width` CSS pixels wide (1100 by default). The README's `docs/report.png` is
 * made this way from the default run's page (`deno task report-png`).
 *
 * @example The default run's page and its picture
 * ```sh
 * deno run --allow-read --allow-write microgpt.ts --report run.html
 * deno run -P tools/screenshot.ts run.html docs/report.png
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Browser, findChromium } from "./cdp.ts";

/** Writes a PNG of the page at `htmlPath` to `pngPath`; fails if the page logs an error, throws,
 * or requests anything but itself (a picture of a broken page is no picture of the report). */
export async function screenshot(htmlPath: string, pngPath: string, width = 1100): Promise<void> {
  const chromium = findChromium();
  if (chromium === undefined) {
    throw new Error("no Chromium found (install Debian's chromium, or set $CHROMIUM)");
  }
  await using browser = await Browser.launch(chromium);
  const page = await browser.newPage();
  await page.viewport(width, 900);
  const url = pathToFileURL(resolve(htmlPath)).href;
  await page.goto(url);
  const errors = page.console.filter((c) => c.level === "error").map((c) => c.text);
  const foreign = page.requests.filter((r) => r !== url && !r.startsWith("data:"));
  if (errors.length > 0 || page.exceptions.length > 0 || foreign.length > 0) {
    throw new Error(
      `the page is not clean: ${[...errors, ...page.exceptions, ...foreign].join("; ")}`,
    );
  }
  await Deno.writeFile(pngPath, await page.screenshot(width));
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: { width: { type: "string" } },
    allowPositionals: true,
  });
  if (positionals.length !== 2) {
    console.error("usage: deno run -P tools/screenshot.ts [--width PX] PAGE.html OUT.png");
    Deno.exit(2);
  }
  await screenshot(positionals[0], positionals[1], Number(values.width ?? 1100));
  console.log(`wrote ${positionals[1]}`);
}
