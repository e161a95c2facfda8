/**
 * One run with every tool: microgpt.py's script, in its order, with the command line's files,
 * checkpoints, signals, limits and instruments around it.
 *
 * @module
 */

import { type Draw, padInt, Random, stepLine, Tokenizer } from "../microgpt.ts";
import { attentionMap, sideBySide } from "./attention.ts";
import { type Checkpoint, fingerprint, modelToJSON, readModel } from "./checkpoint.ts";
import { embeddingReport } from "./embeddings.ts";
import { type Engine, graphEngine, initWeights } from "./engine.ts";
import { explainHeader, explainLine } from "./explain.ts";
import { readDocs } from "./files.ts";
import { checkPrefix, type Options } from "./flags.ts";
import { checkSize } from "./limits.ts";
import { checkLogPath, LossLog, lossSummary } from "./loss.ts";
import { CliError, shown, usageError } from "./messages.ts";
import { Output, terminalStepLine } from "./output.ts";
import { loadFor, resumeCommand, resumeFor } from "./resume.ts";
import { checkSavePath, type Guarded, saveText, trainingText } from "./safe_save.ts";
import { SignalWatch } from "./signals.ts";

/** The largest weight, for a message about weights too large to compute with. */
function largestWeight(weights: Float64Array): number {
  let most = 0;
  for (const w of weights) most = Math.max(most, Math.abs(w));
  return most;
}

/** Trains and samples as the options say with `engine`, printing what microgpt.py prints on
 * stdout and everything else on stderr. Returns the exit code. */
export async function run(
  opts: Options,
  engine: Engine = graphEngine,
  io: Output = new Output(),
  watch?: SignalWatch,
): Promise<number> {
  // Everything that can fail is checked before the first line is printed.
  const allDocs = readDocs(opts.input);
  const resumed = opts.resume === undefined
    ? undefined
    : readModel(opts.resume, "--resume", opts.cfg);
  const loaded = opts.load === undefined ? undefined : readModel(opts.load, "--load", opts.cfg);
  let cfg = opts.cfg;
  if (resumed !== undefined) cfg = await resumeFor(resumed, opts, allDocs);
  if (loaded !== undefined) cfg = loadFor(loaded, opts, allDocs);
  const cp = resumed?.checkpoint;
  const holdout = cp?.holdout ?? opts.holdout;
  const prefix = cp !== undefined && !opts.given.has("prefix") ? cp.prefix : opts.prefix;
  const tok = resumed?.tok ?? loaded?.tok ?? new Tokenizer(allDocs);
  if (holdout >= allDocs.length) {
    throw usageError(
      `--holdout ${holdout} leaves no document to train on (the text has ${allDocs.length})`,
    );
  }
  // What a save or a log must never replace: the training text, and each other.
  const text = trainingText(opts.input);
  const logFile: Guarded[] = opts.log === undefined
    ? []
    : [{ what: "the --log file", path: opts.log }];
  const saveTo = opts.save === undefined
    ? undefined
    : checkSavePath(opts.save, "--save", [text, ...logFile]);
  if (opts.log !== undefined) {
    const files: Guarded[] = [text];
    if (saveTo !== undefined) files.push({ what: "the --save file", path: saveTo });
    if (opts.resume !== undefined) files.push({ what: "the --resume file", path: opts.resume });
    if (opts.load !== undefined) files.push({ what: "the --load file", path: opts.load });
    checkLogPath(opts.log, files);
  }
  checkSize(engine, cfg, tok.vocabSize, allDocs);
  checkPrefix(prefix, tok, cfg.blockSize);
  const textSha256 = saveTo !== undefined ? await fingerprint(allDocs) : "";

  // microgpt.py's run: shuffle, tokenizer, parameters. The initial weights are drawn even when
  // a file brings its own, so the generator stands where it would after a fresh init: samples
  // then depend on the weights alone, and a resumed run draws what the first run would have.
  const rng = new Random(cfg.seed);
  const docs = allDocs.slice();
  rng.shuffle(docs);
  const drawn = initWeights(cfg, tok.vocabSize, rng);
  if (cp !== undefined) {
    const state = rng.getState();
    const same = state.index === cp.random.index && state.gaussNext === cp.random.gaussNext &&
      state.mt.every((x, i) => x === cp.random.mt[i]);
    if (!same) {
      throw new CliError(
        `${shown(opts.resume!)} does not fit its own seed and text: its random ` +
          `state differs from the one they give (was it edited?)`,
        1,
      );
    }
    rng.setState(cp.random);
  }
  const weights = resumed?.weights ?? loaded?.weights ?? drawn;
  const fromFile = resumed !== undefined || loaded !== undefined;
  io.out(`num docs: ${docs.length}\n`);
  io.out(`vocab size: ${tok.vocabSize}\n`);
  io.out(`num params: ${weights.length}\n`);

  const trainer = engine.create(cfg, tok.vocabSize, weights);
  if (cp !== undefined) {
    trainer.m.set(cp.m);
    trainer.v.set(cp.v);
  }
  const from = cp?.step ?? 0;
  const trainDocs = docs.slice(0, docs.length - holdout);
  const heldOut = docs.slice(docs.length - holdout);
  const checkpoint = (step: number): Checkpoint => ({
    step,
    m: trainer.m,
    v: trainer.v,
    random: rng.getState(),
    textSha256,
    numDocs: allDocs.length,
    holdout,
    prefix,
  });
  const save = (step: number) =>
    saveText(
      saveTo!,
      opts.save!,
      modelToJSON(cfg, tok, trainer.weights(), checkpoint(step)),
      watch,
    );

  // Training, with the instruments listening.
  const log = opts.log === undefined ? undefined : new LossLog(opts.log, from);
  const evalAt = new Set<number>();
  if (holdout > 0) { for (let k = 1; k <= 10; k++) evalAt.add(Math.ceil((k * cfg.numSteps) / 10)); }
  const losses: number[] = [];
  let stretch = 0; // where the training stretch of the next held-out line starts
  let done = from;
  let stopped = false;
  watch?.arm(); // from here, a first signal finishes the step and saves
  const started = performance.now();
  let shownAt = -Infinity;
  try {
    trainer.train(trainDocs, tok, (step, loss) => {
      done = step + 1;
      losses.push(loss);
      if (!Number.isFinite(loss)) {
        const cause = fromFile && step === from
          ? `the weights from ${shown((opts.resume ?? opts.load)!)} are too large to compute ` +
            `with (the largest is ${largestWeight(weights).toExponential(2)})`
          : resumed !== undefined
          ? `the run's learning rate (${cfg.learningRate}, from ${shown(opts.resume!)}) is ` +
            `too high to continue; start again with a lower --lr`
          : `try a lower --lr (it is ${cfg.learningRate})`;
        throw new CliError(`the loss became ${loss} at step ${step + 1}; ${cause}`, 1);
      }
      if (!io.terminal) io.out(stepLine(step, cfg.numSteps, loss) + "\r");
      else {
        // A terminal shows the line, not the stream: rewriting it a few dozen times a second is
        // enough, and spares a fast engine the cost of drawing every step.
        const now = performance.now();
        if (now - shownAt >= 40 || step + 1 === cfg.numSteps || evalAt.has(step + 1)) {
          io.out(terminalStepLine(step, cfg.numSteps, loss, now - started, step + 1 - from));
          shownAt = now;
        }
      }
      let heldOutLoss: number | undefined;
      if (evalAt.has(step + 1)) {
        let sum = 0;
        for (const doc of heldOut) sum += trainer.loss(tok.encode(doc, cfg.blockSize));
        heldOutLoss = sum / heldOut.length;
        const recent = losses.slice(stretch);
        const mean = recent.reduce((a, b) => a + b, 0) / recent.length;
        if (io.terminal) io.out("\n");
        io.err(
          `step ${padInt(step + 1, 4)} / ${padInt(cfg.numSteps, 4)} | held-out loss ` +
            `${heldOutLoss.toFixed(4)} on ${heldOut.length} documents | training loss ` +
            `${mean.toFixed(4)} over steps ${from + stretch + 1}-${step + 1}`,
        );
        stretch = losses.length;
      }
      log?.row(step, loss, cfg.learningRate * (1 - step / cfg.numSteps), heldOutLoss);
      if (opts.saveEvery !== undefined && done % opts.saveEvery === 0 && done < cfg.numSteps) {
        save(done);
      }
      if (watch !== undefined && watch.signal !== 0) {
        stopped = true;
        return false;
      }
    }, from);
  } finally {
    log?.close();
  }

  let saveError: CliError | undefined;
  if (saveTo !== undefined) {
    try {
      save(done);
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      saveError = err;
    }
  }
  if (watch !== undefined && watch.signal !== 0) stopped = true; // it came during the save
  if (stopped) {
    if (io.terminal) io.out("\n");
    const at = `stopped by ${watch!.name} after step ${done} of ${cfg.numSteps}`;
    if (saveError !== undefined) io.err(`error: ${saveError.message}; ${at}, nothing saved`);
    else if (opts.save !== undefined) {
      io.err(
        `${at}; saved ${shown(opts.save)}; resume with: ${resumeCommand(engine, opts, opts.save)}`,
      );
    } else {
      io.err(
        `${at}; nothing was saved: to keep progress next time, add --save PATH ` +
          `(and --save-every N), then continue with --resume PATH`,
      );
    }
    return watch!.exitCode;
  }

  // Inference: may the model babble back to us.
  io.out("\n--- inference (new, hallucinated names) ---\n");
  const attention: number[][][][] = []; // [layer][head][position] → weights over positions
  let sampledAll = true;
  trainer.generate(tok, rng, prefix, (i, name) => {
    io.out(`sample ${padInt(i + 1, 2)}: ${name}\n`);
    if (i === 0 && opts.attention) {
      const labels = ["<s>", ...prefix, ...name].slice(0, attention[0][0].length);
      const maps = [];
      for (let li = 0; li < cfg.nLayer; li++) {
        for (let h = 0; h < cfg.nHead; h++) {
          maps.push(attentionMap(li, h, labels, attention[li][h]));
        }
      }
      io.out(
        `--- attention of sample 1: rows look at columns, darker = more weight ---\n` +
          sideBySide(maps),
      );
    }
    if (watch !== undefined && watch.signal !== 0) {
      sampledAll = i + 1 === cfg.numSamples;
      return false;
    }
  }, (i) => {
    if (opts.explain && i === 0) io.out(explainHeader(cfg.temperature));
    return {
      onDraw: (draw: Draw) => {
        if (!draw.probs.every(Number.isFinite)) {
          throw new CliError(
            draw.probs1.every(Number.isFinite)
              ? `--temperature ${cfg.temperature} is so small that dividing the logits by it ` +
                `overflows; 0 samples greedily`
              : `the model's logits are not finite numbers: its weights are too large to compute ` +
                `with (the largest is ${largestWeight(trainer.weights()).toExponential(2)})`,
            1,
          );
        }
        if (opts.explain && i === 0) io.out(explainLine(draw, tok));
      },
      onAttention: opts.attention && i === 0
        ? (pos, li, h, w) => {
          ((attention[li] ??= [])[h] ??= [])[pos] = w;
        }
        : undefined,
    };
  });
  if (!sampledAll) {
    io.err(`stopped by ${watch!.name} while sampling`);
    return watch!.exitCode;
  }
  if (opts.embeddings) io.out(embeddingReport(tok, trainer.weights(), cfg.nEmbd));
  // On stderr, so that stdout stays exactly microgpt.py's.
  if (losses.length > 0) io.err(lossSummary(losses, tok.vocabSize));
  // The last lines name whatever went wrong on the way; the model was saved if it could be.
  const problems: string[] = [];
  if (io.failure !== undefined) problems.push(`could not write to stdout (${io.failure})`);
  if (log?.failure !== undefined) problems.push(log.failure);
  if (problems.length > 0 && saveError === undefined) {
    const saved = saveTo !== undefined ? `; ${shown(opts.save!)} was saved` : "";
    io.err(`error: ${problems.join("; ")}; training went on to the end${saved}`);
  } else if (problems.length > 0) io.err(`error: ${problems.join("; ")}`);
  if (saveError !== undefined) io.err(`error: ${saveError.message}`);
  if (problems.length > 0 || saveError !== undefined) return 1;
  return 0;
}
