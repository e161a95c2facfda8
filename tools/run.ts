/**
 * One run with every tool: microgpt.py's script, in its order, with the command line's files,
 * checkpoints, signals, limits and instruments around it. It goes in phases, each a function:
 *
 * 1. `prepare` (tools/plan.ts): everything that can fail is checked before the first line is
 *    printed (the text, a file to resume or load, the files a save and a log may write, sizes,
 *    prefix);
 * 2. `begin`: microgpt.py's start — seed, shuffle, the initial weights — and the three header
 *    lines;
 * 3. `trainAll`: the training loop, with the listeners (step line, held-out scores, log,
 *    periodic saves, signals);
 * 4. `finish`: the final save, or the report of a signal that stopped the run;
 * 5. `sampleAll`: the sampling loop, with `--explain` and `--attention` watching;
 * 6. `conclude`: `--embeddings`, the loss summary, and the exit code.
 *
 * `--trace` listens to every phase from `begin` on (tools/trace_file.ts); `--gradcheck` checks the
 * gradient after `begin` and ends the run there (tools/gradcheck.ts).
 *
 * @example Run in-process (as the tests do): the same bytes as `deno run microgpt.ts --steps 50`
 * ```ts
 * import {run} from "./run.ts";
 * import {parseCommandLine} from "./flags.ts";
 * const code = await run(parseCommandLine(["--steps", "50", "--samples", "3"]));
 * ```
 *
 * @module
 */

import { type Config, type Draw, Random, type SampleWatch } from "../microgpt.ts";
import { ATTENTION_POSITIONS, attentionReport } from "./attention.ts";
import { type Checkpoint, modelToJSON } from "./checkpoint.ts";
import { embeddingReport } from "./embeddings.ts";
import { type Engine, graphEngine, initWeights, type StepHook, type Trainer } from "./engine.ts";
import { explainHeader, explainLine } from "./explain.ts";
import { gradCheck, gradCheckLines } from "./gradcheck.ts";
import type { Options } from "./flags.ts";
import { type HeldOutScore, type HeldOutScorer, HeldOutText, trainedTargets } from "./holdout.ts";
import { HeldOut, LossLog, lossSummary } from "./loss.ts";
import { CliError, shown } from "./messages.ts";
import { Output, StepPrinter } from "./output.ts";
import { type Plan, prepare } from "./plan.ts";
import { heldOutPoint, ReportFile } from "./report_file.ts";
import { resumeCommand } from "./resume.ts";
import { replaces, saveText } from "./safe_save.ts";
import type { SignalWatch } from "./signals.ts";
import { charLabel, sampleEntry } from "./stream.ts";
import { RunTrace } from "./trace_file.ts";

/** Trains and samples as the options say with `engine`, printing what microgpt.py prints on
 * stdout and everything else on stderr. Returns the exit code. */
export async function run(
  opts: Options,
  engine: Engine = graphEngine,
  io: Output = new Output(),
  watch?: SignalWatch,
): Promise<number> {
  // A signal (once training has begun) means: do not wait for a reader that takes nothing.
  if (watch !== undefined) io.stopWaitingWhen(() => watch.signal !== 0);
  const plan = await prepare(opts, engine);
  let state: RunState | undefined;
  try {
    state = begin(plan, io, watch);
    if (opts.gradcheck) return checkGradient(plan, state, io);
    const trained = trainAll(plan, state, io, watch);
    const stopped = finish(plan, state, trained, io, watch);
    if (stopped !== undefined) return stopped;
    if (!sampleAll(plan, state, io, watch)) {
      io.err(`stopped by ${watch!.name} while sampling`);
      return watch!.exitCode;
    }
    return conclude(plan, state, trained, io);
  } catch (err) {
    // A page left saying "training" would reload itself forever: it says how the run ended.
    if (err instanceof CliError) state?.report?.write("failed");
    throw err;
  } finally {
    state?.trace?.close();
  }
}

/** A run under way: its generator, its documents in training order, the model. */
interface RunState {
  rng: Random;
  /** The documents after the shuffle, the held-out ones last. */
  docs: string[];
  /** The weights the run starts from. */
  weights: Float64Array;
  trainer: Trainer;
  /** The step the run starts from: 0, or a checkpoint's. */
  from: number;
  /** The trace, if --trace was given. */
  trace?: RunTrace;
  /** The --report page, if asked for. */
  report?: ReportFile;
}

/** microgpt.py's start: seed, shuffle, the initial weights, and the three header lines. The
 * initial weights are drawn even when a file brings its own, so the generator stands where it
 * would after a fresh init: samples then depend on the weights alone, and a resumed run draws
 * what the first run would have. */
function begin(plan: Plan, io: Output, watch?: SignalWatch): RunState {
  const { cfg, tok, resumed, loaded } = plan;
  const cp = resumed?.checkpoint;
  const rng = new Random(cfg.seed);
  const docs = plan.docs.slice();
  rng.shuffle(docs);
  const drawn = initWeights(cfg, tok.vocabSize, rng);
  if (cp !== undefined) {
    const state = rng.getState();
    const same = state.index === cp.random.index && state.gaussNext === cp.random.gaussNext &&
      state.mt.every((x, i) => x === cp.random.mt[i]);
    if (!same) {
      throw new CliError(
        `${shown(plan.opts.resume!)} does not fit its own seed and text: its random ` +
          `state differs from the one they give (was it edited?)`,
        1,
      );
    }
    rng.setState(cp.random);
  }
  const weights = resumed?.weights ?? loaded?.weights ?? drawn;
  const trainer = plan.engine.create(cfg, tok.vocabSize, weights);
  const from = cp?.step ?? 0;
  const trace = startTrace(plan, docs, trainer, from);
  for (const warning of plan.warnings) io.err(warning);
  io.out(`num docs: ${docs.length}\n`);
  io.out(`vocab size: ${tok.vocabSize}\n`);
  io.out(`num params: ${weights.length}\n`);
  if (cp !== undefined) {
    trainer.m.set(cp.m);
    trainer.v.set(cp.v);
  }
  const report = plan.reportTo === undefined ? undefined : new ReportFile({
    ...plan,
    target: plan.reportTo,
    path: plan.opts.report!,
    docs,
    from,
    trainer,
    onTemp: (tmp) => watch?.saving(tmp),
  });
  return { rng, docs, weights, trainer, from, trace, report };
}

/** --trace's file, opened: the header and the weights the engine holds, or on a resume the trace
 * up to the checkpoint. */
function startTrace(plan: Plan, docs: string[], trainer: Trainer, from: number) {
  const { opts, cfg, tok } = plan;
  if (opts.trace === undefined) return undefined;
  const trace = new RunTrace(opts.trace, opts.traceDetail, plan.traceFile!);
  const trainDocs = docs.slice(0, docs.length - plan.holdout);
  const weights = trainer.weights(); // as the engine holds them
  trace.open({
    engine: plan.engine.name,
    cfg,
    tok,
    allDocs: plan.allDocs,
    docs,
    trainDocs,
    weights,
    from,
    setup: plan,
  });
  return trace;
}

/** --gradcheck: the gradient at the weights the run starts from, on the document its next step
 * would train on. Returns the exit code: 1 if backward() disagrees with the loss. */
function checkGradient(plan: Plan, state: RunState, io: Output): number {
  const { cfg, tok, opts } = plan;
  const split = state.docs.length - plan.holdout;
  const index = state.from % split;
  const doc = state.docs[index];
  const tokens = tok.encode(doc, cfg.blockSize);
  const check = gradCheck(plan.engine, cfg, tok.vocabSize, state.weights, tokens);
  const where = plan.resumed !== undefined
    ? `the weights of ${shown(opts.resume!)} (after step ${state.from})`
    : plan.loaded !== undefined
    ? `the weights of ${shown(opts.load!)}`
    : "the initial weights";
  const shownDoc = doc.length > 40 ? `${doc.slice(0, 40)}…` : doc;
  const what = `document ${index + 1} of ${split} after the shuffle ` +
    `(${JSON.stringify(shownDoc)}, step ${state.from + 1}'s)`;
  for (const line of gradCheckLines(check, where, what)) io.out(line + "\n");
  return check.ok ? 0 : 1;
}

/** Writes the checkpoint of the run at `step` to --save's path; `unprinted` are the losses of
 * the last step lines stdout's reader had not taken when a signal stopped the run. */
function save(
  plan: Plan,
  state: RunState,
  step: number,
  watch?: SignalWatch,
  unprinted: number[] = [],
): void {
  const { cfg, tok, opts } = plan;
  const checkpoint: Checkpoint = {
    step,
    m: state.trainer.m,
    v: state.trainer.v,
    random: state.rng.getState(),
    textSha256: plan.textSha256,
    numDocs: plan.allDocs.length,
    holdout: plan.holdout,
    prefix: plan.prefix,
    unprinted,
  };
  if (plan.stream) checkpoint.stream = true;
  if (plan.holdoutPercent > 0) checkpoint.holdoutPercent = plan.holdoutPercent;
  saveText(
    plan.saveTo!,
    opts.save!,
    modelToJSON(cfg, tok, state.trainer.weights(), checkpoint),
    (tmp) => watch?.saving(tmp),
  );
}

/** How training went: every loss, the steps done, whether a signal stopped it, and what failed
 * on the way without stopping it. */
interface Trained {
  losses: number[];
  done: number;
  stopped: boolean;
  /** The step lines, and which of them stdout's reader may not have taken. */
  printer: StepPrinter;
  /** The checkpoints written so far. */
  saves: Saves;
  /** Why the log was given up, if it was. */
  logFailure?: string;
  /** Why the final save failed, if it did. */
  saveError?: CliError;
  /** The step (from 1) whose held-out score a signal abandoned, if one did. */
  unscored?: number;
}

/** The checkpoints of a run: the last one known to be whole at --save's path, and the failure of
 * a periodic save being told (its repeats are not told again until a save works). */
interface Saves {
  /** The step of the last checkpoint known whole at --save's path, if any. */
  good?: number;
  /** The failure told last. */
  failing?: string;
  /** Periodic saves that failed since the last one that worked. */
  failed: number;
}

/** The training loop, with the instruments listening to each step. */
function trainAll(plan: Plan, state: RunState, io: Output, watch?: SignalWatch): Trained {
  const { cfg, tok, opts } = plan;
  const { trainer, from } = state;
  const split = state.docs.length - plan.holdout;
  const heldOut: HeldOutScorer = heldOutScorer(plan, state.docs.slice(0, split), from, io) ??
    new HeldOut(state.docs.slice(split), cfg.numSteps);
  const log = plan.logFile === undefined ? undefined : new LossLog(plan.logFile, opts.log!, from);
  const printer = new StepPrinter(io, cfg.numSteps, from);
  const trained: Trained = {
    losses: [],
    done: from,
    stopped: false,
    printer,
    saves: initialSaves(plan),
  };
  const stopped = () => watch !== undefined && watch.signal !== 0;
  watch?.arm(); // from here, a first signal finishes the step and saves
  // The lines a stopped run could not write come first, so that the two runs' stdout is one.
  const unprinted = plan.resumed?.checkpoint?.unprinted ?? [];
  if (!io.terminal) {
    unprinted.forEach((loss, i) => printer.show(from - unprinted.length + i, loss, false));
  }
  if (stopped()) trained.stopped = true;
  try {
    if (!trained.stopped) {
      const train = (onStep: StepHook) =>
        trainer.train(state.docs.slice(0, split), tok, onStep, from, state.trace?.watch);
      train((step, loss) => {
        trained.done = step + 1;
        trained.losses.push(loss);
        state.trace?.step(step, loss);
        if (!Number.isFinite(loss)) throw lossError(plan, state, step, loss);
        printer.show(step, loss, heldOut.due(step));
        let heldOutLoss: number | undefined;
        let point: HeldOutScore | undefined; // { step, nats, bits?, count }, for --report
        if (heldOut.due(step)) {
          // A signal abandons the scoring: the run stops after this step all the same.
          const scored = heldOut.score(trainer, tok, cfg, step, trained.losses, from, stopped);
          if (scored === undefined) trained.unscored = step + 1;
          heldOutLoss = scored?.loss;
          if (scored !== undefined) {
            printer.breakLine();
            io.err(scored.line);
          }
          point = scored?.score ?? (scored && heldOutPoint(step, scored, plan.holdout));
        }
        log?.row(step, loss, cfg.learningRate * (1 - step / cfg.numSteps), heldOutLoss);
        state.report?.step(step, loss, point);
        const every = opts.saveEvery;
        if (every !== undefined && trained.done % every === 0 && trained.done < cfg.numSteps) {
          periodicSave(plan, state, trained, io, watch);
        }
        if (stopped()) {
          trained.stopped = true;
          return false;
        }
      });
    }
  } finally {
    log?.close();
    trained.logFailure = log?.failure;
  }
  return trained;
}

/** --holdout P%'s scoring, if the run holds a share of its text out; it says on stderr, before
 * training, what is held out and what will be scored. */
function heldOutScorer(
  plan: Plan,
  trainDocs: string[],
  from: number,
  io: Output,
): HeldOutScorer | undefined {
  const { cfg, split, opts } = plan;
  if (split === undefined || from >= cfg.numSteps) return undefined; // nothing left to score
  const trained = trainedTargets(trainDocs, cfg.blockSize, cfg.numSteps);
  const text = new HeldOutText(split, plan.tok, cfg, plan.stream, trained, opts.holdoutAll);
  io.err(text.describe(split));
  return text;
}

/** The checkpoints a run starts with: the one it resumes, if the save writes over it. */
function initialSaves(plan: Plan): Saves {
  const { resumed, opts, saveTo } = plan;
  const cp = resumed?.checkpoint;
  const over = cp !== undefined && saveTo !== undefined &&
    replaces(saveTo, { what: "the --resume file", path: opts.resume });
  return { good: over ? cp.step : undefined, failed: 0 };
}

/** A --save-every checkpoint. One that fails (a full disk) does not stop training: stderr says so
 * and names the last good checkpoint; the final save decides the exit code. */
function periodicSave(
  plan: Plan,
  state: RunState,
  trained: Trained,
  io: Output,
  watch?: SignalWatch,
): void {
  const saves = trained.saves;
  try {
    save(plan, state, trained.done, watch);
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    saves.failed++;
    if (saves.failing === err.message) return;
    saves.failing = err.message;
    trained.printer.breakLine();
    io.err(
      `warning: the checkpoint of step ${trained.done} was not saved (${err.message}); ` +
        `training goes on; ${lastGood(plan, saves)}`,
    );
    return;
  }
  if (saves.failed > 0) {
    trained.printer.breakLine();
    io.err(
      `note: the checkpoint of step ${trained.done} was saved in ${shown(plan.opts.save!)}, ` +
        `after ${saves.failed} that failed`,
    );
  }
  trained.saves = { good: trained.done, failed: 0 };
}

/** Where the last good checkpoint is, in words. */
function lastGood(plan: Plan, saves: Saves): string {
  const path = shown(plan.opts.save!);
  return saves.good === undefined
    ? `this run has no checkpoint in ${path} yet`
    : `${path} still holds the checkpoint of step ${saves.good}`;
}

/** The line for a loss that is no longer a number, with its likeliest cause. */
function lossError(plan: Plan, state: RunState, step: number, loss: number): CliError {
  const { opts, cfg } = plan;
  const fromFile = plan.resumed !== undefined || plan.loaded !== undefined;
  // The first step's loss comes from the weights the run starts with, before any update.
  const largest = `(the largest is ${largestWeight(state.weights).toExponential(2)})`;
  const cause = fromFile && step === state.from
    ? `the weights from ${shown((opts.resume ?? opts.load)!)} are too large to compute ` +
      `with ${largest}`
    : step === state.from
    ? `the initial weights, drawn with --init-std ${cfg.initStd}, are too large to compute ` +
      `with ${largest}; choose a smaller --init-std`
    : plan.resumed !== undefined
    ? `the run's learning rate (${cfg.learningRate}, from ${shown(opts.resume!)}) is ` +
      `too high to continue; start again with a lower --lr`
    : `try a lower --lr (it is ${cfg.learningRate})`;
  return new CliError(`the loss became ${loss} at step ${step + 1}; ${cause}`, 1);
}

/** The largest weight, for a message about weights too large to compute with. */
function largestWeight(weights: Float64Array): number {
  let most = 0;
  for (const w of weights) most = Math.max(most, Math.abs(w));
  return most;
}

/** After training: the final save; a save that fails is kept for the last lines. If a signal
 * stopped the run (during training or the save), reports it and returns the exit code. */
function finish(
  plan: Plan,
  state: RunState,
  trained: Trained,
  io: Output,
  watch?: SignalWatch,
): number | undefined {
  const { opts, cfg } = plan;
  const signalled = () => watch !== undefined && watch.signal !== 0;
  let unprinted = trained.stopped ? writtenOff(io, trained.printer) : [];
  if (plan.saveTo !== undefined) {
    try {
      save(plan, state, trained.done, watch, unprinted);
      // A signal during the save, with a reader that has not taken the last lines: the
      // checkpoint carries them too.
      if (!trained.stopped && signalled() && !io.terminal && !io.flush()) {
        unprinted = writtenOff(io, trained.printer);
        if (unprinted.length > 0) save(plan, state, trained.done, watch, unprinted);
      }
      trained.saves.good = trained.done;
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      trained.saveError = err;
    }
  }
  if (signalled()) trained.stopped = true; // during the save
  if (!trained.stopped) return undefined;
  const reportError = state.report?.stopped();
  if (io.terminal) io.out("\n");
  const at = `stopped by ${watch!.name} after step ${trained.done} of ${cfg.numSteps}` +
    (trained.unscored === undefined ? "" : `, whose held-out score was abandoned`);
  const lines = unprinted.length === 1 ? "step line" : `${unprinted.length} step lines`;
  if (trained.saveError !== undefined) {
    const good = trained.saves.good;
    const resume = good === undefined
      ? ", nothing saved"
      : `; ${lastGood(plan, trained.saves)}; resume with: ` +
        resumeCommand(plan.engine, opts, opts.save!);
    io.err(`error: ${trained.saveError.message}; ${at}${resume}`);
  } else if (opts.save !== undefined) {
    const resume = resumeCommand(plan.engine, opts, opts.save);
    const behind = unprinted.length === 0
      ? ""
      : ` with the last ${lines}, which stdout's reader had not taken (the resume prints ` +
        `${unprinted.length === 1 ? "it" : "them"} first)`;
    io.err(`${at}; saved ${shown(opts.save)}${behind}; resume with: ${resume}`);
  } else {
    const behind = unprinted.length === 0
      ? ""
      : `; the last ${lines}, which stdout's reader had not taken, ` +
        `${unprinted.length === 1 ? "was" : "were"} not written`;
    io.err(
      `${at}; nothing was saved: to keep progress next time, add --save PATH ` +
        `(and --save-every N), then continue with --resume PATH${behind}`,
    );
  }
  if (reportError !== undefined) io.err(reportError);
  return watch!.exitCode;
}

/** After a signal, the losses of the step lines stdout's reader has not taken: a slow reader gets
 * a moment to take them, then stdout is halted (a stopped run's checkpoint carries them). */
function writtenOff(io: Output, printer: StepPrinter): number[] {
  if (io.terminal) return [];
  io.flush();
  return printer.unprinted(io.halt());
}

/** The sampling loop, with `--explain` and `--attention` watching the first sample. Returns
 * false if a signal stopped it before the last sample was printed: between two samples, or in
 * the middle of one (a long one, at a large block size), which is then dropped. */
function sampleAll(plan: Plan, state: RunState, io: Output, watch?: SignalWatch): boolean {
  const { cfg, tok, opts, prefix } = plan;
  const { trainer } = state;
  const stopped = () => watch !== undefined && watch.signal !== 0;
  // Inference: may the model babble back to us.
  io.out("\n--- inference (new, hallucinated names) ---\n");
  // [layer][head][position] → weights over positions, for the positions a map draws
  const attention: number[][][][] = [];
  let positions = 0;
  let sampledAll = true;
  const onDraw = (i: number) => (draw: Draw) => {
    if (stopped()) throw new Interrupted();
    if (!draw.probs.every(Number.isFinite)) throw drawError(draw, cfg, trainer);
    state.trace?.draw(draw);
    if (opts.explain && i === 0) io.out(explainLine(draw, tok));
  };
  try {
    trainer.generate(tok, state.rng, prefix, (i, name) => {
      state.trace?.sample(i, name);
      state.report?.sampled(i, name);
      io.out(sampleEntry(i, name) + "\n");
      if (i === 0 && opts.attention) {
        // the name holds the prefix
        const labels = ["<s>", ...[...name].map(charLabel)];
        io.out(attentionReport(labels, attention, { positions, stop: stopped }));
      }
      if (stopped()) {
        sampledAll = i + 1 === cfg.numSamples;
        return false;
      }
    }, (i) => {
      if (opts.explain && i === 0) io.out(explainHeader(cfg.temperature));
      const eyes: SampleWatch = {
        onDraw: onDraw(i),
        onAttention: opts.attention && i === 0
          ? (pos, li, h, w) => {
            positions = Math.max(positions, pos + 1);
            if (pos < ATTENTION_POSITIONS) ((attention[li] ??= [])[h] ??= [])[pos] = w;
          }
          : undefined,
      };
      return state.report?.watchFor(i, eyes) ?? eyes;
    });
  } catch (err) {
    if (!(err instanceof Interrupted)) throw err;
    sampledAll = false;
  }
  const reportError = sampledAll ? undefined : state.report?.stopped();
  if (reportError !== undefined) io.err(reportError);
  return sampledAll;
}

/** Thrown from inside a sample when a signal stops the run. */
class Interrupted extends Error {}

/** The line for a draw whose probabilities are not numbers: the temperature, or the weights. */
function drawError(draw: Draw, cfg: Config, trainer: Trainer): CliError {
  return new CliError(
    draw.probs1.every(Number.isFinite)
      ? `--temperature ${cfg.temperature} is so small that dividing the logits by it ` +
        `overflows; 0 samples greedily`
      : `the model's logits are not finite numbers: its weights are too large to compute ` +
        `with (the largest is ${largestWeight(trainer.weights()).toExponential(2)})`,
    1,
  );
}

/** The end of a run: --embeddings, the loss summary, and the last lines, which name whatever
 * went wrong on the way (the model was saved if it could be). Returns the exit code. */
function conclude(plan: Plan, state: RunState, trained: Trained, io: Output): number {
  const { cfg, tok, opts } = plan;
  if (opts.embeddings) io.out(embeddingReport(tok, state.trainer.weights(), cfg.nEmbd));
  // On stderr, so that stdout stays exactly microgpt.py's.
  if (trained.losses.length > 0) {
    io.err(lossSummary(trained.losses, tok.vocabSize, state.from));
  }
  const written = state.report?.finish();
  if (written !== undefined) io.err(written);
  io.flush(); // whether stdout failed is known once all of it was tried
  const problems: string[] = [];
  if (io.failure !== undefined) problems.push(`could not write to stdout (${io.failure})`);
  if (trained.logFailure !== undefined) problems.push(trained.logFailure);
  if (state.trace?.failure !== undefined) problems.push(state.trace.failure);
  if (state.report?.failure !== undefined) problems.push(state.report.failure);
  const saveError = trained.saveError;
  if (problems.length > 0 && saveError === undefined) {
    const saved = plan.saveTo !== undefined ? `; ${shown(opts.save!)} was saved` : "";
    io.err(`error: ${problems.join("; ")}; training went on to the end${saved}`);
  } else if (problems.length > 0) io.err(`error: ${problems.join("; ")}`);
  if (saveError !== undefined) {
    const good = trained.saves.good === undefined
      ? ""
      : `; ${lastGood(plan, trained.saves)}; resume with: ` +
        resumeCommand(plan.engine, opts, opts.save!);
    io.err(`error: ${saveError.message}${good}`);
  }
  return problems.length > 0 || saveError !== undefined ? 1 : 0;
}
