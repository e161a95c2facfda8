// The report page in a real browser: headless Chromium, driven over the DevTools protocol
// (tools/cdp.ts). The page that --report writes for the default run (1000 steps, 20 samples;
// run here in-process with microgpt_fast.ts, which writes microgpt.ts's page) must load without a
// console error or an exception, request nothing but itself, draw every section, show values on
// hover, and redraw the temperature bars when the slider moves. Pages with hostile data, written
// mid-run, with held-out points, and of a 300,000-step run are checked too. Skipped, saying why,
// where no Chromium can be run.

import assert from "node:assert/strict";
import { Browser, browserSkipReason, findChromium, type Page } from "./cdp.ts";
import { renderReport } from "./report.ts";
import type { RunReport } from "./report_data.ts";
import { pageOfRun, recordRun, tinyReport } from "./report_testing.ts";
import { fastEngine } from "../microgpt_fast.ts";

const skip = browserSkipReason();

/** Writes `html` into `dir`, opens it, and checks the page is clean: no console error or
 * warning, no exception, no request but the file itself (or data:). */
async function openClean(page: Page, dir: string, name: string, html: string): Promise<string> {
  const file = `${dir}/${name}`;
  await Deno.writeTextFile(file, html);
  const url = `file://${file}`;
  const [logs, thrown, asked] = [page.console.length, page.exceptions.length, page.requests.length];
  await page.goto(url);
  const noisy = page.console.slice(logs).filter((c) =>
    c.level === "error" || c.level === "warning"
  );
  assert.deepEqual(noisy, [], `${name}: console`);
  assert.deepEqual(page.exceptions.slice(thrown), [], `${name}: exceptions`);
  const requests = page.requests.slice(asked);
  const foreign = requests.filter((r) => r !== url && !r.startsWith("data:"));
  assert.deepEqual(foreign, [], `${name}: requests that leave the page`);
  assert(requests.includes(url));
  return url;
}

/** Scrolls the first element matching `selector` into view and moves the mouse onto it, at
 * fractions `fx`, `fy` of its width and height (its centre by default); returns the tooltip's
 * text, or undefined if it is hidden. */
async function hover(
  page: Page,
  selector: string,
  fx = 0.5,
  fy = 0.5,
): Promise<string | undefined> {
  const [x, y] = await page.evaluate<[number, number]>(`(() => {
    const el = document.querySelector(${JSON.stringify(selector)});
    el.scrollIntoView({ block: "center" });
    const r = el.getBoundingClientRect();
    return [r.left + r.width * ${fx}, r.top + r.height * ${fy}];
  })()`);
  await page.mouseMove(x, y);
  return await page.evaluate<string | undefined>(
    `(() => { const t = document.getElementById("tip"); return t.hidden ? undefined : t.textContent; })()`,
  );
}

/** The heights of every temperature bar, chart by chart. */
function barHeights(page: Page): Promise<number[][]> {
  return page.evaluate(`[...document.querySelectorAll("svg.bars")].map((svg) =>
    [...svg.querySelectorAll("rect.bar")].map((r) => +r.getAttribute("height")))`);
}

/** Sets the slider as a user's drag would end, with an input event. */
async function setTemperature(page: Page, t: number): Promise<void> {
  await page.evaluate(`(() => {
    const s = document.getElementById("temp-slider");
    s.value = "${t}";
    s.dispatchEvent(new Event("input", { bubbles: true }));
  })()`);
}

/** Every section of the default run's page is there and drawn: as many SVGs, heat maps, labels,
 * bars and samples as the run `r` has. */
async function sectionsRender(page: Page, r: RunReport): Promise<void> {
  const counts = await page.evaluate<Record<string, number>>(`(() => {
    const n = (s) => document.querySelectorAll(s).length;
    const drawn = [...document.querySelectorAll("svg")].filter((s) => s.getBBox().width > 0);
    return {
      svgs: n("svg"), drawn: drawn.length, settings: n("#run table tr"), tokens: n("#token-boxes .tok"),
      lossPoints: document.getElementById("loss-line").points.numberOfItems,
      heat: n("svg.heat"), sampleGroups: n(".sample-att"), wteLabels: n("#wte-scatter text.tok"),
      wpeLabels: n("#wpe-scatter text.pos"), bars: n("rect.bar"), charts: n("svg.bars"),
      samples: n("#samples li"), nearest: n("#nearest tr.vowel"),
    };
  })()`);
  const { nLayer, nHead } = r.settings;
  const V = r.data.chars.length + 1;
  assert.equal(counts.drawn, counts.svgs, "every SVG has a size on the page");
  assert(counts.settings >= 13);
  assert.equal(counts.tokens, r.tokens.ids.length);
  assert.equal(counts.lossPoints, 1000, "a point per step");
  assert.equal(counts.sampleGroups, 3);
  assert.equal(counts.heat, nLayer * nHead * 3, "a heat map per layer and head per sample");
  assert.equal(counts.wteLabels, V, "a label per token");
  assert.equal(counts.wpeLabels, r.settings.blockSize, "a label per position");
  assert.equal(counts.charts, r.temperature!.draws.length);
  assert.equal(counts.bars, r.temperature!.draws.length * V);
  assert.equal(counts.samples, 20);
  assert.equal(counts.nearest, 5, "a row per vowel");
  const cells = await page.evaluate<number[]>(
    `[...document.querySelectorAll("svg.heat")].map((s) => s.querySelectorAll(".cells rect").length)`,
  );
  r.attention.forEach((a, k) => {
    const n = a.weights[0][0].length;
    for (let m = 0; m < nLayer * nHead; m++) {
      assert.equal(cells[k * nLayer * nHead + m], (n * (n + 1)) / 2);
    }
  });
}

/** Checks the default run's page, section by section; `r` is the same run, recorded directly. */
async function defaultPage(
  t: Deno.TestContext,
  page: Page,
  dir: string,
  html: string,
  r: RunReport,
) {
  await t.step("it loads with no console error, no exception, no request leaving", async () => {
    await openClean(page, dir, "default.html", html);
    const reloads = await page.evaluate(
      `document.querySelectorAll('meta[http-equiv="refresh"]').length`,
    );
    assert.equal(reloads, 0, "a finished run's page stays still");
  });
  await t.step("each section renders", () => sectionsRender(page, r));
  await t.step("hovering shows the values", async () => {
    const cell = await hover(page, "svg.heat .cells rect:nth-child(2)");
    const w = r.attention[0].weights[0][0][1][0];
    assert.match(cell ?? "", /^layer 0, head 0\nposition 1 \(\S+\) attends to 0 \(BOS\)\nweight /);
    assert(cell!.endsWith(w.toFixed(3)), `${cell} for ${w}`);
    const loss = await hover(page, "#loss-hover", 0);
    assert.equal(loss?.split("\n")[0], "step 1");
    assert(loss!.includes(`loss ${r.loss.losses[0].toFixed(4)} nats`), loss);
    // At the right end, a pixel holds more than one of the 1000 steps: whichever step it
    // names, the value must be that step's.
    const last = await hover(page, "#loss-hover", 0.9999);
    const step = Number(last?.match(/^step (\d+)\n/)?.[1]);
    assert(step >= 998 && step <= 1000, last);
    assert(last!.includes(`loss ${r.loss.losses[step - 1].toFixed(4)} nats`), last);
    assert.match(await hover(page, "#wte-scatter [data-tip]") ?? "", /^\S+: \(-?\d/);
  });
  await t.step("moving the temperature slider redraws the bars", async () => {
    const served = [...html.matchAll(/<rect class="bar"[^>]* height="([\d.]+)"/g)].map((m) =>
      +m[1]
    );
    const atRun = await barHeights(page);
    assert.deepEqual(atRun.flat(), served, "the script draws what the page was written with");
    await setTemperature(page, 1.5);
    const hot = await barHeights(page);
    assert.notDeepEqual(hot, atRun);
    hot.forEach((bars, k) => assert(Math.max(...bars) <= Math.max(...atRun[k]) + 0.01, "flatter"));
    assert.equal(await page.evaluate("document.getElementById('temp-value').textContent"), "1.50");
    await setTemperature(page, 0);
    for (const bars of await barHeights(page)) {
      assert.deepEqual(bars.filter((h) => h > 0), [110], "T = 0: all on the likeliest token");
    }
    await setTemperature(page, r.settings.temperature);
    assert.deepEqual(await barHeights(page), atRun);
  });
}

Deno.test({
  name: skip === undefined
    ? "the report page in headless Chromium"
    : `the report page in headless Chromium (skipped: ${skip})`,
  ignore: skip !== undefined,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "microgpt-report-" });
    const browser = await Browser.launch(findChromium()!);
    try {
      const page = await browser.newPage();
      await page.viewport(1100, 900);
      const { html } = await pageOfRun([], fastEngine);
      await t.step(
        "the default run's page, as --report writes it",
        (t) => defaultPage(t, page, dir, html, recordRun(fastEngine)),
      );
      await t.step("data that looks like markup stays text", () => hostilePage(page, dir));
      await t.step("a page written mid-run loads clean and says what is to come", async () => {
        const r = tinyReport({
          status: "training",
          attention: [],
          temperature: undefined,
          samples: [],
        });
        await openClean(page, dir, "midrun.html", renderReport(r));
        assert.equal(
          await page.evaluate("document.querySelectorAll('svg.heat, svg.bars').length"),
          0,
        );
        assert.equal(
          await page.evaluate(`document.querySelector('meta[http-equiv="refresh"]').content`),
          "10",
          "a page written mid-run reloads itself",
        );
      });
      await t.step("held-out points show their score on hover", async () => {
        const r = tinyReport({
          data: { source: "t", numDocs: 13, heldOut: 10, chars: ["a", "b", "c"] },
          loss: {
            firstStep: 0,
            losses: [1.5, 1.4, 1.3, 1.2, 1.1, 1.0],
            heldOut: [{ step: 3, nats: 1.25, count: 10 }, { step: 6, nats: 1.125, count: 10 }],
          },
        });
        await openClean(page, dir, "held.html", renderReport(r));
        assert.equal(await page.evaluate("document.querySelectorAll('circle.held').length"), 2);
        assert.equal(
          await hover(page, "circle.held"),
          "held-out loss after step 3\n1.2500 nats = 1.8034 bits",
        );
        // The loss chart's hover names the held-out score at the step under the mouse.
        const at3 = await hover(page, "#loss-hover", 2 / 5, 0.02); // above the point
        assert.match(at3 ?? "", /^step 3\n/);
        assert.match(at3!, /held-out loss after step 3: 1.2500 nats/);
      });
      await t.step("a 300,000-step run's chart hovers over buckets of steps", async () => {
        const n = 300_000;
        const losses = Array.from({ length: n }, (_, i) => 2 + 1 / (1 + i / 1000));
        const r = tinyReport({
          settings: { ...tinyReport().settings, numSteps: n },
          loss: { firstStep: 0, losses, heldOut: [] },
        });
        await openClean(page, dir, "long.html", renderReport(r));
        assert.match(await hover(page, "#loss-hover", 0.5) ?? "", /^steps \d+-\d+\nloss mean /);
      });
    } finally {
      await browser.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** A report whose every string tries to break out of its place in the page. */
async function hostilePage(page: Page, dir: string): Promise<void> {
  const evil = `</script><script>window.pwned=1</script><img src=x onerror="window.pwned=2">&amp;`;
  const command = `deno run microgpt.ts --prefix '${evil}' "quoted" & more`;
  const r = tinyReport({
    command,
    samples: [evil, `<b>"&'</b>`],
    data: { source: evil, numDocs: 3, heldOut: 0, chars: ["<", "&", `"`] },
    lossSummary: evil,
  });
  r.attention[0].text = evil;
  r.temperature!.text = evil;
  await openClean(page, dir, "hostile.html", renderReport(r));
  const seen = await page.evaluate<Record<string, unknown>>(`({
    pwned: window.pwned ?? null,
    scripts: document.scripts.length,
    images: document.images.length,
    command: document.getElementById("command").textContent,
    commandChildren: document.getElementById("command").children.length,
    samples: [...document.querySelectorAll("#samples li")].map((li) => li.textContent),
    labels: [...document.querySelectorAll("#wte-scatter text.tok")].map((t) => t.textContent),
  })`);
  assert.deepEqual(seen, {
    pwned: null,
    scripts: 2,
    images: 0,
    command,
    commandChildren: 0,
    samples: [evil, `<b>"&'</b>`],
    labels: ["<", "&", `"`, "BOS"],
  });
}
