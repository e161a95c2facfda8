/**
 * The experiment of the article's last question, "why microGPT fails on Shakespeare": one reason
 * at a time. Five arms, each a run of microgpt_fast.ts on the same text with `--holdout 10%`:
 *
 * 0. microgpt's defaults (1 layer, n_embd 16, block 16, a line per document);
 * 1. context: `--block-size 64`;
 * 2. context and continuity: `--block-size 64 --stream`;
 * 3. capacity: `--n-layer 4 --n-embd 64`, at block 16;
 * 4. all three.
 *
 * Every arm trains on the same number of characters, not steps: a step trains on one document,
 * and a document holds up to block-size targets, so at equal steps a longer block (or a stream
 * piece, always a full block) would see several times the text. "Characters seen" are the targets
 * a run is trained on: each document's min(block size, characters + 1) — its characters and its
 * line end, cut at the block — summed over the steps in the run's own shuffled order. The number
 * of steps is the first at which that sum reaches the budget. Everything else is microgpt's
 * default (the learning rate, its decay over the steps, Adam, seed 42), and every arm is scored
 * on all of the same held-out characters (`--holdout-all`), so the bits per character compare.
 *
 * @example Run it (13 minutes on this project's shared 2-core machine at the default budget)
 * ```sh
 * deno task shakespeare --input tinyshakespeare.txt
 * deno run --allow-read tools/shakespeare.ts --input tinyshakespeare.txt --chars 20000   # a quick look
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Random } from "../microgpt.ts";
import { fastEngine } from "../microgpt_fast.ts";
import type { Engine } from "./engine.ts";
import { readDocs } from "./files.ts";
import { parseCommandLine } from "./flags.ts";
import { splitText, trainedTargets } from "./holdout.ts";
import { CliError, escapeControls } from "./messages.ts";
import { Output } from "./output.ts";
import { run } from "./run.ts";
import { oneLine, trainingDocs } from "./stream.ts";

/** One arm: its name and the flags that make it. */
export interface Arm {
  /** How the table names it. */
  name: string;
  /** The flags it adds to microgpt's defaults. */
  flags: string[];
}

/** The five arms, in the order the table shows them. */
export const ARMS: readonly Arm[] = [
  { name: "0 defaults", flags: [] },
  { name: "1 block 64", flags: ["--block-size", "64"] },
  { name: "2 block 64, stream", flags: ["--block-size", "64", "--stream"] },
  { name: "3 4 layers, n_embd 64", flags: ["--n-layer", "4", "--n-embd", "64"] },
  {
    name: "4 all three",
    flags: ["--block-size", "64", "--stream", "--n-layer", "4", "--n-embd", "64"],
  },
];

/** The default budget of training characters per arm: 12 min 50 s for the five arms with
 * microgpt_fast.ts on this project's shared 2-core machine (measured at a load average of 1.4 to
 * 2.7; the per-arm costs measured first, under a load of ~5, projected ~25 minutes). */
export const DEFAULT_CHARS = 1_200_000;

/** What one arm's run gave. */
export interface ArmResult {
  /** The arm. */
  arm: Arm;
  /** Parameters of its model. */
  params: number;
  /** Training steps. */
  steps: number;
  /** Targets trained on: characters and line ends. */
  chars: number;
  /** Held-out cross-entropy over all held-out characters, in bits per character. */
  bits: number;
  /** Characters and line ends scored on the held-out text. */
  scored: number;
  /** Wall time of the run, in milliseconds. */
  ms: number;
  /** Of that, the held-out scoring's. */
  heldOutMs: number;
  /** The run's samples. */
  samples: string[];
}

/** The first number of steps whose training targets reach `chars` for the run `flags` make. */
export function stepsFor(lines: string[], flags: string[], chars: number): number {
  const cfg = parseCommandLine(flags).cfg;
  const stream = flags.includes("--stream");
  const docs = trainingDocs(splitText(lines, 10).train, stream, cfg.blockSize).slice();
  new Random(cfg.seed).shuffle(docs); // the run's own order: its first draw is this shuffle
  let steps = 0;
  let seen = 0;
  while (seen < chars) {
    seen += trainedTargets([docs[steps % docs.length]], cfg.blockSize, 1);
    steps++;
  }
  return steps;
}

/** A run's output, kept: its samples and stderr lines; held-out lines go on to `progress`. */
class Kept extends Output {
  override readonly terminal = false;
  stdout = "";
  lines: string[] = [];
  constructor(readonly progress: (line: string) => void) {
    super();
  }
  override out(text: string): void {
    if (!text.startsWith("step ")) this.stdout += text; // a step line per step: not needed
  }
  override err(line: string): void {
    this.lines.push(line);
    if (line.includes("held-out")) this.progress(line);
  }
}

/** The samples of a run's stdout, each entry whole (a stream sample spans several lines). */
export function samplesOf(stdout: string): string[] {
  const samples: string[] = [];
  const body = stdout.slice(stdout.indexOf("--- inference"));
  for (const line of body.split("\n").slice(1)) {
    const head = line.match(/^sample +\d+: /);
    if (head !== null) samples.push(line.slice(head[0].length));
    else if (samples.length > 0 && line !== "") {
      samples[samples.length - 1] += "\n" + line.trimStart();
    }
  }
  // A shown line break is "↵" at the end of a line; the text goes on in the next.
  return samples.map((s) => s.replaceAll("↵\n", "\n").replaceAll("↵", "\n"));
}

/** Runs one arm with microgpt_fast.ts, timing the whole run and its held-out scoring. */
export async function runArm(
  input: string,
  lines: string[],
  arm: Arm,
  chars: number,
  progress: (line: string) => void,
  samples = 3,
): Promise<ArmResult> {
  const steps = stepsFor(lines, arm.flags, chars);
  const args = ["--input", input, "--holdout", "10%", "--holdout-all", "--steps", String(steps)];
  const opts = parseCommandLine([...args, "--samples", String(samples), ...arm.flags]);
  let heldOutMs = 0;
  const timed: Engine = {
    ...fastEngine,
    create(config, vocabSize, weights) {
      const trainer = fastEngine.create(config, vocabSize, weights);
      const loss = (tokens: number[]) => {
        const start = performance.now();
        const mean = trainer.loss(tokens);
        heldOutMs += performance.now() - start;
        return mean;
      };
      return { ...trainer, loss };
    },
  };
  const io = new Kept(progress);
  const start = performance.now();
  const code = await run(opts, timed, io);
  const ms = performance.now() - start;
  if (code !== 0) throw new CliError(`arm ${arm.name} failed: ${io.lines.join("; ")}`, 1);
  const last = io.lines.filter((l) => l.includes("held-out")).at(-1) ?? "";
  const figure = last.match(/= (\d+\.\d+) bits per character, on all (\d+)/);
  if (figure === null) throw new Error(`arm ${arm.name}: no final held-out line in ${last}`);
  const { blockSize, seed } = opts.cfg;
  const docs = trainingDocs(splitText(lines, 10).train, opts.stream, blockSize).slice();
  new Random(seed).shuffle(docs);
  return {
    arm,
    params: Number(io.stdout.match(/num params: (\d+)/)?.[1]),
    steps,
    chars: trainedTargets(docs, blockSize, steps),
    bits: Number(figure[1]),
    scored: Number(figure[2]),
    ms,
    heldOutMs,
    samples: samplesOf(io.stdout),
  };
}

/** The machine's load average over 1, 5 and 15 minutes (other work slows the runs down). */
function loadAverage(): string {
  try {
    return Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
  } catch {
    return "unknown (it needs --allow-sys=loadavg)";
  }
}

/** Minutes and seconds. */
function clock(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
}

/** The table, as Markdown: arm, parameters, steps, characters seen, bits per character, wall
 * time (and the held-out scoring's share of it), the first sample on one line. */
export function table(results: ArmResult[]): string {
  const rows = [
    "| arm | parameters | steps | characters seen | held-out bits/char | wall time (held-out share) | a sample |",
    "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const r of results) {
    const share = ((100 * r.heldOutMs) / r.ms).toFixed(1);
    const sample = escapeControls(oneLine(r.samples[0] ?? "")).replaceAll("|", "\\|");
    rows.push(
      `| ${r.arm.name} | ${r.params} | ${r.steps} | ${r.chars} | ${r.bits.toFixed(4)} | ` +
        `${clock(r.ms)} (${share}%) | \`${sample}\` |`,
    );
  }
  return rows.join("\n") + "\n";
}

const HELP = `Usage: deno task shakespeare --input PATH [--chars N]
   or: deno run --allow-read --allow-sys=loadavg tools/shakespeare.ts --input PATH [--chars N]

Why microGPT fails on Shakespeare, one reason at a time. Runs five arms with microgpt_fast.ts on
the text at PATH (tiny-shakespeare), each holding out its last 10% (--holdout 10% --holdout-all):
  0 defaults             1 layer, n_embd 16, block 16, a line per document
  1 block 64             reason 1, context
  2 block 64, stream     reasons 1 and 2, context and continuity (--stream)
  3 4 layers, n_embd 64  reason 3, capacity (block 16)
  4 all three
Every arm trains on the same number of characters (the targets it is trained on: characters and
line ends, cut at the block), not steps. Prints a progress line at each held-out score, then one
table: arm, parameters, steps, characters seen, held-out bits per character, wall time, a
sample; then three samples per arm.

  --input PATH   the text (needs read permission)
  --chars N      training characters per arm [${DEFAULT_CHARS}]: 13 minutes for all five arms
                 on a shared 2-core AMD EPYC, up to ~25 when it is busy (microgpt_fast.ts
                 trains a character in ~0.3 ms at 4 layers, n_embd 64, ~0.01 ms at the
                 defaults; the time grows with the budget)
  -h, --help     this text
`;

/** The experiment's command line: runs the arms, prints progress and the table; returns the exit
 * code. */
export async function main(args: string[]): Promise<number> {
  try {
    const { values } = parseArgs({
      args,
      options: {
        input: { type: "string" },
        chars: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (values.input === undefined) throw new CliError(`--input PATH is needed (see --help)`, 2);
    const chars = Number(values.chars ?? DEFAULT_CHARS);
    if (!Number.isSafeInteger(chars) || chars < 1) {
      throw new CliError(`--chars must be a whole number >= 1, not ${values.chars}`, 2);
    }
    const lines = readDocs(values.input);
    const began = performance.now();
    console.log(
      `${new Date().toISOString()}, Deno ${Deno.version.deno}, load average ${loadAverage()}; ` +
        `${chars} characters per arm`,
    );
    const results: ArmResult[] = [];
    for (const [k, arm] of ARMS.entries()) {
      const started = performance.now();
      const progress = (line: string) => {
        const at = line.match(/^step +(\d+) \/ +(\d+) \| held-out [\d.]+ nats = ([\d.]+) bits/);
        if (at === null) return;
        console.error(
          `arm ${arm.name} (${k + 1} of ${ARMS.length}): step ${at[1]} of ${at[2]}, held-out ` +
            `${at[3]} bits/char, ${clock(performance.now() - started)} in the arm, ` +
            `${clock(performance.now() - began)} in all`,
        );
      };
      results.push(await runArm(values.input, lines, arm, chars, progress));
    }
    console.log(table(results));
    for (const r of results) {
      console.log(`${r.arm.name}:`);
      for (const s of r.samples) console.log(`  ${escapeControls(oneLine(s))}`);
    }
    const load = loadAverage();
    console.log(
      `all ${results[0]?.scored} held-out characters scored in every arm; ` +
        `total ${clock(performance.now() - began)}; load average at the end ${load}`,
    );
    return 0;
  } catch (err) {
    console.error(`error: ${escapeControls((err as Error).message ?? String(err))}`);
    const usage = String((err as { code?: string }).code).startsWith("ERR_PARSE_ARGS");
    return err instanceof CliError ? err.exitCode : usage ? 2 : 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
