// Tests for tools/trace_diff.ts. The traces are the graph engine's, written by a run's --trace on
// a two-layer model: perturbed by hand (one number at one place), or from a variant of the engine
// with a classic porting bug planted (tools/testdata/variants.ts).

import assert from "node:assert/strict";
import { fastEngine } from "../microgpt_fast.ts";
import { type Engine, graphEngine } from "./engine.ts";
import { CLI, file, stepLines, tmp } from "./testing.ts";
import { backwardOrder } from "./trace_compare.ts";
import { DEFAULT_TOLERANCE, type DiffReport, diffTraces } from "./trace_diff.ts";
import { parseTrace } from "./trace_read.ts";
import { runIn, signalAfter } from "./testdata/traced.ts";
import { type Bugs, variantEngine } from "./testdata/variants.ts";

// A small text for the runs below (made only where the tests may write: under deno test -P).
const text = CLI
  ? file(
    "diff-names.txt",
    "emma\nolivia\nava\nisabella\nsophia\nmia\namelia\nharper\nevelyn\nabigail\n",
  )
  : "";
const tiny = ["--input", text, "--n-layer", "2", "--n-embd", "8", "--n-head", "2"];

let count = 0;

/** The lines of the trace of the tiny run by `engine`, as far as it went (a bug may make the loss
 * NaN, which stops the run). */
async function lines(engine: Engine = graphEngine): Promise<string[]> {
  const path = `${tmp}/diff-${++count}.jsonl`;
  const args = [...tiny, "--block-size", "8", "--steps", "4", "--samples", "3", "--trace", path];
  await runIn(args, engine);
  return Deno.readTextFileSync(path).trimEnd().split("\n");
}

const base = CLI ? await lines() : [];

type Rec = Record<string, unknown> & { kind: string };

/** A copy of `trace` with `change` applied to the records `pick` chooses. */
function perturb(trace: string[], pick: (r: Rec) => boolean, change: (r: Rec) => void): string[] {
  let changed = 0;
  const out = trace.map((line) => {
    const r = JSON.parse(line) as Rec;
    if (!pick(r)) return line;
    change(r);
    changed++;
    return JSON.stringify(r);
  });
  assert(changed > 0, "the perturbation touched no record");
  return out;
}

function diff(a: string[], b: string[], options = {}): DiffReport {
  return diffTraces(
    parseTrace(a.join("\n"), "a.jsonl"),
    parseTrace(b.join("\n"), "b.jsonl"),
    options,
  );
}

/** The record of step `s`. */
const step = (s: number) => (r: Rec) => r.kind === "step" && r.step === s;

Deno.test("identical traces: 'identical', exit 0, and what was compared", { ignore: !CLI }, () => {
  const report = diff(base, base.slice());
  assert.equal(report.exitCode, 0);
  assert.deepEqual(report.lines, [
    "identical",
    "compared: header, initial weights, steps 1-4, forward passes at steps 1, samples 1-3",
  ]);
});

Deno.test("a perturbed gradient names its matrix and the one backward() reached before it", {
  ignore: !CLI,
}, () => {
  const order = backwardOrder(
    (base.map((l) => JSON.parse(l)).filter((r) => r.kind === "init")).map((r) => r.matrix),
  );
  for (let i = 0; i < order.length; i++) {
    const m = order[i];
    const b = perturb(base, step(2), (r) => {
      const g = r.grad_sumsq as Record<string, number>;
      g[m] *= 1 + 1e-6;
    });
    const report = diff(base, b);
    assert.equal(report.exitCode, 1);
    assert.equal(report.lines[0], `diverged at step 3: the gradient of ${m} (sum of squares)`);
    const before = i === 0 ? "the loss" : `${order[i - 1]}'s gradient`;
    assert.match(
      report.lines[4],
      new RegExp(
        `^ {2}everything agrees up to ${before} and parts at ${m}'s gradient: look between them — `,
      ),
    );
    assert.match(report.lines[3], /^ {2}relative difference 1\.0e-6 \(tolerance 1e-9\)$/);
  }
  const fc1 = perturb(
    base,
    step(0),
    (r) => ((r.grad_sumsq as Record<string, number>)["layer0.mlp_fc1"] *= 2),
  );
  assert.equal(
    diff(base, fc1).lines[4],
    "  everything agrees up to layer0.mlp_fc2's gradient and parts at layer0.mlp_fc1's gradient: " +
      "look between them — " +
      "the ReLU's backward (the gradient passes where the input was > 0, else 0), then " +
      "mlp_fc1's linear backward",
  );
  const head = perturb(
    base,
    step(0),
    (r) => ((r.grad_sumsq as Record<string, number>).lm_head *= 2),
  );
  assert.match(
    diff(base, head).lines[4],
    /up to the loss and parts at lm_head's gradient: .*softmax\/cross-entropy backward/,
  );
});

Deno.test("a perturbed forward stage names the step, position, layer, head and stage", {
  ignore: !CLI,
}, () => {
  const b = perturb(base, (r) => r.kind === "forward" && r.pos === 3, (r) => {
    const layer = (r.layers as Record<string, number[][]>[])[1];
    layer.attn[1][2] += 1e-7;
  });
  const report = diff(base, b);
  assert.equal(
    report.lines[0],
    "diverged at step 1, position 3, layer 1, head 1: the attention weights, over position 2",
  );
  assert.match(
    report.lines[4],
    /^ {2}everything agrees up to the attention weights \(head 0\) and parts at the attention weights \(head 1\): look between them — the attention weights: per head, q·k/,
  );
  const hidden = perturb(base, (r) => r.kind === "forward" && r.pos === 2, (r) => {
    (r.layers as Record<string, number[]>[])[0].mlp_hidden[5] = 0.5;
  });
  const h = diff(base, hidden);
  assert.equal(
    h.lines[0],
    "diverged at step 1, position 2, layer 0: the MLP's hidden layer (after the ReLU), index 5",
  );
  assert.match(
    h.lines[4],
    /^ {2}everything agrees up to the RMSNorm before the MLP and parts at the MLP's hidden layer \(after the ReLU\): look between them — mlp_fc1's projection, then the ReLU/,
  );
});

Deno.test(
  "a header that differs is a setup mismatch, reported before any number",
  { ignore: !CLI },
  () => {
    const b = perturb(base, (r) => r.kind === "header", (r) => {
      (r.settings as Record<string, number>).learning_rate = 0.02;
      r.docs_sha256 = "0".repeat(64);
    });
    const report = diff(base, b);
    assert.equal(report.exitCode, 1);
    assert.equal(report.verdict, "setup");
    assert.match(report.lines[0], /^setup differs: /);
    assert.deepEqual(report.lines.slice(1), [
      "  settings.learning_rate: A 0.01, B 0.02",
      `  docs_sha256: A ${JSON.parse(base[0]).docs_sha256}, B ${"0".repeat(64)}`,
    ]);
    // The same documents in another order: the shuffle, an algorithm's divergence.
    const shuffled = perturb(base, (r) => r.kind === "header", (r) => (r.shuffled_sha256 = "x"));
    const s = diff(base, shuffled);
    assert.equal(s.verdict, "diverged");
    assert.equal(s.lines[0], "diverged at the documents' order after the shuffle (SHA-256)");
    assert.match(s.lines.join("\n"), /random\.shuffle/);
  },
);

Deno.test("the tolerance lets last-bit differences agree; --exact demands bit equality", {
  ignore: !CLI,
}, () => {
  const b = perturb(base, step(1), (r) => (r.loss = (r.loss as number) * (1 + 1e-13)));
  const within = diff(base, b);
  assert.equal(within.exitCode, 0);
  assert.match(
    within.lines[0],
    /^agree within 1e-9 \(largest relative difference 1\.0e-13, at step 2: the loss\)$/,
  );
  assert.equal(DEFAULT_TOLERANCE, 1e-9);
  const exact = diff(base, b, { exact: true });
  assert.equal(exact.exitCode, 1);
  assert.equal(exact.lines[0], "diverged at step 2: the loss");
  assert.equal(exact.lines[3], "  relative difference 1.0e-13 (--exact demands bit equality)");
  assert.equal(diff(base, b, { tolerance: 1e-14 }).exitCode, 1);
  assert.equal(diff(base, b, { tolerance: 1e-12 }).exitCode, 0);
});

Deno.test("only the steps both traces have are compared; samples only after the same training", {
  ignore: !CLI,
}, async () => {
  // The tiny run stopped after its second step, as a Ctrl-C stops it: no samples.
  const path = `${tmp}/stopped.jsonl`;
  const args = [...tiny, "--block-size", "8", "--steps", "4", "--samples", "3", "--trace", path];
  const stopped = await runIn(
    args,
    graphEngine,
    (io) => signalAfter(() => stepLines(io.stdout).length >= 2),
  );
  assert.equal(stopped.code, 130);
  const short = Deno.readTextFileSync(path).trimEnd().split("\n");
  assert.deepEqual(diff(base, short).lines, [
    "identical",
    "compared: header, initial weights, steps 1-2 (A has 4, B 2), forward passes at steps 1, " +
    "samples not compared (only one trace has them)",
  ]);
  const withSamples = [...short, ...base.filter((l) => JSON.parse(l).kind === "sample")];
  assert.deepEqual(diff(base, withSamples).lines.slice(1), [
    "compared: header, initial weights, steps 1-2 (A has 4, B 2), forward passes at steps 1, " +
    "samples not compared (they follow different trainings)",
  ]);
});

Deno.test("a port that only sums in another order agrees within the default tolerance", {
  ignore: !CLI,
}, async () => {
  const reversed = await lines(variantEngine({ reversedSums: true }));
  const report = diff(base, reversed);
  assert.equal(report.verdict, "within");
  assert.match(
    report.lines[0],
    /^agree within 1e-9 \(largest relative difference \d\.\de-1[4-7], at /,
  );
  assert.equal(diff(base, reversed, { exact: true }).exitCode, 1);
});

// ---------------------------------------------------------------------------------------------
// The classic bugs of a port, planted in the graph engine: the first divergence each one causes.

async function bug(bugs: Bugs): Promise<DiffReport> {
  return diff(base, await lines(variantEngine(bugs)));
}

Deno.test("the engine the bugs are planted in is the graph engine when none is planted", {
  ignore: !CLI,
}, async () => {
  const report = diff(base, await lines(variantEngine({})), { exact: true });
  assert.equal(report.lines[0], "identical");
});

Deno.test("a wrong ReLU gradient: the first layer backward() reaches, its mlp_fc1", {
  ignore: !CLI,
}, async () => {
  const r = await bug({ reluGrad: true });
  assert.equal(r.lines[0], "diverged at step 1: the gradient of layer1.mlp_fc1 (sum of squares)");
  assert.match(
    r.lines[4],
    /up to layer1\.mlp_fc2's gradient and parts at layer1\.mlp_fc1's gradient: look between them — the ReLU's backward/,
  );
});

Deno.test("a missing attention scale: the attention weights at the second position", {
  ignore: !CLI,
}, async () => {
  const r = await bug({ noAttentionScale: true });
  // At position 0 a head attends to one position only: weight 1, scaled or not.
  assert.equal(
    r.lines[0],
    "diverged at step 1, position 1, layer 0, head 0: the attention weights, over position 0",
  );
  assert.match(
    r.lines[4],
    /^ {2}everything agrees up to v and parts at the attention weights \(head 0\): look between them — .*divided by √head_dim/,
  );
});

Deno.test(
  "Adam's bias correction at step instead of step + 1: the first update",
  { ignore: !CLI },
  async () => {
    const r = await bug({ adamBiasAtStep: true });
    assert.equal(r.lines[0], "diverged at step 1: wte's weights after the update (sum of squares)");
    assert.match(r.lines[2], /^ {2}B: NaN /);
    assert.match(
      r.lines[4],
      /up to the learning rate lr_t and parts at wte's weights after the update: look between them — Adam's update: .*bias correction/,
    );
  },
);

Deno.test(
  "integer division in the learning-rate decay: the second step's lr_t",
  { ignore: !CLI },
  async () => {
    const r = await bug({ lrIntegerDivision: true });
    assert.equal(r.lines[0], "diverged at step 2: the learning rate lr_t");
    assert.match(
      r.lines[4],
      /up to wte's gradient and parts at the learning rate lr_t: .*float division/,
    );
  },
);

Deno.test("RMSNorm's eps: the first norm of the first position", { ignore: !CLI }, async () => {
  const r = await bug({ rmsnormEps: 1e-6 });
  assert.equal(r.lines[0], "diverged at step 1, position 0: the RMSNorm of the embedding, index 0");
  assert.match(
    r.lines[4],
    /^ {2}everything agrees up to the embedding wte\[token\] \+ wpe\[pos\] and parts at the RMSNorm of the embedding: look between them — RMSNorm: .*1e-5/,
  );
});

Deno.test("the init draws in another order: the first weight out of place, and the same draws", {
  ignore: !CLI,
}, async () => {
  const r = await bug({ initColumnMajor: true });
  assert.equal(r.lines[0], "diverged at initial weights: wte's weights, row 0, col 1");
  assert.match(r.lines[4], /the order of the init draws/);
  assert.match(
    r.lines[5],
    /^ {2}B's value there is A's at row \d+, col \d+: the same draws in another order$/,
  );
});

Deno.test("the KV cache kept from one sample to the next: the second sample's first draw", {
  ignore: !CLI,
}, async () => {
  const r = await bug({ kvCacheKept: true });
  assert.match(
    r.lines[0],
    /^diverged at sample 2, position 0: the (drawn token's probability|token drawn)$/,
  );
  assert.match(r.lines[4], /the KV cache must start empty for each sample/);
});

// ---------------------------------------------------------------------------------------------
// The command line

const differ = new URL("./trace_diff.ts", import.meta.url).pathname;

function cli(args: string[]) {
  const out = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", differ, ...args],
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

Deno.test("the command prints the verdict and exits 0 identical or within, 1 diverged", {
  ignore: !CLI,
}, () => {
  const dir = Deno.makeTempDirSync();
  try {
    const write = (name: string, trace: string[]) => {
      Deno.writeTextFileSync(`${dir}/${name}`, trace.join("\n") + "\n");
      return `${dir}/${name}`;
    };
    const a = write("a.jsonl", base);
    const same = cli([a, write("same.jsonl", base)]);
    assert.equal(same.code, 0);
    assert.equal(same.stdout.split("\n")[0], "identical");
    const b = write(
      "b.jsonl",
      perturb(base, step(0), (r) => (r.loss = (r.loss as number) * (1 + 1e-15))),
    );
    const within = cli([a, b, "--stats"]);
    assert.equal(within.code, 0);
    assert.match(within.stdout, /^agree within 1e-9 \(/);
    assert.match(within.stdout, /\n {2}loss {5}1\.\de-15 {2}at step 1: the loss\n/);
    const exact = cli([a, b, "--exact"]);
    assert.equal(exact.code, 1);
    assert.match(exact.stdout, /^diverged at step 1: the loss\n/);
    assert.equal(exact.stderr, "");
    assert.equal(cli([a, b, "--tolerance=1e-16"]).code, 1);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("unreadable input: one error line, exit 2, nothing on stdout", { ignore: !CLI }, () => {
  const dir = Deno.makeTempDirSync();
  try {
    const good = `${dir}/good.jsonl`;
    Deno.writeTextFileSync(good, base.join("\n"));
    const files: Record<string, string | Uint8Array> = {
      "notjson.jsonl": "hello\n",
      "array.jsonl": "[1, 2]\n",
      "nottrace.jsonl": '{"kind":"step","step":0}\n',
      "v2.jsonl": '{"kind":"header","format":"microgpt trace","version":2}\n',
      "empty.jsonl": "",
      "latin1.jsonl": new Uint8Array([0x7b, 0xe9, 0x7d, 0x0a]),
      "noloss.jsonl": perturb(base, step(1), (r) => delete r.loss).join("\n"),
      "unknown.jsonl": [...base, '{"kind":"weather"}'].join("\n"),
    };
    for (const [name, content] of Object.entries(files)) {
      if (typeof content === "string") Deno.writeTextFileSync(`${dir}/${name}`, content);
      else Deno.writeFileSync(`${dir}/${name}`, content);
    }
    const cases: [string[], RegExp][] = [
      [[good, `${dir}/missing.jsonl`], /missing\.jsonl: no such file/],
      [[good, dir], /is a directory/],
      [[good, `${dir}/notjson.jsonl`], /line 1 is not JSON/],
      [[good, `${dir}/array.jsonl`], /line 1 is not a JSON object/],
      [
        [`${dir}/nottrace.jsonl`, good],
        /is not a trace: its first line is not a "microgpt trace" header/,
      ],
      [[good, `${dir}/v2.jsonl`], /is trace format version 2; this differ reads version 1/],
      [[good, `${dir}/empty.jsonl`], /is empty, not a trace/],
      [[good, `${dir}/latin1.jsonl`], /is not UTF-8 text/],
      [[good, `${dir}/noloss.jsonl`], /line \d+: "loss" is missing or not a number/],
      [[good, `${dir}/unknown.jsonl`], /unknown record kind "weather"/],
      [[good], /name two traces/],
      [[good, good, "--tolerance", "abc"], /--tolerance takes a number/],
      [[good, good, "--exact", "--tolerance", "1"], /exclude each other/],
      [[good, good, "--fast"], /unknown option --fast/],
    ];
    for (const [args, message] of cases) {
      const r = cli(args);
      assert.equal(r.code, 2, `${args}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, /^error: [^\n]*\n$/);
      assert.match(r.stderr, message);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test(
  "a last line cut short (a kill -9, a full disk) is left out and said so; not one mid-file",
  {
    ignore: !CLI,
  },
  () => {
    const dir = Deno.makeTempDirSync();
    try {
      const write = (name: string, text: string) => {
        Deno.writeTextFileSync(`${dir}/${name}`, text);
        return `${dir}/${name}`;
      };
      const a = write("a.jsonl", base.join("\n") + "\n");
      // Killed in the middle of its last step: 3 steps whole, the 4th cut, no samples.
      const lastStep = base.findLastIndex((l) => JSON.parse(l).kind === "step");
      const inStep = write(
        "in-step.jsonl",
        base.slice(0, lastStep).join("\n") + "\n" + base[lastStep].slice(0, 100),
      );
      const r = cli([a, inStep]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(
        r.stdout,
        "identical\ncompared: header, initial weights, steps 1-3 (A has 4, B 3), forward passes " +
          "at steps 1, samples not compared (only one trace has them); left out: B's last line (line " +
          `${lastStep + 1}), cut short (its writer stopped mid-line)\n`,
      );
      assert.match(
        cli([inStep, inStep]).stdout,
        /; left out: A's last line \(line \d+\) and B's \(line \d+\), cut short \(their writers/,
      );
      // Cut in its last sample: the samples both have are compared.
      const inSample = write(
        "in-sample.jsonl",
        base.slice(0, -1).join("\n") + "\n" + base[base.length - 1].slice(0, 30),
      );
      const s = cli([inSample, a]);
      assert.equal(s.code, 0, s.stderr);
      assert.match(
        s.stdout,
        new RegExp(
          `^identical\ncompared: header, initial weights, steps 1-4, forward passes at steps 1, ` +
            `samples 1-2 \\(A has 2, B 3\\); left out: A's last line \\(line ${base.length}\\), ` +
            `cut short \\(its writer stopped mid-line\\)\n$`,
        ),
      );
      // The same cut line in the middle of a trace is no trace.
      const mid = write(
        "mid.jsonl",
        [...base.slice(0, lastStep), base[lastStep].slice(0, 100), ...base.slice(lastStep)]
          .join("\n") + "\n",
      );
      const m = cli([a, mid]);
      assert.equal(m.code, 2);
      assert.equal(m.stdout, "");
      assert.equal(
        m.stderr,
        `error: ${mid}: line ${lastStep + 1} is not JSON: not a trace (JSON Lines)\n`,
      );
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
);

Deno.test(
  "a run held out of its text, or read as a stream, is set up differently: not a divergence",
  {
    ignore: !CLI,
  },
  async () => {
    const args = [...tiny, "--block-size", "8", "--steps", "4", "--samples", "3"];
    const headerOf = (lines: string[]) => JSON.parse(lines[0]);
    const traceOf = async (extra: string[], engine: Engine) => {
      const path = `${tmp}/setup-${++count}.jsonl`;
      const r = await runIn([...args, ...extra, "--trace", path], engine);
      assert.equal(r.code, 0, r.stderr);
      return Deno.readTextFileSync(path).trimEnd().split("\n");
    };
    // Without them, the header has neither field: microgpt.py's setup, as its tracer writes it.
    assert.equal(headerOf(base).holdout, undefined);
    assert.equal(headerOf(base).stream, undefined);
    for (const engine of [graphEngine, fastEngine]) {
      const cases: [string[], string, string][] = [
        [["--holdout", "20%"], "  holdout: A none, B 20%", '"holdout":"20%"'],
        [["--holdout", "2"], "  holdout: A none, B 2 documents", '"holdout":2'],
        [
          ["--stream"],
          "  the text read as: A lines, B one stream of characters (--stream)",
          '"stream":true',
        ],
      ];
      for (const [extra, line, field] of cases) {
        const other = await traceOf(extra, engine);
        assert(other[0].includes(field), other[0]);
        const report = diff(base, other);
        assert.equal(report.verdict, "setup", report.lines.join("\n"));
        assert.equal(report.exitCode, 1);
        assert(report.lines.includes(line), report.lines.join("\n"));
        assert(!report.lines.join("\n").includes("shuffle"));
      }
      // The same setup twice compares as any two runs do.
      const held = await traceOf(["--holdout", "20%"], engine);
      assert.equal(
        diff(held, await traceOf(["--holdout", "20%"], graphEngine)).verdict,
        "identical",
      );
    }
  },
);

Deno.test("cli: traces larger than a string can hold are compared, a line at a time", {
  ignore: !CLI,
}, () => {
  // 520 steps of 1 MiB each (a key the differ does not know pads them): 520 MiB, more than the
  // longest string V8 makes (512 MiB), which a differ reading the file whole fails on.
  const path = `${tmp}/long.jsonl`;
  const file = Deno.openSync(path, { write: true, create: true, truncate: true });
  const encoder = new TextEncoder();
  const write = (line: string) => {
    const bytes = encoder.encode(line + "\n");
    for (let done = 0; done < bytes.length;) done += file.writeSync(bytes.subarray(done));
  };
  const records = base.map((l) => JSON.parse(l) as Rec);
  const header = records[0];
  (header.settings as Record<string, number>).num_steps = 520;
  write(JSON.stringify(header));
  for (const r of records) if (r.kind === "init") write(JSON.stringify(r));
  const last = records.findLast((r) => r.kind === "step")!;
  const pad = "x".repeat(1 << 20);
  for (let s = 0; s < 520; s++) write(JSON.stringify({ ...last, step: s, pad }));
  file.close();
  try {
    assert(Deno.statSync(path).size > 2 ** 29);
    const r = cli([path, path]);
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    assert.equal(r.stdout, "identical\ncompared: header, initial weights, steps 1-520\n");
  } finally {
    Deno.removeSync(path);
  }
});

// ---------------------------------------------------------------------------------------------
// PORTING.md shows what the differ prints for each classic bug, on microgpt.py's settings.

/** The classic bugs as PORTING.md shows them: the file name of the broken trace, and the bug. */
const CLASSIC_BUGS: [string, Bugs][] = [
  ["relu.jsonl", { reluGrad: true }],
  ["scale.jsonl", { noAttentionScale: true }],
  ["adam.jsonl", { adamBiasAtStep: true }],
  ["lr.jsonl", { lrIntegerDivision: true }],
  ["eps.jsonl", { rmsnormEps: 1e-6 }],
  ["init.jsonl", { initColumnMajor: true }],
  ["kv.jsonl", { kvCacheKept: true }],
];

/** What the differ prints for a bug planted in a 20-step run of microgpt.py's settings. */
async function classicVerdicts(): Promise<[string, string][]> {
  const run = async (engine: Engine) => {
    const path = `${tmp}/classic-${++count}.jsonl`;
    await runIn(["--steps", "20", "--trace", path], engine);
    return Deno.readTextFileSync(path);
  };
  const ts = parseTrace(await run(graphEngine), "ts.jsonl");
  const verdicts: [string, string][] = [];
  for (const [name, bugs] of CLASSIC_BUGS) {
    const report = diffTraces(ts, parseTrace(await run(variantEngine(bugs)), name));
    verdicts.push([name, report.lines.join("\n")]);
  }
  return verdicts;
}

Deno.test(
  "PORTING.md shows each classic bug's verdict as the differ prints it",
  { ignore: !CLI },
  async () => {
    const guide = Deno.readTextFileSync(new URL("../PORTING.md", import.meta.url));
    for (const [name, printed] of await classicVerdicts()) {
      assert(printed.startsWith("diverged at "), printed);
      assert(
        guide.includes("```text\n" + printed + "\n```"),
        `PORTING.md lacks ${name}'s:\n${printed}`,
      );
    }
  },
);
