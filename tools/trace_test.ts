// Tests for tools/trace.ts (the writer) and for the traces the engines write with --trace. The
// comparison with microgpt.py itself runs when the environment variable MICROGPT_PY names a
// microgpt.py (and python3 is on PATH); it says skipped otherwise. Nothing here reads ../shared.

import assert from "node:assert/strict";
import bundledInput from "../input.txt" with { type: "text" };
import { DEFAULTS, parseDocs } from "../microgpt.ts";
import { fastEngine } from "../microgpt_fast.ts";
import { graphEngine } from "./engine.ts";
import { isControl } from "./messages.ts";
import { CLI, file, stepLines, tmp } from "./testing.ts";
import {
  docsSha256,
  type ForwardStage,
  sumOfSquares,
  TRACE_FORMAT,
  TRACE_VERSION,
  traceJSON,
  TraceWriter,
} from "./trace.ts";
import { diffTraces } from "./trace_diff.ts";
import { parseTrace } from "./trace_read.ts";
import { runIn, signalAfter, traced } from "./testdata/traced.ts";

Deno.test("traceJSON writes shortest round-trip numbers, -0, non-finite values as strings", () => {
  assert.equal(
    traceJSON({ a: [0.1 + 0.2, 1e-8, 5e-324, -0, 3], b: "x\ny", c: 42n, d: null }),
    '{"a":[0.30000000000000004,1e-8,5e-324,-0,3],"b":"x\\ny","c":42,"d":null}',
  );
  assert.equal(traceJSON([NaN, Infinity, -Infinity]), '["NaN","Infinity","-Infinity"]');
  assert.equal(traceJSON(new Float64Array([0.5, -1.25])), "[0.5,-1.25]");
  // Python's repr writes 1e-08 and 1e+21 where JavaScript writes 1e-8 and 1e+21: the same number.
  assert.equal(JSON.parse(traceJSON(1e-8)), JSON.parse("1e-08"));
  assert.equal(traceJSON(123456789012345678901234567890n), "123456789012345678901234567890");
});

Deno.test("sumOfSquares sums left to right from 0, over a slice", () => {
  const xs = [0.1, 0.7, 1e-3, 3.3, -2.1];
  let s = 0;
  s = s + 0.7 * 0.7;
  s = s + 1e-3 * 1e-3;
  s = s + 3.3 * 3.3;
  assert.equal(sumOfSquares(xs, 1, 4), s);
  assert.equal(sumOfSquares([]), 0);
  assert.equal(sumOfSquares(new Float64Array([3, 4])), 25);
});

Deno.test("docsSha256 hashes the documents joined by newlines as UTF-8 (CPython's hashlib)", () => {
  // hashlib.sha256("\n".join(["emma", "zoë", "😀x"]).encode()).hexdigest()
  assert.equal(
    docsSha256(["emma", "zoë", "😀x"]),
    "3bfcc769f7b090031f90c4b4c8ad6c94959ff53a6ba7d7f59b6e976921948699",
  );
  assert.equal(
    docsSha256([]),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
});

Deno.test("the header records microgpt.py's settings, vocabulary, documents and engine", () => {
  const lines: string[] = [];
  const w = new TraceWriter((l) => lines.push(l));
  const docs = ["ab", "ba", "c"];
  w.header({ engine: "x.ts", settings: DEFAULTS, chars: ["a", "b", "c"], docs, shuffledDocs: [] });
  const h = JSON.parse(lines[0]);
  assert.deepEqual(Object.keys(h), [
    "kind",
    "format",
    "version",
    "engine",
    "settings",
    "vocab",
    "bos",
    "vocab_size",
    "num_docs",
    "docs_sha256",
    "shuffled_sha256",
    "num_params",
  ]);
  assert.equal(h.format, TRACE_FORMAT);
  assert.equal(h.version, TRACE_VERSION);
  assert.deepEqual(h.settings, {
    n_layer: 1,
    n_embd: 16,
    block_size: 16,
    n_head: 4,
    init_std: 0.08,
    learning_rate: 0.01,
    beta1: 0.85,
    beta2: 0.99,
    eps_adam: 1e-8,
    num_steps: 1000,
    temperature: 0.5,
    num_samples: 20,
    seed: 42,
  });
  assert.equal(h.bos, 3);
  assert.equal(h.vocab_size, 4);
  assert.equal(h.num_docs, 3);
  assert.equal(h.docs_sha256, docsSha256(docs));
  assert.equal(h.num_params, 2 * 4 * 16 + 16 * 16 + 12 * 16 * 16);
  assert.throws(() =>
    w.header({ engine: "", settings: DEFAULTS, chars: [], docs, shuffledDocs: [] })
  );
});

Deno.test("init and step records cut the flat lists by the matrices' shapes", () => {
  const lines: string[] = [];
  const w = new TraceWriter((l) => lines.push(l));
  assert.throws(() => w.init([["a", 1, 1]], [1]), /before the header/);
  w.header({ engine: "t", settings: DEFAULTS, chars: ["a"], docs: ["a"], shuffledDocs: ["a"] });
  assert.throws(() =>
    w.step({ step: 0, doc: 0, tokens: [], lr: 0, loss: 0, grads: [], weights: [] })
  );
  assert.throws(() => w.init([["a", 2, 2]], [1, 2, 3]), /4 weights, the model 3/);
  lines.length = 1;
  w.init([["a", 1, 2], ["b", 2, 1]], new Float64Array([1, 2, 3, 4]));
  w.step({
    step: 0,
    doc: 5,
    tokens: [1, 0, 1],
    lr: 0.01,
    loss: 2.5,
    grads: [1, 1, 2, 0],
    weights: [0, 1, 1, 1],
  });
  const [a, b, s] = lines.slice(1).map((l) => JSON.parse(l));
  assert.deepEqual(a, { kind: "init", matrix: "a", rows: 1, cols: 2, sumsq: 5, values: [1, 2] });
  assert.deepEqual(b, { kind: "init", matrix: "b", rows: 2, cols: 1, sumsq: 25, values: [3, 4] });
  assert.deepEqual(s, {
    kind: "step",
    step: 0,
    doc: 5,
    tokens: [1, 0, 1],
    lr: 0.01,
    loss: 2.5,
    grad_sumsq: { a: 2, b: 4 },
    weight_sumsq: { a: 1, b: 2 },
  });
});

/** Feeds one position's stages to an observer, for a model of width 2, 1 layer, 1 head. */
function feedPosition(
  stage: (pos: number, s: ForwardStage, v: number[], l?: number, h?: number) => void,
  skip?: ForwardStage,
) {
  const e = [0.5, -0.5];
  for (const s of ["embedding", "norm"] as const) if (s !== skip) stage(0, s, e);
  for (
    const s of ["norm_attn", "q", "k", "v", "heads_out", "attn_out", "norm_mlp", "mlp_out"] as const
  ) {
    if (s !== skip) stage(0, s, e, 0);
  }
  if (skip !== "attn") stage(0, "attn", [1], 0, 0);
  if (skip !== "mlp_hidden") stage(0, "mlp_hidden", [0, 1, 0, 2, 0, 0, 3, 0], 0);
  if (skip !== "logits") stage(0, "logits", [0.1, 0.2]);
}

Deno.test("the forward observer writes one record per position and refuses a missing stage", () => {
  const cfg = { ...DEFAULTS, nLayer: 1, nEmbd: 2, nHead: 1 };
  const lines: string[] = [];
  const w = new TraceWriter((l) => lines.push(l));
  w.header({ engine: "t", settings: cfg, chars: ["a"], docs: ["a"], shuffledDocs: ["a"] });
  const obs = w.forward(3);
  feedPosition((...a) => obs.stage(...a));
  obs.target(0, 1, 0, 0.25);
  const r = JSON.parse(lines[1]);
  assert.deepEqual(Object.keys(r), [
    "kind",
    "step",
    "pos",
    "token",
    "target",
    "embedding",
    "norm",
    "layers",
    "logits",
    "prob",
  ]);
  assert.equal(r.step, 3);
  assert.deepEqual(r.layers[0].attn, [[1]]);
  assert.deepEqual(Object.keys(r.layers[0]), [
    "norm_attn",
    "q",
    "k",
    "v",
    "attn",
    "heads_out",
    "attn_out",
    "norm_mlp",
    "mlp_hidden",
    "mlp_out",
  ]);
  for (const skip of ["norm", "k", "attn", "mlp_hidden", "logits"] as const) {
    const o = w.forward(0);
    feedPosition((...a) => o.stage(...a), skip);
    assert.throws(() => o.target(0, 1, 0, 0.5), /lacks/, skip);
  }
  const detailed = new TraceWriter(() => {}, [4, 6]);
  detailed.header({ engine: "t", settings: cfg, chars: ["a"], docs: [], shuffledDocs: [] });
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((s) => detailed.observerFor(s) !== undefined), [
    true,
    false,
    false,
    true,
    false,
    true,
    false,
  ]);
  const o = w.forward(0);
  o.stage(0, "q", [1, 2, 3], 0);
  assert.throws(() => o.stage(0, "q", [1, 2], 0), /twice/);
  assert.equal(lines.length, 2);
});

/** The bundled names' first 300 lines, as a file: a text for the runs below. */
const names = CLI ? file("trace-names.txt", bundledInput.split("\n").slice(0, 300).join("\n")) : "";
const small = ["--input", names, "--n-layer", "2", "--n-embd", "8", "--n-head", "2"];

Deno.test(
  "a run's trace is well-formed: a header, the matrices, the steps, the positions, the samples",
  { ignore: !CLI },
  async () => {
    const args = [...small, "--block-size", "8", "--steps", "4", "--samples", "4"];
    const { trace: text } = await traced([...args, "--trace-detail", "3", "--holdout", "50"]);
    const lines = text.trimEnd().split("\n");
    const kinds = lines.map((l) => JSON.parse(l).kind);
    const docs = parseDocs(Deno.readTextFileSync(names));
    const trace = parseTrace(text, "t");
    assert.equal(kinds[0], "header");
    assert.equal(kinds.filter((k) => k === "header").length, 1);
    assert.equal(trace.header.engine, "microgpt.ts");
    assert.equal(trace.init.length, 3 + 6 * 2);
    assert.deepEqual([...trace.steps.keys()], [0, 1, 2, 3]);
    assert.deepEqual([...trace.forward.keys()], [0, 2]);
    for (const [s, positions] of trace.forward) {
      const tokens = trace.steps.get(s)!.tokens;
      assert.equal(positions.length, tokens.length - 1);
      positions.forEach((p, i) => {
        assert.equal(p.pos, i);
        assert.equal(p.token, tokens[i]);
        assert.equal(p.target, tokens[i + 1]);
        assert.equal(p.layers.length, 2);
        assert.equal((p.layers[1].attn as number[][])[1].length, i + 1);
        assert(p.prob > 0 && p.prob < 1);
      });
    }
    // Forward records come while the step computes, before its step record.
    assert.deepEqual(kinds.slice(1 + trace.init.length, 1 + trace.init.length + 2), [
      "forward",
      "forward",
    ]);
    assert.equal(trace.samples.length, 4);
    assert.equal(trace.header.data.num_docs, docs.length);
    assert.equal(trace.header.data.docs_sha256, docsSha256(docs));
    for (const s of trace.samples) {
      assert.equal(s.tokens.length, s.probs.length);
      assert(s.text.length === s.tokens.length || s.text.length === s.tokens.length - 1);
    }
    const step = trace.steps.get(1)!;
    assert.equal(step.lr, 0.01 * (1 - 1 / 4));
    // The documents trained on are the shuffled ones without the 50 held out: step k reads k % 250.
    assert.equal(step.doc, 1);
    assert.deepEqual([...step.grad.keys()], trace.init.map((r) => r.matrix));
  },
);

Deno.test("tracing changes nothing a run prints, draws or saves, in either engine", {
  ignore: !CLI,
}, async () => {
  for (const engine of [graphEngine, fastEngine]) {
    const args = [...small, "--steps", "30", "--samples", "5", "--holdout", "20"];
    const plain = await runIn([...args, "--save", `${tmp}/plain.json`], engine);
    const withTrace = await traced([...args, "--save", `${tmp}/traced.json`], engine);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(withTrace.stdout, plain.stdout);
    assert.equal(withTrace.stderr, plain.stderr);
    // The checkpoint holds the weights, Adam's moments and the random generator's whole state.
    assert.equal(
      Deno.readTextFileSync(`${tmp}/traced.json`),
      Deno.readTextFileSync(`${tmp}/plain.json`),
    );
  }
});

Deno.test(
  "both engines write the default run's trace alike: identical, but for the engine's name",
  { ignore: !CLI },
  async () => {
    const detail = ["--trace-detail", "2,500,1000"];
    const graph = await traced(detail, graphEngine);
    const fast = await traced(detail, fastEngine);
    assert.equal(fast.stdout, graph.stdout);
    const a = parseTrace(graph.trace, "graph.jsonl");
    const b = parseTrace(fast.trace, "fast.jsonl");
    assert.equal(b.header.engine, "microgpt_fast.ts");
    assert.equal(
      fast.trace.replace('"engine":"microgpt_fast.ts"', '"engine":"microgpt.ts"'),
      graph.trace,
    );
    const report = diffTraces(a, b, { exact: true });
    assert.deepEqual(report.lines, [
      "identical",
      "compared: header, initial weights, steps 1-1000, forward passes at steps 1-2, 500, 1000, " +
      "samples 1-20",
    ]);
  },
);

// ---------------------------------------------------------------------------------------------
// Against microgpt.py

// deno.json's test permissions include this one environment variable: `MICROGPT_PY=path/to/
// microgpt.py deno test -P` runs the comparison (without -P, add --allow-env=MICROGPT_PY).
const envGranted =
  Deno.permissions.querySync({ name: "env", variable: "MICROGPT_PY" }).state === "granted";
const microgptPy = envGranted ? Deno.env.get("MICROGPT_PY") : undefined;
const tracer = new URL("./trace_microgpt.py", import.meta.url).pathname;

function hasPython(): boolean {
  try {
    return new Deno.Command("python3", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

const python = hasPython();
const whyNoPy = !python
  ? "python3 is not on PATH"
  : !envGranted
  ? "no permission to read MICROGPT_PY: add --allow-env=MICROGPT_PY"
  : microgptPy === undefined
  ? "MICROGPT_PY is not set"
  : !isFile(microgptPy)
  ? `MICROGPT_PY=${microgptPy} is not a file`
  : "";

/** Runs the tracer in `cwd`. */
function runTracer(cwd: string, args: string[]) {
  const out = new Deno.Command("python3", {
    args: [tracer, ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
  })
    .outputSync();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

Deno.test({
  name: "microgpt.py's trace (tools/trace_microgpt.py) and both engines' agree over 3 steps",
  ignore: whyNoPy !== "",
  async fn() {
    const dir = Deno.makeTempDirSync();
    try {
      Deno.writeTextFileSync(`${dir}/input.txt`, bundledInput);
      const py = runTracer(dir, [
        microgptPy!,
        "--trace",
        "py.jsonl",
        "--steps",
        "3",
        "--trace-detail",
        "2",
      ]);
      assert.equal(py.code, 0, py.stderr);
      assert.match(
        py.stderr,
        /^trace: wrote py\.jsonl: 3 steps \(forward detail at step 1, 2\), 20 samples\n$/,
      );
      const b = parseTrace(Deno.readTextFileSync(`${dir}/py.jsonl`), "py");
      assert.equal(b.header.engine, "microgpt.py");
      for (const engine of [graphEngine, fastEngine]) {
        // The default run (its learning rate decays over 1000 steps, as microgpt.py's), stopped
        // after its third step as a Ctrl-C would stop it.
        const path = `${tmp}/three-${engine.name}.jsonl`;
        const ts = await runIn(
          ["--trace", path, "--trace-detail", "2"],
          engine,
          (io) => signalAfter(() => stepLines(io.stdout).length >= 3),
        );
        assert.equal(ts.code, 130, ts.stderr);
        assert.deepEqual(stepLines(ts.stdout), stepLines(py.stdout)); // microgpt.py's own lines
        const a = parseTrace(Deno.readTextFileSync(path), "ts");
        const report = diffTraces(a, b);
        assert.equal(report.exitCode, 0, report.lines.join("\n"));
        assert.equal(
          report.lines[1],
          "compared: header, initial weights, steps 1-3, forward passes at steps 1-2, " +
            "samples not compared (only one trace has them)",
        );
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

if (whyNoPy !== "") console.log(`skipped: the comparison with microgpt.py (${whyNoPy})`);

Deno.test({
  name: "the tracer refuses bad input with one error line and exit 2, and replaces no file",
  ignore: !python,
  fn() {
    const dir = Deno.makeTempDirSync();
    try {
      const notMicrogpt = `${dir}/hello.py`;
      Deno.writeTextFileSync(notMicrogpt, "print('hello')\n");
      Deno.writeTextFileSync(`${dir}/broken.py`, "def (:\n");
      const cases: [string[], RegExp][] = [
        [[], /name the microgpt\.py/],
        [[`${dir}/none.py`, "--trace", "t.jsonl"], /none\.py: no such file/],
        [[dir, "--trace", "t.jsonl"], /is a directory/],
        [[notMicrogpt], /--trace PATH is needed/],
        [[notMicrogpt, "--trace", "t.jsonl", "--steps", "x"], /--steps takes a whole number/],
        [[notMicrogpt, "--trace", "t.jsonl", "--bogus"], /unknown option --bogus/],
        [[notMicrogpt, "--trace", "t.jsonl"], /does not look like microgpt\.py: .*cannot find/],
        [[`${dir}/broken.py`, "--trace", "t.jsonl"], /is not Python/],
      ];
      for (const [args, message] of cases) {
        const r = runTracer(dir, args);
        assert.equal(r.code, 2, `${args}: ${r.stderr}`);
        assert.equal(r.stdout, "");
        assert.match(r.stderr, /^error: [^\n]*\n$/);
        assert.match(r.stderr, message);
      }
      assert.throws(() => Deno.statSync(`${dir}/t.jsonl`));
      if (whyNoPy === "") {
        // microgpt.py itself: without input.txt, and with a --trace path that is no trace.
        const r = runTracer(dir, [microgptPy!, "--trace", "t.jsonl"]);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /^error: no input\.txt in the working directory/);
        Deno.writeTextFileSync(`${dir}/input.txt`, "ab\nba\n");
        Deno.writeTextFileSync(`${dir}/notes.txt`, "my notes\n");
        const s = runTracer(dir, [microgptPy!, "--trace", "notes.txt"]);
        assert.equal(s.code, 2);
        assert.match(
          s.stderr,
          /^error: --trace notes\.txt exists and is not a trace: not replacing it\n$/,
        );
        assert.equal(Deno.readTextFileSync(`${dir}/notes.txt`), "my notes\n");
        const i = runTracer(dir, [microgptPy!, "--trace", "input.txt"]);
        assert.match(i.stderr, /^error: --trace input\.txt is the training text/);
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "the tracer escapes control and bidi characters in its messages, refuses /proc, /sys and a detail step past the last",
  ignore: !python,
  fn() {
    const dir = Deno.makeTempDirSync();
    try {
      const notMicrogpt = `${dir}/hello.py`;
      Deno.writeTextFileSync(notMicrogpt, "print('hello')\n");
      Deno.symlinkSync("/proc/self/fd/1", `${dir}/out.jsonl`);
      const cases: [string[], string][] = [
        [["a\x1b[31mb", "--trace", "p.jsonl"], "a\\x1b[31mb: no such file"],
        [["a\u202eb\nc.py", "--trace", "p.jsonl"], "a\\u202eb\\nc.py: no such file"],
        [[notMicrogpt, "--\x1b[2J"], "unknown option --\\x1b[2J ("],
        [
          [notMicrogpt, "--trace", "/proc/self/fd/1"],
          "cannot write the trace /proc/self/fd/1: it is in /proc: /proc holds views of the " +
          "running system, not files to write",
        ],
        [
          [notMicrogpt, "--trace", "out.jsonl"],
          "cannot write the trace out.jsonl: it links to /proc/self/fd/1: /proc holds views",
        ],
        [[notMicrogpt, "--trace", "/sys/\x1b"], "cannot write the trace /sys/\\x1b: it is in /sys"],
        [
          [notMicrogpt, "--trace", "t.jsonl", "--trace-detail", "5", "--steps", "2"],
          "--trace-detail 5 is past the run's last step, 2",
        ],
      ];
      for (const [args, message] of cases) {
        const r = runTracer(dir, args);
        assert.equal(r.code, 2, `${args}: ${r.stderr}`);
        assert.equal(r.stdout, "");
        assert.match(r.stderr, /^error: [^\n]*\n$/);
        assert(r.stderr.includes(message), r.stderr);
        const raw = [...r.stderr.slice(0, -1)].filter((ch) => isControl(ch) || ch === "\u202e");
        assert.deepEqual(raw, [], r.stderr);
      }
      assert.throws(() => Deno.statSync(`${dir}/t.jsonl`));
      if (whyNoPy === "") {
        // microgpt.py's own num_steps (1000), read from its source before it runs.
        Deno.writeTextFileSync(`${dir}/input.txt`, "ab\nba\n");
        const r = runTracer(dir, [microgptPy!, "--trace", "t.jsonl", "--trace-detail", "1001"]);
        assert.equal(r.code, 2);
        assert.equal(r.stdout, "");
        assert.equal(r.stderr, "error: --trace-detail 1001 is past the run's last step, 1000\n");
        assert.throws(() => Deno.statSync(`${dir}/t.jsonl`));
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
