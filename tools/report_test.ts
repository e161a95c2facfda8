// Tests of the report page's text: what it holds, what it escapes, how big it gets. The browser
// test (report_browser_test.ts) checks that the page renders and behaves.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { renderReport } from "./report.ts";
import { esc } from "./report_svg.ts";
import { pageOfRun, tinyReport } from "./report_testing.ts";
import { CLI } from "./testing.ts";
import { fastEngine } from "../microgpt_fast.ts";

/** Occurrences of `what` in `text`. */
function count(text: string, what: string | RegExp): number {
  return text.split(what).length - 1;
}

Deno.test("the page is one HTML document with every section", () => {
  const html = renderReport(tinyReport());
  assert(html.startsWith("<!DOCTYPE html>"));
  for (const id of ["run", "tokens", "loss", "attention", "embeddings", "temperature"]) {
    assert.deepEqual(count(html, `<section id="${id}">`), 1, id);
  }
  assert.deepEqual(count(html, `<section id="samples-section">`), 1);
  assert.deepEqual(count(html, `<svg class="heat"`), 2 * 2, "a heat map per layer and head");
  assert.deepEqual(count(html, `<svg class="bars"`), 3, "a bar chart per draw");
  assert.deepEqual(count(html, `class="bar"`), 3 * 4, "a bar per token per draw");
  assert.deepEqual(count(html, `<text class="tok"`), 4, "a label per token");
  assert.deepEqual(count(html, `<text class="pos"`), 4, "a label per position");
  assert.deepEqual(count(html, `<span class="tok`), 4, "a box per token of the document");
  assert(html.includes(`<pre id="loss-summary">loss: mean 1.2500`));
});

Deno.test("the page loads nothing: no URL, and a policy that forbids fetching", () => {
  const html = renderReport(tinyReport());
  assert.deepEqual(count(html, /\b(src|href)=/g), 0);
  assert.deepEqual(count(html, "://"), 0);
  assert.deepEqual(count(html, "@import"), 0);
  assert.deepEqual(count(html, "url("), 0);
  assert(html.includes(`content="default-src 'none';`));
});

Deno.test("the policy's hash is the hash of the page's one script", () => {
  const html = renderReport(tinyReport());
  const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)];
  assert.deepEqual(scripts.length, 1);
  const hash = createHash("sha256").update(scripts[0][1]).digest("base64");
  assert(html.includes(`script-src 'sha256-${hash}'`));
});

Deno.test("everything from data is escaped: characters, samples, command, source", () => {
  const evil = `</script><script>window.pwned=1</script><img src=x onerror="pwned=1">&amp;'`;
  const chars = ["<", "&", `"`, "'", ">"];
  const r = tinyReport({
    command: `deno run microgpt.ts --prefix '${evil}'`,
    data: { source: evil, numDocs: 3, heldOut: 0, chars: chars.slice(0, 3) },
    samples: [evil, "<b>bold</b>"],
    prefix: `<"&'>`,
    lossSummary: evil,
  });
  r.attention[0].text = evil;
  r.temperature!.text = evil;
  r.temperature!.draws[1].soFar = "<&";
  r.tokens = { doc: "<&", ids: [3, 0, 1, 3] };
  const html = renderReport(r);
  assert.deepEqual(count(html, "<script"), 2, "the data block and the page's script only");
  assert.deepEqual(count(html, "<img"), 0);
  assert.deepEqual(count(html, "<b>bold"), 0);
  const data = html.slice(html.indexOf(`id="report-data">`), html.lastIndexOf("<script>"));
  assert.deepEqual(count(data, "</script"), 1, "only the data block's own end");
  assert(html.includes(esc(`deno run microgpt.ts --prefix '${evil}'`)));
  assert(html.includes("&#60;/script&#62;&#60;script&#62;window.pwned=1"));
});

Deno.test("the page of a 300,000-step run weighs about what a 1000-step run's does", () => {
  const small = renderReport(tinyReport());
  const n = 300_000;
  const losses = Array.from({ length: n }, (_, i) => 2 + 1 / (1 + i / 1000) + 0.3 * Math.sin(i));
  const big = renderReport(
    tinyReport({
      settings: { ...tinyReport().settings, numSteps: n },
      loss: { firstStep: 0, losses, heldOut: [{ step: 30_000, nats: 2.4, count: 100 }] },
    }),
  );
  const extra = big.length - small.length;
  assert(extra < 80_000, `the long run adds ${extra} bytes`);
});

Deno.test("the default run's page stays near 110 kB", { ignore: !CLI }, async () => {
  const { html } = await pageOfRun([], fastEngine);
  const bytes = new TextEncoder().encode(html).length;
  // Measured 109,082 bytes on 2026-11-30 (as `microgpt.ts --report run.html` writes it); the
  // bound leaves room for wording, not for a change of how the data is stored.
  assert(bytes > 80_000 && bytes < 130_000, `${bytes} bytes`);
});

Deno.test("a page written mid-run says what is still to come", () => {
  const html = renderReport(
    tinyReport({ status: "training", attention: [], temperature: undefined, samples: [] }),
  );
  assert(html.includes("training: step 6 of 6"));
  assert.deepEqual(count(html, "sampling has not started yet"), 3);
  assert.deepEqual(count(html, `<svg class="heat"`), 0);
  assert.deepEqual(count(html, `id="temp-slider"`), 0);
});

Deno.test("held-out points are drawn with nats and bits", () => {
  const page = (bits?: number) =>
    renderReport(
      tinyReport({
        data: {
          source: "t",
          numDocs: 13,
          heldOut: 10,
          heldOutWhat: "10 documents",
          chars: ["a", "b", "c"],
        },
        loss: {
          firstStep: 0,
          losses: [1.5, 1.4, 1.3, 1.2, 1.1, 1.0],
          heldOut: [{ step: 3, nats: 1.3862943611198906, bits, count: 10 }],
        },
      }),
    );
  const html = page();
  assert.deepEqual(count(html, `<circle class="held"`), 1);
  assert(html.includes("1.3863 nats = 2.0000 bits"));
  assert(!html.includes("bits per character"), "nats per token are not bits per character");
  assert(html.includes("the loss on what is held out, 10 documents,"));
  // A scoring that counts characters says so, with its own figure.
  assert(page(1.75).includes("1.3863 nats = 1.7500 bits per character"));
});

Deno.test("a run of 0 steps, and a temperature off the slider's grid, render", () => {
  const r = tinyReport({ loss: { firstStep: 0, losses: [], heldOut: [] } });
  r.settings = { ...r.settings, numSteps: 0, temperature: 2.73 };
  const html = renderReport(r);
  assert(html.includes(`<title>microgpt run: microgpt.ts, 0 steps</title>`));
  // The slider must hold the run's own temperature exactly, or the page would redraw the bars
  // at another one when it loads.
  assert(html.includes(`max="2.73" step="any" value="2.73"`));
});

Deno.test("a large vocabulary draws the 64 likeliest tokens, the drawn one among them", () => {
  const chars = Array.from({ length: 99 }, (_, i) => String.fromCodePoint(0x4e00 + i));
  const logits = Array.from({ length: 100 }, (_, i) => -i / 10);
  const r = tinyReport({
    data: { source: "cjk.txt", numDocs: 3, heldOut: 0, chars },
    embeddings: {
      wte: Array.from({ length: 100 }, (_, i) => [i, i % 7, 0, 1]),
      wpe: tinyReport().embeddings.wpe,
    },
    tokens: { doc: chars[0], ids: [99, 0, 99] },
    temperature: { sample: 0, text: "x", draws: [{ soFar: "", logits, drawn: 98 }] },
  });
  const html = renderReport(r);
  const from = html.indexOf(`<svg class="bars"`);
  const bars = html.slice(from, html.indexOf("</svg>", from));
  assert.deepEqual(count(bars, `class="bar"`), 64);
  assert(bars.includes(`>${chars[0]}</text>`), "the likeliest token has its bar");
  assert(bars.includes(`>${chars[98]}</text>`), "so has the drawn one, unlikely as it was");
  assert(!bars.includes(`>${chars[70]}</text>`), "an unlikely one that was not drawn has none");
});
