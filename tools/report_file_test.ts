// Tests for report_file.ts: --report in a run. The page a run writes is the page of the run
// recorded directly; both engines write it alike; it is rewritten at the start and at each
// tenth, written on a stop and at the end; its path is checked before training; a failed write
// costs nothing but the page. The tests that spawn the scripts need run/read/write: they run
// under `deno test -P` and are ignored (listed as such) otherwise.

import assert from "node:assert/strict";
import { DEFAULTS, parseDocs, Tokenizer } from "../microgpt.ts";
import { fastEngine } from "../microgpt_fast.ts";
import { type Engine, graphEngine, numParams, type Trainer } from "./engine.ts";
import { parseCommandLine } from "./flags.ts";
import { renderReport } from "./report.ts";
import { commandLine, heldOutPoint, ReportFile, sourceOf, tenths } from "./report_file.ts";
import { masked, pageOfRun, recordRun } from "./report_testing.ts";
import { run } from "./run.ts";
import {
  Captured,
  CLI,
  cli,
  FAST,
  file,
  interrupted,
  refused,
  runScript,
  SCRIPT,
  stepLines,
  tmp,
} from "./testing.ts";

const SHORT = ["--steps", "30", "--samples", "4", "--holdout", "40", "--n-layer", "2"];

Deno.test({
  name: "--report writes the page of the run, as recorded directly from the engine's hooks",
  ignore: !CLI,
  fn: async () => {
    const { html, code } = await pageOfRun(SHORT, graphEngine);
    assert.equal(code, 0);
    const direct = recordRun(graphEngine, {
      cfg: { numSteps: 30, numSamples: 4, nLayer: 2 },
      holdout: 40,
      args: [...SHORT, "--report", `${tmp}/report.html`],
    });
    assert.equal(masked(html), masked(renderReport(direct)));
    // What the comparison set aside is only the time.
    assert.equal(masked(html).match(/<span id="time"><\/span>/g)?.length, 1);
    assert.equal(direct.loss.heldOut.length, 10);
  },
});

Deno.test({
  name: "both engines write the same page: byte for byte but the engine's name and the time",
  ignore: !CLI,
  fn: async () => {
    const graph = await pageOfRun(SHORT, graphEngine);
    const fast = await pageOfRun(SHORT, fastEngine);
    assert.notEqual(graph.html, fast.html);
    assert.equal(masked(fast.html), masked(graph.html));
    assert.equal(fast.stdout, graph.stdout);
    // The scripts themselves, from the command line, to the same path one after the other.
    const path = `${tmp}/both.html`;
    const pages: string[] = [];
    for (const script of [SCRIPT, FAST]) {
      const r = await runScript(script, [...SHORT, "--report", path], [
        "--allow-read",
        "--allow-write",
      ]);
      assert.equal(r.code, 0, r.stderr);
      pages.push(Deno.readTextFileSync(path));
    }
    assert.equal(masked(pages[1]), masked(pages[0]));
    assert(pages[0].includes(`<code class="engine">microgpt.ts</code>`));
    assert(pages[1].includes(`<code class="engine">microgpt_fast.ts</code>`));
  },
});

Deno.test({
  name: "--report changes nothing a run prints, but one line on stderr saying where the page is",
  ignore: !CLI,
  fn: async () => {
    const args = ["--steps", "20", "--samples", "3"];
    const plain = await cli(args);
    const path = `${tmp}/quiet.html`;
    const reported = await cli([...args, "--report", path]);
    assert.equal(reported.code, 0);
    assert.equal(reported.stdout, plain.stdout);
    const bytes = Deno.statSync(path).size;
    assert.equal(
      reported.stderr,
      plain.stderr + `report: ${path} (${bytes.toLocaleString("en-US")} bytes); open it in a ` +
        `browser\n`,
    );
  },
});

/** A trainer that learns nothing and counts the pages written while it "trains". */
function countingRun(numSteps: number, path: string): { file: ReportFile; seen: string[] } {
  const cfg = { ...DEFAULTS, numSteps, numSamples: 0 };
  const tok = new Tokenizer(parseDocs("ab\nba\n"));
  const weights = new Float64Array(numParams(cfg, tok.vocabSize));
  const trainer = { weights: () => weights } as unknown as Trainer;
  const opts = parseCommandLine(["--steps", String(numSteps), "--report", path]);
  const seen: string[] = [];
  const file = new ReportFile({
    target: path,
    path,
    engine: graphEngine,
    opts,
    cfg,
    tok,
    docs: ["ab", "ba"],
    holdout: 0,
    prefix: "",
    from: 0,
    trainer,
    onTemp: (tmp) => {
      if (tmp === null) seen.push(Deno.readTextFileSync(path).match(/training: step \d+/)![0]);
    },
  });
  return { file, seen };
}

Deno.test({
  name: "the page is written before the first step and rewritten at each tenth of the run",
  ignore: !CLI,
  fn: () => {
    const { file, seen } = countingRun(25, `${tmp}/tenths.html`);
    for (let step = 0; step < 25; step++) file.step(step, 1);
    assert.deepEqual(seen, [
      "training: step 0",
      ...[3, 5, 8, 10, 13, 15, 18, 20, 23, 25].map((s) => `training: step ${s}`),
    ]);
    assert.deepEqual([...tenths(25)], [3, 5, 8, 10, 13, 15, 18, 20, 23, 25]);
    assert.deepEqual([...tenths(4)], [1, 2, 3, 4], "a short run: at each step it has");
    assert.deepEqual([...tenths(0)], []);
    // The held-out scores go on the page as the scoring gives them, through one adapter.
    assert.deepEqual(heldOutPoint(9, { loss: 2.5 }, 40), { step: 10, nats: 2.5, count: 40 });
  },
});

Deno.test("the page's command runs the run again; its source names the text", () => {
  assert.equal(
    commandLine(fastEngine, ["--steps", "30", "--prefix", "a b", "--report", "r.html"]),
    "deno run --allow-read --allow-write microgpt_fast.ts --steps 30 --prefix 'a b' " +
      "--report r.html",
  );
  assert.equal(sourceOf(undefined), "input.txt (bundled)");
  assert.equal(sourceOf("-"), "standard input");
  assert.equal(sourceOf("names.txt"), "names.txt");
});

Deno.test({
  name: "cli: --report is refused before training where it would replace what must be kept",
  ignore: !CLI,
  fn: async () => {
    const data = file("report_text.txt", "emma\nava\n");
    const why = (what: string) => new RegExp(`would replace ${what}; choose another path`);
    await refused(["--input", data, "--report", data], 1, why("the training text"));
    await refused(
      ["--report", `${tmp}/x.json`, "--save", `${tmp}/x.json`],
      1,
      /--save .*the --report file/,
    );
    await refused(
      ["--report", `${tmp}/x.tsv`, "--log", `${tmp}/x.tsv`],
      1,
      /--log .*the --report file/,
    );
    const saved = `${tmp}/report_saved.json`;
    assert.equal((await cli(["--steps", "2", "--samples", "0", "--save", saved])).code, 0);
    await refused(["--load", saved, "--report", saved], 1, why("the --load file"));
    await refused(["--resume", saved, "--report", saved], 1, why("the --resume file"));
    await refused(["--report", "-"], 2, /--report writes a file: name one/);
    await refused(["--report", tmp], 1, /it is a directory/);
    await refused(["--report", `${tmp}/no/such/dir/r.html`], 1, /no such file/);
    await refused(["--report", ""], 2, /--report needs a path/);
    await refused(["--report", `${tmp}/r.html`], 1, /needs read and write permission/, [
      "--allow-read",
    ]);
    // Both engines refuse alike.
    const fast = await runScript(FAST, ["--report", tmp], ["--allow-read", "--allow-write"]);
    assert.equal(fast.code, 1);
    assert.match(fast.stderr, /^error: .*it is a directory\n$/);
  },
});

Deno.test({
  name: "cli: a signal writes the page of the run so far, and the resume command keeps --report",
  ignore: !CLI,
  fn: async () => {
    const dir = Deno.makeTempDirSync({ dir: tmp, prefix: "stop_" });
    const path = `${dir}/run.html`;
    const save = `${dir}/m.json`;
    const stopped = await interrupted(
      FAST,
      ["--steps", "300000", "--report", path, "--save", save],
      "SIGINT",
      (out) => stepLines(out).length >= 2000,
    );
    assert.equal(stopped.status.code, 130, stopped.stderr);
    const at = stopped.stderr.match(/stopped by SIGINT after step (\d+) of 300000/);
    assert(at !== null, stopped.stderr);
    assert.match(stopped.stderr, new RegExp(`resume with: .* --report ${path}`));
    const html = Deno.readTextFileSync(path);
    assert(html.includes(`stopped after step ${at[1]} of 300000`));
    assert(!html.includes(`http-equiv="refresh"`), "a stopped run's page does not reload");
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
      ["m.json", "run.html"],
      "no temporary file is left",
    );
  },
});

/** An engine that trains as `inner` does but removes `dir` after step `at`. */
function removing(inner: Engine, dir: string, at: number): Engine {
  return {
    ...inner,
    create(config, vocabSize, weights) {
      const trainer = inner.create(config, vocabSize, weights);
      return {
        ...trainer,
        train: (docs, tok, onStep, from, eyes) =>
          trainer.train(
            docs,
            tok,
            (step, loss) => {
              if (step === at) Deno.removeSync(dir, { recursive: true });
              return onStep(step, loss);
            },
            from,
            eyes,
          ),
      };
    },
  };
}

Deno.test({
  name: "a page that cannot be written costs the run nothing: it goes on, and says so at the end",
  ignore: !CLI,
  fn: async () => {
    const dir = Deno.makeTempDirSync({ dir: tmp, prefix: "gone_" });
    const args = ["--steps", "40", "--samples", "3"];
    const io = new Captured();
    const code = await run(
      parseCommandLine([...args, "--report", `${dir}/run.html`]),
      removing(fastEngine, dir, 5),
      io,
    );
    const plain = new Captured();
    await run(parseCommandLine(args), fastEngine, plain);
    assert.equal(code, 1);
    assert.equal(io.stdout, plain.stdout, "every step line and sample");
    const last = io.stderr.trimEnd().split("\n").at(-1)!;
    assert.match(
      last,
      /^error: cannot write the report .*run\.html: no such file or directory; training went on/,
    );
  },
});

Deno.test({
  name:
    "the page says what is held out: N documents, or the last lines of the text for --holdout P%",
  ignore: !CLI,
  fn: async () => {
    const rw = ["--allow-read", "--allow-write"];
    const path = `${tmp}/held.html`;
    const byDocs = await runScript(FAST, [...SHORT, "--report", path], rw);
    assert.equal(byDocs.code, 0, byDocs.stderr);
    assert.match(Deno.readTextFileSync(path), /held out<\/td><td class="n">40 documents</);
    const percent = ["--steps", "30", "--samples", "2", "--holdout", "10%", "--report", path];
    const byText = await runScript(FAST, percent, rw);
    assert.equal(byText.code, 0, byText.stderr);
    const page = Deno.readTextFileSync(path);
    const lines = byText.stderr.match(/held out: the last (\d+) lines, (\d+) characters/);
    assert(lines !== null, byText.stderr);
    const said = `the last ${Number(lines[1]).toLocaleString("en-US")} lines of the text (` +
      `${Number(lines[2]).toLocaleString("en-US")} characters and line ends`;
    assert(page.includes(`held out</td><td class="n">${said}`), "the settings' row");
    assert(page.includes(`what is held out, ${said}`), "the loss chart's words");
  },
});

Deno.test({
  name: "a run that ends by an error leaves a page that says so, and does not reload itself",
  ignore: !CLI,
  fn: async () => {
    const path = `${tmp}/failed.html`;
    const r = await runScript(FAST, ["--lr", "1e6", "--steps", "50", "--report", path], [
      "--allow-read",
      "--allow-write",
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: the loss became Infinity at step 2/);
    const page = Deno.readTextFileSync(path);
    assert.match(page, /<b>ended by an error after step 1 of 50 \(the terminal says which\)<\/b>/);
    assert(!page.includes(`http-equiv="refresh"`), "a page of an ended run must not reload");
  },
});
